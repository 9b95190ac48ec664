//! The training console's engine: exercises made from the KB's causes, attempts on their own
//! service and machine (every sign-in and every step real, each written to the attempt's event
//! log), the shortest KB path found by real sign-ins on copies of the broken machine, and the
//! scoring rule.
//!
//! **The scoring rule.** An attempt ends at the first of: the user signs in again, the trainee
//! escalates, or the trainee gives up; nothing after that counts (the console refuses it). It is
//! *finished* when it ended with the user signed in, or with an escalation, after the KB's
//! check with a second account, of an account that no step on the computer fixes.
//!
//! A step *addresses a cause present* when it belongs to a set of KB steps that restores sign-in
//! on a copy of the broken machine and has no step to spare (found by real sign-ins: every such
//! set of the fewest steps, and of one step more). Such a step costs nothing, whichever way
//! the trainee took (the KB's targeted steps for each cause, or one broad step for all); nor
//! does the KB's first resolution for the product (Fix it for Lync 2010, "Delete my sign-in
//! information" for Lync 2013). It starts at 100 points; a step that addresses no cause present
//! costs 10, or 20 when it deleted what the user needed (a certificate, saved credentials, the
//! key container); so does a step taken when the steps before it had already restored sign-in
//! (an alternative done twice); a step done again costs 10; escalating what a step on the
//! computer fixes, or without the second-account check, costs 30; a hint costs what the trainer
//! set; finishing after the cohort's time limit costs 20. A finished attempt scores at least
//! 50; an unfinished one at most 40, and 0 when the trainee took no step but escalating (looking,
//! hints and an escalation are not trying): so an unfinished attempt never outscores a finished
//! one, and an instant escalation never outscores trying.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use lyncsim_domain::{Cause, Os, Product, Remedy};
use rand::seq::{IndexedRandom, SliceRandom};
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

use lyncsim_lab::{Lab, Machine, Seen};

/// What an exercise is made of.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExerciseSpec {
    /// The causes, made in this order.
    pub causes: Vec<Cause>,
    /// The client.
    pub product: Product,
    /// The OS.
    pub os: Os,
    /// Who cannot sign in.
    pub user: String,
}

impl ExerciseSpec {
    /// The causes' ids joined with " + " (`clock-skew + dns-stale`).
    pub fn causes_text(&self) -> String {
        self.causes
            .iter()
            .map(|c| c.id())
            .collect::<Vec<_>>()
            .join(" + ")
    }

    /// Draws an exercise from `seed`: a product and an OS it runs on, then `count` different
    /// causes from `pool` (every cause when empty) that exist there. The same seed and pool
    /// give the same exercise.
    pub fn draw(seed: u64, pool: &[Cause], count: usize) -> anyhow::Result<ExerciseSpec> {
        ExerciseSpec::draw_within(seed, pool, &[], &[], count)
    }

    /// The same, with the product and the OS drawn only from `products` and `oses` (any when
    /// empty).
    pub fn draw_within(
        seed: u64,
        pool: &[Cause],
        products: &[Product],
        oses: &[Os],
        count: usize,
    ) -> anyhow::Result<ExerciseSpec> {
        if !(1..=3).contains(&count) {
            bail!("an exercise has 1 to 3 causes, not {count}");
        }
        let pool: Vec<Cause> = if pool.is_empty() {
            Cause::ALL.to_vec()
        } else {
            pool.to_vec()
        };
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let mut places: Vec<(Product, Os)> = Product::ALL
            .iter()
            .flat_map(|p| Os::ALL.iter().map(move |o| (*p, *o)))
            .filter(|(p, o)| p.runs_on(*o))
            .filter(|(p, o)| {
                (products.is_empty() || products.contains(p))
                    && (oses.is_empty() || oses.contains(o))
            })
            .filter(|(p, o)| pool.iter().filter(|c| c.exists_on(*p, *o)).count() >= count)
            .collect();
        places.shuffle(&mut rng);
        let Some(&(product, os)) = places.first() else {
            bail!("no product and OS has {count} of the causes {pool:?}");
        };
        let mut here: Vec<Cause> = pool
            .iter()
            .copied()
            .filter(|c| c.exists_on(product, os))
            .collect();
        here.shuffle(&mut rng);
        here.truncate(count);
        let user = ["alice@contoso.com", "bob@contoso.com"]
            .choose(&mut rng)
            .copied()
            .unwrap_or("alice@contoso.com");
        // One more draw, so that a seed's exercises differ in more than their order.
        let _: u8 = rng.random();
        Ok(ExerciseSpec {
            causes: here,
            product,
            os,
            user: user.into(),
        })
    }
}

/// An exercise made for real: its own service, the trainee's machine, and a copy of the machine
/// as it was when broken, for the search of the shortest KB path.
pub struct Exercise {
    /// What it is made of.
    pub spec: ExerciseSpec,
    lab: Lab,
    machine: Machine,
    broken: Machine,
}

/// Why an exercise could not be made: its causes do not stop sign-in on its machine (a
/// Lync 2013 recovers from an outage by itself). The exercise is not offered.
#[derive(Debug)]
pub struct NotAnExercise(pub String);

