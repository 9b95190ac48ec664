//! One trainee's attempt: the exercise (its service and machine), what the trainee did, in the
//! event log, and what the pages show of it.

use std::path::Path;

use crate::engine::{
    ConsoleClock, Ending, Event, EventLog, Exercise, ExerciseSpec, KbPaths, Logged, Score,
    minutes_late, score,
};
use anyhow::{Context, bail};
use lyncsim_client::views::{self, Certmgr, Credman};
use lyncsim_domain::{Cause, Os, Product, Remedy};
use lyncsim_lab::Seen;
use serde::{Deserialize, Serialize};

/// The form that starts an attempt: a trainee's name and either a seed or an exercise chosen
/// by the trainer (product, OS and causes).
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct Start {
    #[serde(default)]
    pub(crate) trainee: String,
    #[serde(default)]
    pub(crate) seed: String,
    #[serde(default)]
    pub(crate) product: String,
    #[serde(default)]
    pub(crate) os: String,
    #[serde(default)]
    pub(crate) causes: String,
    #[serde(default)]
    pub(crate) user: String,
}

impl Start {
    /// The trainee's name, or "trainee".
    pub(crate) fn trainee_name(&self) -> String {
        let name = self.trainee.trim();
        if name.is_empty() {
            "trainee".into()
        } else {
            name.chars().take(80).collect()
        }
    }

    /// The exercise: the trainer's choice when causes are given, else drawn from the seed (a
    /// random one when none is given).
    pub(crate) fn spec(&self) -> anyhow::Result<ExerciseSpec> {
        let causes: Vec<Cause> = self
            .causes
            .split([',', ' '])
            .filter(|c| !c.trim().is_empty())
            .map(|c| c.trim().parse())
            .collect::<Result<_, _>>()
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        if causes.is_empty() {
            let seed = match self.seed.trim() {
                "" => rand::random::<u32>() as u64,
                s => s
                    .parse()
                    .with_context(|| format!("the seed {s:?} is not a whole number"))?,
            };
            return ExerciseSpec::draw(seed, &[], 1);
        }
        let product: Product = self
            .product
            .trim()
            .parse()
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        let os: Os = self.os.trim().parse().map_err(|e| anyhow::anyhow!("{e}"))?;
        if !(1..=3).contains(&causes.len()) {
            bail!("an exercise has 1 to 3 causes, not {}", causes.len());
        }
        for c in &causes {
            if !c.exists_on(product, os) {
                bail!(
                    "{} does not exist for {} on {}",
                    c.id(),
                    product.display_name(),
                    os.display_name()
                );
            }
        }
        let user = match self.user.trim() {
            "" => "alice@contoso.com".to_owned(),
            u => u.to_owned(),
        };
        Ok(ExerciseSpec {
            causes,
            product,
            os,
            user,
        })
    }
}

/// What the attempt's folder records of how it began.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Record {
    id: String,
    trainee: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    cohort: Option<String>,
    #[serde(default = "crate::cohort::default_hint_cost")]
    hint_cost: u32,
    /// The cohort's time limit, minutes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    time_limit_min: Option<u32>,
    spec: ExerciseSpec,
}

/// The cohort an attempt belongs to: its join code, what a hint costs, its time limit.
#[derive(Debug, Clone)]
pub(crate) struct Membership {
    pub(crate) code: String,
    pub(crate) hint_cost: u32,
    pub(crate) time_limit_min: Option<u32>,
}

/// A request refused because the attempt has ended: its score stands.
#[derive(Debug)]
pub(crate) struct Ended(pub(crate) String);

