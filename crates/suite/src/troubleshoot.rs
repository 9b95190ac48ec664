//! The KB 2604176 procedure, walked as a support person would: sign in to see the problem,
//! then each step in the KB's order, signing in after each, until one restores sign-in (the
//! walk is `lyncsim_lab::trial::walk`, the KB trial's own). When none does, the KB's test tells the account from the machine: a known-good second account
//! signs in on the same machine (a scratch copy of it: `lyncsim_lab::trial::second_account_on`,
//! the check the console and the runner run too).

use lyncsim_client::Profile;
use lyncsim_domain::{ErrorId, Os, Product, Remedy};
use serde::Serialize;

use lyncsim_lab::Seen;

/// Who signs in during the walk.
#[derive(Debug, Clone)]
pub struct Accounts {
    /// The user with the problem.
    pub user: String,
    /// The password the user would type when none is saved (or the saved one was removed).
    pub password: Option<String>,
    /// A known-good account and its password, for the second-account check.
    pub second: Option<(String, String)>,
}

/// One step of the walk: its number (1-based) and what the trial's walk took
/// ([`lyncsim_lab::trial::Taken`]: the remedies, what each did, the sign-in after them).
#[derive(Debug, Clone, Serialize)]
pub struct StepReport {
    /// 1-based.
    pub number: usize,
    /// The step.
    #[serde(flatten)]
    pub taken: lyncsim_lab::trial::Taken,
}

/// How the walk ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    /// Sign-in worked before any step.
    AlreadySignedIn,
    /// A step restored sign-in.
    Restored,
    /// No step helped and the known-good account signs in here: the account is the problem.
    EscalateAccount,
    /// No step helped and the known-good account cannot sign in here either.
    EscalateMachine,
    /// No step helped and the service cannot be reached, for either account.
    Unreachable,
    /// No step helped and no second account was given to tell account from machine.
    EscalateUnchecked,
}

/// The whole walk.
#[derive(Debug, Clone, Serialize)]
pub struct Troubleshooting {
    /// The user.
    pub user: String,
    /// The product.
    pub product: Product,
    /// The OS.
    pub os: Os,
    /// The sign-in before any step.
    pub before: Seen,
    /// The steps taken, in order.
    pub steps: Vec<StepReport>,
    /// The step that restored sign-in.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub restored_by: Option<usize>,
    /// The second account's sign-in on this machine, when it was tried.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub second_account: Option<(String, Seen)>,
    /// How it ended.
    pub verdict: Verdict,
    /// The verdict for a person.
    pub conclusion: String,
}

impl Troubleshooting {
    /// Whether the user can sign in at the end.
    pub fn signed_in(&self) -> bool {
        matches!(self.verdict, Verdict::AlreadySignedIn | Verdict::Restored)
    }
}

fn step_name(remedies: &[Remedy]) -> String {
    remedies
        .iter()
        .map(|r| r.id())
        .collect::<Vec<_>>()
        .join(" + ")
}

/// Walks the procedure for the profile's product and OS, changing the machine as each step
/// does ([`lyncsim_lab::trial::walk`], the one walk of the KB), then, when no step restored
/// sign-in, the second-account check. `Err` only for what stops the walk itself (a profile
/// that cannot be read, no password to type).
pub async fn troubleshoot(
    profile: &mut Profile,
    accounts: &Accounts,
) -> anyhow::Result<Troubleshooting> {
    let (product, os) = (profile.machine().product, profile.machine().os);
    let walk =
        lyncsim_lab::trial::walk(profile, &accounts.user, accounts.password.as_deref()).await?;
    let restored_by = walk.restored_by();
    let mut report = Troubleshooting {
        user: accounts.user.clone(),
        product,
        os,
        before: walk.before,
        steps: walk
            .steps
            .into_iter()
            .enumerate()
            .map(|(i, taken)| StepReport {
                number: i + 1,
                taken,
            })
            .collect(),
        restored_by,
        second_account: None,
        verdict: Verdict::AlreadySignedIn,
        conclusion: "signed in: there is nothing to fix".into(),
    };
    if report.before.error.is_none() {
        return Ok(report);
    }
    if let Some(n) = restored_by {
        report.verdict = Verdict::Restored;
        report.conclusion = format!(
            "sign-in restored by step {n}: {}",
            step_name(&report.steps[n - 1].taken.remedies)
        );
        return Ok(report);
    }
    check_second_account(profile, accounts, &mut report).await?;
    Ok(report)
}

/// No step restored sign-in: the KB tells the account from the machine by signing in a
/// known-good second account on the same machine.
async fn check_second_account(
    profile: &Profile,
    accounts: &Accounts,
    report: &mut Troubleshooting,
) -> anyhow::Result<()> {
    let last = report
        .steps
        .last()
        .map_or(&report.before, |s| &s.taken.sign_in);
    let last_unreachable = last.error == Some(ErrorId::EUnreachable);
    let Some((second, password)) = &accounts.second else {
        report.verdict = Verdict::EscalateUnchecked;
        report.conclusion = "escalate: no step restored sign-in; the second-account check was \
            not run (give a known-good account with --second-user and --second-password to \
            tell the account from the machine)"
            .into();
        return Ok(());
    };
    // The check the console and the runner run too, on a copy of the machine.
    let other = lyncsim_lab::trial::second_account_on(profile, second, password)
        .await?
        .seen();
    (report.verdict, report.conclusion) = match other.error {
        None => (
            Verdict::EscalateAccount,
            "escalate: the account, not this machine".to_owned(),
        ),
        Some(ErrorId::EUnreachable) if last_unreachable => (
            Verdict::Unreachable,
            "the service cannot be reached from this machine for either account: check the \
             network and the service's status, then sign in again"
                .to_owned(),
        ),
        Some(_) => (
            Verdict::EscalateMachine,
            format!(
                "escalate: this machine: the known-good account {second} cannot sign in here either"
            ),
        ),
    };
    report.second_account = Some((second.clone(), other));
    Ok(())
}

/// The walk for a person to read, one line per step.
pub fn render(t: &Troubleshooting) -> String {
    use std::fmt::Write as _;
    let mut out = format!(
        "KB 2604176 for {} on {} on {}\n",
        t.user,
        t.product.display_name(),
        t.os.display_name()
    );
    let line = |seen: &Seen| match (&seen.error, &seen.reason, &seen.note) {
        (None, ..) => "signed in".to_owned(),
        (Some(e), Some(reason), Some(note)) => format!("{e} ({reason}; {note})"),
        (Some(e), Some(reason), None) => format!("{e} ({reason})"),
        (Some(e), None, _) => e.to_string(),
    };
    let _ = writeln!(out, "  sign in as it is: {}", line(&t.before));
    for step in &t.steps {
        let _ = writeln!(
            out,
            "  step {}: {}",
            step.number,
            step_name(&step.taken.remedies)
        );
        for did in &step.taken.did {
            let _ = writeln!(out, "      {did}");
        }
        let _ = writeln!(out, "      sign in: {}", line(&step.taken.sign_in));
    }
    if let Some((user, seen)) = &t.second_account {
        let _ = writeln!(
            out,
            "  second account {user} on this machine: {}",
            line(seen)
        );
    }
    let _ = writeln!(out, "{}", t.conclusion);
    out
}
