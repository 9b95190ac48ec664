//! `cargo xtask ci` runs what CI runs; `bench`, `fuzz` and `soak` measure and try harder.
//!
//! No dependencies: it only finds the repository root and runs cargo.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::Instant;

mod shape;

fn root() -> PathBuf {
    // xtask/ is one level below the repository root.
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

fn cargo_command(args: &[&str]) -> Command {
    eprintln!("$ cargo {}", args.join(" "));
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.args(args).current_dir(root());
    if std::env::var_os("CI").is_some() {
        // A CI build is built once and thrown away: incremental state would only take disk
        // (over a GB for the workspace's tests).
        cmd.env("CARGO_INCREMENTAL", "0");
    }
    cmd
}

fn cargo(args: &[&str]) -> bool {
    match cargo_command(args).status() {
        Ok(status) => status.success(),
        Err(e) => {
            eprintln!("cannot run cargo: {e}");
            false
        }
    }
}

/// What a test run printed that the summary reports.
#[derive(Debug, Default)]
struct TestCounts {
    passed: u64,
    failed: u64,
    /// Lines the robustness tests print with their counts (corpus, fuzz, durability).
    figures: Vec<String>,
}

/// Runs `cargo test` with `args`, passing its output through while counting the closing line
/// of each test binary (`test result: ok. N passed; M failed; …`).
fn cargo_test(args: &[&str], env: &[(&str, &str)]) -> Option<TestCounts> {
    let mut cmd = cargo_command(args);
    cmd.envs(env.iter().copied()).stdout(Stdio::piped());
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("cannot run cargo: {e}");
            return None;
        }
    };
    let mut counts = TestCounts::default();
    if let Some(out) = child.stdout.take() {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            println!("{line}");
            if let Some(rest) = line.strip_prefix("test result: ") {
                let number = |word: &str| -> u64 {
                    rest.split(';')
                        .find_map(|part| {
                            part.trim()
                                .trim_start_matches("ok. ")
                                .trim_start_matches("FAILED. ")
                                .strip_suffix(word)
                        })
                        .and_then(|n| n.trim().parse().ok())
                        .unwrap_or(0)
                };
                counts.passed += number(" passed");
                counts.failed += number(" failed");
            }
            for figure in ["bad-input corpus:", "fuzz:", "durability:"] {
                if line.starts_with(figure) {
                    counts.figures.push(line.clone());
                }
            }
        }
    }
    let ok = child.wait().is_ok_and(|s| s.success());
    (ok && counts.failed == 0).then_some(counts)
}

/// `--minutes N` after the task, or `default`.
fn minutes(default: u64) -> Result<u64, String> {
    let args: Vec<String> = std::env::args().skip(2).collect();
    match args.as_slice() {
        [] => Ok(default),
        [flag, n] if flag == "--minutes" => n
            .parse()
            .ok()
            .filter(|m| *m > 0)
            .ok_or_else(|| format!("--minutes takes a whole number of minutes, not {n:?}")),
        other => Err(format!(
            "unexpected arguments {other:?}; expected --minutes N"
        )),
    }
}

const HELP: &str = "\
usage: cargo xtask <task>

tasks:
  ci                 rustfmt check, the shape check (no import circle between the modules of a
                     crate, no function over 80 lines outside tests), clippy (warnings are
                     errors), every test of the workspace; ends with one summary line and the
                     robustness figures
  shape              the shape check alone
  bench [SECTION…]   release build; measures against this machine's limits, side by side:
                     crypto (the public-key bound of a sign-in and the share of it reached),
                     concurrency (1 to 256 clients), memory (lyncsim serve with 10,000 users
                     and 50,000 certificates, and over a long run), autodiscover (against
                     nginx, installed if missing), suite (time, and the share spent making
                     RSA keys); all of them when none is named
  fuzz [--minutes N] the fuzz targets (CSRs, tokens, scenario files, profile files, admin
                     JSON) for N minutes in all (default 5), release build; prints cases run
  soak [--minutes N] lyncsim serve under sign-ins at half the peak rate with faults cycled
                     and slow clients, for N minutes (default 10); prints sign-ins, unexpected
                     failures and resident memory at the start and end