impl std::fmt::Display for NotAnExercise {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for NotAnExercise {}

/// What `exercise.json` records, for [`Exercise::reopen`].
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Saved {
    spec: ExerciseSpec,
    machine: PathBuf,
    broken: PathBuf,
    /// Every user's password when the exercise was made (a cause may have changed one).
    passwords: std::collections::BTreeMap<String, String>,
    /// The server-side changes of the exercise that the service does not keep across a
    /// restart (a changed DNS record), put in force again by [`Exercise::reopen`] in the same
    /// order: the service then gives each the same addresses, so an open exercise stays
    /// broken as it was, and a machine a step mended stays mended.
    #[serde(default)]
    reapply: Vec<lyncsim_lab::Fault>,
}

impl Exercise {
    /// Starts a service, makes the machine, signs the user in once (saving the password, as
    /// the user did before the trouble), then makes the causes. The sign-in must fail now, or
    /// this is no exercise. Everything goes away with the exercise.
    pub async fn prepare(spec: ExerciseSpec) -> anyhow::Result<Exercise> {
        Exercise::made(spec, Lab::start().await?).await
    }

    /// The same, with the service's state and the machines kept in `dir`, so that
    /// [`Exercise::reopen`] can take the exercise up again after a restart. What a
    /// server-side cause changed in the service's records (its CA, users, minimum versions)
    /// is kept with it; a changed DNS record, which the service does not keep (as with
    /// `lyncsim serve --state-dir`), is recorded here and put in force again at reopen (a
    /// post-outage's outage is over before the exercise begins).
    pub async fn prepare_in(spec: ExerciseSpec, dir: &Path) -> anyhow::Result<Exercise> {
        let lab = Lab::in_dir(service_config(dir), &dir.join("machines")).await?;
        let exercise = Exercise::made(spec, lab).await?;
        let reapply = exercise
            .lab
            .admin()
            .faults()
            .await?
            .into_iter()
            .map(|record| record.fault)
            .filter(|fault| matches!(fault, lyncsim_lab::Fault::ChangeDns { .. }))
            .collect();
        let saved = Saved {
            spec: exercise.spec.clone(),
            machine: exercise.machine.dir().to_owned(),
            broken: exercise.broken.dir().to_owned(),
            passwords: exercise.lab.passwords(),
            reapply,
        };
        let file = dir.join("exercise.json");
        lyncsim_durable::write_atomically(&file, &serde_json::to_vec_pretty(&saved)?)
            .with_context(|| format!("writing {}", file.display()))?;
        Ok(exercise)
    }

    /// An exercise made with [`Exercise::prepare_in`], taken up again: its service started
    /// from its state (same CAs, users and addresses), its machines as they were left.
    pub async fn reopen(dir: &Path) -> anyhow::Result<Exercise> {
        let file = dir.join("exercise.json");
        let saved: Saved = serde_json::from_slice(
            &std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?,
        )
        .with_context(|| format!("reading {}", file.display()))?;
        let lab = Lab::in_dir(service_config(dir), &dir.join("machines")).await?;
        for (user, password) in &saved.passwords {
            lab.know_password(user, password);
        }
        for fault in &saved.reapply {
            lab.fault(fault)
                .await
                .context("putting the exercise's DNS change in force again")?;
        }
        let machine = lab.open_machine(&saved.machine)?;
        let broken = lab.open_machine(&saved.broken)?;
        Ok(Exercise {
            spec: saved.spec,
            lab,
            machine,
            broken,
        })
    }

    async fn made(spec: ExerciseSpec, lab: Lab) -> anyhow::Result<Exercise> {
        let mut machine = lab.machine(spec.product, spec.os).await?;
        machine
            .sign_in(&spec.user)
            .await?
            .0
            .map_err(|f| anyhow::anyhow!("the first sign-in failed: {}", f.reason))?;
        for cause in &spec.causes {
            lab.cause(&mut machine, &spec.user, *cause).await?;
        }
        if machine.sign_in(&spec.user).await?.signed_in() {
            return Err(NotAnExercise(format!(
                "{} on {} on {} does not stop sign-in (the client recovers by itself): no exercise",
                spec.causes_text(),
                spec.product.display_name(),
                spec.os.display_name()
            ))
            .into());
        }
        let broken = machine.copy("broken")?;
        Ok(Exercise {
            spec,
            lab,
            machine,
            broken,
        })
    }

    /// Stops the exercise's service and waits until it no longer listens.
    pub async fn shutdown(self) {
        self.lab.shutdown().await;
    }

    /// The trainee's machine.
    pub fn machine(&self) -> &Machine {
        &self.machine
    }

    /// The service.
    pub fn lab(&self) -> &Lab {
        &self.lab
    }

    /// Signs the user in on the trainee's machine.
    pub async fn sign_in(&self) -> anyhow::Result<Seen> {
        Ok(self.machine.sign_in(&self.spec.user).await?.seen())
    }

