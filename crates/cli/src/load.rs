//! `lyncsim load`: flags in, a progress line while it runs, a table (and JSON) out.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use lyncsim_domain::{Os, Product};
use lyncsim_lab::Lab;
use lyncsim_load::{Action, LoadOptions, Scheduled, parse_duration};

#[derive(Debug, Args)]
pub(crate) struct LoadArgs {
    /// A running `lyncsim serve` (its admin_url); a service of the run's own when left out.
    #[arg(long, value_name = "URL", env = "LYNCSIM_SERVICE")]
    service: Option<String>,
    /// Users added to the tenant for the run.
    #[arg(long, default_value_t = 10)]
    users: usize,
    /// Machines; each signs in as one of the users.
    #[arg(long, default_value_t = 20)]
    machines: usize,
    /// Sign-ins in flight at once.
    #[arg(long, default_value_t = 8)]
    concurrency: usize,
    /// Sign-ins per second to aim at (as fast as the concurrency allows when left out).
    #[arg(long)]
    rate: Option<f64>,
    /// How long the repeat sign-ins go on (30s, 2m, …).
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    duration: Duration,
    /// Stop after this many repeat sign-ins, if sooner.
    #[arg(long, value_name = "N")]
    max: Option<u64>,
    /// The machines' client: lync2010 or lync2013.
    #[arg(long, default_value = "lync2013")]
    product: Product,
    /// The machines' OS: xp, vista, win7, win8.
    #[arg(long, default_value = "win7")]
    os: Os,
    /// Put a fault in force at a time of the repeat sign-ins: AT:FAULT, where FAULT is
    /// outage (503 on every host), outage-reset, outage-refuse, outage-cut-off (each may end
    /// in @host,host), rotate-ca, min-client-build, or the admin API's JSON of a fault.
    /// Repeatable.
    #[arg(long, value_name = "AT:FAULT")]
    fault: Vec<Scheduled>,
    /// Clear every fault at a time (the outage ends: the storm). Repeatable.
    #[arg(long, value_name = "AT", value_parser = parse_duration)]
    clear: Vec<Duration>,
    /// Write the report as JSON to FILE (`-` for standard output, instead of the table).
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
}

pub(crate) async fn run(args: LoadArgs) -> anyhow::Result<ExitCode> {
    let mut schedule = args.fault;
    schedule.extend(args.clear.into_iter().map(|at| Scheduled {
        at,
        action: Action::Clear,
    }));
    let opts = LoadOptions {
        users: args.users,
        machines: args.machines,
        concurrency: args.concurrency,
        rate: args.rate,
        duration: args.duration,
        max_sign_ins: args.max,
        product: args.product,
        os: args.os,
        schedule,
    };
    let lab = match &args.service {
        Some(url) => Lab::connect(url).await?,
        None => Lab::start().await?,
    };
    let bar = if std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        ProgressBar::new_spinner()
    } else {
        ProgressBar::hidden()
    };
    bar.set_style(ProgressStyle::with_template("{spinner} {msg}")?);
    let report = lyncsim_load::load(&lab, &opts, |s| {
        let failures: Vec<String> = s.failures.iter().map(|(k, v)| format!("{k} {v}")).collect();
        bar.set_message(format!(
            "{}: {} in {:.0}s, {:.0}/s now{}",
            s.stage,
            s.done,
            s.elapsed.as_secs_f64(),
            s.per_sec,
            if failures.is_empty() {
                String::new()
            } else {
                format!(", failed: {}", failures.join(", "))
            }
        ));
        bar.tick();
    })
    .await;
    bar.finish_and_clear();
    let report = report?;
    match args.json.as_deref() {
        Some(path) if path.as_os_str() == "-" => {
            println!("{}", serde_json::to_string_pretty(&report)?);
        }
        Some(path) => {
            std::fs::write(path, serde_json::to_vec_pretty(&report)?)?;
            print!("{}", lyncsim_load::render(&report));
        }
        None => print!("{}", lyncsim_load::render(&report)),
    }
    Ok(ExitCode::SUCCESS)
}
