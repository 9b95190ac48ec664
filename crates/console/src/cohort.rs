//! A trainer's cohort: the exercise its trainees get (drawn from the cohort's seed, within its
//! causes, products and OSes), a join code, the live board and the results.

use std::path::Path;

use crate::engine::{Event, ExerciseSpec, Logged, deletes};
use anyhow::{Context, bail};
use lyncsim_domain::{Cause, Os, Product};
use serde::{Deserialize, Serialize};

/// What the trainer set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Cohort {
    pub(crate) code: String,
    pub(crate) name: String,
    /// The causes exercises are drawn from (all when empty).
    pub(crate) causes: Vec<Cause>,
    /// The products (all when empty).
    pub(crate) products: Vec<Product>,
    /// The OSes (all when empty).
    pub(crate) oses: Vec<Os>,
    /// How many causes an exercise has.
    pub(crate) count: usize,
    pub(crate) seed: u64,
    /// Minutes a trainee has, shown on the board.
    pub(crate) time_limit_min: Option<u32>,
    /// What a hint costs.
    #[serde(default = "default_hint_cost")]
    pub(crate) hint_cost: u32,
    /// The trainer's key: the board, the results and the trainees' attempts are under
    /// `/trainer/<key>`. The join code is the trainees'; this one is the trainer's alone.
    #[serde(default)]
    pub(crate) trainer_key: String,
    /// Each trainee draws an exercise of their own from the pool (else all share one).
    #[serde(default)]
    pub(crate) per_trainee: bool,
}

/// What a hint costs when the trainer did not say.
pub(crate) fn default_hint_cost() -> u32 {
    10
}

/// The trainer's form.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct CohortForm {
    #[serde(default)]
    pub(crate) name: String,
    #[serde(default)]
    pub(crate) causes: String,
    #[serde(default)]
    pub(crate) products: String,
    #[serde(default)]
    pub(crate) oses: String,
    #[serde(default)]
    pub(crate) count: String,
    #[serde(default)]
    pub(crate) seed: String,
    #[serde(default)]
    pub(crate) time_limit_min: String,
    #[serde(default)]
    pub(crate) hint_cost: String,
    /// "on": each trainee draws their own exercise.
    #[serde(default)]
    pub(crate) per_trainee: String,
}

fn list<T: std::str::FromStr>(text: &str) -> anyhow::Result<Vec<T>>
where
    T::Err: std::fmt::Display,
{
    text.split([',', ' '])
        .filter(|w| !w.trim().is_empty())
        .map(|w| w.trim().parse().map_err(|e| anyhow::anyhow!("{e}")))
        .collect()
}

impl CohortForm {
    /// The cohort, with a new join code; its exercise must exist.
    pub(crate) fn cohort(&self, code: String) -> anyhow::Result<Cohort> {
        let count = match self.count.trim() {
            "" => 1,
            n => n
                .parse()
                .with_context(|| format!("the number of causes {n:?} is not a number"))?,
        };
        let seed = match self.seed.trim() {
            "" => rand::random::<u32>() as u64,
            s => s
                .parse()
                .with_context(|| format!("the seed {s:?} is not a whole number"))?,
        };
        let time_limit_min = match self.time_limit_min.trim() {
            "" => None,
            t => Some(
                t.parse()
                    .with_context(|| format!("the time limit {t:?} is not a number of minutes"))?,
            ),
        };
        let hint_cost = match self.hint_cost.trim() {
            "" => default_hint_cost(),
            c => c.parse().ok().filter(|c| *c <= 100).with_context(|| {
                format!("a hint's cost {c:?} is not a number of points (0 to 100)")
            })?,
        };
        let name = match self.name.trim() {
            "" => format!("cohort {code}"),
            n => n.chars().take(80).collect(),
        };
        let cohort = Cohort {
            code,
            name,
            causes: list(&self.causes)?,
            products: list(&self.products)?,
            oses: list(&self.oses)?,
            count,
            seed,
            time_limit_min,
            hint_cost,
            trainer_key: secret(20),
            per_trainee: !self.per_trainee.trim().is_empty(),
        };
        cohort.spec_for(0)?;
        Ok(cohort)
    }
}