impl std::fmt::Display for Ended {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Ended {}

/// What a view shows.
pub(crate) enum Panel {
    About {
        product: String,
        build: String,
        sign_in_assistant: Option<String>,
    },
    Certmgr(Certmgr),
    /// The certificate dialog of one certificate of the store (General and Details).
    Certificate(Box<views::CertRow>),
    Credman(Credman),
    Folder {
        location: String,
        endpoint: Option<(String, Vec<String>)>,
        trace: Vec<String>,
    },
    DateTime {
        machine: String,
        source: String,
    },
    Command,
    Rsa {
        location: String,
        files: Vec<String>,
    },
    Tools,
}

/// Why a view could not be shown.
pub(crate) enum ViewError {
    Unknown,
    Failed(anyhow::Error),
}

/// Why a step was not taken.
pub(crate) enum StepError {
    /// The machine's product does not offer it; why.
    NotOffered(lyncsim_domain::NotOffered),
    Failed(anyhow::Error),
}

impl From<anyhow::Error> for StepError {
    fn from(e: anyhow::Error) -> Self {
        StepError::Failed(e)
    }
}

/// Where an attempt stands ([`Attempt::progress`]).
#[derive(Default)]
pub(crate) struct Progress {
    pub(crate) ending: Option<Ending>,
    pub(crate) hints_taken: usize,
    pub(crate) hint_points: u32,
    pub(crate) minutes_used: i64,
}

/// The file in an attempt's folder that holds its debrief once it has ended.
const DEBRIEF: &str = "debrief.json";

/// What an ended attempt's debrief records: what is read back, never made again.
#[derive(Serialize, Deserialize)]
struct Recorded {
    paths: KbPaths,
    evidence: Vec<(Cause, String)>,
    score: Score,
}

/// The bytes of `file`, or `None` when there is none.
fn read_if_there(file: &Path) -> anyhow::Result<Option<Vec<u8>>> {
    match std::fs::read(file) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("reading {}", file.display())),
    }
}

/// The debrief of an attempt.
pub(crate) struct Debrief {
    pub(crate) paths: KbPaths,
    /// What shows each cause, on the machine as it was broken and at the service.
    pub(crate) evidence: Vec<(Cause, String)>,
    pub(crate) score: Score,
    pub(crate) events: Vec<Event>,
}

/// One attempt.
pub(crate) struct Attempt {
    pub(crate) id: String,
    pub(crate) trainee: String,
    /// The cohort's join code, when the trainee joined one.
    pub(crate) cohort: Option<String>,
    /// What a hint costs.
    pub(crate) hint_cost: u32,
    /// The cohort's time limit, minutes.
    pub(crate) time_limit_min: Option<u32>,
    pub(crate) exercise: Exercise,
    log: EventLog,
    clock: ConsoleClock,
    pub(crate) last: Option<Seen>,
    /// Lync asks for the password (none is saved).
    pub(crate) asking: bool,
    paths: Option<KbPaths>,
    /// The evidence of each cause, found once.
    evidence: Option<Vec<(Cause, String)>>,
    /// The command prompt's lines typed so far, for its history.
    pub(crate) commands: Vec<String>,
}

impl Attempt {
    /// Prepares the exercise, records how the attempt began, and signs in once, as the user
    /// did this morning: the window shows what they saw.
    pub(crate) async fn begin(
        id: &str,
        trainee: String,
        cohort: Option<Membership>,
        spec: ExerciseSpec,
        (dir, clock): (&Path, &ConsoleClock),
    ) -> anyhow::Result<Attempt> {
        let log = EventLog::open(dir, clock.clone())?;
        let hint_cost = cohort
            .as_ref()
            .map_or_else(crate::cohort::default_hint_cost, |c| c.hint_cost);
        let time_limit_min = cohort.as_ref().and_then(|c| c.time_limit_min);
        let cohort = cohort.map(|c| c.code);
        let record = Record {
            id: id.to_owned(),
            trainee: trainee.clone(),
            cohort: cohort.clone(),
            hint_cost,
            time_limit_min,
            spec: spec.clone(),
        };
        let file = dir.join("attempt.json");
        lyncsim_durable::write_atomically(&file, &serde_json::to_vec_pretty(&record)?)
            .with_context(|| format!("writing {}", file.display()))?;
        let exercise = Exercise::prepare_in(spec, &dir.join("exercise")).await?;
        let mut attempt = Attempt {
            id: id.to_owned(),
            trainee,
            cohort,
            hint_cost,
            time_limit_min,
            exercise,
            log,
            clock: clock.clone(),
            last: None,
            asking: false,
            paths: None,
            evidence: None,
            commands: Vec::new(),
        };
        attempt.sign_in(None).await?;
        Ok(attempt)
    }