    /// Whether Lync has the user's password saved, and so signs in without asking for it.
    pub fn password_saved(&self) -> anyhow::Result<bool> {
        lyncsim_lab::password_saved(self.machine.profile(), &self.spec.user)
    }

    /// Signs the user in typing `password` with "Save my password" ticked, as when Lync asks.
    pub async fn sign_in_typing(&self, password: &str) -> anyhow::Result<Seen> {
        let profile = self.machine.profile();
        let done =
            lyncsim_lab::sign_in_as_user_would(profile, &self.spec.user, Some(password)).await?;
        Ok(done.seen())
    }

    /// What shows `cause`, in a sentence: first what the trainee could see on the machine as
    /// it was when broken (its views, and the trace the failed sign-in wrote), then, marked as
    /// such, what happened at the service behind it, from the service's records.
    pub async fn evidence(&self, cause: Cause) -> anyhow::Result<String> {
        let profile = self.broken.profile();
        let machine = profile.machine();
        let (seen, behind) = match cause {
            Cause::ClockSkew => {
                let source = self.lab.admin().time().await?;
                let off = machine.now_ms() - source.unix_ms;
                let seen = format!(
                    "Date and Time: the computer's clock was {} {} Internet time",
                    lyncsim_domain::Skew::from_millis(i128::from(off.abs())),
                    if off >= 0 { "ahead of" } else { "behind" }
                );
                (seen, None)
            }
            Cause::StaleCert | Cause::PostOutage => (
                self.certmgr_seen()?,
                Some(self.fault_said("rotate-ca").await?),
            ),
            Cause::StaleCredentials => (
                self.credman_seen()?,
                Some(self.fault_said("change-password").await?),
            ),
            Cause::RsaKeyLocked => (self.key_container_seen(), None),
            Cause::EndpointMoved => {
                let (seen, home) = self.endpoint_seen().await?;
                (seen, Some(home))
            }
            Cause::DnsStale => (self.dns_seen().await?, None),
            Cause::OutdatedClient => (
                format!(
                    "Help > About: {} {}",
                    machine.product.display_name(),
                    machine.build
                ),
                Some(self.fault_said("min-client-build").await?),
            ),
            Cause::OutdatedSia => (
                format!(
                    "Help > About: Sign-In Assistant {}",
                    machine
                        .sign_in_assistant
                        .as_ref()
                        .map(ToString::to_string)
                        .unwrap_or_default()
                ),
                Some(self.fault_said("min-sign-in-assistant").await?),
            ),
            Cause::AccountCorrupt => (
                "Another account signs in on this computer".to_owned(),
                Some(self.fault_said("corrupt-account").await?),
            ),
        };
        Ok(match behind {
            Some(behind) => format!("{seen}. Behind it, at the service: {behind}."),
            None => format!("{seen}."),
        })
    }

    /// The lines of the broken machine's trace (as Lync wrote it, without lyncsim's notes)
    /// that contain `what`, without their times.
    fn trace_lines(&self, what: &str) -> Vec<String> {
        lyncsim_client::views::lync_trace(self.broken.profile(), 200)
            .iter()
            .filter(|l| l.contains(what))
            .map(|l| l.split_once(' ').map_or(l.as_str(), |(_, t)| t).to_owned())
            .collect()
    }

    /// The RSA folder on the broken machine, and what the trace said of its key container.
    fn key_container_seen(&self) -> String {
        let sid = &self.broken.profile().machine().sid;
        let said = self.trace_lines("RSA key container");
        match said.last() {
            Some(line) => format!(
                "The Crypto\\RSA\\{sid} folder holds the certificate's key container, and the trace said: {line}"
            ),
            None => format!("The Crypto\\RSA\\{sid} folder holds the certificate's key container"),
        }
    }

    /// What the service's record of the fault of `kind` says, and when it was made.
    async fn fault_said(&self, kind: &str) -> anyhow::Result<String> {
        let faults = self.lab.admin().faults().await?;
        Ok(faults
            .iter()
            .find(|f| {
                serde_json::to_value(&f.fault)
                    .ok()
                    .is_some_and(|v| v["kind"] == kind)
            })
            .map_or_else(
                || "nothing recorded".to_owned(),
                |f| format!("{} ({})", f.detail, f.applied),
            ))
    }

    /// certmgr's certificates on the broken machine.
    fn certmgr_seen(&self) -> anyhow::Result<String> {
        let store = lyncsim_client::views::certmgr(self.broken.profile())?;
        let rows: Vec<String> = store
            .rows
            .iter()
            .map(|r| match &r.unreadable {
                Some(_) => format!("a certificate ({}) that cannot be read", r.thumbprint),
                None => format!(
                    "{} issued by {} on {}",
                    r.issued_to, r.issued_by, r.valid_from
                ),
            })
            .collect();
        Ok(format!("certmgr: {}", or_none(&rows)))
    }

