//! `lyncsim load`: many machines signing in at once, against a lab's service, with faults put in force
//! and cleared on a schedule (an outage, then the storm of every client coming back).
//!
//! Users are added through the admin API; each machine signs in first with its user's password
//! (saving it, so the first sign-in provisions a certificate), then again and again with the
//! saved one, as many at once as the concurrency says, for the duration or up to a count.
//! Each sign-in is timed and counted by its outcome (the catalogue id the user saw) in the
//! phase in which it started; a phase begins when the admin API has answered the scheduled
//! action (so a sign-in that started in the moment between the change and that answer counts
//! in the phase before).

#![warn(missing_docs)]

use std::collections::BTreeMap;
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use hdrhistogram::Histogram;
use lyncsim_domain::{Os, Product};
use lyncsim_wire::admin::{Fault, NewUser, OutageMode};
use serde::Serialize;

use lyncsim_lab::{Lab, Machine};

/// What a load run does.
#[derive(Debug, Clone)]
pub struct LoadOptions {
    /// Users added to the tenant for the run.
    pub users: usize,
    /// Machines; machine `i` signs in as user `i % users`.
    pub machines: usize,
    /// Sign-ins in flight at once (at most one per machine).
    pub concurrency: usize,
    /// Sign-ins per second to aim at; as fast as the concurrency allows when `None`.
    pub rate: Option<f64>,
    /// How long the repeat sign-ins go on.
    pub duration: Duration,
    /// Stop after this many repeat sign-ins, if sooner.
    pub max_sign_ins: Option<u64>,
    /// The client product of every machine.
    pub product: Product,
    /// The OS of every machine.
    pub os: Os,
    /// Faults put in force, and cleared, at times from the start of the repeat sign-ins.
    pub schedule: Vec<Scheduled>,
}

impl Default for LoadOptions {
    fn default() -> Self {
        LoadOptions {
            users: 10,
            machines: 20,
            concurrency: 8,
            rate: None,
            duration: Duration::from_secs(10),
            max_sign_ins: None,
            product: Product::Lync2013,
            os: Os::Win7,
            schedule: Vec::new(),
        }
    }
}

/// The most of each, so that a run stays within what one machine can hold.
pub const MAX_USERS: usize = 100_000;
/// The most machines (each is a profile folder with a key and a certificate).
pub const MAX_MACHINES: usize = 10_000;
/// The longest run.
pub const MAX_DURATION: Duration = Duration::from_secs(24 * 3600);

/// An action at a time of the run.
#[derive(Debug, Clone, PartialEq)]
pub struct Scheduled {
    /// From the start of the repeat sign-ins.
    pub at: Duration,
    /// What happens.
    pub action: Action,
}

/// What a scheduled step does.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Put a fault in force through the admin API.
    Fault(Fault),
    /// Remove every fault (an outage ends).
    Clear,
}

impl Action {
    fn describe(&self) -> String {
        match self {
            Action::Clear => "faults cleared".into(),
            Action::Fault(Fault::Outage { hosts, mode, .. }) => {
                let mode = serde_json::to_value(mode)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default();
                if hosts.is_empty() {
                    format!("outage {mode}, every host")
                } else {
                    format!("outage {mode}, {}", hosts.join(" "))
                }
            }
            Action::Fault(f) => serde_json::to_value(f)
                .ok()
                .and_then(|v| v["kind"].as_str().map(str::to_owned))
                .unwrap_or_else(|| "fault".into()),
        }
    }
}

/// A duration as a person writes it: `30`, `30s`, `1500ms`, `2m`, `1h`.
pub fn parse_duration(text: &str) -> anyhow::Result<Duration> {
    let t = text.trim();
    let (number, unit) = t
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .map_or((t, "s"), |i| t.split_at(i));
    let n: f64 = number
        .parse()
        .with_context(|| format!("{text:?} is not a duration such as 30s, 1500ms or 2m"))?;
    let secs = match unit {
        "ms" => n / 1000.0,
        "s" => n,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        _ => bail!("{text:?}: the unit is one of ms, s, m, h"),
    };
    if !secs.is_finite() || secs < 0.0 || secs > MAX_DURATION.as_secs_f64() {
        bail!("{text:?} is out of range (0 to 24h)");
    }
    Ok(Duration::from_secs_f64(secs))
}