    /// An attempt begun before the console restarted, taken up where its event log ends: its
    /// service started again from its state, its machine as it was left.
    pub(crate) async fn resume(dir: &Path, clock: &ConsoleClock) -> anyhow::Result<Attempt> {
        let file = dir.join("attempt.json");
        let record: Record = serde_json::from_slice(
            &std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?,
        )
        .with_context(|| format!("reading {}", file.display()))?;
        let log = EventLog::open(dir, clock.clone())?;
        let exercise = Exercise::reopen(&dir.join("exercise")).await?;
        let last = log.read()?.into_iter().rev().find_map(|e| match e {
            Event::SignIn { error, reason } => Some(Seen {
                error,
                text: error.map(|e| e.text().to_owned()),
                reason,
                // Trainees never see lyncsim's notes; they are not kept.
                note: None,
            }),
            _ => None,
        });
        Ok(Attempt {
            id: record.id,
            trainee: record.trainee,
            cohort: record.cohort,
            hint_cost: record.hint_cost,
            time_limit_min: record.time_limit_min,
            exercise,
            log,
            clock: clock.clone(),
            last,
            asking: false,
            paths: None,
            evidence: None,
            commands: Vec::new(),
        })
    }

    /// The attempt's number (`a3-…` is 3).
    pub(crate) fn number(&self) -> usize {
        self.label().trim_start_matches('a').parse().unwrap_or(0)
    }

    /// The attempt's short name (`a3`), without its secret.
    pub(crate) fn label(&self) -> &str {
        self.id.split('-').next().unwrap_or(&self.id)
    }

    /// "Lync 2010 on Windows XP, 3 steps".
    pub(crate) fn summary(&self) -> String {
        let steps = self
            .log
            .read()
            .map(|e| e.iter().filter(|e| matches!(e, Event::Step { .. })).count())
            .unwrap_or(0);
        format!(
            "{} on {}, {} step{}{}",
            self.exercise.spec.product.display_name(),
            self.exercise.spec.os.display_name(),
            steps,
            if steps == 1 { "" } else { "s" },
            match &self.last {
                Some(s) if s.error.is_none() => ", signed in",
                _ => "",
            }
        )
    }

    /// Every event so far, with its time.
    pub(crate) fn timed_log(&self) -> anyhow::Result<Vec<Logged>> {
        self.log.read_timed()
    }

    /// The user who cannot sign in.
    pub(crate) fn user(&self) -> &str {
        &self.exercise.spec.user
    }

    /// How the attempt ended, if it has.
    pub(crate) fn ending(&self) -> anyhow::Result<Option<Ending>> {
        Ok(Ending::of(&self.log.read()?).map(|(_, e)| e))
    }

    /// `Err(Ended)` once the attempt has ended: nothing more is recorded, the score stands.
    fn still_open(&self) -> anyhow::Result<()> {
        let why = match self.ending()? {
            None => return Ok(()),
            Some(Ending::SignedIn) => "the user signed in again",
            Some(Ending::Escalated) => "you escalated it to support",
            Some(Ending::GaveUp) => "you gave up",
        };
        Err(Ended(format!(
            "this attempt has ended ({why}): its score stands, and nothing more is recorded. The debrief shows how it went; start a new exercise to practise again."
        ))
        .into())
    }

    /// Gives up: the attempt ends, unfinished.
    pub(crate) async fn give_up(&mut self) -> anyhow::Result<()> {
        self.still_open()?;
        self.log.append(&Event::GiveUp)?;
        self.settle().await
    }

    /// Signs the user in on the machine (for real), and records what it showed. With no
    /// password saved, Lync asks for one: without `typed`, nothing happens but the question
    /// (`asking`), as Lync's window asks; with it, the sign-in types it and saves it.
    pub(crate) async fn sign_in(&mut self, typed: Option<&str>) -> anyhow::Result<()> {
        self.still_open()?;
        let seen = match typed {
            Some(password) => self.exercise.sign_in_typing(password).await?,
            None if !self.exercise.password_saved()? => {
                self.asking = true;
                return Ok(());
            }
            None => self.exercise.sign_in().await?,
        };
        self.asking = false;
        self.log.append(&Event::SignIn {
            error: seen.error,
            reason: seen.reason.clone(),
        })?;
        self.last = Some(seen);
        self.settle().await
    }

