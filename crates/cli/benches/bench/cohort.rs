//! `cohort`: a trainer's cohort of 30 trainees joining the training console within a minute
//! on this machine. How long each trainee waits for their machine (every exercise is made for
//! real: its own service, a first sign-in, the cause, a failing sign-in; target: all within
//! 60 s), the resident memory of the process with 30 live attempts, and the latency of the
//! pages the trainees then look at, all 30 at once (target: p99 under 300 ms).

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::{Method, Request};
use hyper_util::rt::TokioIo;
use lyncsim_console::ConsoleConfig;

use crate::met;
use crate::serve::rss_mib;

const TRAINEES: usize = 30;
/// The joins are spread over this long: "within a minute".
const JOINING: Duration = Duration::from_secs(60);
const READY_TARGET: Duration = Duration::from_secs(60);
const PAGE_TARGET: Duration = Duration::from_millis(300);
/// Pages each trainee asks for once every machine is ready.
const PAGES_EACH: usize = 20;

/// One plain HTTP request to the console: the status, the `Location` and the body.
async fn call(addr: SocketAddr, method: Method, path: &str, form: &str) -> (u16, String, String) {
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
        .await
        .unwrap();
    tokio::spawn(conn);
    let req = Request::builder()
        .method(method)
        .uri(path)
        .header("host", addr.to_string())
        .header("content-type", "application/x-www-form-urlencoded")
        .body(Full::new(Bytes::from(form.to_owned())))
        .unwrap();
    let resp = sender.send_request(req).await.unwrap();
    let status = resp.status().as_u16();
    let location = resp
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        location,
        String::from_utf8_lossy(&body).into_owned(),
    )
}

/// The `q`-quantile of sorted durations.
fn quantile(sorted: &[Duration], q: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * q).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

pub(crate) async fn section() {
    println!("\n## cohort: {TRAINEES} trainees join the training console within a minute\n");
    let data = tempfile::tempdir().unwrap();
    let console = lyncsim_console::start(ConsoleConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        data_dir: data.path().to_owned(),
        clock: Default::default(),
    })
    .await
    .unwrap();
    let addr: SocketAddr = console.url().trim_start_matches("http://").parse().unwrap();
    let before = rss_mib(std::process::id());

    // The trainer's cohort: Lync 2010 on XP, a clock 7m12s fast.
    let (status, board, _) = call(
        addr,
        Method::POST,
        "/cohorts",
        "name=bench&causes=clock-skew&products=lync2010&oses=xp&seed=1",
    )
    .await;
    assert_eq!(status, 303, "the cohort was made");
    let (_, _, page) = call(addr, Method::GET, &board, "").await;
    let code = page
        .split(r#"id="join-code">"#)
        .nth(1)
        .and_then(|r| r.split('<').next())
        .unwrap()
        .to_owned();

    // The trainees join one every two seconds; each waits for their machine.
    let started = Instant::now();
    let mut joins = tokio::task::JoinSet::new();
    for i in 0..TRAINEES {
        let code = code.clone();
        joins.spawn(async move {
            tokio::time::sleep(JOINING.mul_f64(i as f64 / TRAINEES as f64)).await;
            let asked = Instant::now();
            let form = format!("trainee=trainee{i:02}&code={code}");
            let (status, attempt, body) = call(addr, Method::POST, "/join", &form).await;
            assert_eq!(status, 303, "trainee {i} got a machine: {body}");
            (asked.elapsed(), attempt)
        });
    }
    let mut ready = Vec::new();
    let mut attempts = Vec::new();
    while let Some(joined) = joins.join_next().await {
        let (waited, attempt) = joined.unwrap();
        ready.push(waited);
        attempts.push(attempt);
    }
    let all_in = started.elapsed();
    ready.sort();
    let live = rss_mib(std::process::id());

    // Every trainee looks at their machine at once: the desk, certmgr, Date and Time.
    let mut looks = tokio::task::JoinSet::new();
    for attempt in attempts {
        looks.spawn(async move {
            let mut took = Vec::new();
            for n in 0..PAGES_EACH {
                let path = match n % 3 {
                    0 => attempt.clone(),
                    1 => format!("{attempt}/view/certmgr"),
                    _ => format!("{attempt}/view/datetime"),
                };
                let t = Instant::now();
                let (status, _, _) = call(addr, Method::GET, &path, "").await;
                assert_eq!(status, 200, "{path}");
                took.push(t.elapsed());
            }
            took
        });
    }
    let mut pages = Vec::new();
    while let Some(took) = looks.join_next().await {
        pages.extend(took.unwrap());
    }
    pages.sort();

    println!("| measure | p50 | p99 | max |");
    println!("|---|---|---|---|");
    println!(
        "| a trainee's wait for their machine (join to redirect) | {:.1} s | {:.1} s | {:.1} s |",
        quantile(&ready, 0.5).as_secs_f64(),
        quantile(&ready, 0.99).as_secs_f64(),
        ready[ready.len() - 1].as_secs_f64()
    );
    println!(
        "| a page while all {TRAINEES} look ({} pages) | {:.0} ms | {:.0} ms | {:.0} ms |",
        pages.len(),
        ms(quantile(&pages, 0.5)),
        ms(quantile(&pages, 0.99)),
        ms(pages[pages.len() - 1])
    );
    println!(
        "\nAll {TRAINEES} had a machine {:.1} s after the first joined. Resident memory: {before:.0} MiB before, {live:.0} MiB with {TRAINEES} live attempts ({:.1} MiB each).",
        all_in.as_secs_f64(),
        (live - before) / TRAINEES as f64
    );
    let slowest = ready[ready.len() - 1];
    println!(
        "Target: every trainee has a machine within {} s: {}; p99 page under {} ms: {}",
        READY_TARGET.as_secs(),
        met(slowest <= READY_TARGET),
        PAGE_TARGET.as_millis(),
        met(quantile(&pages, 0.99) <= PAGE_TARGET)
    );
    console.shutdown().await;
}
