//! Sign-in benchmark: one service, many machines, first sign-ins (a new RSA-2048 key, a CSR,
//! an issued certificate) and repeat sign-ins (the stored certificate), all over real DNS,
//! TLS and SIP with TLS-DSK on loopback. Prints a table for the README's Performance section.
//!
//! Run with `cargo xtask bench`.

use std::time::{Duration, Instant};

use lyncsim_client::{InitOptions, Profile, SignInRequest, sign_in};
use lyncsim_domain::{Os, Product};
use lyncsim_service::{Service, ServiceConfig};

const MACHINES: usize = 40;
const REPEATS: usize = 5;
const CONCURRENCY: usize = 8;

fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

fn summary(name: &str, mut samples: Vec<Duration>, wall: Duration) {
    samples.sort();
    let n = samples.len();
    let pct = |p: f64| samples[((n as f64 * p) as usize).min(n - 1)].as_secs_f64() * 1000.0;
    println!(
        "| {name:<34} | {n:>5} | {:>8.1} | {:>8.1} | {:>8.1} | {:>10.0} |",
        pct(0.5),
        pct(0.95),
        samples[n - 1].as_secs_f64() * 1000.0,
        n as f64 / wall.as_secs_f64()
    );
}

async fn round(profiles: &[(Profile, &'static str, &'static str)]) -> (Vec<Duration>, Duration) {
    let start = Instant::now();
    let mut samples = Vec::new();
    for chunk in profiles.chunks(CONCURRENCY) {
        let mut tasks = tokio::task::JoinSet::new();
        for (profile, user, password) in chunk.iter().cloned() {
            tasks.spawn(async move {
                let req = SignInRequest {
                    user: user.into(),
                    password: Some(password.into()),
                    save_password: false,
                };
                let t = Instant::now();
                let outcome = sign_in(&profile, &req).await.expect("sign-in runs");
                assert!(outcome.is_ok(), "{outcome:?}");
                t.elapsed()
            });
        }
        while let Some(d) = tasks.join_next().await {
            samples.push(d.expect("task"));
        }
    }
    (samples, start.elapsed())
}

#[tokio::main]
async fn main() {
    let t = Instant::now();
    let service = Service::start(ServiceConfig::default())
        .await
        .expect("service");
    let startup = t.elapsed();
    let info = service.info().clone();
    let root_pem = String::from_utf8(
        lyncsim_client::fetch_plain(&format!("{}/ca/root.pem", info.admin_url))
            .await
            .expect("root"),
    )
    .expect("utf-8");
    let dir = tempfile::tempdir().expect("tempdir");
    let users = [
        ("alice@contoso.com", "Passw0rd!alice"),
        ("bob@contoso.com", "Passw0rd!bob"),
        ("carol@contoso.com", "Passw0rd!carol"),
    ];
    let mut profiles = Vec::new();
    for i in 0..MACHINES {
        let (product, os) = if i % 2 == 0 {
            (Product::Lync2010, Os::Win7)
        } else {
            (Product::Lync2013, Os::Win8)
        };
        let profile = Profile::init(
            &dir.path().join(format!("m{i}")),
            InitOptions {
                product,
                os,
                build: None,
                service: info.clone(),
                root_pem: root_pem.clone(),
                windows_user: "jdoe".into(),
                windows_password: "Winter2011!".into(),
            },
        )
        .expect("profile");
        let (user, password) = users[i % users.len()];
        profiles.push((profile, user, password));
    }
    println!(
        "service start-up (two RSA-2048 CAs, five hosts, DNS): {:.0} ms\n",
        startup.as_secs_f64() * 1000.0
    );
    println!("{MACHINES} machines, {CONCURRENCY} signing in at once\n");
    println!(
        "| {:<34} | {:>5} | {:>8} | {:>8} | {:>8} | {:>10} |",
        "sign-in", "count", "p50 ms", "p95 ms", "max ms", "per second"
    );
    println!(
        "|{:-<36}|{:->7}|{:->10}|{:->10}|{:->10}|{:->12}|",
        "", "", "", "", "", ""
    );
    let (first, wall) = round(&profiles).await;
    summary("first (key, CSR, new certificate)", first, wall);
    let mut repeat = Vec::new();
    let mut repeat_wall = Duration::ZERO;
    for _ in 0..REPEATS {
        let (s, w) = round(&profiles).await;
        repeat.extend(s);
        repeat_wall += w;
    }
    summary("repeat (stored certificate)", repeat, repeat_wall);
    if let Some(mib) = peak_rss_mib() {
        println!("\npeak resident memory, service and clients in one process: {mib:.0} MiB");
    }
    service.shutdown().await;
}
