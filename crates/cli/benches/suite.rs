//! The built-in scenario suite, timed: the README's "about N seconds" and the target of
//! under 20 seconds on the project's 2-core machine come from here.
//!
//! Run with `cargo xtask bench` (release build).

use std::time::{Duration, Instant};

use lyncsim_harness::{RunOptions, builtin_suite, report};

const RUNS: usize = 3;
const TARGET: Duration = Duration::from_secs(20);

#[tokio::main]
async fn main() {
    let suite = builtin_suite().unwrap_or_else(|errors| {
        for e in errors {
            eprintln!("error: {e}");
        }
        std::process::exit(2)
    });
    let opts = RunOptions {
        lyncsim: Some(env!("CARGO_BIN_EXE_lyncsim").into()),
        ..RunOptions::default()
    };
    let mut walls = Vec::new();
    for _ in 0..RUNS {
        let started = Instant::now();
        let reports = lyncsim_harness::run_all(suite.scenarios.clone(), &opts, |_| {}).await;
        walls.push(started.elapsed());
        let totals = report::Totals::of(&reports);
        assert!(totals.all_passed(), "{}", report::table(&reports));
    }
    walls.sort();
    let median = walls[RUNS / 2];
    println!(
        "\n| built-in suite ({} scenarios, {} at once) | min {:.1} s | median {:.1} s | max {:.1} s | target < {} s: {} |",
        suite.scenarios.len(),
        opts.jobs,
        walls[0].as_secs_f64(),
        median.as_secs_f64(),
        walls[RUNS - 1].as_secs_f64(),
        TARGET.as_secs(),
        if median < TARGET { "met" } else { "MISSED" }
    );
}
