//! `cargo xtask ci` runs what CI runs; `cargo xtask bench` measures speed and memory.
//!
//! No dependencies: it only finds the repository root and runs cargo.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

fn root() -> PathBuf {
    // xtask/ is one level below the repository root.
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

fn cargo(args: &[&str]) -> bool {
    eprintln!("$ cargo {}", args.join(" "));
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    match Command::new(cargo).args(args).current_dir(root()).status() {
        Ok(status) => status.success(),
        Err(e) => {
            eprintln!("cannot run cargo: {e}");
            false
        }
    }
}

const HELP: &str = "\
usage: cargo xtask <task>

tasks:
  ci      rustfmt check, clippy (warnings are errors), every test of the workspace
  bench   sign-in latency and throughput, peak memory, and the built-in suite's time, with a
          release build
";

fn main() -> ExitCode {
    let task = std::env::args().nth(1);
    let ok = match task.as_deref() {
        Some("ci") => {
            cargo(&["fmt", "--all", "--", "--check"])
                && cargo(&[
                    "clippy",
                    "--workspace",
                    "--all-targets",
                    "--quiet",
                    "--",
                    "-D",
                    "warnings",
                ])
                && cargo(&["test", "--workspace"])
        }
        Some("bench") => {
            cargo(&["bench", "--package", "lyncsim-cli", "--bench", "signin"])
                && cargo(&["bench", "--package", "lyncsim-cli", "--bench", "suite"])
        }
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
