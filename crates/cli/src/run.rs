//! `lyncsim run` and `lyncsim troubleshoot`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context;
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use lyncsim_client::Profile;
use lyncsim_harness::{Accounts, RunOptions, Scenario, report};

#[derive(Debug, Args)]
pub(crate) struct RunArgs {
    /// Scenario files, or folders of them (every *.toml inside, recursively). With none, the
    /// built-in suite runs (fixtures/scenarios, embedded in the binary).
    #[arg(value_name = "FILES/DIRS")]
    paths: Vec<PathBuf>,
    /// Write JUnit XML (one test case per scenario) to FILE.
    #[arg(long, value_name = "FILE")]
    junit: Option<PathBuf>,
    /// Write the results as JSON to FILE.
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

pub(crate) async fn run(args: RunArgs) -> anyhow::Result<ExitCode> {
    // The built-in suite lives in a temporary folder that must outlast the run.
    let (scenarios, _builtin) = if args.paths.is_empty() {
        match lyncsim_harness::builtin_suite() {
            Ok(suite) => (suite.scenarios.clone(), Some(suite)),
            Err(errors) => return Ok(load_errors(&errors)),
        }
    } else {
        match lyncsim_harness::scenario::load(&args.paths) {
            Ok(s) => (s, None),
            Err(errors) => return Ok(load_errors(&errors)),
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
        return Ok(ExitCode::from(2));
    }
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
    let bar = ProgressBar::new(scenarios.len() as u64);
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} scenarios  {elapsed}  {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let started = Instant::now();
    let run = lyncsim_harness::run_all(scenarios, &opts, |r| {
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
    // Ctrl-C stops every scenario: their services, machines and scripts go with them.
    let reports = tokio::select! {
        reports = run => reports,
        _ = tokio::signal::ctrl_c() => {
            bar.abandon();
            eprintln!("interrupted: no report written");
            return Ok(ExitCode::from(130));
        }
    };
    bar.finish_and_clear();
    let wall = started.elapsed();

    print!("{}", report::table(&reports));
    let totals = report::Totals::of(&reports);
    println!(
        "\n{} ({} at once)",
        report::summary(&totals, wall),
        opts.jobs
    );
    if let Some(path) = &args.junit {
        std::fs::write(path, report::junit(&reports, wall)?)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    if let Some(path) = &args.json {
        std::fs::write(path, report::json(&reports, wall, opts.jobs)?)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(if totals.all_passed() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn load_errors(errors: &[lyncsim_harness::ScenarioError]) -> ExitCode {
    for e in errors {
        eprintln!("error: {e}");
    }
    eprintln!(
        "{} scenario file{} cannot be used; nothing was run",
        errors.len(),
        if errors.len() == 1 { "" } else { "s" }
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
    let walk = lyncsim_harness::troubleshoot(&mut profile, &accounts).await?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&walk)?);
    } else {
        print!("{}", lyncsim_harness::render(&walk));
    }
    Ok(if walk.signed_in() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
