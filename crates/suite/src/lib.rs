//! The scenario suite and the KB 2604176 troubleshooter: what the KB says, proved by real
//! sign-ins on machines of a [`lyncsim_lab::Lab`].
//!
//! - [`scenario`]: TOML scenario files, checked on load with file, line and column.
//! - [`run_all`]: each scenario on its own service and machine, in parallel; [`run`] one.
//! - [`report`]: the table, JUnit XML and JSON.
//! - [`troubleshoot()`]: the KB's procedure in its order, signing in after each step.
//! - [`builtin_suite`]: the files of `fixtures/scenarios` and `fixtures/scripts`, in the
//!   binary.
//!
//! **Invariants:** every verdict comes from a real sign-in; a scenario's service, CAs,
//! addresses, ports and profile are its own and go away when it ends; nothing here maps a
//! cause to the text the user sees.
#![warn(missing_docs)]

mod builtin;
mod exec;
pub mod report;
mod runner;
pub mod scenario;
mod troubleshoot;

pub use builtin::{BuiltinSuite, builtin_suite};
pub use exec::ENVIRONMENT as EXEC_ENVIRONMENT;
pub use runner::{ControlReport, RunOptions, ScenarioReport, Status, prepare, run, run_all};
pub use scenario::{Control, Expect, Scenario, ScenarioError, Step};
pub use troubleshoot::{Accounts, StepReport, Troubleshooting, Verdict, render, troubleshoot};
