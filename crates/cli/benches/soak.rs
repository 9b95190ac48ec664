//! The soak: `lyncsim serve` (the real binary, release) for N minutes under sign-ins at about
//! half the peak rate, with server faults put in force and cleared, and slow and
//! early-closing clients mixed in. Reports sign-ins, unexpected failures (a failure while no
//! fault is in force: there must be none), the faults cycled, and the service's resident
//! memory: after the warm-up, after the soak's first minute (by then the journal holds its
//! 10,000 entries and every kind of fault and client has been seen), the highest, and at the
//! end, which must be within 10 % of the first-minute figure.
//!
//! Run with `cargo xtask soak --minutes N` (the default is 1 minute).

// A benchmark: a failure is a panic with its message.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use lyncsim_client::{InitOptions, Profile, SignInRequest, sign_in};
use lyncsim_domain::{Os, Product};
use lyncsim_lab::{Method, admin_call};
use lyncsim_wire::admin::ServiceInfo;
use tokio::io::AsyncWriteExt;

#[path = "common/serve.rs"]
mod serve;
use serve::{Serve, rss_mib};

const MACHINES: usize = 24;
const CONCURRENCY: usize = 6;
const USERS: [(&str, &str); 3] = [
    ("alice@contoso.com", "Passw0rd!alice"),
    ("bob@contoso.com", "Passw0rd!bob"),
    ("carol@contoso.com", "Passw0rd!carol"),
];

async fn admin(url: &str, method: Method, path: &str, body: Option<serde_json::Value>) -> u16 {
    admin_call(
        method,
        &format!("{url}{path}"),
        body.map(|b| b.to_string().into_bytes()),
    )
    .await
    .map(|(s, _)| s)
    .unwrap_or(0)
}

/// Signs in on every machine, `CONCURRENCY` at a time, until `stop`; paced to `per_sec`
/// sign-ins a second when given. Counts sign-ins, and failures while no fault is in force.
#[allow(clippy::too_many_arguments)]
async fn drive(
    machines: Arc<Vec<(Profile, &'static str, &'static str)>>,
    per_sec: Option<f64>,
    stop: Arc<AtomicBool>,
    faulted: Arc<AtomicBool>,
    done: Arc<AtomicU64>,
    unexpected: Arc<std::sync::Mutex<Vec<String>>>,
) {
    let next = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..CONCURRENCY {
        let (machines, stop, faulted, done, unexpected, next) = (
            machines.clone(),
            stop.clone(),
            faulted.clone(),
            done.clone(),
            unexpected.clone(),
            next.clone(),
        );
        tasks.spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let n = next.fetch_add(1, Ordering::Relaxed);
                if let Some(rate) = per_sec {
                    let due = start + Duration::from_secs_f64(n as f64 / rate);
                    tokio::time::sleep_until(due.into()).await;
                }
                let (profile, user, password) = &machines[n as usize % machines.len()];
                let during_fault = faulted.load(Ordering::Relaxed);
                let req = SignInRequest {
                    user: (*user).into(),
                    password: Some((*password).into()),
                    save_password: false,
                };
                let outcome = sign_in(profile, &req).await;
                let still_fault = faulted.load(Ordering::Relaxed);
                done.fetch_add(1, Ordering::Relaxed);
                let failed = match &outcome {
                    Ok(Ok(_)) => None,
                    Ok(Err(f)) => Some(format!("{}: {}", f.error.id(), f.reason)),
                    Err(e) => Some(format!("{e:#}")),
                };
                if let Some(why) = failed
                    && !during_fault
                    && !still_fault
                {
                    unexpected.lock().unwrap().push(why);
                }
            }
        });
    }
    while tasks.join_next().await.is_some() {}
}

