//! `lyncsim run` and `lyncsim troubleshoot`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context;
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use lyncsim_client::Profile;
use lyncsim_suite::{Accounts, RunOptions, Scenario, report};

#[derive(Debug, Args)]
pub(crate) struct RunArgs {
    /// Scenario files, or folders of them (every *.toml inside, recursively). With none, the
    /// built-in suite runs (fixtures/scenarios, embedded in the binary).
    #[arg(value_name = "FILES/DIRS")]
    paths: Vec<PathBuf>,
    /// Write JUnit XML (one test case per scenario) to FILE; `-` for standard output (the
    /// table then goes to standard error).
    #[arg(long, value_name = "FILE")]
    junit: Option<PathBuf>,
    /// Write the results as JSON to FILE; `-` for standard output (the table then goes to
    /// standard error).
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
    /// Scenarios run at once; each has its own service and machine. Default: the number of
    /// CPU cores.
    #[arg(long, short = 'j', value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    jobs: Option<u16>,
    /// Run only the scenarios whose name contains PAT (case-insensitive).
    #[arg(long, value_name = "PAT")]
    filter: Option<String>,
    /// List the scenarios that would run (name, file, description), and stop.
    #[arg(long)]
    list: bool,
}

/// Whether a report file is `-`, standard output.
fn is_stdout(path: &Option<PathBuf>) -> bool {
    path.as_deref() == Some(std::path::Path::new("-"))
}

/// Writes a report to its file, or to standard output for `-`.
fn write_report(path: &Option<PathBuf>, text: &str) -> anyhow::Result<()> {
    match path {
        None => Ok(()),
        Some(_) if is_stdout(path) => {
            use std::io::Write;
            let mut out = std::io::stdout().lock();
            out.write_all(text.as_bytes())
                .and_then(|()| out.flush())
                .context("writing the report to standard output")
        }
        Some(p) => std::fs::write(p, text).with_context(|| format!("writing {}", p.display())),
    }
}