    /// The saved credential on the broken machine.
    fn credman_seen(&self) -> anyhow::Result<String> {
        use lyncsim_client::views::{CredEntry, credman};
        let saved: Vec<String> = credman(self.broken.profile())?
            .entries
            .iter()
            .map(|e| match e {
                CredEntry::Generic {
                    target, modified, ..
                } => format!("{target}, saved {modified}"),
                CredEntry::Unreadable { .. } => "a credential that cannot be read".into(),
            })
            .collect();
        Ok(format!("Credential Manager: {}", or_none(&saved)))
    }

    /// What the trace said of the endpoint cache and the pool it named; and the user's home
    /// pool at the service.
    async fn endpoint_seen(&self) -> anyhow::Result<(String, String)> {
        let user = &self.spec.user;
        let seen = match self.trace_lines("endpoint cache names").last() {
            Some(line) => format!("The trace: {line}"),
            None => "The trace named no cached pool".to_owned(),
        };
        let home = self
            .lab
            .admin()
            .users()
            .await?
            .into_iter()
            .find(|u| u.address.eq_ignore_ascii_case(user))
            .map(|u| u.home_pool)
            .unwrap_or_default();
        Ok((seen, format!("{user} is homed on {home}")))
    }

    /// The DNS client cache's addresses that DNS (nslookup) no longer gives.
    async fn dns_seen(&self) -> anyhow::Result<String> {
        // The service's addresses now (the lab's own copy is from its start).
        let hosts = self.lab.admin().info().await?.hosts;
        let stale: Vec<String> = lyncsim_client::views::displaydns(self.broken.profile())
            .rows
            .iter()
            .filter(|r| r.type_number == 1)
            .filter_map(|r| {
                let now = hosts.get(&r.name)?.to_string();
                (now != r.data)
                    .then(|| format!("{} is {} in the cache, {now} in DNS now", r.name, r.data))
            })
            .collect();
        Ok(format!("ipconfig /displaydns: {}", or_none(&stale)))
    }

    /// The user's password now (what they say when Lync asks for it).
    pub fn password(&self) -> Option<String> {
        self.lab.password(&self.spec.user)
    }

    /// The KB's second-account check ([`lyncsim_lab::trial::second_account`]): a known-good
    /// user of the tenant, the first other than the trainee's user, signs in on a scratch copy
    /// of the trainee's machine (the machine itself is left as it is). Who, and what it showed.
    pub async fn second_account(&mut self) -> anyhow::Result<(String, Seen)> {
        let other = self
            .lab
            .passwords()
            .into_keys()
            .find(|u| !u.eq_ignore_ascii_case(&self.spec.user))
            .context("the tenant has no other user for the second-account check")?;
        let seen = lyncsim_lab::trial::second_account(&self.machine, &other)
            .await?
            .seen();
        Ok((other, seen))
    }

    /// Applies a KB step to the trainee's machine; what it did.
    pub async fn apply(&mut self, remedy: Remedy) -> anyhow::Result<String> {
        if remedy == Remedy::Escalate {
            return Ok("escalated to support".into());
        }
        self.machine.fix(remedy).await
    }

    /// The ways to restore sign-in on the broken machine ([`lyncsim_lab::trial::restoring_sets`]:
    /// the fewest KB steps, and the sets one step longer with no step to spare, each tried by
    /// a real sign-in on a scratch copy; at most `max_steps` steps, else escalate).
    pub async fn shortest_paths(&mut self, max_steps: usize) -> anyhow::Result<KbPaths> {
        lyncsim_lab::trial::restoring_sets(&self.broken, &self.spec.user, max_steps).await
    }
}

/// Items joined with "; ", or "nothing" when there are none.
fn or_none(items: &[String]) -> String {
    if items.is_empty() {
        "nothing".into()
    } else {
        items.join("; ")
    }
}

/// The service of an exercise kept in `dir`.
fn service_config(dir: &Path) -> lyncsim_lab::ServiceConfig {
    lyncsim_lab::ServiceConfig {
        state_dir: Some(dir.join("service")),
        ..lyncsim_lab::ServiceConfig::default()
    }
}

pub use lyncsim_lab::trial::KbPaths;

/// What a trainee did, in order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "kebab-case")]
pub enum Event {
    /// Signed in (or tried): what it showed.
    SignIn {
        /// The catalogue id, or `None` when signed in.
        error: Option<lyncsim_domain::ErrorId>,
        /// The real reason.
        reason: Option<String>,
    },
    /// Applied a KB step.
    Step {
        /// The step.
        remedy: Remedy,
        /// What it did.
        did: String,
    },
    /// Looked at a view of the machine (certmgr, the trace, …).
    View {
        /// Which.
        view: String,
    },
    /// Took a hint.
    Hint {
        /// What it cost.
        cost: u32,
    },
    /// Gave up: the attempt ends unfinished.
    GiveUp,
}

/// How an attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Ending {
    /// The user signed in again.
    SignedIn,
    /// The trainee escalated to support.
    Escalated,
    /// The trainee gave up.
    GaveUp,
}