impl FromStr for Scheduled {
    type Err = anyhow::Error;

    /// `AT:FAULT`: a time, then the admin API's JSON of a fault
    /// (`10s:{"kind":"rotate-ca"}`) or a short form: `outage` (503 on every host),
    /// `outage-503`, `outage-reset`, `outage-refuse`, `outage-cut-off`, each optionally
    /// `@host,host`; `rotate-ca`; `min-client-build`.
    fn from_str(text: &str) -> anyhow::Result<Scheduled> {
        let (at, what) = text
            .split_once(':')
            .with_context(|| format!("{text:?}: expected AT:FAULT, such as 10s:outage"))?;
        let at = parse_duration(at)?;
        let what = what.trim();
        let fault = if what.starts_with('{') {
            serde_json::from_str::<Fault>(what)
                .with_context(|| format!("{what:?} is not a fault of the admin API"))?
        } else {
            let (name, hosts) = match what.split_once('@') {
                Some((n, h)) => (n, h.split(',').map(str::to_owned).collect()),
                None => (what, Vec::new()),
            };
            let outage = |mode| Fault::Outage {
                hosts: hosts.clone(),
                mode,
                duration_secs: None,
            };
            match name {
                "outage" | "outage-503" => outage(OutageMode::Status503),
                "outage-reset" => outage(OutageMode::Reset),
                "outage-refuse" => outage(OutageMode::Refuse),
                "outage-cut-off" => outage(OutageMode::CutOff),
                "rotate-ca" => Fault::RotateCa,
                "min-client-build" => Fault::MinClientBuild {
                    product: Product::Lync2013,
                    build: None,
                },
                other => bail!(
                    "unknown fault {other:?}: give the admin API's JSON, or one of outage, outage-503, outage-reset, outage-refuse, outage-cut-off (each with @host,host to choose hosts), rotate-ca, min-client-build"
                ),
            }
        };
        Ok(Scheduled {
            at,
            action: Action::Fault(fault),
        })
    }
}

/// Latencies of a phase, in milliseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Latency {
    /// Median.
    pub p50: f64,
    /// 95th percentile.
    pub p95: f64,
    /// 99th percentile.
    pub p99: f64,
    /// The slowest.
    pub max: f64,
}

/// One phase of a run.
#[derive(Debug, Clone, Serialize)]
pub struct PhaseReport {
    /// `first sign-ins`, `before`, or what began the phase (`outage 503, every host`).
    pub name: String,
    /// When the phase began, seconds from the start of the repeat sign-ins.
    pub from_secs: f64,
    /// When it ended.
    pub to_secs: f64,
    /// Sign-ins started in the phase.
    pub sign_ins: u64,
    /// Sign-ins per second over the phase.
    pub per_sec: f64,
    /// Latencies.
    pub latency_ms: Latency,
    /// Outcomes: `signed-in`, a catalogue id, or `error` (the sign-in could not run).
    pub outcomes: BTreeMap<String, u64>,
    /// For each failing outcome, the real reason of the first one (stage: reason).
    pub why: BTreeMap<String, String>,
}

/// What a load run measured.
#[derive(Debug, Clone, Serialize)]
pub struct LoadReport {
    /// The users and machines.
    pub users: usize,
    /// The machines.
    pub machines: usize,
    /// The concurrency.
    pub concurrency: usize,
    /// Every machine's first sign-in.
    pub first: PhaseReport,
    /// The repeat sign-ins, phase by phase.
    pub phases: Vec<PhaseReport>,
    /// The repeat sign-ins together.
    pub total: PhaseReport,
}

/// What a run has done so far, for a progress line.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// `first sign-ins` or `repeat sign-ins`.
    pub stage: &'static str,
    /// Time since the stage began.
    pub elapsed: Duration,
    /// Sign-ins done in the stage.
    pub done: u64,
    /// Sign-ins per second over the last interval.
    pub per_sec: f64,
    /// Failures so far, by outcome.
    pub failures: BTreeMap<String, u64>,
}

/// One timed sign-in.
#[derive(Debug, Clone)]
struct Record {
    started: Duration,
    took: Duration,
    outcome: String,
    /// Why it failed (stage and reason), if it did.
    why: Option<String>,
}

