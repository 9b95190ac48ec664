//! The emulated Lync client and the Windows machine it runs on.
//!
//! A [`Profile`] is a folder that stands for one Windows machine and user, laid out like the
//! real one (`Users/<name>/AppData/...` or, on XP, `Documents and Settings/<name>/...`), so a
//! fix script written for Windows paths maps 1:1. [`sign_in`] runs the stages of a real sign-in
//! against whatever the profile's DNS server names: resolve, discover, token, certificate,
//! register. It fails where the real client fails, for the reason the I/O gave, and the text
//! the user sees is chosen from the failed stage alone ([`lyncsim_domain::ErrorId::shown_for`]).
//!
//! **Invariants:** the client reads time only through [`MachineSettings::now`] (system clock plus the
//! machine's offset, so `faketime` works); it learns addresses only from its resolver cache and
//! the DNS server; every write to the profile is atomic unless a product's defect says
//! otherwise.
#![warn(missing_docs)]

mod causes;
mod certstore;
mod cost;
mod credman;
mod dpapi;
mod endpoint_cache;
mod files;
mod https;
mod keycontainer;
mod layout;
mod machine;
mod profile;
mod remedies;
mod resolver;
mod signin;
mod sip;
mod time_source;
mod trace;
pub mod views;

pub use causes::{BreakOptions, make_cause};
pub use certstore::StoredCert;
pub use cost::{Library, PublicKeyCost, PublicKeyOp};
pub use credman::Credential;
pub use layout::Layout;
pub use machine::{MachineSettings, NetworkSettings};
pub use profile::{InitOptions, Profile};
pub use remedies::apply_remedy;
pub use resolver::CachedRecord;
pub use signin::{SignInFailure, SignInOutcome, SignInRequest, SignedIn, sign_in};

/// A problem with how the client was asked to do something, rather than a sign-in failure:
/// a missing profile, a missing password, a refused combination.
pub type UsageError = anyhow::Error;