impl Cohort {
    /// The exercise of the cohort's `n`-th draw (0 first): the one every trainee gets, or,
    /// when each draws their own, the `n`-th from the seed.
    pub(crate) fn spec_for(&self, n: u64) -> anyhow::Result<ExerciseSpec> {
        let seed = if self.per_trainee {
            self.seed.wrapping_add(n.wrapping_mul(7919))
        } else {
            self.seed
        };
        ExerciseSpec::draw_within(seed, &self.causes, &self.products, &self.oses, self.count)
    }

    /// Writes `cohort.json` in `dir`, atomically.
    pub(crate) fn save(&self, dir: &Path) -> anyhow::Result<()> {
        let file = dir.join("cohort.json");
        lyncsim_durable::write_atomically(&file, &serde_json::to_vec_pretty(self)?)
            .with_context(|| format!("writing {}", file.display()))
    }
}

/// A new join code: six letters and digits that cannot be misread.
pub(crate) fn join_code() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    (0..6)
        .map(|_| ALPHABET[rand::random_range(0..ALPHABET.len())] as char)
        .collect()
}

/// A secret of `len` lower-case letters and digits (about 5 bits each), for a link that only
/// the one it was given to can find.
pub(crate) fn secret(len: usize) -> String {
    const ALPHABET: &[u8] = b"abcdefghijkmnpqrstuvwxyz23456789";
    (0..len)
        .map(|_| ALPHABET[rand::random_range(0..ALPHABET.len())] as char)
        .collect()
}

/// A join code as typed: trimmed, upper case; `None` when it cannot be one.
pub(crate) fn normalise(code: &str) -> anyhow::Result<String> {
    let code = code.trim().to_ascii_uppercase();
    if code.len() != 6 || !code.chars().all(|c| c.is_ascii_alphanumeric()) {
        bail!("{code:?} is not a join code (six letters and digits)");
    }
    Ok(code)
}

/// One trainee on the board.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct BoardRow {
    pub(crate) attempt: String,
    pub(crate) trainee: String,
    /// The exercise: its causes, product and OS.
    pub(crate) exercise: String,
    /// How the attempt ended (`signed-in`, `escalated`, `gave-up`), if it has.
    pub(crate) ended: Option<String>,
    pub(crate) steps: usize,
    pub(crate) last_sign_in: String,
    pub(crate) signed_in: bool,
    /// Every step that deleted what the user may need, in order.
    pub(crate) destructive: Vec<String>,
    /// Minutes since the trainee last did anything, when that is five or more and the user
    /// still cannot sign in.
    pub(crate) idle_min: Option<i64>,
    /// Minutes past the cohort's time limit, when the user still cannot sign in.
    pub(crate) over_time_min: Option<i64>,
}

/// The board's row of an attempt, from its log, as of `now`.
pub(crate) fn board_row(
    (attempt, trainee, exercise): (&str, &str, String),
    log: &[Logged],
    time_limit_min: Option<u32>,
    now: chrono::DateTime<chrono::Utc>,
) -> BoardRow {
    let steps = log
        .iter()
        .filter(|l| matches!(l.event, Event::Step { .. }))
        .count();
    let last = log.iter().rev().find_map(|l| match &l.event {
        Event::SignIn { error, .. } => Some(*error),
        _ => None,
    });
    let signed_in = matches!(last, Some(None));
    let events: Vec<Event> = log.iter().map(|l| l.event.clone()).collect();
    let ended = crate::engine::Ending::of(&events).map(|(_, e)| e.id().to_owned());
    // Only an open attempt is flagged for time: one that ended waits for nothing.
    let open = ended.is_none() && !signed_in;
    let destructive = log
        .iter()
        .filter_map(|l| match &l.event {
            Event::Step { remedy, .. } => {
                deletes(*remedy).map(|what| format!("{} deleted {what}", remedy.id()))
            }
            _ => None,
        })
        .collect();
    let idle_min = log
        .last()
        .and_then(|l| chrono::DateTime::parse_from_rfc3339(&l.at).ok())
        .map(|t| (now - t.with_timezone(&chrono::Utc)).num_minutes())
        .filter(|m| *m >= 5 && open);
    let over_time_min = log
        .first()
        .and_then(|l| chrono::DateTime::parse_from_rfc3339(&l.at).ok())
        .zip(time_limit_min)
        .map(|(start, limit)| {
            (now - start.with_timezone(&chrono::Utc)).num_minutes() - i64::from(limit)
        })
        .filter(|over| *over > 0 && open);
    BoardRow {
        attempt: attempt.to_owned(),
        trainee: trainee.to_owned(),
        exercise,
        ended,
        steps,
        last_sign_in: match last {
            Some(None) => "signed in".into(),
            Some(Some(e)) => e.id().into(),
            None => "-".into(),
        },
        signed_in,
        destructive,
        idle_min,
        over_time_min,
    }
}