impl Ending {
    /// Its id: `signed-in`, `escalated`, `gave-up`.
    pub fn id(self) -> &'static str {
        match self {
            Ending::SignedIn => "signed-in",
            Ending::Escalated => "escalated",
            Ending::GaveUp => "gave-up",
        }
    }

    /// The ending of `events`, if they ended, and the index of the event that ended them.
    pub fn of(events: &[Event]) -> Option<(usize, Ending)> {
        events.iter().enumerate().find_map(|(i, e)| match e {
            Event::SignIn { error: None, .. } => Some((i, Ending::SignedIn)),
            Event::Step { remedy, .. } if *remedy == Remedy::Escalate => {
                Some((i, Ending::Escalated))
            }
            Event::GiveUp => Some((i, Ending::GaveUp)),
            _ => None,
        })
    }
}

/// An event and when it was taken (RFC 3339, the console's clock).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Logged {
    /// When; empty in a line written before events were timed.
    #[serde(default)]
    pub at: String,
    /// What.
    #[serde(flatten)]
    pub event: Event,
}

/// The console's clock: the system clock plus an offset that only a test moves
/// ([`ConsoleClock::advance`]). Every move wakes the trainers' live boards, as the passing
/// minutes do in use, so that a time-based flag (no progress, over the time limit) arrives
/// without anyone reloading, and a test sees it without waiting.
#[derive(Debug, Clone)]
pub struct ConsoleClock {
    offset_ms: std::sync::Arc<std::sync::atomic::AtomicI64>,
    ticks: tokio::sync::broadcast::Sender<()>,
}

impl Default for ConsoleClock {
    fn default() -> Self {
        ConsoleClock {
            offset_ms: Default::default(),
            ticks: tokio::sync::broadcast::channel(16).0,
        }
    }
}

impl ConsoleClock {
    /// Now, by this clock.
    pub fn now(&self) -> chrono::DateTime<chrono::Utc> {
        let offset = self.offset_ms.load(std::sync::atomic::Ordering::SeqCst);
        chrono::Utc::now() + chrono::Duration::milliseconds(offset)
    }

    /// Moves the clock on by `secs`, and wakes everything that shows time.
    pub fn advance(&self, secs: i64) {
        self.offset_ms.fetch_add(
            secs.saturating_mul(1000),
            std::sync::atomic::Ordering::SeqCst,
        );
        let _ = self.ticks.send(());
    }

    /// Wakes at each move of the clock.
    pub fn ticks(&self) -> tokio::sync::broadcast::Receiver<()> {
        self.ticks.subscribe()
    }
}

/// An attempt's events, one JSON line each (with the time it was taken), appended and synced
/// before the next is taken.
pub struct EventLog {
    path: PathBuf,
    clock: ConsoleClock,
}

impl EventLog {
    /// The log in `dir` (made if missing), its events timed by `clock`.
    pub fn open(dir: &Path, clock: ConsoleClock) -> anyhow::Result<EventLog> {
        std::fs::create_dir_all(dir).with_context(|| format!("making {}", dir.display()))?;
        Ok(EventLog {
            path: dir.join("events.jsonl"),
            clock,
        })
    }

    /// The folder the log is in (the attempt's).
    pub fn dir(&self) -> &Path {
        self.path.parent().unwrap_or(Path::new("."))
    }

    /// Appends one event, timed now; it is on disk when this returns.
    pub fn append(&self, event: &Event) -> anyhow::Result<()> {
        let logged = Logged {
            at: self
                .clock
                .now()
                .to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            event: event.clone(),
        };
        let mut line = serde_json::to_vec(&logged)?;
        line.push(b'\n');
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)
            .with_context(|| format!("opening {}", self.path.display()))?;
        file.write_all(&line)?;
        file.sync_data()?;
        Ok(())
    }

    /// Every event so far; a last line cut short by a crash is left out.
    pub fn read(&self) -> anyhow::Result<Vec<Event>> {
        Ok(self.read_timed()?.into_iter().map(|l| l.event).collect())
    }

    /// Every event so far with its time; a last line cut short by a crash is left out.
    pub fn read_timed(&self) -> anyhow::Result<Vec<Logged>> {
        let text = match std::fs::read_to_string(&self.path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e).with_context(|| format!("reading {}", self.path.display())),
        };
        let mut events = Vec::new();
        let lines: Vec<&str> = text.lines().collect();
        for (i, line) in lines.iter().enumerate() {
            match serde_json::from_str(line) {
                Ok(e) => events.push(e),
                Err(_) if i + 1 == lines.len() && !text.ends_with('\n') => {}
                Err(e) => bail!("{} line {}: {e}", self.path.display(), i + 1),
            }
        }
        Ok(events)
    }
}

/// One line of the debrief's score.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Penalty {
    /// The event it is for (its index in the log).
    pub event: usize,
    /// Points taken.
    pub points: u32,
    /// Why.
    pub why: String,
}

/// The score of an attempt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Score {
    /// 0 to 100.
    pub points: u32,
    /// Whether the user can sign in again (or the account was rightly escalated).
    pub finished: bool,
    /// How the attempt ended, if it has.
    pub ending: Option<Ending>,
    /// What cost points.
    pub penalties: Vec<Penalty>,
}

