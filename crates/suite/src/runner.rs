//! Running scenarios: each on its own service instance and machine, several at once.
//!
//! A scenario: start a service; make the machine; sign in once (saving the password); make
//! the causes; sign in and compare with `expect`; keep a copy of the broken machine; apply the
//! remedies; sign in and compare with `outcome`; the second account, if any, must sign in on
//! the same machine; then each control on its own copy of the broken machine. Every
//! comparison is against a real sign-in.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use lyncsim_domain::{Os, Product};
use lyncsim_service::{CaPem, ServiceConfig};
use serde::Serialize;

use lyncsim_lab::{Lab, Machine, Seen};

use crate::exec::ExecOptions;
use crate::scenario::{Control, Expect, Scenario, Step};

/// How to run.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Scenarios run at once.
    pub jobs: usize,
    /// The `lyncsim` binary, handed to `exec` steps as `$LYNCSIM`.
    pub lyncsim: Option<PathBuf>,
    /// How long an `exec` step may take.
    pub exec_timeout: Duration,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            jobs: std::thread::available_parallelism().map_or(2, |n| n.get()),
            lyncsim: None,
            exec_timeout: Duration::from_secs(120),
        }
    }
}

/// How a scenario ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Every sign-in showed what the scenario expects.
    Passed,
    /// A sign-in showed something else.
    Failed,
    /// The scenario could not be run to the end (a service that did not start, a script
    /// that could not run, a setup sign-in that failed).
    Error,
}

impl Status {
    /// How the table and the progress output show it: pass, FAIL or ERROR.
    pub fn label(self) -> &'static str {
        match self {
            Status::Passed => "pass",
            Status::Failed => "FAIL",
            Status::Error => "ERROR",
        }
    }
}

/// What a control did.
#[derive(Debug, Clone, Serialize)]
pub struct ControlReport {
    /// Its remedies.
    pub remedies: Vec<String>,
    /// What the sign-in after them had to show.
    pub expected: Expect,
    /// What it showed.
    pub seen: Option<Seen>,
    /// Whether it held.
    pub held: bool,
}

/// The result of one scenario.
#[derive(Debug, Clone, Serialize)]
pub struct ScenarioReport {
    /// The scenario's name.
    pub name: String,
    /// Its file.
    pub file: String,
    /// What it is about.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The product.
    pub product: Product,
    /// The OS.
    pub os: Os,
    /// What the sign-in after the faults had to show.
    pub expected: Expect,
    /// What it showed.
    pub seen: Option<Seen>,
    /// The remedies applied.
    pub remedies: Vec<String>,
    /// What the sign-in after the remedies had to show.
    pub expected_outcome: Expect,
    /// What it showed.
    pub outcome: Option<Seen>,
    /// The second account's sign-in on the same machine, when the scenario has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub second_account: Option<Seen>,
    /// The controls.
    pub controls: Vec<ControlReport>,
    /// Passed, failed or error.
    pub status: Status,
    /// Why it did not pass.
    pub problems: Vec<String>,
    /// Each step, as it happened.
    pub log: Vec<String>,
    /// How long it took.
    pub seconds: f64,
}

impl ScenarioReport {
    fn new(s: &Scenario) -> ScenarioReport {
        ScenarioReport {
            name: s.name.clone(),
            file: s.file.clone(),
            description: s.description.clone(),
            product: s.product,
            os: s.os,
            expected: s.expect,
            seen: None,
            remedies: s.remedies.iter().map(Step::to_string).collect(),
            expected_outcome: s.outcome,
            outcome: None,
            second_account: None,
            controls: Vec::new(),
            status: Status::Passed,
            problems: Vec::new(),
            log: Vec::new(),
            seconds: 0.0,
        }
    }

    fn fail(&mut self, problem: String) {
        self.log.push(format!("FAILED: {problem}"));
        self.problems.push(problem);
        if self.status == Status::Passed {
            self.status = Status::Failed;
        }
    }

    /// Whether it passed.
    pub fn passed(&self) -> bool {
        self.status == Status::Passed
    }
}

