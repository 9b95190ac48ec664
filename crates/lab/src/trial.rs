//! The KB trial, in one place: KB steps tried on scratch copies of a broken machine, the sets
//! of steps that restore sign-in (found by real sign-ins), the KB's procedure walked in its
//! order, and the KB's second-account check. The scenario runner's controls, the training
//! console's paths and its second-account check, and the troubleshooter's walk and check use
//! these, so that they judge one machine the same way.

use std::collections::BTreeSet;
use std::ops::{Deref, DerefMut};

use lyncsim_domain::Remedy;
use serde::{Deserialize, Serialize};

use crate::machine::{Machine, SignIn};

/// A copy of a machine to try something on, in a sibling folder of its own; the folder is
/// removed when the copy is dropped, and the original is never touched.
pub struct Scratch(Option<Machine>);

impl Scratch {
    /// A copy of `machine` as it is now, named `<prefix>-<random>`.
    pub fn of(machine: &Machine, prefix: &str) -> anyhow::Result<Scratch> {
        let name = format!("{prefix}-{}", &lyncsim_wire::random_guid()[..8]);
        Ok(Scratch(Some(machine.copy(&name)?)))
    }
}

impl Deref for Scratch {
    type Target = Machine;
    fn deref(&self) -> &Machine {
        self.0.as_ref().expect("a scratch copy until it is dropped")
    }
}

