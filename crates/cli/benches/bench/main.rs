//! `cargo xtask bench`: what lyncsim does on this machine, against this machine's limits,
//! measured side by side in one run so that the ratios hold on a noisy machine where the
//! absolute figures move.
//!
//! - `crypto`: the public-key operations of a warm and of a first sign-in (counted from the
//!   handshakes the sign-ins made, [`lyncsim_client::PublicKeyCost`]), each timed with the
//!   library that does it; the most sign-ins per second the cores could do if nothing but
//!   those operations cost anything; and the rate achieved, as a share of that bound.
//! - `concurrency`: repeat sign-ins at 1, 8, 64 and 256 clients, flat out (closed loop), and
//!   at half the peak rate with that many clients at once (open loop).
//! - `memory`: `lyncsim serve`'s resident memory with 1,000 and 10,000 users and 50,000
//!   issued certificates, and over a long run of sign-ins.
//! - `autodiscover`: Autodiscover requests per second over kept-alive HTTPS against nginx
//!   serving the same document with the same kind of certificate, by the same client.
//! - `suite`: the built-in suite's time, and its share spent generating RSA keys.
//! - `cohort`: 30 trainees joining the training console within a minute: each one's wait for
//!   their machine, the resident memory with 30 live attempts, the page latency.
//!
//! `cargo xtask bench [SECTION…]` runs the sections named, or all of them; `warm` (only when
//! named) signs in warm for 20 s, to run under `perf record`.

// A benchmark: a failure is a panic with its message.
#![allow(clippy::unwrap_used)]

mod autodiscover;
mod cohort;
mod crypto;
mod http;
mod memory;
#[path = "../common/serve.rs"]
mod serve;

use std::time::{Duration, Instant};

use lyncsim_lab::Lab;
use lyncsim_load::{LoadOptions, LoadReport, load};
use lyncsim_suite::{RunOptions, builtin_suite, report};

const SECTIONS: [&str; 7] = [
    "crypto",
    "concurrency",
    "memory",
    "autodiscover",
    "suite",
    "cohort",
    "warm",
];

/// The machine's cores, as the bound counts them.
fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// A load on a lab of its own, quietly.
async fn measure(opts: LoadOptions) -> LoadReport {
    let lab = Lab::start().await.unwrap();
    let report = load(&lab, &opts, |_| {}).await.unwrap();
    lab.shutdown().await;
    report
}

/// The warm (repeat) sign-ins of `machines` machines, `concurrency` at once, for `secs`.
fn warm(machines: usize, concurrency: usize, rate: Option<f64>, secs: u64) -> LoadOptions {
    LoadOptions {
        users: machines.min(64),
        machines,
        concurrency,
        rate,
        duration: Duration::from_secs(secs),
        ..LoadOptions::default()
    }
}

/// Warm sign-ins and nothing else for a while: what to run under `perf record`.
async fn warm_only() {
    let report = measure(warm(8, 8, None, 20)).await;
    check_all_signed_in("warm", &report);
    println!(
        "\n## Warm sign-ins, 8 at once, 20 s\n\n{:.0} sign-ins/s, p50 {:.1} ms, p99 {:.1} ms",
        report.total.per_sec, report.total.latency_ms.p50, report.total.latency_ms.p99
    );
}

fn check_all_signed_in(what: &str, report: &LoadReport) {
    for phase in std::iter::once(&report.first).chain([&report.total]) {
        let failed: u64 = phase
            .outcomes
            .iter()
            .filter(|(k, _)| *k != "signed-in")
            .map(|(_, n)| n)
            .sum();
        assert_eq!(failed, 0, "{what}: {:?}", phase.outcomes);
    }
}

async fn concurrency() {
    println!("\n## Sign-ins at 1, 8, 64 and 256 clients\n");
    println!("Flat out (closed loop: each client signs in again as soon as it is done):\n");
    println!("| clients | warm sign-ins/s | p50 ms | p99 ms | max ms |");
    println!("|---:|---:|---:|---:|---:|");
    let mut peak = 0.0f64;
    let mut p50_at_1 = 0.0;
    for clients in [1usize, 8, 64, 256] {
        let report = measure(warm(clients, clients, None, 8)).await;
        check_all_signed_in("closed loop", &report);
        let t = &report.total;
        println!(
            "| {clients} | {:.0} | {:.1} | {:.1} | {:.1} |",
            t.per_sec, t.latency_ms.p50, t.latency_ms.p99, t.latency_ms.max
        );
        peak = peak.max(t.per_sec);
        if clients == 1 {
            p50_at_1 = t.latency_ms.p50;
        }
    }
    let rate = peak / 2.0;
    println!(
        "\nAt half the peak, {rate:.0} sign-ins/s, arriving on a schedule (open loop), with up to that many clients signing in at once:\n"
    );
    println!("| clients | warm sign-ins/s | p50 ms | p99 ms | max ms | p99 / p50 at 1 client |");
    println!("|---:|---:|---:|---:|---:|---:|");
    let mut p99_at_256 = 0.0;
    for clients in [1usize, 8, 64, 256] {
        let report = measure(warm(clients, clients, Some(rate), 8)).await;
        check_all_signed_in("open loop", &report);
        let t = &report.total;
        println!(
            "| {clients} | {:.0} | {:.1} | {:.1} | {:.1} | {:.1}× |",
            t.per_sec,
            t.latency_ms.p50,
            t.latency_ms.p99,
            t.latency_ms.max,
            t.latency_ms.p99 / p50_at_1
        );
        if clients == 256 {
            p99_at_256 = t.latency_ms.p99;
        }
    }
    let ratio = p99_at_256 / p50_at_1;
    println!(
        "\np99 at 256 clients (half the peak) / p50 at 1 client: {ratio:.1}× (target ≤ 10×: {})",
        met(ratio <= 10.0)
    );
}