    /// A view of the machine (recorded as looked at).
    pub(crate) async fn view(&mut self, name: &str) -> Result<Panel, ViewError> {
        let machine = self.exercise.machine();
        let profile = machine.profile();
        let m = profile.machine();
        let failed = ViewError::Failed;
        let panel = match name {
            "about" => Panel::About {
                product: m.product.display_name().to_owned(),
                build: m.build.to_string(),
                sign_in_assistant: m.sign_in_assistant.as_ref().map(ToString::to_string),
            },
            "certmgr" => Panel::Certmgr(views::certmgr(profile).map_err(failed)?),
            cert if cert.starts_with("cert-") => {
                let thumbprint = &cert["cert-".len()..];
                let store = views::certmgr(profile).map_err(failed)?;
                let row = store
                    .rows
                    .into_iter()
                    .find(|r| r.thumbprint.eq_ignore_ascii_case(thumbprint))
                    .ok_or(ViewError::Unknown)?;
                Panel::Certificate(Box::new(row))
            }
            "credman" => Panel::Credman(views::credman(profile).map_err(failed)?),
            "folder" => self.folder().map_err(failed)?,
            "datetime" => {
                let source = self.exercise.lab().admin().time().await.map_err(failed)?;
                Panel::DateTime {
                    machine: clock_text(m.now_ms() / 1000),
                    source: clock_text(source.unix),
                }
            }
            "cmd" => Panel::Command,
            "rsa" if m.os == Os::Xp => rsa_folder(profile),
            "tools" => Panel::Tools,
            _ => return Err(ViewError::Unknown),
        };
        // Looking after the attempt has ended is not recorded: the log, and so the score,
        // stand as they were when it ended.
        if self.ending().map_err(failed)?.is_none() {
            self.log
                .append(&Event::View {
                    view: name.to_owned(),
                })
                .map_err(failed)?;
        }
        Ok(panel)
    }

    /// The Lync folder: the user's `sip_` folder, and the end of the trace log.
    fn folder(&self) -> anyhow::Result<Panel> {
        let profile = self.exercise.machine().profile();
        let layout = profile.layout();
        let endpoint_dir = layout.endpoint_dir(self.user());
        let endpoint = if endpoint_dir.is_dir() {
            let mut files: Vec<String> = std::fs::read_dir(&endpoint_dir)?
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect();
            files.sort();
            Some((views::windows_path(profile, &endpoint_dir), files))
        } else {
            None
        };
        Ok(Panel::Folder {
            location: views::windows_path(profile, &layout.product_dir()),
            endpoint,
            trace: views::lync_trace(profile, 40),
        })
    }

    /// Applies a KB step (for real), and records it and what it did.
    pub(crate) async fn step(&mut self, remedy: Remedy) -> Result<String, StepError> {
        self.still_open()?;
        let (product, os) = (self.exercise.spec.product, self.exercise.spec.os);
        remedy
            .offered_on(product, os)
            .map_err(StepError::NotOffered)?;
        let did = self
            .exercise
            .apply(remedy)
            .await
            .map_err(StepError::Failed)?;
        self.log
            .append(&Event::Step {
                remedy,
                did: did.clone(),
            })
            .map_err(StepError::Failed)?;
        self.settle().await?;
        Ok(did)
    }

    /// The command prompt: `ipconfig /displaydns` and `ipconfig /flushdns`; anything else is
    /// not a command here, as Windows says of a command it does not know.
    pub(crate) async fn command(&mut self, line: &str) -> anyhow::Result<String> {
        self.still_open()?;
        if !line.trim().is_empty() {
            self.commands.retain(|c| c != line.trim());
            self.commands.push(line.trim().to_owned());
            // cmd.exe's own history keeps 50 by default; so does this one.
            let over = self.commands.len().saturating_sub(50);
            self.commands.drain(..over);
        }
        let words: Vec<String> = line
            .split_whitespace()
            .map(str::to_ascii_lowercase)
            .collect();
        let words: Vec<&str> = words.iter().map(String::as_str).collect();
        match words.as_slice() {
            [] => Ok(String::new()),
            ["ipconfig", "/displaydns"] => {
                self.log.append(&Event::View {
                    view: "displaydns".into(),
                })?;
                Ok(views::displaydns(self.exercise.machine().profile()).to_string())
            }
            ["ipconfig", "/flushdns"] => {
                let out = views::flushdns(self.exercise.machine().profile())?;
                self.log.append(&Event::Step {
                    remedy: Remedy::FlushDns,
                    did: "flushed the DNS client cache".into(),
                })?;
                Ok(out)
            }
            ["nslookup", _] => {
                let name = line.split_whitespace().nth(1).unwrap_or_default();
                self.log.append(&Event::View {
                    view: "nslookup".into(),
                })?;
                Ok(views::nslookup(self.exercise.machine().profile(), name).await)
            }
            ["nslookup", ..] => Ok(
                "Usage here: nslookup <name>  (asks the DNS server, not the cache)\n".into(),
            ),
            ["ipconfig", ..] => Ok(
                "\nWindows IP Configuration\n\nThis console's ipconfig knows /displaydns and /flushdns.\n"
                    .into(),
            ),
            [first, ..] => Ok(format!(
                "'{}' is not recognized as an internal or external command,\noperable program or batch file.\n",
                line.split_whitespace().next().unwrap_or(first)
            )),
        }
    }