/// One trainee's result.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct TraineeResult {
    pub(crate) trainee: String,
    /// The attempt's number (`a3` is 3): rows sort by it.
    pub(crate) number: usize,
    pub(crate) attempt: String,
    pub(crate) product: Product,
    pub(crate) os: Os,
    pub(crate) causes: Vec<Cause>,
    pub(crate) points: u32,
    pub(crate) finished: bool,
    /// How it ended, if it has.
    pub(crate) ending: Option<crate::engine::Ending>,
    /// Seconds from the first event to the sign-in that finished it.
    pub(crate) seconds: Option<i64>,
    /// The first step, when it was on no shortest KB path.
    pub(crate) wrong_first_step: Option<String>,
    /// Hints taken.
    pub(crate) hints: usize,
    /// Whether the trainee escalated.
    pub(crate) escalated: bool,
    /// The first event's time and the ending's (RFC 3339).
    pub(crate) started: Option<String>,
    pub(crate) ended: Option<String>,
    /// The steps, in order.
    pub(crate) steps: Vec<String>,
    /// Every event, with its time (the JSON export carries them; the CSV does not).
    pub(crate) events: Vec<Logged>,
}

/// The results of one cause over the cohort.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct CauseResult {
    pub(crate) cause: Cause,
    pub(crate) attempts: usize,
    /// Share of attempts finished, 0 to 1.
    pub(crate) restored: f64,
    pub(crate) median_seconds: Option<i64>,
    pub(crate) most_common_wrong_first_step: Option<String>,
}

/// Seconds from the first event to the event that finished the attempt (the sign-in that
/// ended it, or a correct escalation), when the score says it `finished`: one rule, the
/// score's, for both.
pub(crate) fn seconds_to_finish(log: &[Logged], finished: bool) -> Option<i64> {
    if !finished {
        return None;
    }
    let time = |l: &Logged| chrono::DateTime::parse_from_rfc3339(&l.at).ok();
    let start = time(log.first()?)?;
    let events: Vec<Event> = log.iter().map(|l| l.event.clone()).collect();
    let (i, _) = crate::engine::Ending::of(&events)?;
    Some((time(&log[i])? - start).num_seconds())
}

/// Per cause: how many attempts had it, the share finished, the median time, and the most
/// common wrong first step.
pub(crate) fn per_cause(results: &[TraineeResult]) -> Vec<CauseResult> {
    let mut causes: Vec<Cause> = results.iter().flat_map(|r| r.causes.clone()).collect();
    causes.sort();
    causes.dedup();
    causes
        .into_iter()
        .map(|cause| {
            let with: Vec<&TraineeResult> = results
                .iter()
                .filter(|r| r.causes.contains(&cause))
                .collect();
            let finished = with.iter().filter(|r| r.finished).count();
            let mut times: Vec<i64> = with.iter().filter_map(|r| r.seconds).collect();
            times.sort();
            let median_seconds = (!times.is_empty()).then(|| times[times.len() / 2]);
            let mut wrong: std::collections::BTreeMap<&str, usize> = Default::default();
            for r in &with {
                if let Some(w) = &r.wrong_first_step {
                    *wrong.entry(w.as_str()).or_default() += 1;
                }
            }
            let most_common_wrong_first_step = wrong
                .into_iter()
                .max_by_key(|(_, n)| *n)
                .map(|(w, _)| w.to_owned());
            CauseResult {
                cause,
                attempts: with.len(),
                restored: if with.is_empty() {
                    0.0
                } else {
                    finished as f64 / with.len() as f64
                },
                median_seconds,
                most_common_wrong_first_step,
            }
        })
        .collect()
}

/// One CSV cell: quoted when it must be, and a text a spreadsheet would run as a formula
/// (starting with `=`, `+`, `-`, `@`, a tab or a carriage return) kept as text by a leading `'`
/// (OWASP's advice against CSV injection).
fn cell(s: &str) -> String {
    let s = if s.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{s}")
    } else {
        s.to_owned()
    };
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s
    }
}