impl DerefMut for Scratch {
    fn deref_mut(&mut self) -> &mut Machine {
        self.0.as_mut().expect("a scratch copy until it is dropped")
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if let Some(machine) = self.0.take() {
            let dir = machine.dir().to_path_buf();
            drop(machine);
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// Whether `remedies`, applied in order to a scratch copy of `broken`, restore `user`'s sign-in
/// (a real sign-in; a remedy that cannot be applied there restores nothing).
pub async fn restores(broken: &Machine, user: &str, remedies: &[Remedy]) -> anyhow::Result<bool> {
    let mut copy = Scratch::of(broken, "try")?;
    for remedy in remedies {
        if copy.fix(*remedy).await.is_err() {
            return Ok(false);
        }
    }
    Ok(copy.sign_in(user).await?.signed_in())
}

/// The ways to restore sign-in that the KB's steps offer a machine.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KbPaths {
    /// Each a list of KB steps; all the same length, the fewest that restore sign-in.
    pub paths: Vec<Vec<Remedy>>,
    /// Every set of KB steps found to restore sign-in with no step to spare: the shortest
    /// paths and the sets one step longer (no set here contains another).
    #[serde(default)]
    pub minimal: Vec<Vec<Remedy>>,
    /// No client step helps: the KB's second-account check, then escalate.
    pub escalate: bool,
}

impl KbPaths {
    /// Whether `remedy` belongs to a way to restore sign-in (escalating: whether that is the
    /// way).
    pub fn needs(&self, remedy: Remedy) -> bool {
        if remedy == Remedy::Escalate {
            return self.escalate;
        }
        self.paths
            .iter()
            .chain(&self.minimal)
            .any(|p| p.contains(&remedy))
    }

    /// Whether the steps `done` already restore sign-in: they include a whole restoring set.
    pub fn restored_by(&self, done: &BTreeSet<Remedy>) -> bool {
        self.paths
            .iter()
            .chain(&self.minimal)
            .any(|set| set.iter().all(|r| done.contains(r)))
    }
}

/// The KB steps that restore `user`'s sign-in on `broken`: every combination of the fewest
/// steps of the KB's procedure for its product and OS that restores it (at most `max_steps`),
/// then the sets one step longer that restore it with no step to spare (none contains a
/// shorter set found), each tried on a scratch copy by a real sign-in. None within
/// `max_steps`: escalate.
pub async fn restoring_sets(
    broken: &Machine,
    user: &str,
    max_steps: usize,
) -> anyhow::Result<KbPaths> {
    let machine = broken.profile().machine();
    let steps = Remedy::procedure(machine.product, machine.os);
    let remedies =
        |combo: &[usize]| -> Vec<Remedy> { combo.iter().flat_map(|&i| steps[i].clone()).collect() };
    let mut shortest: Option<Vec<Vec<Remedy>>> = None;
    let mut minimal: Vec<Vec<usize>> = Vec::new();
    for size in 1..=max_steps.min(steps.len()) {
        let mut found = Vec::new();
        for combo in combinations(steps.len(), size) {
            if minimal.iter().any(|m| m.iter().all(|i| combo.contains(i))) {
                continue;
            }
            if restores(broken, user, &remedies(&combo)).await? {
                found.push(combo);
            }
        }
        minimal.extend(found.iter().cloned());
        match &shortest {
            Some(_) => break,
            None if !found.is_empty() => {
                shortest = Some(found.iter().map(|c| remedies(c)).collect())
            }
            None => {}
        }
    }
    Ok(match shortest {
        Some(paths) => KbPaths {
            paths,
            minimal: minimal.iter().map(|c| remedies(c)).collect(),
            escalate: false,
        },
        None => KbPaths {
            paths: Vec::new(),
            minimal: Vec::new(),
            escalate: true,
        },
    })
}

/// One step of the KB's procedure, taken: its remedies, what each did (or why it could not),
/// and the sign-in after it.
#[derive(Debug, Clone, Serialize)]
pub struct Taken {
    /// The remedies of the step (delete-rsa-key comes with its restart).
    pub remedies: Vec<Remedy>,
    /// What each did, or why it could not.
    pub did: Vec<String>,
    /// The sign-in after it.
    pub sign_in: crate::Seen,
}

/// The KB's procedure walked on a machine.
#[derive(Debug, Clone, Serialize)]
pub struct Walk {
    /// The sign-in before any step.
    pub before: crate::Seen,
    /// The steps taken, in the KB's order, up to the one that restored sign-in.
    pub steps: Vec<Taken>,
}

impl Walk {
    /// The 1-based number of the step that restored sign-in, if one did.
    pub fn restored_by(&self) -> Option<usize> {
        self.steps
            .last()
            .filter(|s| s.sign_in.error.is_none())
            .map(|_| self.steps.len())
    }

    /// The last sign-in of the walk.
    pub fn last(&self) -> &crate::Seen {
        self.steps.last().map_or(&self.before, |s| &s.sign_in)
    }
}

/// Walks the KB's procedure for the profile's product and OS on the machine itself, as a
/// support person does: `user` signs in to see the problem (typing `typed` when Lync asks),
/// then each step in the KB's order, a sign-in after each, until one restores sign-in or the
/// steps run out. The machine keeps what the steps did.
pub async fn walk(
    profile: &mut lyncsim_client::Profile,
    user: &str,
    typed: Option<&str>,
) -> anyhow::Result<Walk> {
    let (product, os) = (profile.machine().product, profile.machine().os);
    let before = crate::sign_in_as_user_would(profile, user, typed)
        .await?
        .seen();
    let mut walk = Walk {
        before,
        steps: Vec::new(),
    };
    if walk.before.error.is_none() {
        return Ok(walk);
    }
    for remedies in Remedy::procedure(product, os) {
        let mut did = Vec::new();
        for remedy in &remedies {
            did.push(match lyncsim_client::apply_remedy(profile, *remedy).await {
                Ok(text) => text,
                Err(e) => format!("could not: {e:#}"),
            });
        }
        let sign_in = crate::sign_in_as_user_would(profile, user, typed)
            .await?
            .seen();
        let restored = sign_in.error.is_none();
        walk.steps.push(Taken {
            remedies,
            did,
            sign_in,
        });
        if restored {
            break;
        }
    }
    Ok(walk)
}

/// The KB's check that tells the account from the machine: the known-good account `second`
/// signs in on a scratch copy of `machine` (the machine itself is left as it is).
pub async fn second_account(machine: &Machine, second: &str) -> anyhow::Result<SignIn> {
    let copy = Scratch::of(machine, "second")?;
    copy.sign_in(second).await
}

/// The same check on the profile of a machine outside a lab (the troubleshooter's, on a
/// folder of the user's): the known-good account `second` signs in, typing `password`, on a
/// scratch copy of the profile in a temporary folder, so that the machine is left as it is.
pub async fn second_account_on(
    profile: &lyncsim_client::Profile,
    second: &str,
    password: &str,
) -> anyhow::Result<SignIn> {
    use anyhow::Context;
    let scratch = tempfile::tempdir().context("making a folder for the copy")?;
    let to = scratch.path().join("machine");
    crate::machine::copy_dir(profile.dir(), &to)
        .with_context(|| format!("copying {}", profile.dir().display()))?;
    let copy = lyncsim_client::Profile::open(&to)?;
    let req = lyncsim_client::SignInRequest {
        user: second.into(),
        password: Some(password.into()),
        save_password: false,
    };
    Ok(SignIn(lyncsim_client::sign_in(&copy, &req).await?))
}

/// Every way to choose `k` of `n`, in order.
pub fn combinations(n: usize, k: usize) -> Vec<Vec<usize>> {
    fn go(start: usize, n: usize, k: usize, cur: &mut Vec<usize>, out: &mut Vec<Vec<usize>>) {
        if cur.len() == k {
            out.push(cur.clone());
            return;
        }
        for i in start..n {
            cur.push(i);
            go(i + 1, n, k, cur, out);
            cur.pop();
        }
    }
    let mut out = Vec::new();
    go(0, n, k, &mut Vec::new(), &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn combinations_are_in_order() {
        assert_eq!(combinations(3, 2), vec![vec![0, 1], vec![0, 2], vec![1, 2]]);
        assert_eq!(combinations(4, 3).len(), 4);
    }

    #[test]
    fn a_set_restores_once_every_step_of_it_is_done() {
        let paths = KbPaths {
            paths: vec![vec![Remedy::Fixit]],
            minimal: vec![
                vec![Remedy::Fixit],
                vec![Remedy::RemoveCredentials, Remedy::FlushDns],
            ],
            escalate: false,
        };
        let done = |r: &[Remedy]| r.iter().copied().collect::<BTreeSet<_>>();
        assert!(!paths.restored_by(&done(&[Remedy::RemoveCredentials])));
        assert!(paths.restored_by(&done(&[Remedy::RemoveCredentials, Remedy::FlushDns])));
        assert!(paths.needs(Remedy::FlushDns) && !paths.needs(Remedy::SyncTime));
        assert!(!paths.needs(Remedy::Escalate));
    }
}
