//! The lyncsim test kit: a mock Lync Online / Azure AD service and emulated Windows machines
//! in one process, for tests of your own in the style of wiremock.
//!
//! - [`Lab`]: one service instance (its own CAs, addresses, ports, users and clock) and a
//!   folder for its machines; start one, make machines, cause trouble, sign in, assert.
//!   Dropping it stops the service and removes every machine.
//! - [`Machine`]: one emulated machine (a profile folder laid out like the Windows one, see
//!   [`Layout`]), signing in as a person would; [`SignIn`] says what the user saw, with
//!   assertions that say what happened instead when they fail.
//! - [`Lab::cause`] and [`CauseSpec`]: each cause of KB 2604176 made the way it happens for
//!   real, through the admin API or on the machine.
//! - [`AdminClient`]: the service's admin API, typed (faults, clock, users, journal, CAs).
//!
//! Everything a test needs is re-exported here, so this is the one dependency to add.
//!
//! ```no_run
//! # async fn demo() -> anyhow::Result<()> {
//! use lyncsim_lab::{Cause, ErrorId, Lab, Os, Product, Remedy};
//!
//! let lab = Lab::start().await?;
//! let mut pc = lab.machine(Product::Lync2010, Os::Win7).await?;
//! pc.sign_in("alice@contoso.com").await?.assert_signed_in();
//! lab.cause(&mut pc, "alice@contoso.com", Cause::ClockSkew).await?;
//! let failure = pc.sign_in("alice@contoso.com").await?.assert_shows(ErrorId::ECert);
//! assert!(failure.explained().contains("skew"), "{}", failure.explained());
//! pc.fix(Remedy::SyncTime).await?;
//! pc.sign_in("alice@contoso.com").await?.assert_signed_in();
//! # Ok(()) }
//! ```
//!
//! **Invariants:** every verdict comes from a real sign-in over real DNS, TLS and SIP on
//! loopback; nothing here maps a cause to the text the user sees.
#![warn(missing_docs)]

mod admin;
mod causes;
mod lab;
mod machine;
mod operator;
mod passwords;
pub mod trial;

pub use admin::{ADMIN_TOKEN_VAR, AdminClient, Method, admin_call, fetch_plain};
pub use causes::{CauseSpec, StaleCertVia};
pub use lab::Lab;
pub use machine::{Machine, Seen, SignIn, password_saved, sign_in_as_user_would};

pub use lyncsim_client::{
    CachedRecord, Credential, InitOptions, Layout, MachineSettings, Profile, SignInFailure,
    SignInOutcome, SignedIn, StoredCert,
};
pub use lyncsim_domain::{Build, Cause, ErrorId, FailureKind, Os, Product, Remedy, Stage};
pub use lyncsim_service::{CaPem, ServiceConfig, Tenant, TenantUser};
pub use lyncsim_wire::admin::{
    ClockSettings, ClockUpdate, Fault, FaultRecord, JournalEntry, NewUser, OutageMode, ServiceInfo,
    UserView,
};
