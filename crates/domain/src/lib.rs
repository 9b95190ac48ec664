//! The vocabulary of KB 2604176, shared by the service, the client emulator and the harness.
//!
//! This crate does no I/O. It names things (products, operating systems, sign-in stages, the
//! error catalogue) and holds the one rule that turns a failed stage into the text a user sees.
//! Which stage fails, and why, is decided by the mechanisms in the other crates.
#![warn(missing_docs)]

mod build;
mod catalogue;
#[macro_use]
mod ids;
mod kb;
mod time;

pub use build::{Build, ParseBuildError};
pub use catalogue::{ErrorId, FailureKind, Stage};
pub use ids::{Os, ParseIdError, Product};
pub use kb::{
    Cause, NotOffered, Release, Remedy, default_minimum_sign_in_assistant, sign_in_assistant,
};
pub use time::{
    ClockRangeError, DEFAULT_TOLERANCE_SECS, MAX_CLOCK_OFFSET_SECS, MAX_TOLERANCE_SECS, Skew,
    check_clock_offset, check_tolerance,
};