fn met(yes: bool) -> &'static str {
    if yes { "met" } else { "MISSED" }
}

/// User and system CPU seconds of this process and its children so far.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap();
    // The fields after the command name (which is in parentheses and may hold spaces).
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<f64> = rest
        .split_whitespace()
        .map(|f| f.parse().unwrap_or(0.0))
        .collect();
    // utime, stime, cutime, cstime are fields 14 to 17 of the line, 12 to 15 after the name.
    let ticks: f64 = fields[11..15].iter().sum();
    ticks / 100.0
}

async fn suite() {
    const RUNS: usize = 3;
    const TARGET: Duration = Duration::from_secs(15);
    let suite = builtin_suite().unwrap_or_else(|errors| panic!("{errors:?}"));
    let opts = RunOptions {
        lyncsim: Some(env!("CARGO_BIN_EXE_lyncsim").into()),
        ..RunOptions::default()
    };
    let mut runs = Vec::new();
    for _ in 0..RUNS {
        let (keys_before, keygen_before) = lyncsim_pki::rsa_keys_made();
        let cpu_before = cpu_seconds();
        let started = Instant::now();
        let reports = lyncsim_suite::run_all(suite.scenarios.clone(), &opts, |_| {}).await;
        let wall = started.elapsed();
        let cpu = cpu_seconds() - cpu_before;
        let (keys, keygen) = lyncsim_pki::rsa_keys_made();
        assert!(
            report::Totals::of(&reports).all_passed(),
            "{}",
            report::table(&reports)
        );
        runs.push((
            wall,
            cpu,
            keys - keys_before,
            (keygen - keygen_before).as_secs_f64(),
        ));
    }
    runs.sort_by_key(|r| r.0);
    let (wall, cpu, keys, keygen) = runs[RUNS / 2];
    println!("\n## The built-in suite\n");
    println!(
        "| scenarios | at once | wall (median of {RUNS}) | min | max | CPU s | RSA keys made | keygen s | keygen share of CPU |"
    );
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    println!(
        "| {} | {} | {:.1} s | {:.1} s | {:.1} s | {cpu:.1} | {keys} | {keygen:.1} | {:.0} % |",
        suite.scenarios.len(),
        opts.jobs,
        wall.as_secs_f64(),
        runs[0].0.as_secs_f64(),
        runs[RUNS - 1].0.as_secs_f64(),
        100.0 * keygen / cpu.max(1e-9)
    );
    println!("\nTarget < {} s: {}", TARGET.as_secs(), met(wall < TARGET));
}

#[tokio::main]
async fn main() {
    // `cargo bench` passes `--bench`; the rest are section names.
    let asked: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    if let Some(unknown) = asked.iter().find(|a| !SECTIONS.contains(&a.as_str())) {
        eprintln!(
            "unknown section {unknown:?}; the sections are {}",
            SECTIONS.join(", ")
        );
        std::process::exit(2);
    }
    let wanted = |s: &str| asked.is_empty() || asked.iter().any(|a| a == s);
    println!(
        "# lyncsim bench: {} cores, {}",
        cores(),
        chrono::Utc::now().format("%Y-%m-%d %H:%M UTC")
    );
    if wanted("crypto") {
        crypto::section().await;
    }
    if wanted("concurrency") {
        concurrency().await;
    }
    if wanted("memory") {
        memory::section().await;
    }
    if wanted("autodiscover") {
        autodiscover::section().await;
    }
    if wanted("suite") {
        suite().await;
    }
    if wanted("cohort") {
        cohort::section().await;
    }
    // Only when asked for: it is for profiling.
    if asked.iter().any(|a| a == "warm") {
        warm_only().await;
    }
}