    /// The hints of this exercise, in the order they are given: for each cause in turn, where
    /// to look, then what to look for, then the KB's step ([`crate::text::hints`]).
    pub(crate) fn hint_ladder(&self) -> Vec<String> {
        let spec = &self.exercise.spec;
        let ladders: Vec<[String; 3]> = spec
            .causes
            .iter()
            .map(|c| crate::text::hints(*c, spec.product, spec.os))
            .collect();
        (0..3)
            .flat_map(|level| ladders.iter().map(move |l| l[level].clone()))
            .collect()
    }

    /// The hints taken so far.
    pub(crate) fn hints_taken(&self) -> anyhow::Result<usize> {
        Ok(self
            .log
            .read()?
            .iter()
            .filter(|e| matches!(e, Event::Hint { .. }))
            .count())
    }

    /// The next hint, at its cost (recorded); `None`, at no cost, when every hint was given.
    pub(crate) fn hint(&mut self) -> anyhow::Result<Option<String>> {
        self.still_open()?;
        let Some(text) = self.hint_ladder().get(self.hints_taken()?).cloned() else {
            return Ok(None);
        };
        self.log.append(&Event::Hint {
            cost: self.hint_cost,
        })?;
        Ok(Some(text))
    }

    /// Where the attempt stands, from one reading of its log: how it ended, the hints taken
    /// and the points they cost (steps off the path are only judged at the debrief), and the
    /// minutes since it began.
    pub(crate) fn progress(&self) -> anyhow::Result<Progress> {
        let log = self.log.read_timed()?;
        let events: Vec<Event> = log.iter().map(|l| l.event.clone()).collect();
        let costs: Vec<u32> = events
            .iter()
            .filter_map(|e| match e {
                Event::Hint { cost } => Some(*cost),
                _ => None,
            })
            .collect();
        let started = log
            .first()
            .and_then(|l| chrono::DateTime::parse_from_rfc3339(&l.at).ok());
        Ok(Progress {
            ending: Ending::of(&events).map(|(_, e)| e),
            hints_taken: costs.len(),
            hint_points: costs.iter().sum(),
            minutes_used: started.map_or(0, |t| {
                (self.clock.now() - t.with_timezone(&chrono::Utc)).num_minutes()
            }),
        })
    }

    /// The KB's second-account check, on a copy of the machine; recorded as looked at.
    pub(crate) async fn second_account(&mut self) -> anyhow::Result<(String, Seen)> {
        self.still_open()?;
        let result = self.exercise.second_account().await?;
        self.log.append(&Event::View {
            view: "second-account".into(),
        })?;
        Ok(result)
    }

    /// The shortest KB paths (found once, by real sign-ins on copies of the broken machine)
    /// and the score of what the trainee did; `None` while the attempt is open (the answer is
    /// shown only once it has ended). An ended attempt's is recorded the first time it is
    /// asked for ([`Attempt::settle`] asks at once) and read back from then on, never made
    /// again: a restart, or a service that changed since, cannot change a finished score.
    pub(crate) async fn debrief(&mut self) -> anyhow::Result<Option<Debrief>> {
        if self.ending()?.is_none() {
            return Ok(None);
        }
        let file = self.log.dir().join(DEBRIEF);
        if let Some(text) = read_if_there(&file)? {
            let recorded: Recorded = serde_json::from_slice(&text)
                .with_context(|| format!("reading {}", file.display()))?;
            let events = self.log.read()?;
            return Ok(Some(Debrief {
                paths: recorded.paths,
                evidence: recorded.evidence,
                score: recorded.score,
                events,
            }));
        }
        let debrief = self.assess().await?;
        let recorded = Recorded {
            paths: debrief.paths.clone(),
            evidence: debrief.evidence.clone(),
            score: debrief.score.clone(),
        };
        lyncsim_durable::write_atomically(&file, &serde_json::to_vec_pretty(&recorded)?)
            .with_context(|| format!("writing {}", file.display()))?;
        Ok(Some(debrief))
    }