/// The CSV's columns.
pub(crate) const CSV_HEADER: &str = "attempt,trainee,product,os,causes,points,finished,ending,seconds,wrong_first_step,hints,escalated,started,ended,steps";

/// The results as CSV: one line per trainee, in the order of their attempts.
pub(crate) fn csv(results: &[TraineeResult]) -> String {
    let mut sorted: Vec<&TraineeResult> = results.iter().collect();
    sorted.sort_by_key(|r| r.number);
    let mut out = format!("{CSV_HEADER}\n");
    for r in sorted {
        let causes: Vec<&str> = r.causes.iter().map(|c| c.id()).collect();
        let ending = r.ending.map(|e| e.id()).unwrap_or_default();
        let cells = [
            cell(&r.attempt),
            cell(&r.trainee),
            cell(r.product.id()),
            cell(r.os.id()),
            cell(&causes.join(" ")),
            r.points.to_string(),
            r.finished.to_string(),
            cell(ending),
            r.seconds.map(|s| s.to_string()).unwrap_or_default(),
            cell(r.wrong_first_step.as_deref().unwrap_or("")),
            r.hints.to_string(),
            r.escalated.to_string(),
            cell(r.started.as_deref().unwrap_or("")),
            cell(r.ended.as_deref().unwrap_or("")),
            cell(&r.steps.join(" ")),
        ];
        out.push_str(&cells.join(","));
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use lyncsim_domain::{ErrorId, Remedy};

    fn at(secs: i64, event: Event) -> Logged {
        Logged {
            at: chrono::DateTime::from_timestamp(1_800_000_000 + secs, 0)
                .unwrap()
                .to_rfc3339(),
            event,
        }
    }

    fn result(
        cause: Cause,
        finished: bool,
        seconds: Option<i64>,
        wrong: Option<&str>,
    ) -> TraineeResult {
        TraineeResult {
            trainee: "t".into(),
            number: 1,
            attempt: "a".into(),
            product: Product::Lync2010,
            os: Os::Xp,
            causes: vec![cause],
            points: if finished { 100 } else { 40 },
            finished,
            ending: finished.then_some(crate::engine::Ending::SignedIn),
            seconds,
            wrong_first_step: wrong.map(str::to_owned),
            hints: 0,
            escalated: false,
            started: None,
            ended: None,
            steps: Vec::new(),
            events: Vec::new(),
        }
    }

    #[test]
    fn the_board_flags_a_destructive_step_and_a_trainee_without_progress() {
        let log = vec![
            at(
                0,
                Event::SignIn {
                    error: Some(ErrorId::ECert),
                    reason: None,
                },
            ),
            at(
                60,
                Event::Step {
                    remedy: Remedy::DeleteCert,
                    did: String::new(),
                },
            ),
        ];
        let now = chrono::DateTime::from_timestamp(1_800_000_000 + 60 + 6 * 60, 0).unwrap();
        let row = board_row(("a1", "Ann", "clock-skew".into()), &log, Some(5), now);
        assert_eq!(row.steps, 1);
        assert_eq!(row.last_sign_in, "E_CERT");
        assert_eq!(row.destructive.len(), 1);
        assert!(
            row.destructive[0].starts_with("delete-cert deleted the user's personal certificate")
        );
        let mut more = log.clone();
        more.push(at(
            90,
            Event::Step {
                remedy: Remedy::RemoveCredentials,
                did: String::new(),
            },
        ));
        let row2 = board_row(("a1", "Ann", String::new()), &more, Some(5), now);
        assert_eq!(row2.destructive.len(), 2, "every destructive step is shown");
        assert!(row2.destructive[1].starts_with("remove-credentials deleted the saved password"));
        assert_eq!(row.idle_min, Some(6));
        assert_eq!(row.over_time_min, Some(2), "7 minutes in, 5 allowed");
        let mut done = log.clone();
        done.push(at(
            400,
            Event::SignIn {
                error: None,
                reason: None,
            },
        ));
        let row = board_row(("a1", "Ann", String::new()), &done, Some(5), now);
        assert!(row.signed_in);
        assert_eq!(row.over_time_min, None);
        assert_eq!(row.idle_min, None, "a trainee who is done is not stuck");
        assert_eq!(seconds_to_finish(&done, true), Some(400));
        assert_eq!(seconds_to_finish(&log, false), None);
        // A correct escalation finishes too, at the escalation.
        let mut escalated = log.clone();
        escalated.push(at(
            300,
            Event::Step {
                remedy: Remedy::Escalate,
                did: String::new(),
            },
        ));
        assert_eq!(seconds_to_finish(&escalated, true), Some(300));
        let row = board_row(("a1", "Ann", String::new()), &escalated, Some(5), now);
        assert_eq!(row.ended.as_deref(), Some("escalated"));
        assert_eq!(
            (row.idle_min, row.over_time_min),
            (None, None),
            "an ended attempt is flagged no more"
        );
    }

    #[test]
    fn per_cause_results_take_the_share_the_median_and_the_commonest_wrong_step() {
        let rs = vec![
            result(Cause::ClockSkew, true, Some(100), None),
            result(Cause::ClockSkew, true, Some(300), Some("delete-cert")),
            result(Cause::ClockSkew, false, None, Some("delete-cert")),
            result(Cause::StaleCert, false, None, Some("flush-dns")),
        ];
        let pc = per_cause(&rs);
        let skew = pc.iter().find(|c| c.cause == Cause::ClockSkew).unwrap();
        assert_eq!(skew.attempts, 3);
        assert!((skew.restored - 2.0 / 3.0).abs() < 1e-9);
        assert_eq!(skew.median_seconds, Some(300));
        assert_eq!(
            skew.most_common_wrong_first_step.as_deref(),
            Some("delete-cert")
        );
        let csv = csv(&rs);
        assert!(csv.starts_with(&format!("{CSV_HEADER}\n")));
        assert_eq!(csv.lines().count(), 5);
        assert!(
            csv.contains("a,t,lync2010,xp,clock-skew,100,true,signed-in,100,,0,false,,,\n"),
            "{csv}"
        );
    }

    #[test]
    fn the_csv_keeps_formulas_as_text_and_sorts_by_attempt_number() {
        let mut rs = vec![
            result(Cause::ClockSkew, true, Some(1), None),
            result(Cause::ClockSkew, true, Some(2), None),
            result(Cause::ClockSkew, true, Some(3), None),
        ];
        rs[0].number = 10;
        rs[0].trainee = "=HYPERLINK(\"http://x\",\"y\")".into();
        rs[1].number = 2;
        rs[1].trainee = "+1".into();
        rs[2].number = 9;
        rs[2].trainee = "@SUM(A1)".into();
        let csv = csv(&rs);
        let rows: Vec<&str> = csv.lines().skip(1).collect();
        assert!(rows[0].starts_with("a,'+1,"), "{csv}");
        assert!(rows[1].starts_with("a,'@SUM(A1),"), "{csv}");
        assert!(
            rows[2].starts_with("a,\"'=HYPERLINK(\"\"http://x\"\",\"\"y\"\")\","),
            "{csv}"
        );
        assert_eq!(cell("-2"), "'-2");
        assert_eq!(cell("Ann"), "Ann");
    }

    #[test]
    fn a_cohort_needs_an_exercise_that_exists() {
        let form = |causes: &str, products: &str, oses: &str| CohortForm {
            name: String::new(),
            causes: causes.into(),
            products: products.into(),
            oses: oses.into(),
            count: String::new(),
            seed: "7".into(),
            time_limit_min: "20".into(),
            hint_cost: "5".into(),
            per_trainee: String::new(),
        };
        let c = form("clock-skew", "lync2010", "xp")
            .cohort("ABC234".into())
            .unwrap();
        let spec = c.spec_for(0).unwrap();
        assert_eq!(c.spec_for(5).unwrap(), spec, "one exercise for all");
        assert_eq!(
            (spec.product, spec.os, spec.causes),
            (Product::Lync2010, Os::Xp, vec![Cause::ClockSkew])
        );
        assert_eq!((c.time_limit_min, c.hint_cost), (Some(20), 5));
        assert!(
            form("rsa-key-locked", "", "win8")
                .cohort("ABC234".into())
                .is_err()
        );
        assert!(normalise(" abc234 ").is_ok());
        assert!(normalise("ab").is_err());
        assert_eq!(join_code().len(), 6);
    }
}