/// What a step deletes that the user may need, if it deletes anything.
pub fn deletes(remedy: Remedy) -> Option<&'static str> {
    match remedy {
        Remedy::DeleteCert => Some("the user's personal certificate"),
        Remedy::DeleteSigninInfo => {
            Some("the saved password, the certificates and the connection settings")
        }
        Remedy::Fixit => Some("the certificate, the saved credentials and the endpoint cache"),
        Remedy::RemoveCredentials => Some("the saved password"),
        Remedy::DeleteRsaKey => Some("the key container of the user's certificate"),
        _ => None,
    }
}

/// Scores `events` against the shortest KB paths (see the module's rule); `late_min`: how
/// many minutes after the cohort's time limit the attempt ended, if it did.
pub fn score(events: &[Event], paths: &KbPaths, late_min: Option<i64>) -> Score {
    let ended = Ending::of(events);
    let counted = &events[..ended.map_or(events.len(), |(i, _)| i + 1)];
    let mut penalties = penalties(counted, paths);
    let checked = counted
        .iter()
        .any(|e| matches!(e, Event::View { view } if view == "second-account"));
    let finished = match ended {
        Some((_, Ending::SignedIn)) => true,
        Some((_, Ending::Escalated)) => paths.escalate && checked,
        Some((_, Ending::GaveUp)) | None => false,
    };
    if let (true, Some(late), Some((i, _))) = (finished, late_min, ended) {
        penalties.push(Penalty {
            event: i,
            points: 20,
            why: format!("finished {late} min after the time limit"),
        });
    }
    // Escalating is not trying; the KB's check with a second account is.
    let tried = checked
        || counted
            .iter()
            .any(|e| matches!(e, Event::Step { remedy, .. } if *remedy != Remedy::Escalate));
    let lost: u32 = penalties.iter().map(|p| p.points).sum();
    let raw = 100u32.saturating_sub(lost);
    let points = match (finished, tried) {
        (true, _) => raw.max(50),
        (false, true) => raw.min(40),
        (false, false) => 0,
    };
    Score {
        points,
        finished,
        ending: ended.map(|(_, e)| e),
        penalties,
    }
}

/// What cost points among `events` (which end where the attempt ended).
fn penalties(events: &[Event], paths: &KbPaths) -> Vec<Penalty> {
    let mut penalties = Vec::new();
    let mut used = std::collections::BTreeSet::new();
    let mut checked = false;
    for (i, e) in events.iter().enumerate() {
        match e {
            Event::Step { remedy, .. } if *remedy == Remedy::Escalate => {
                let why = if !paths.escalate {
                    Some("escalated what a step on the computer fixes")
                } else if !checked {
                    Some("escalated without the KB's check with a second account")
                } else {
                    None
                };
                if let Some(why) = why {
                    penalties.push(Penalty {
                        event: i,
                        points: 30,
                        why: why.into(),
                    });
                }
            }
            Event::Step { remedy, .. } => {
                let already = paths.restored_by(&used);
                let again = !used.insert(*remedy);
                if let Some(penalty) = step_penalty(i, *remedy, paths, (again, already)) {
                    penalties.push(penalty);
                }
            }
            Event::Hint { cost } => penalties.push(Penalty {
                event: i,
                points: *cost,
                why: "a hint".into(),
            }),
            Event::View { view } if view == "second-account" => checked = true,
            Event::SignIn { .. } | Event::View { .. } | Event::GiveUp => {}
        }
    }
    penalties
}

/// What a KB step (not escalating) costs at event `i`: nothing when it addresses a cause
/// present (it belongs to a restoring set with no step to spare) or is the KB's first
/// resolution for the product, unless it was done before (`again`) or the steps before it had
/// restored sign-in already (`already`).
fn step_penalty(
    i: usize,
    remedy: Remedy,
    paths: &KbPaths,
    (again, already): (bool, bool),
) -> Option<Penalty> {
    let fair = paths.needs(remedy) || is_kb_resolution(remedy);
    if fair && !again && !already {
        return None;
    }
    let why = if again {
        format!("{} again: it had been done", remedy.id())
    } else if already {
        format!(
            "{}: the steps before it had restored sign-in already",
            remedy.id()
        )
    } else {
        format!("{} addresses no cause on this computer", remedy.id())
    };
    Some(match deletes(remedy) {
        Some(what) if !again => Penalty {
            event: i,
            points: 20,
            why: format!("{why}, and it deleted {what}, which the user needed"),
        },
        _ => Penalty {
            event: i,
            points: 10,
            why: format!("{why}: not needed"),
        },
    })
}

/// The KB's first resolution for each product, under its "SOLUTION" heading: Fix it for
/// Lync 2010, "Delete my sign-in information" for Lync 2013 (a product offers only its own).
fn is_kb_resolution(remedy: Remedy) -> bool {
    matches!(remedy, Remedy::Fixit | Remedy::DeleteSigninInfo)
}