/// Runs every scenario, `jobs` at a time; calls `done` as each ends. Reports come back in the
/// order the scenarios were given. A scenario's place is given to the next one only after
/// `done` has seen its report, so whoever watches `done` (Ctrl-C's summary) never sees a
/// later scenario start before an earlier one is counted.
pub async fn run_all(
    scenarios: Vec<Scenario>,
    opts: &RunOptions,
    mut done: impl FnMut(&ScenarioReport),
) -> Vec<ScenarioReport> {
    // One scratch folder for the run, removed when the run ends, with a folder in it for each
    // scenario's machines. Removed scenario by scenario, the freed inodes made the next
    // scenarios' folders slow to make: ext4 passes over inodes freed in the last minutes,
    // and late in a run a mkdir took 0.6 ms instead of 40 µs (a third of the suite's time).
    let scratch = tempfile::Builder::new()
        .prefix("lyncsim-run-")
        .tempdir()
        .ok();
    // One Communications Server CA for the run's services, as the pools of one Lync Online
    // share one: a scenario's result depends on its machine's certificate and its own
    // service's CA (a rotation gives that service a new one), and no scenario's client ever
    // reaches another's service. Made per service, it was an RSA key per scenario, a third
    // of the suite's CPU. If it cannot be made, each service makes its own.
    let now = chrono::Utc::now().timestamp();
    let shared = tokio::task::spawn_blocking(move || ServiceConfig {
        communications_server: CaPem::communications_server(now).ok(),
        ..ServiceConfig::default()
    })
    .await
    .unwrap_or_default();
    let limit = Arc::new(tokio::sync::Semaphore::new(opts.jobs.max(1)));
    let mut tasks = tokio::task::JoinSet::new();
    let count = scenarios.len();
    // Scenarios take their places in the order of the files: each task asks for a place only
    // once the one before it has one (the order tasks are first run in is the runtime's).
    let (first, mut turn) = tokio::sync::oneshot::channel::<()>();
    let _ = first.send(());
    for (i, scenario) in scenarios.into_iter().enumerate() {
        let limit = limit.clone();
        let opts = opts.clone();
        let dir = scratch.as_ref().map(|d| d.path().join(i.to_string()));
        let config = shared.clone();
        let (next, next_turn) = tokio::sync::oneshot::channel::<()>();
        let my_turn = std::mem::replace(&mut turn, next_turn);
        tasks.spawn(async move {
            let _ = my_turn.await;
            let permit = limit.acquire_owned().await;
            let _ = next.send(());
            let report = run_in(&scenario, &opts, config, dir.as_deref()).await;
            (i, report, permit)
        });
    }
    let mut reports: Vec<Option<ScenarioReport>> = vec![None; count];
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok((i, report, permit)) => {
                done(&report);
                reports[i] = Some(report);
                drop(permit);
            }
            Err(e) => std::panic::resume_unwind(e.into_panic()),
        }
    }
    reports.into_iter().flatten().collect()
}

/// Runs one scenario on its own service and machine.
pub async fn run(scenario: &Scenario, opts: &RunOptions) -> ScenarioReport {
    run_in(scenario, opts, ServiceConfig::default(), None).await
}

/// [`run`] on a service of `config`, with the machines in `dir` (which the caller removes),
/// or in a temporary folder.
async fn run_in(
    scenario: &Scenario,
    opts: &RunOptions,
    config: ServiceConfig,
    dir: Option<&Path>,
) -> ScenarioReport {
    let started = Instant::now();
    let mut report = ScenarioReport::new(scenario);
    if let Err(e) = steps(scenario, opts, &mut report, config, dir).await {
        let problem = format!("{e:#}");
        report.log.push(format!("ERROR: {problem}"));
        report.problems.push(problem);
        report.status = Status::Error;
    }
    report.seconds = started.elapsed().as_secs_f64();
    report
}

/// Sets up what a scenario describes, up to the sign-in that should show the problem: a
/// service of its own, the machine, the first sign-in, the causes and server faults. Each
/// step is logged in `log`. This is the broken machine a trainee or a troubleshooter starts
/// from.
pub async fn prepare(s: &Scenario, log: &mut Vec<String>) -> anyhow::Result<(Lab, Machine)> {
    prepare_in(s, log, ServiceConfig::default(), None).await
}

/// [`prepare`] on a service of `config`, with the machines in `dir`, or in a temporary
/// folder.
async fn prepare_in(
    s: &Scenario,
    log: &mut Vec<String>,
    config: ServiceConfig,
    dir: Option<&Path>,
) -> anyhow::Result<(Lab, Machine)> {
    let lab = match dir {
        Some(dir) => Lab::in_dir(config, dir).await,
        None => Lab::with_config(config).await,
    }
    .context("starting the service")?;
    let mut machine = lab
        .machine_with(
            s.product,
            s.os,
            s.build.clone(),
            s.sign_in_assistant.clone(),
        )
        .await
        .context("making the machine")?;
    log.push(format!(
        "service {}; {} {} on {}",
        lab.admin_url(),
        s.product.display_name(),
        machine.profile().machine().build,
        s.os.display_name()
    ));
    if s.first_sign_in {
        let first = machine.sign_in(&s.user).await?;
        if !first.signed_in() {
            bail!(
                "the first sign-in, before anything broke, failed: {}",
                first.describe()
            );
        }
        log.push(format!("{} signed in and saved the password", s.user));
    }
    for cause in &s.causes {
        let did = lab
            .cause(&mut machine, &s.user, cause.clone())
            .await
            .with_context(|| format!("making {}", cause.cause))?;
        log.push(format!("{}: {did}", cause.cause));
    }
    for fault in &s.server_faults {
        let record = lab.fault(fault).await?;
        log.push(format!("server fault: {}", record.detail));
    }
    Ok((lab, machine))
}