/// The sign-ins of a stage so far, and its failures counted as they come (the progress line
/// reads them twice a second; a long run must not count them all again each time).
#[derive(Debug, Default)]
struct Tally {
    records: Vec<Record>,
    failures: BTreeMap<String, u64>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Checks what a person gave.
fn check(opts: &LoadOptions) -> anyhow::Result<()> {
    if opts.users == 0 || opts.users > MAX_USERS {
        bail!("--users must be 1 to {MAX_USERS}, not {}", opts.users);
    }
    if opts.machines == 0 || opts.machines > MAX_MACHINES {
        bail!(
            "--machines must be 1 to {MAX_MACHINES}, not {}",
            opts.machines
        );
    }
    if opts.concurrency == 0 {
        bail!("--concurrency must be at least 1");
    }
    if let Some(rate) = opts.rate
        && !(rate > 0.0 && rate.is_finite())
    {
        bail!("--rate must be a positive number of sign-ins per second");
    }
    if opts.duration > MAX_DURATION {
        bail!("--duration is at most 24h");
    }
    if !opts.product.runs_on(opts.os) {
        bail!(
            "{} does not run on {}",
            opts.product.display_name(),
            opts.os.display_name()
        );
    }
    if let Some(late) = opts.schedule.iter().find(|s| s.at > opts.duration) {
        bail!(
            "an action at {:?} comes after the end of the run ({:?})",
            late.at,
            opts.duration
        );
    }
    Ok(())
}

/// Runs a load on `lab`; `progress` is called about every half second.
pub async fn load(
    lab: &Lab,
    opts: &LoadOptions,
    progress: impl Fn(&Snapshot) + Send + Sync,
) -> anyhow::Result<LoadReport> {
    check(opts)?;
    let machines = machines_with_users(lab, opts).await?;
    let workers = opts.concurrency.min(machines.len());
    let run = Run {
        lab,
        machines: &machines,
        workers,
        progress: &progress,
    };
    // Every machine's first sign-in, once each.
    let first = run
        .stage(&Plan {
            name: "first sign-ins",
            duration: None,
            count: None,
            rate: None,
            schedule: &[],
        })
        .await?;
    // The repeat sign-ins, with the schedule.
    let repeat = run
        .stage(&Plan {
            name: "repeat sign-ins",
            duration: Some(opts.duration),
            count: opts.max_sign_ins,
            rate: opts.rate,
            schedule: &opts.schedule,
        })
        .await?;
    Ok(LoadReport {
        users: opts.users,
        machines: opts.machines,
        concurrency: workers,
        first: phase("first sign-ins", 0.0, first.wall, &first.records),
        total: phase("all repeat sign-ins", 0.0, repeat.wall, &repeat.records),
        phases: phases(&repeat),
    })
}

/// The run's users (added to the tenant, on both pools) and machines, each with its user.
async fn machines_with_users(
    lab: &Lab,
    opts: &LoadOptions,
) -> anyhow::Result<Vec<Arc<(Machine, String)>>> {
    let tenant = lab.info().tenant.clone();
    let tag: u32 = rand::random();
    let users: Vec<String> = (0..opts.users)
        .map(|i| format!("load.{tag:08x}.{i}@{tenant}"))
        .collect();
    for (i, user) in users.iter().enumerate() {
        let password = format!("Load!{tag:08x}{i}");
        lab.add_user(&NewUser {
            address: user.clone(),
            password,
            home_pool: Some(if i % 2 == 0 { "pool-a" } else { "pool-b" }.into()),
        })
        .await
        .with_context(|| format!("adding the user {user}"))?;
    }
    let mut machines = Vec::with_capacity(opts.machines);
    for i in 0..opts.machines {
        let machine = lab.machine(opts.product, opts.os).await?;
        machines.push(Arc::new((machine, users[i % users.len()].clone())));
    }
    Ok(machines)
}

/// The repeat sign-ins by phase: from the start, then from each scheduled action on.
fn phases(repeat: &Stage) -> Vec<PhaseReport> {
    let mut bounds = vec![(0.0, "before".to_owned())];
    bounds.extend(repeat.actions.iter().cloned());
    let mut phases = Vec::new();
    for (i, (from, name)) in bounds.iter().enumerate() {
        let to = bounds.get(i + 1).map_or(repeat.wall, |(t, _)| *t);
        let records: Vec<Record> = repeat
            .records
            .iter()
            .filter(|r| r.started.as_secs_f64() >= *from && r.started.as_secs_f64() < to)
            .cloned()
            .collect();
        phases.push(phase(name, *from, to, &records));
    }
    // A run with no schedule has one phase: the total says it all.
    if bounds.len() == 1 {
        phases[0].name = "repeat sign-ins".into();
    }
    phases
}

struct Stage {
    records: Vec<Record>,
    /// When each scheduled action took effect, and what it was.
    actions: Vec<(f64, String)>,
    wall: f64,
}

/// What a stage of sign-ins does: until `duration` or `count`, paced to `rate`, with
/// `schedule` carried out on the way. With neither a duration nor a count, each machine signs
/// in once.
struct Plan<'a> {
    name: &'static str,
    duration: Option<Duration>,
    count: Option<u64>,
    rate: Option<f64>,
    schedule: &'a [Scheduled],
}

