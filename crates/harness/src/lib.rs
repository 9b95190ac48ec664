//! Scenarios, the KB 2604176 troubleshooter, CI reports, and a wiremock-style API for
//! in-process tests.
//!
//! - [`Lab`]: one service instance and its machines, for a test: start, make a machine, cause
//!   trouble, sign in, assert; nothing to clean up.
//! - [`scenario`]: TOML scenario files, checked on load with file, line and column.
//! - [`run_all`]: each scenario on its own service and machine, in parallel.
//! - [`report`]: the table, JUnit XML and JSON.
//! - [`troubleshoot()`]: the KB's procedure in its order, signing in after each step.
//! - [`load::load`]: many machines signing in at once, with faults on a schedule.
//! - [`train`]: the training console's engine: exercises, attempts, the shortest KB path
//!   by real sign-ins, the scoring rule.
//!
//! **Invariants:** every verdict comes from a real sign-in; a scenario's service, CAs,
//! addresses, ports and profile are its own and go away when it ends; nothing here maps a
//! cause to the text the user sees.
#![warn(missing_docs)]

mod builtin;
mod causes;
mod exec;
mod lab;
pub mod load;
pub mod report;
mod runner;
pub mod scenario;
pub mod train;
mod troubleshoot;

pub use builtin::{BuiltinSuite, builtin_suite};
pub use causes::{CauseSpec, StaleCertVia};
pub use exec::ENVIRONMENT as EXEC_ENVIRONMENT;
pub use lab::{Lab, Machine, SignIn};
pub use runner::{ControlReport, RunOptions, ScenarioReport, Seen, Status, prepare, run, run_all};
pub use scenario::{Control, Expect, Scenario, ScenarioError, Step};
pub use troubleshoot::{Accounts, StepReport, Troubleshooting, Verdict, render, troubleshoot};

pub use lyncsim_domain::{Cause, ErrorId, Os, Product, Remedy};
pub use lyncsim_wire::{Fault, OutageMode};