/// The scenario on its broken machine: what it shows, the remedies and what they restore,
/// the second account, and each control on a copy of the broken machine.
async fn steps(
    s: &Scenario,
    opts: &RunOptions,
    report: &mut ScenarioReport,
    config: ServiceConfig,
    dir: Option<&Path>,
) -> anyhow::Result<()> {
    let (_lab, mut machine) = prepare_in(s, &mut report.log, config, dir).await?;
    let broken = machine.sign_in(&s.user).await?;
    let seen = broken.seen();
    report
        .log
        .push(format!("sign-in after the faults: {}", broken.describe()));
    report.seen = Some(seen.clone());
    if !s.expect.met_by(seen.error) {
        report.fail(format!(
            "after the faults: expected {}, saw {}",
            s.expect,
            broken.describe()
        ));
    }
    let snapshot = if s.controls.is_empty() {
        None
    } else {
        Some(machine.copy("broken")?)
    };
    if let Err(e) = apply(s, opts, &mut machine, &s.remedies, &mut report.log).await {
        report.fail(format!("{e:#}"));
        return Ok(());
    }
    let after = machine.sign_in(&s.user).await?;
    let outcome = after.seen();
    report
        .log
        .push(format!("sign-in after the remedies: {}", after.describe()));
    report.outcome = Some(outcome.clone());
    if !s.outcome.met_by(outcome.error) {
        report.fail(format!(
            "after {}: expected {}, saw {}",
            remedy_list(&s.remedies),
            s.outcome,
            after.describe()
        ));
    }
    if let Some(second) = &s.second_account {
        second_account(&machine, second, report).await?;
    }
    if let Some(snapshot) = snapshot {
        for (i, control) in s.controls.iter().enumerate() {
            run_control(s, opts, &snapshot, (i + 1, control), report).await?;
        }
    }
    Ok(())
}

/// The KB's check of a machine against the account ([`lyncsim_lab::trial::second_account`],
/// as the console runs it): a known-good second account must sign in on the machine (a scratch
/// copy of it, so that the check changes nothing the scenario looks at after).
async fn second_account(
    machine: &Machine,
    second: &str,
    report: &mut ScenarioReport,
) -> anyhow::Result<()> {
    let other = lyncsim_lab::trial::second_account(machine, second).await?;
    report.log.push(format!(
        "the second account {second} on the same machine: {}",
        other.describe()
    ));
    report.second_account = Some(other.seen());
    if !other.signed_in() {
        report.fail(format!(
            "the known-good account {second} should sign in on the same machine, but saw {}",
            other.describe()
        ));
    }
    Ok(())
}

/// Control `n`: its remedies alone, on a copy of the broken machine, must give its outcome.
async fn run_control(
    s: &Scenario,
    opts: &RunOptions,
    snapshot: &Machine,
    (n, control): (usize, &Control),
    report: &mut ScenarioReport,
) -> anyhow::Result<()> {
    let mut copy = lyncsim_lab::trial::Scratch::of(snapshot, &format!("control-{}", n - 1))?;
    let mut log = Vec::new();
    if let Err(e) = apply(s, opts, &mut copy, &control.remedies, &mut log).await {
        report.fail(format!("control {n}: {e:#}"));
        return Ok(());
    }
    let result = copy.sign_in(&s.user).await?;
    let seen = result.seen();
    let held = control.outcome.met_by(seen.error);
    report
        .log
        .extend(log.into_iter().map(|l| format!("control {n}: {l}")));
    report.log.push(format!(
        "control {n}: sign-in after {}: {}",
        remedy_list(&control.remedies),
        result.describe()
    ));
    report.controls.push(ControlReport {
        remedies: control.remedies.iter().map(Step::to_string).collect(),
        expected: control.outcome,
        seen: Some(seen),
        held,
    });
    if !held {
        report.fail(format!(
            "control {n}: after {} alone: expected {}, saw {}",
            remedy_list(&control.remedies),
            control.outcome,
            result.describe()
        ));
    }
    Ok(())
}

fn remedy_list(steps: &[Step]) -> String {
    if steps.is_empty() {
        "no remedy".into()
    } else {
        steps
            .iter()
            .map(Step::to_string)
            .collect::<Vec<_>>()
            .join(" + ")
    }
}

async fn apply(
    s: &Scenario,
    opts: &RunOptions,
    machine: &mut Machine,
    steps: &[Step],
    log: &mut Vec<String>,
) -> anyhow::Result<()> {
    for step in steps {
        match step {
            Step::Remedy(remedy) => {
                let did = machine
                    .fix(*remedy)
                    .await
                    .with_context(|| format!("remedy {remedy}"))?;
                log.push(format!("{remedy}: {did}"));
            }
            Step::Exec(command) => {
                let exec = ExecOptions {
                    lyncsim: opts.lyncsim.as_deref(),
                    timeout: opts.exec_timeout,
                };
                let out = crate::exec::run(command, &s.dir, machine, &s.user, &exec).await?;
                log.push(format!("exec `{command}`: {out}"));
            }
        }
    }
    Ok(())
}