/// A run's lab, machines, how many sign in at once, and where progress goes.
struct Run<'a, P> {
    lab: &'a Lab,
    machines: &'a [Arc<(Machine, String)>],
    workers: usize,
    progress: &'a P,
}

/// What the workers of a stage share.
#[derive(Clone)]
struct Shared {
    start: Instant,
    tally: Arc<Mutex<Tally>>,
    issued: Arc<AtomicU64>,
}

impl<P: Fn(&Snapshot) + Send + Sync> Run<'_, P> {
    /// One stage: the workers sign in while the schedule is carried out and progress shown.
    async fn stage(&self, plan: &Plan<'_>) -> anyhow::Result<Stage> {
        let shared = Shared {
            start: Instant::now(),
            tally: Arc::default(),
            issued: Arc::new(AtomicU64::new(0)),
        };
        let mut tasks = tokio::task::JoinSet::new();
        for w in 0..self.workers {
            // Worker `w` owns machines w, w + workers, …: no machine signs in twice at once.
            let mine: Vec<Arc<(Machine, String)>> = self
                .machines
                .iter()
                .skip(w)
                .step_by(self.workers)
                .cloned()
                .collect();
            let (duration, count, rate) = (plan.duration, plan.count, plan.rate);
            tasks.spawn(worker(mine, shared.clone(), (duration, count, rate)));
        }
        let actions = self.drive(plan, &shared, &mut tasks).await?;
        let wall = shared.start.elapsed().as_secs_f64();
        let records = std::mem::take(&mut lock(&shared.tally).records);
        Ok(Stage {
            records,
            actions,
            wall,
        })
    }

    /// While the workers run: the schedule's actions when they are due, and the progress
    /// line every half second. When each action took effect, and what it was.
    async fn drive(
        &self,
        plan: &Plan<'_>,
        shared: &Shared,
        tasks: &mut tokio::task::JoinSet<()>,
    ) -> anyhow::Result<Vec<(f64, String)>> {
        let start = shared.start;
        let mut actions = Vec::new();
        let mut pending = plan.schedule.to_vec();
        pending.sort_by_key(|s| s.at);
        let mut pending = pending.into_iter().peekable();
        let mut last = (Instant::now(), 0u64);
        let mut tick = tokio::time::interval(Duration::from_millis(500));
        loop {
            let next_action = pending.peek().map(|s| start + s.at);
            tokio::select! {
                joined = tasks.join_next() => match joined {
                    None => return Ok(actions),
                    Some(Err(e)) => bail!("a sign-in worker failed: {e}"),
                    Some(Ok(())) => {}
                },
                _ = tick.tick() => {
                    let (done, failures) = {
                        let tally = lock(&shared.tally);
                        (tally.records.len() as u64, tally.failures.clone())
                    };
                    let now = Instant::now();
                    let per_sec = (done - last.1) as f64 / now.duration_since(last.0).as_secs_f64().max(1e-3);
                    last = (now, done);
                    (self.progress)(&Snapshot { stage: plan.name, elapsed: start.elapsed(), done, per_sec, failures });
                },
                _ = sleep_until_opt(next_action) => {
                    if let Some(step) = pending.next() {
                        match &step.action {
                            Action::Fault(f) => {
                                self.lab.fault(f).await.with_context(|| format!("putting {} in force", step.action.describe()))?;
                            }
                            Action::Clear => self.lab.clear_faults().await?,
                        }
                        actions.push((start.elapsed().as_secs_f64(), step.action.describe()));
                    }
                },
            }
        }
    }
}