    /// Records the debrief of an attempt that has just ended, so that what it says is fixed
    /// at the moment it ended (its lateness included).
    async fn settle(&mut self) -> anyhow::Result<()> {
        self.debrief().await.map(|_| ())
    }

    /// The debrief, ended or not: for the trainer's results, where an open attempt is scored
    /// as it stands (unfinished).
    pub(crate) async fn assess(&mut self) -> anyhow::Result<Debrief> {
        let paths = match &self.paths {
            Some(p) => p.clone(),
            None => {
                let p = self.exercise.shortest_paths(3).await?;
                self.paths = Some(p.clone());
                p
            }
        };
        let log = self.log.read_timed()?;
        let late = minutes_late(&log, self.time_limit_min, self.clock.now());
        let events: Vec<Event> = log.into_iter().map(|l| l.event).collect();
        let score = score(&events, &paths, late);
        let evidence = match &self.evidence {
            Some(e) => e.clone(),
            None => {
                let mut found = Vec::new();
                for cause in self.exercise.spec.causes.clone() {
                    found.push((cause, self.exercise.evidence(cause).await?));
                }
                self.evidence = Some(found.clone());
                found
            }
        };
        Ok(Debrief {
            paths,
            evidence,
            score,
            events,
        })
    }
}

/// Windows XP's `Crypto\RSA\<SID>` folder and what is in it.
fn rsa_folder(profile: &lyncsim_client::Profile) -> Panel {
    let dir = profile.layout().rsa_dir();
    let mut files: Vec<String> = std::fs::read_dir(&dir)
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    Panel::Rsa {
        location: views::windows_path(profile, &dir),
        files,
    }
}

/// A time as the Date and Time window writes it.
fn clock_text(unix: i64) -> String {
    chrono::DateTime::from_timestamp(unix, 0)
        .map(|t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string())
        .unwrap_or_else(|| unix.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn start(seed: &str, product: &str, os: &str, causes: &str) -> Start {
        Start {
            trainee: " Ann ".into(),
            seed: seed.into(),
            product: product.into(),
            os: os.into(),
            causes: causes.into(),
            user: String::new(),
        }
    }

    #[test]
    fn the_trainer_chooses_or_the_seed_draws() {
        let chosen = start("", "lync2010", "xp", "clock-skew").spec().unwrap();
        assert_eq!(chosen.causes, vec![Cause::ClockSkew]);
        assert_eq!((chosen.product, chosen.os), (Product::Lync2010, Os::Xp));
        assert_eq!(chosen.user, "alice@contoso.com");
        assert_eq!(start("", "", "", "").trainee_name(), "Ann");
        let drawn = start("42", "lync2010", "xp", "").spec().unwrap();
        assert_eq!(drawn, ExerciseSpec::draw(42, &[], 1).unwrap());
    }

    #[test]
    fn an_exercise_that_cannot_exist_is_refused_with_the_reason() {
        let e = start("", "lync2013", "win7", "outdated-sia")
            .spec()
            .unwrap_err();
        assert!(
            e.to_string()
                .contains("outdated-sia does not exist for Microsoft Lync 2013"),
            "{e}"
        );
        let e = start("", "lync2010", "xp", "no-such-cause")
            .spec()
            .unwrap_err();
        assert!(e.to_string().contains("no-such-cause"), "{e}");
        let e = start("x1", "", "", "").spec().unwrap_err();
        assert!(e.to_string().contains("not a whole number"), "{e}");
        let four = "clock-skew,stale-cert,dns-stale,endpoint-moved";
        let e = start("", "lync2010", "xp", four).spec().unwrap_err();
        assert!(e.to_string().contains("1 to 3 causes"), "{e}");
    }
}