pub(crate) async fn run(args: RunArgs) -> anyhow::Result<ExitCode> {
    if is_stdout(&args.json) && is_stdout(&args.junit) {
        eprintln!("error: --json and --junit cannot both be - (standard output); give one a file");
        return Ok(ExitCode::from(2));
    }
    // The built-in suite lives in a temporary folder that must outlast the run.
    let (scenarios, _builtin) = match chosen(&args) {
        Ok(chosen) => chosen,
        Err(code) => return Ok(code),
    };
    if args.list {
        for s in &scenarios {
            println!(
                "{}\t{}\t{}",
                s.name,
                s.file,
                s.description.as_deref().unwrap_or_default()
            );
        }
        return Ok(ExitCode::SUCCESS);
    }
    let defaults = RunOptions::default();
    let opts = RunOptions {
        jobs: args.jobs.map_or(defaults.jobs, usize::from),
        lyncsim: std::env::current_exe().ok(),
        ..defaults
    };
    let started = Instant::now();
    let Some(reports) = run_with_progress(scenarios, &opts, started).await else {
        return Ok(ExitCode::from(130));
    };
    let wall = started.elapsed();
    // With a report on standard output, what is for people goes to standard error.
    let to_people = |text: &str| {
        if is_stdout(&args.json) || is_stdout(&args.junit) {
            eprint!("{text}");
        } else {
            print!("{text}");
        }
    };
    to_people(&report::table(&reports));
    let totals = report::Totals::of(&reports);
    to_people(&format!(
        "\n{} ({} at once)\n",
        report::summary(&totals, wall),
        opts.jobs
    ));
    if args.junit.is_some() {
        write_report(&args.junit, &report::junit(&reports, wall)?)?;
    }
    if args.json.is_some() {
        write_report(&args.json, &report::json(&reports, wall, opts.jobs)?)?;
    }
    Ok(if totals.all_passed() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// The scenarios to run: the files given (or the built-in suite, kept in its temporary
/// folder for the run), filtered; or the exit code of why there are none.
fn chosen(
    args: &RunArgs,
) -> Result<(Vec<Scenario>, Option<lyncsim_suite::BuiltinSuite>), ExitCode> {
    let (scenarios, builtin) = if args.paths.is_empty() {
        match lyncsim_suite::builtin_suite() {
            Ok(suite) => (suite.scenarios.clone(), Some(suite)),
            Err(errors) => return Err(load_errors(&errors)),
        }
    } else {
        match lyncsim_suite::scenario::load(&args.paths) {
            Ok(s) => (s, None),
            Err(errors) => return Err(load_errors(&errors)),
        }
    };
    let scenarios: Vec<Scenario> = match &args.filter {
        None => scenarios,
        Some(pat) => {
            let pat = pat.to_lowercase();
            scenarios
                .into_iter()
                .filter(|s| s.name.to_lowercase().contains(&pat))
                .collect()
        }
    };
    if scenarios.is_empty() {
        eprintln!(
            "error: no scenario to run{}",
            args.filter
                .as_ref()
                .map(|p| format!(" matches --filter {p:?}"))
                .unwrap_or_default()
        );
        return Err(ExitCode::from(2));
    }
    Ok((scenarios, builtin))
}

/// Runs the scenarios behind a progress bar, a failure shown as it happens. Ctrl-C stops
/// every scenario (their services, machines and scripts go with them) and shows what finished
/// before: `None`, and no report file is written for a run cut short.
async fn run_with_progress(
    scenarios: Vec<Scenario>,
    opts: &RunOptions,
    started: Instant,
) -> Option<Vec<lyncsim_suite::ScenarioReport>> {
    let bar = ProgressBar::new(scenarios.len() as u64);
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} scenarios  {elapsed}  {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let total = scenarios.len();
    let finished = std::sync::Mutex::new(Vec::new());
    let run = lyncsim_suite::run_all(scenarios, opts, |r| {
        finished
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(r.clone());
        if !r.passed() {
            bar.println(format!(
                "{} {}: {}",
                r.status.label(),
                r.name,
                r.problems.first().map(String::as_str).unwrap_or_default()
            ));
        }
        bar.set_message(r.name.clone());
        bar.inc(1);
    });
    tokio::select! {
        reports = run => {
            bar.finish_and_clear();
            Some(reports)
        }
        _ = tokio::signal::ctrl_c() => {
            bar.abandon();
            let done = std::mem::take(&mut *finished.lock().unwrap_or_else(|p| p.into_inner()));
            if !done.is_empty() {
                eprint!("{}", report::table(&done));
            }
            let totals = report::Totals::of(&done);
            eprintln!(
                "interrupted after {} of {total} scenarios: {}; no report written",
                done.len(),
                report::summary(&totals, started.elapsed())
            );
            None
        }
    }
}

fn load_errors(errors: &[lyncsim_suite::ScenarioError]) -> ExitCode {
    for e in errors {
        eprintln!("error: {e}");
    }
    let files: std::collections::BTreeSet<&str> = errors.iter().map(|e| e.file.as_str()).collect();
    eprintln!(
        "{} scenario file{} cannot be used; nothing was run",
        files.len(),
        if files.len() == 1 { "" } else { "s" }
    );
    ExitCode::from(2)
}

#[derive(Debug, Args)]
pub(crate) struct TroubleshootArgs {
    /// The profile folder of the machine with the problem. The steps change it, as they
    /// would change the real machine.
    #[arg(long, value_name = "DIR")]
    profile: PathBuf,
    /// The sign-in address of the user with the problem.
    #[arg(long, value_name = "ADDR")]
    user: String,
    /// The user's password, typed whenever no saved one is left (the first KB step removes
    /// it).
    #[arg(long, env = "LYNCSIM_PASSWORD", hide_env_values = true)]
    password: String,
    /// A known-good account for the KB's second-account check, run when no step restores
    /// sign-in: if it signs in on this machine, the account is the problem.
    #[arg(long, value_name = "ADDR", requires = "second_password")]
    second_user: Option<String>,
    /// The second account's password.
    #[arg(
        long,
        env = "LYNCSIM_SECOND_PASSWORD",
        hide_env_values = true,
        requires = "second_user"
    )]
    second_password: Option<String>,
    /// Print the walk as JSON.
    #[arg(long)]
    json: bool,
}

pub(crate) async fn troubleshoot(args: TroubleshootArgs) -> anyhow::Result<ExitCode> {
    let mut profile = Profile::open(&args.profile)?;
    let accounts = Accounts {
        user: args.user,
        password: Some(args.password),
        second: args.second_user.zip(args.second_password),
    };
    let walk = lyncsim_suite::troubleshoot(&mut profile, &accounts).await?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&walk)?);
    } else {
        print!("{}", lyncsim_suite::render(&walk));
    }
    Ok(if walk.signed_in() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