/// One worker: its machines sign in in turn until the stage ends, each sign-in timed and
/// counted.
async fn worker(
    mine: Vec<Arc<(Machine, String)>>,
    shared: Shared,
    (duration, count, rate): (Option<Duration>, Option<u64>, Option<f64>),
) {
    let start = shared.start;
    let once = count.is_none() && duration.is_none();
    let mut turn = 0usize;
    loop {
        if once && turn == mine.len() {
            break;
        }
        let n = shared.issued.fetch_add(1, Ordering::Relaxed);
        if count.is_some_and(|c| n >= c) || duration.is_some_and(|d| start.elapsed() >= d) {
            break;
        }
        if let Some(rate) = rate {
            // A sign-in due after the end is not waited for: each worker claims its next turn
            // before sleeping until it, so the last ones claimed lie up to workers / rate
            // beyond the end, and waiting for them stretched the stage (and cut its rate) by
            // as much.
            let due = Duration::from_secs_f64(n as f64 / rate);
            if duration.is_some_and(|d| due >= d) {
                break;
            }
            tokio::time::sleep_until((start + due).into()).await;
        }
        let entry = &mine[turn % mine.len()];
        turn += 1;
        let record = sign_in(&entry.0, &entry.1, start).await;
        let mut counted = lock(&shared.tally);
        if record.outcome != "signed-in" {
            *counted.failures.entry(record.outcome.clone()).or_insert(0) += 1;
        }
        counted.records.push(record);
    }
}

/// One timed sign-in, and what it showed.
async fn sign_in(machine: &Machine, user: &str, start: Instant) -> Record {
    let began = Instant::now();
    let (outcome, why) = match machine.sign_in(user).await {
        Ok(signed) => match signed.failure() {
            None => ("signed-in".to_owned(), None),
            Some(f) => (
                f.error.id().to_owned(),
                Some(format!("{}: {}", f.stage, f.reason)),
            ),
        },
        // The profile could not be read or written: not a sign-in outcome.
        Err(e) => ("error".to_owned(), Some(format!("{e:#}"))),
    };
    Record {
        started: began.duration_since(start),
        took: began.elapsed(),
        outcome,
        why,
    }
}

async fn sleep_until_opt(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at.into()).await,
        None => std::future::pending().await,
    }
}

fn phase(name: &str, from: f64, to: f64, records: &[Record]) -> PhaseReport {
    let mut histogram =
        Histogram::<u64>::new_with_bounds(1, 3_600_000_000, 3).expect("valid histogram bounds");
    let mut outcomes = BTreeMap::new();
    let mut why = BTreeMap::new();
    for r in records {
        if let Some(reason) = &r.why {
            why.entry(r.outcome.clone())
                .or_insert_with(|| reason.clone());
        }
        let micros = u64::try_from(r.took.as_micros()).unwrap_or(u64::MAX);
        histogram.saturating_record(micros.max(1));
        *outcomes.entry(r.outcome.clone()).or_insert(0) += 1;
    }
    let ms = |v: u64| v as f64 / 1000.0;
    let latency_ms = if records.is_empty() {
        Latency::default()
    } else {
        Latency {
            p50: ms(histogram.value_at_quantile(0.50)),
            p95: ms(histogram.value_at_quantile(0.95)),
            p99: ms(histogram.value_at_quantile(0.99)),
            max: ms(histogram.max()),
        }
    };
    let span = (to - from).max(1e-3);
    PhaseReport {
        name: name.to_owned(),
        from_secs: from,
        to_secs: to,
        sign_ins: records.len() as u64,
        per_sec: records.len() as f64 / span,
        latency_ms,
        outcomes,
        why,
    }
}