/// Minutes after the time limit at which the log's attempt ended (or `now`, if it has not),
/// when that is after it: from the first event, the start.
pub fn minutes_late(
    log: &[Logged],
    limit_min: Option<u32>,
    now: chrono::DateTime<chrono::Utc>,
) -> Option<i64> {
    let limit = limit_min?;
    let time = |l: &Logged| {
        chrono::DateTime::parse_from_rfc3339(&l.at)
            .ok()
            .map(|t| t.with_timezone(&chrono::Utc))
    };
    let start = time(log.first()?)?;
    let events: Vec<Event> = log.iter().map(|l| l.event.clone()).collect();
    let end = match Ending::of(&events) {
        Some((i, _)) => time(&log[i])?,
        None => now,
    };
    let over = (end - start).num_minutes() - i64::from(limit);
    (over > 0).then_some(over)
}

#[cfg(test)]
mod tests {
    use super::*;
    use lyncsim_domain::ErrorId;

    fn step(remedy: Remedy) -> Event {
        Event::Step {
            remedy,
            did: String::new(),
        }
    }
    fn signed_in() -> Event {
        Event::SignIn {
            error: None,
            reason: None,
        }
    }
    fn failed() -> Event {
        Event::SignIn {
            error: Some(ErrorId::ECert),
            reason: Some("skew 7m12s".into()),
        }
    }
    fn sync_time() -> KbPaths {
        KbPaths {
            paths: vec![vec![Remedy::SyncTime]],
            minimal: vec![vec![Remedy::SyncTime]],
            escalate: false,
        }
    }

    #[test]
    fn the_shortest_path_scores_full_marks() {
        let s = score(
            &[failed(), step(Remedy::SyncTime), signed_in()],
            &sync_time(),
            None,
        );
        assert_eq!((s.points, s.finished), (100, true));
        assert!(s.penalties.is_empty());
    }

    #[test]
    fn an_unneeded_step_costs_and_a_destructive_one_costs_more() {
        let s = score(
            &[
                failed(),
                step(Remedy::FlushDns),
                step(Remedy::SyncTime),
                signed_in(),
            ],
            &sync_time(),
            None,
        );
        assert_eq!(s.points, 90);
        let s = score(
            &[
                failed(),
                step(Remedy::DeleteCert),
                step(Remedy::SyncTime),
                signed_in(),
            ],
            &sync_time(),
            None,
        );
        assert_eq!(s.points, 80);
        assert!(s.penalties[0].why.contains("personal certificate"), "{s:?}");
    }

    #[test]
    fn an_unfinished_attempt_never_outscores_a_finished_one() {
        let perfect_but_unfinished = score(&[failed(), step(Remedy::SyncTime)], &sync_time(), None);
        assert!(!perfect_but_unfinished.finished);
        assert_eq!(perfect_but_unfinished.points, 40);
        let clumsy: Vec<Event> = [
            Remedy::DeleteCert,
            Remedy::Fixit,
            Remedy::FlushDns,
            Remedy::DeleteEndpointCache,
            Remedy::UpdateClient,
            Remedy::SyncTime,
        ]
        .into_iter()
        .map(step)
        .chain([signed_in()])
        .collect();
        let finished = score(&clumsy, &sync_time(), None);
        assert!(finished.finished);
        assert_eq!(finished.points, 50);
        assert!(finished.points > perfect_but_unfinished.points);
        // The first sign-in that succeeds ends the attempt: a step after it does not count.
        let s = score(
            &[
                failed(),
                step(Remedy::SyncTime),
                signed_in(),
                step(Remedy::DeleteCert),
            ],
            &sync_time(),
            None,
        );
        assert_eq!(
            (s.points, s.finished, s.ending),
            (100, true, Some(Ending::SignedIn))
        );
    }

    #[test]
    fn doing_nothing_scores_nothing_and_giving_up_ends_unfinished() {
        let untouched = score(
            &[
                failed(),
                Event::View {
                    view: "certmgr".into(),
                },
            ],
            &sync_time(),
            None,
        );
        assert_eq!(
            (untouched.points, untouched.finished, untouched.ending),
            (0, false, None)
        );
        let gave_up = score(&[failed(), Event::GiveUp], &sync_time(), None);
        assert_eq!((gave_up.points, gave_up.ending), (0, Some(Ending::GaveUp)));
        let tried = score(
            &[
                failed(),
                step(Remedy::FlushDns),
                Event::GiveUp,
                step(Remedy::SyncTime),
                signed_in(),
            ],
            &sync_time(),
            None,
        );
        assert_eq!(
            (tried.points, tried.finished),
            (40, false),
            "nothing after giving up counts"
        );
    }

    #[test]
    fn finishing_after_the_time_limit_costs_20() {
        let events = [failed(), step(Remedy::SyncTime), signed_in()];
        let s = score(&events, &sync_time(), Some(3));
        assert_eq!(s.points, 80);
        assert!(
            s.penalties[0].why.contains("3 min after the time limit"),
            "{s:?}"
        );
        let at = |secs: i64, event: &Event| Logged {
            at: chrono::DateTime::from_timestamp(1_800_000_000 + secs, 0)
                .unwrap()
                .to_rfc3339(),
            event: event.clone(),
        };
        let log = [
            at(0, &events[0]),
            at(60, &events[1]),
            at(13 * 60, &events[2]),
        ];
        let now = chrono::DateTime::from_timestamp(1_800_000_000 + 3600, 0).unwrap();
        assert_eq!(minutes_late(&log, Some(10), now), Some(3));
        assert_eq!(minutes_late(&log, Some(20), now), None);
        assert_eq!(
            minutes_late(&log[..2], Some(20), now),
            Some(40),
            "still open: until now"
        );
    }

