//! One emulated machine of a lab: its profile folder, signing in as a person would, the KB's
//! remedies, copies; and what a sign-in showed, with assertions that say what happened.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use lyncsim_client::{Profile, SignInFailure, SignInOutcome, SignInRequest, SignedIn};
use lyncsim_domain::{ErrorId, Remedy};
use serde::Serialize;

use crate::passwords::Passwords;

/// One emulated machine (a profile folder) of a lab.
pub struct Machine {
    pub(crate) profile: Profile,
    pub(crate) passwords: Passwords,
}

impl Machine {
    /// The profile folder.
    pub fn dir(&self) -> &Path {
        self.profile.dir()
    }

    /// The profile, for a look at its certificates, credentials, DNS cache or trace.
    pub fn profile(&self) -> &Profile {
        &self.profile
    }

    /// The profile, to change it.
    pub fn profile_mut(&mut self) -> &mut Profile {
        &mut self.profile
    }

    /// Signs `user` in as a person would: with the saved password when one is saved (even
    /// one that cannot be read any more), else typing the password the user has now and
    /// ticking "Save my password".
    pub async fn sign_in(&self, user: &str) -> anyhow::Result<SignIn> {
        let typed = self
            .passwords
            .get(user)
            .with_context(|| format!("{user} is not a user of this lab's tenant"))?;
        sign_in_as_user_would(&self.profile, user, Some(&typed)).await
    }

    /// Signs `user` in typing `password`, without saving it.
    pub async fn sign_in_with(&self, user: &str, password: &str) -> anyhow::Result<SignIn> {
        let req = SignInRequest {
            user: user.into(),
            password: Some(password.into()),
            save_password: false,
        };
        Ok(SignIn(lyncsim_client::sign_in(&self.profile, &req).await?))
    }

    /// Applies a KB 2604176 remedy; returns what it did.
    pub async fn fix(&mut self, remedy: Remedy) -> anyhow::Result<String> {
        lyncsim_client::apply_remedy(&mut self.profile, remedy).await
    }

    /// A copy of this machine, as it is now, in a sibling folder named `name`: to try
    /// something on the copy and keep the original as it was.
    pub fn copy(&self, name: &str) -> anyhow::Result<Machine> {
        let to = self
            .dir()
            .parent()
            .context("a profile folder has a parent")?
            .join(name);
        if to.exists() {
            bail!(
                "{} exists already: give the copy another name",
                to.display()
            );
        }
        copy_dir(self.dir(), &to)
            .with_context(|| format!("copying {} to {}", self.dir().display(), to.display()))?;
        Ok(Machine {
            profile: Profile::open(&to)?,
            passwords: self.passwords.clone(),
        })
    }
}

/// Signs `user` in on `profile` as a person would: with the saved password if one is saved
/// (readable or not), else typing `typed` and ticking "Save my password".
pub async fn sign_in_as_user_would(
    profile: &Profile,
    user: &str,
    typed: Option<&str>,
) -> anyhow::Result<SignIn> {
    let saved = password_saved(profile, user)?;
    let req = SignInRequest {
        user: user.into(),
        password: if saved {
            None
        } else {
            typed.map(str::to_owned)
        },
        save_password: !saved,
    };
    Ok(SignIn(lyncsim_client::sign_in(profile, &req).await?))
}

/// Whether Lync on `profile` has a password saved for `user` (and so signs in without
/// asking); a credential file that cannot be read any more counts as saved: the client tries
/// it.
pub fn password_saved(profile: &Profile, user: &str) -> anyhow::Result<bool> {
    let prefix = format!("Microsoft_OC1:uri={}:", user.to_ascii_lowercase());
    Ok(profile
        .credentials()?
        .iter()
        .any(|c| c.as_ref().map_or(true, |c| c.target.starts_with(&prefix))))
}

pub(crate) fn copy_dir(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let target: PathBuf = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_dir(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), &target)?;
        }
    }
    Ok(())
}

/// The outcome of one sign-in, with assertions that say what happened when they fail. The
/// assertions hand back what they checked, owned, so that
/// `let f = pc.sign_in(u).await?.assert_shows(ErrorId::ECert);` keeps the failure.
#[derive(Debug, Clone)]
pub struct SignIn(pub SignInOutcome);

impl SignIn {
    /// The signed-in session; panics, saying what was seen instead, unless sign-in succeeded.
    #[track_caller]
    pub fn assert_signed_in(self) -> SignedIn {
        match self.0 {
            Ok(done) => done,
            Err(f) => panic!(
                "expected to sign in, but saw {}: {} (reason: {})",
                f.error,
                f.text(),
                f.explained()
            ),
        }
    }

    /// The failure; panics, saying what was seen instead, unless sign-in failed showing
    /// `error`.
    #[track_caller]
    pub fn assert_shows(self, error: ErrorId) -> SignInFailure {
        match self.0 {
            Ok(done) => panic!("expected {error}, but {} signed in", done.user),
            Err(f) if f.error != error => panic!(
                "expected {error}, but saw {}: {} (reason: {})",
                f.error,
                f.text(),
                f.explained()
            ),
            Err(f) => f,
        }
    }

    /// The failure, if sign-in failed: what the user saw, the stage, the real reason.
    pub fn failure(&self) -> Option<&SignInFailure> {
        self.0.as_ref().err()
    }

    /// What the user saw: `None` when sign-in succeeded.
    pub fn error(&self) -> Option<ErrorId> {
        self.failure().map(|f| f.error)
    }

    /// Whether sign-in succeeded.
    pub fn signed_in(&self) -> bool {
        self.0.is_ok()
    }

    /// What the sign-in showed, for a report.
    pub fn seen(&self) -> Seen {
        match &self.0 {
            Ok(_) => Seen {
                error: None,
                text: None,
                reason: None,
                note: None,
            },
            Err(f) => Seen {
                error: Some(f.error),
                text: Some(f.text().to_owned()),
                reason: Some(f.reason.clone()),
                note: f.note.clone(),
            },
        }
    }

    /// The outcome in one line: "signed in", or the id, the text and the reason.
    pub fn describe(&self) -> String {
        match &self.0 {
            Ok(_) => "signed in".into(),
            Err(f) => format!("{}: \"{}\" (reason: {})", f.error, f.text(), f.explained()),
        }
    }

    /// The outcome as a `Result`.
    pub fn into_result(self) -> SignInOutcome {
        self.0
    }
}

/// What one sign-in showed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Seen {
    /// The catalogue id, or `None` when sign-in succeeded.
    pub error: Option<ErrorId>,
    /// The text the user saw.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// The real reason, from the sign-in: what the client logged.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// lyncsim's note on the reason ([`lyncsim_client::SignInFailure::note`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

impl Seen {
    /// "signed-in" or the id.
    pub fn short(&self) -> String {
        self.error
            .map_or_else(|| "signed-in".to_owned(), |e| e.id().to_owned())
    }
}