/// The report as a table.
pub fn render(report: &LoadReport) -> String {
    let mut out = format!(
        "{} users, {} machines, {} at once\n\n{:<34} {:>13} {:>7} {:>8} {:>8} {:>8} {:>8}  outcomes\n",
        report.users,
        report.machines,
        report.concurrency,
        "phase",
        "time",
        "count",
        "per sec",
        "p50 ms",
        "p99 ms",
        "max ms"
    );
    let row = |p: &PhaseReport| {
        let outcomes: Vec<String> = p.outcomes.iter().map(|(k, v)| format!("{k} {v}")).collect();
        format!(
            "{:<34} {:>13} {:>7} {:>8.1} {:>8.1} {:>8.1} {:>8.1}  {}\n",
            p.name,
            format!("{:.1}-{:.1}s", p.from_secs, p.to_secs),
            p.sign_ins,
            p.per_sec,
            p.latency_ms.p50,
            p.latency_ms.p99,
            p.latency_ms.max,
            outcomes.join(", ")
        )
    };
    out.push_str(&row(&report.first));
    for p in &report.phases {
        out.push_str(&row(p));
    }
    if report.phases.len() > 1 {
        out.push_str(&row(&report.total));
    }
    // Why, once per phase and outcome.
    let mut reasons = Vec::new();
    for p in std::iter::once(&report.first).chain(&report.phases) {
        for (outcome, reason) in &p.why {
            reasons.push(format!("  {} in {}: {reason}\n", outcome, p.name));
        }
    }
    if !reasons.is_empty() {
        out.push_str("\nthe first failure of each kind, with its real reason:\n");
        for r in reasons {
            out.push_str(&r);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_as_people_write_them() {
        assert_eq!(parse_duration("30").unwrap(), Duration::from_secs(30));
        assert_eq!(parse_duration("30s").unwrap(), Duration::from_secs(30));
        assert_eq!(
            parse_duration("1500ms").unwrap(),
            Duration::from_millis(1500)
        );
        assert_eq!(parse_duration("2m").unwrap(), Duration::from_secs(120));
        assert!(parse_duration("2 weeks").is_err());
        assert!(parse_duration("25h").is_err());
        assert!(parse_duration("-1s").is_err());
    }

    #[test]
    fn scheduled_faults_read_short_and_as_json() {
        let s: Scheduled = "10s:outage".parse().unwrap();
        assert_eq!(s.at, Duration::from_secs(10));
        assert_eq!(s.action.describe(), "outage 503, every host");
        let s: Scheduled = "1:outage-reset@login.microsoftonline.com".parse().unwrap();
        assert_eq!(
            s.action.describe(),
            "outage reset, login.microsoftonline.com"
        );
        let s: Scheduled = r#"5s:{"kind":"rotate-ca"}"#.parse().unwrap();
        assert_eq!(s.action, Action::Fault(Fault::RotateCa));
        assert!("5s:meteor".parse::<Scheduled>().is_err());
        assert!("outage".parse::<Scheduled>().is_err());
    }

    #[test]
    fn a_phase_counts_outcomes_and_percentiles() {
        let records: Vec<Record> = (1..=100u64)
            .map(|i| Record {
                started: Duration::from_millis(i),
                took: Duration::from_millis(i),
                outcome: if i % 10 == 0 { "E_CERT" } else { "signed-in" }.into(),
                why: (i % 10 == 0).then(|| format!("Certificate: refused {i}")),
            })
            .collect();
        let p = phase("x", 0.0, 2.0, &records);
        assert_eq!(p.sign_ins, 100);
        assert_eq!(p.per_sec, 50.0);
        assert_eq!(p.outcomes["E_CERT"], 10);
        assert_eq!(p.outcomes["signed-in"], 90);
        assert_eq!(p.why["E_CERT"], "Certificate: refused 10");
        assert!(!p.why.contains_key("signed-in"));
        assert!((p.latency_ms.p50 - 50.0).abs() < 0.5, "{:?}", p.latency_ms);
        assert!((p.latency_ms.p99 - 99.0).abs() < 0.5, "{:?}", p.latency_ms);
        assert!((p.latency_ms.max - 100.0).abs() < 0.5, "{:?}", p.latency_ms);
    }
}