    #[test]
    fn escalating_is_right_only_when_no_step_helps() {
        let account = KbPaths {
            paths: vec![],
            minimal: vec![],
            escalate: true,
        };
        let check = Event::View {
            view: "second-account".into(),
        };
        let s = score(
            &[failed(), check.clone(), step(Remedy::Escalate)],
            &account,
            None,
        );
        assert_eq!(
            (s.points, s.finished, s.ending),
            (100, true, Some(Ending::Escalated))
        );
        // Without the KB's check with a second account it is not correct, and an instant
        // escalation is not trying: it never outscores a trainee who tried and failed.
        let instant = score(&[failed(), step(Remedy::Escalate)], &account, None);
        assert_eq!((instant.points, instant.finished), (0, false));
        assert!(instant.penalties[0].why.contains("second account"));
        let tried = score(
            &[failed(), step(Remedy::FlushDns), Event::GiveUp],
            &account,
            None,
        );
        assert!(tried.points >= instant.points);
        let s = score(
            &[failed(), check, step(Remedy::Escalate)],
            &sync_time(),
            None,
        );
        assert_eq!((s.points, s.finished), (40, false));
        assert!(s.penalties[0].why.contains("escalated"));
    }

    /// Stale credentials and a stale DNS record on Lync 2010: Fix it restores both in one
    /// step; Remove from vault and ipconfig /flushdns, the KB's targeted step for each, do
    /// too. The careful trainee is not penalised; an alternative done twice is.
    #[test]
    fn a_step_that_addresses_a_cause_present_is_never_penalised() {
        let two_causes = KbPaths {
            paths: vec![vec![Remedy::Fixit]],
            minimal: vec![
                vec![Remedy::Fixit],
                vec![Remedy::RemoveCredentials, Remedy::FlushDns],
            ],
            escalate: false,
        };
        let careful = score(
            &[
                failed(),
                step(Remedy::RemoveCredentials),
                step(Remedy::FlushDns),
                signed_in(),
            ],
            &two_causes,
            None,
        );
        assert_eq!(
            (careful.points, careful.finished),
            (100, true),
            "{careful:?}"
        );
        let twice = score(
            &[
                failed(),
                step(Remedy::RemoveCredentials),
                step(Remedy::FlushDns),
                step(Remedy::Fixit),
                signed_in(),
            ],
            &two_causes,
            None,
        );
        assert_eq!(twice.points, 80, "{twice:?}");
        assert!(twice.penalties[0].why.contains("restored sign-in already"));
        // The KB's first resolution for the product costs nothing even where it is not
        // what fixed it.
        let resolution_first = score(
            &[
                failed(),
                step(Remedy::Fixit),
                step(Remedy::SyncTime),
                signed_in(),
            ],
            &sync_time(),
            None,
        );
        assert_eq!(resolution_first.points, 100, "{resolution_first:?}");
    }

    #[test]
    fn hints_and_repeats_cost() {
        let s = score(
            &[
                Event::Hint { cost: 15 },
                step(Remedy::SyncTime),
                step(Remedy::SyncTime),
                signed_in(),
            ],
            &sync_time(),
            None,
        );
        assert_eq!(s.points, 75);
    }

    #[test]
    fn a_seed_draws_the_same_exercise_and_causes_exist_where_drawn() {
        for seed in 0..50 {
            let a = ExerciseSpec::draw(seed, &[], 2).unwrap();
            assert_eq!(a, ExerciseSpec::draw(seed, &[], 2).unwrap());
            assert_eq!(a.causes.len(), 2);
            assert!(a.product.runs_on(a.os));
            assert!(a.causes.iter().all(|c| c.exists_on(a.product, a.os)));
        }
        let xp = ExerciseSpec::draw(7, &[Cause::RsaKeyLocked], 1).unwrap();
        assert_eq!(xp.os, Os::Xp);
        assert!(ExerciseSpec::draw(1, &[], 4).is_err());
    }

    #[test]
    fn the_log_keeps_every_event_and_skips_a_line_cut_short() {
        let dir = tempfile::tempdir().unwrap();
        let log = EventLog::open(dir.path(), ConsoleClock::default()).unwrap();
        log.append(&failed()).unwrap();
        log.append(&step(Remedy::SyncTime)).unwrap();
        assert_eq!(log.read().unwrap(), vec![failed(), step(Remedy::SyncTime)]);
        std::fs::OpenOptions::new()
            .append(true)
            .open(dir.path().join("events.jsonl"))
            .unwrap()
            .write_all(b"{\"event\":\"sign")
            .unwrap();
        assert_eq!(log.read().unwrap().len(), 2);
    }
}