/// Clients that send a byte a second, and clients that complete a handshake and hang up.
async fn nuisance(info: ServiceInfo, stop: Arc<AtomicBool>) -> u64 {
    let ip = info.hosts["login.microsoftonline.com"];
    let port = info.https_port;
    let mut count = 0u64;
    let mut slow = Vec::new();
    while !stop.load(Ordering::Relaxed) {
        // A slow sender every round, held until the service drops it.
        if let Ok(mut tcp) = tokio::net::TcpStream::connect((ip, port)).await {
            slow.push(tokio::spawn(async move {
                for _ in 0..60 {
                    if tcp.write_all(b"\x16").await.is_err() {
                        break;
                    }
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }));
            count += 1;
        }
        // An early close: connect and hang up at once.
        if let Ok(tcp) = tokio::net::TcpStream::connect((ip, port)).await {
            drop(tcp);
            count += 1;
        }
        slow.retain(|t| !t.is_finished());
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    for t in slow {
        t.abort();
    }
    count
}

fn minutes() -> f64 {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == "--minutes")
        .and_then(|i| args.get(i + 1))
        .and_then(|m| m.parse().ok())
        .unwrap_or(1.0)
}

#[tokio::main]
async fn main() {
    let minutes = minutes();
    let dir = tempfile::tempdir().expect("tempdir");
    let (serve, info) = Serve::start(dir.path());
    let pid = serve.pid();
    let url = info.admin_url.clone();
    let root_pem = String::from_utf8(
        lyncsim_lab::fetch_plain(&format!("{url}/ca/root.pem"))
            .await
            .expect("root"),
    )
    .expect("utf-8");
    let mut machines = Vec::new();
    for i in 0..MACHINES {
        let (user, password) = USERS[i % USERS.len()];
        let profile = Profile::init(
            &dir.path().join(format!("pc-{i}")),
            InitOptions {
                product: Product::Lync2013,
                os: [Os::Win7, Os::Win8][i % 2],
                build: None,
                service: info.clone(),
                root_pem: root_pem.clone(),
                windows_user: "jdoe".into(),
                windows_password: "Winter2011!".into(),
            },
        )
        .expect("profile");
        machines.push((profile, user, password));
    }
    let machines = Arc::new(machines);
    let unexpected = Arc::new(std::sync::Mutex::new(Vec::new()));

    // Warm-up and peak: every machine gets its certificate, then full speed for 10 s.
    let warm = Duration::from_secs(10);
    let stop = Arc::new(AtomicBool::new(false));
    let faulted = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicU64::new(0));
    let peak = tokio::spawn(drive(
        machines.clone(),
        None,
        stop.clone(),
        faulted.clone(),
        done.clone(),
        unexpected.clone(),
    ));
    tokio::time::sleep(Duration::from_secs(5)).await;
    let (before, t) = (done.load(Ordering::Relaxed), Instant::now());
    tokio::time::sleep(warm).await;
    let peak_rate = (done.load(Ordering::Relaxed) - before) as f64 / t.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    peak.await.unwrap();
    let rss_start = rss_mib(pid);

    // The soak: half the peak rate, faults every 20 s for 8 s, nuisance clients throughout.
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicU64::new(0));
    let soak = tokio::spawn(drive(
        machines.clone(),
        Some(peak_rate / 2.0),
        stop.clone(),
        faulted.clone(),
        done.clone(),
        unexpected.clone(),
    ));
    let pests = tokio::spawn(nuisance(info.clone(), stop.clone()));
    // The service's resident memory every 5 s.
    let sampler = {
        let stop = stop.clone();
        tokio::spawn(async move {
            let start = Instant::now();
            let mut samples = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                samples.push((start.elapsed(), rss_mib(pid)));
                tokio::time::sleep(Duration::from_secs(5)).await;
            }
            samples
        })
    };
    let faults = [
        serde_json::json!({"kind": "outage", "mode": "503", "hosts": ["login.microsoftonline.com"]}),
        serde_json::json!({"kind": "outage", "mode": "reset", "hosts": ["pool-a.online.lync.com"]}),
        serde_json::json!({"kind": "min-client-build", "product": "lync2013"}),
        serde_json::json!({"kind": "outage", "mode": "refuse", "hosts": ["pool-b.online.lync.com"]}),
        serde_json::json!({"kind": "outage", "mode": "cut-off", "hosts": ["login.microsoftonline.com"]}),
    ];
    let mut cycled: BTreeMap<String, u32> = BTreeMap::new();
    let end = Instant::now() + Duration::from_secs_f64(minutes * 60.0);
    let mut round = 0;
    while Instant::now() + Duration::from_secs(20) < end {
        tokio::time::sleep(Duration::from_secs(12)).await;
        let fault = &faults[round % faults.len()];
        faulted.store(true, Ordering::Relaxed);
        assert_eq!(
            admin(&url, Method::POST, "/faults", Some(fault.clone())).await,
            201
        );
        *cycled
            .entry(
                fault["kind"].as_str().unwrap().to_owned()
                    + " "
                    + fault["mode"].as_str().unwrap_or(""),
            )
            .or_default() += 1;
        tokio::time::sleep(Duration::from_secs(8)).await;
        assert_eq!(admin(&url, Method::DELETE, "/faults", None).await, 200);
        // Sign-ins that started under the fault finish before failures count again.
        tokio::time::sleep(Duration::from_secs(2)).await;
        faulted.store(false, Ordering::Relaxed);
        round += 1;
    }
    tokio::time::sleep(end.saturating_duration_since(Instant::now())).await;
    stop.store(true, Ordering::Relaxed);
    soak.await.unwrap();
    let pest_count = pests.await.unwrap();
    let samples = sampler.await.unwrap();
    let rss_end = rss_mib(pid);
    let rss_minute = samples
        .iter()
        .find(|(at, _)| *at >= Duration::from_secs(60))
        .map_or(rss_end, |(_, rss)| *rss);
    let rss_max = samples.iter().map(|(_, rss)| *rss).fold(rss_end, f64::max);
    let alive = Command::new("kill")
        .args(["-0", &pid.to_string()])
        .status()
        .is_ok_and(|s| s.success());
    let unexpected = unexpected.lock().unwrap();
    let signins = done.load(Ordering::Relaxed);
    println!("| measure | value |");
    println!("|---|---|");
    println!("| soak length | {minutes} min |");
    println!("| peak sign-in rate (6 at once, warm) | {peak_rate:.0}/s |");
    println!(
        "| soak rate (half the peak) | {:.0}/s |",
        signins as f64 / (minutes * 60.0)
    );
    println!("| sign-ins | {signins} |");
    println!(
        "| unexpected failures (no fault in force) | {} |",
        unexpected.len()
    );
    println!(
        "| faults put in force and cleared | {} ({}) |",
        round,
        cycled
            .iter()
            .map(|(k, n)| format!("{} × {n}", k.trim()))
            .collect::<Vec<_>>()
            .join(", ")
    );
    println!("| slow and early-closing clients | {pest_count} |");
    println!(
        "| service RSS after warm-up / after the first minute / highest / at the end | {rss_start:.1} / {rss_minute:.1} / {rss_max:.1} / {rss_end:.1} MiB (end {:+.1} % on the first minute) |",
        (rss_end / rss_minute - 1.0) * 100.0
    );
    for why in unexpected.iter().take(10) {
        println!("unexpected: {why}");
    }
    let flat = rss_end <= rss_minute * 1.10;
    let failed = !alive || !unexpected.is_empty() || !flat;
    // `exit` runs no destructors: stop the service and remove the machines first.
    drop(serve);
    drop(dir);
    if failed {
        eprintln!(
            "soak failed: alive {alive}, unexpected failures {}, memory flat {flat}",
            unexpected.len()
        );
        std::process::exit(1);
    }
}