";

/// The shape check: no module circle in any crate, no function over the limit outside
/// tests. Prints what it found; `false` when either is broken.
fn shape_check() -> bool {
    let shape = match shape::check(&root()) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("ci: cannot read the sources: {e}");
            return false;
        }
    };
    for circle in &shape.circles {
        eprintln!("ci: module circle: {circle}");
    }
    for f in &shape.long_functions {
        eprintln!("ci: function over {} lines: {f}", shape::MAX_FUNCTION_LINES);
    }
    let longest = shape
        .longest
        .as_ref()
        .map(|(at, n)| format!("{at}, {n} lines"))
        .unwrap_or_default();
    println!(
        "ci: shape: {} module circles in {} modules; {} functions over {} lines; the longest {longest}",
        shape.circles.len(),
        shape.modules,
        shape.long_functions.len(),
        shape::MAX_FUNCTION_LINES
    );
    shape.circles.is_empty() && shape.long_functions.is_empty()
}

fn ci() -> bool {
    let start = Instant::now();
    eprintln!("ci: 1/4 rustfmt");
    if !cargo(&["fmt", "--all", "--", "--check"]) {
        eprintln!("ci: rustfmt found unformatted code; run cargo fmt --all");
        return false;
    }
    eprintln!("ci: 2/4 shape (module circles, function lengths)");
    if !shape_check() {
        eprintln!(
            "ci: the shape check failed: break the circle, or split the function into named steps"
        );
        return false;
    }
    eprintln!("ci: 3/4 clippy (the first build of the workspace: a few minutes from cold)");
    if !cargo(&[
        "clippy",
        "--workspace",
        "--all-targets",
        "--",
        "-D",
        "warnings",
    ]) {
        eprintln!("ci: clippy failed");
        return false;
    }
    eprintln!("ci: 4/4 tests");
    let Some(counts) = cargo_test(&["test", "--workspace", "--", "--show-output"], &[]) else {
        eprintln!("ci: tests failed");
        return false;
    };
    for figure in &counts.figures {
        println!("ci: {figure}");
    }
    println!(
        "ci: fmt ok, shape ok, clippy ok, {} tests passed, {} failed in {} s",
        counts.passed,
        counts.failed,
        start.elapsed().as_secs()
    );
    true
}

fn main() -> ExitCode {
    let task = std::env::args().nth(1);
    let ok = match task.as_deref() {
        Some("ci") => ci(),
        Some("shape") => shape_check(),
        Some("bench") => {
            let sections: Vec<String> = std::env::args().skip(2).collect();
            let mut args = vec![
                "bench",
                "--package",
                "lyncsim-cli",
                "--bench",
                "bench",
                "--",
            ];
            args.extend(sections.iter().map(String::as_str));
            cargo(&args)
        }
        Some("fuzz") => match minutes(5) {
            Ok(m) => {
                let secs = (m * 60).to_string();
                let args = [
                    "test",
                    "--release",
                    "--package",
                    "lyncsim-cli",
                    "--test",
                    "e2e",
                    "--",
                    "fuzz::",
                    "--nocapture",
                ];
                match cargo_test(&args, &[("LYNCSIM_FUZZ_SECS", &secs)]) {
                    Some(counts) => {
                        for figure in counts.figures {
                            println!("xtask fuzz: {figure}");
                        }
                        true
                    }
                    None => false,
                }
            }
            Err(e) => {
                eprintln!("{e}");
                return ExitCode::from(2);
            }
        },
        Some("soak") => match minutes(10) {
            Ok(m) => cargo(&[
                "bench",
                "--package",
                "lyncsim-cli",
                "--bench",
                "soak",
                "--",
                "--minutes",
                &m.to_string(),
            ]),
            Err(e) => {
                eprintln!("{e}");
                return ExitCode::from(2);
            }
        },
        Some("-h" | "--help" | "help") => {
            print!("{HELP}");
            true
        }
        other => {
            eprint!("unknown task {other:?}\n\n{HELP}");
            return ExitCode::from(2);
        }
    };
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
