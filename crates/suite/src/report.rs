//! Results as a table for the terminal, JUnit XML for CI systems and JSON for scripts.

use std::fmt::Write as _;
use std::time::Duration;

use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};
use serde::Serialize;

use crate::runner::{ScenarioReport, Status};

/// Counts of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Totals {
    /// Scenarios run.
    pub scenarios: usize,
    /// Passed.
    pub passed: usize,
    /// Failed: a sign-in showed something else than expected.
    pub failed: usize,
    /// Could not be run to the end.
    pub errors: usize,
}

impl Totals {
    /// Counts `reports`.
    pub fn of(reports: &[ScenarioReport]) -> Totals {
        let count = |s| reports.iter().filter(|r| r.status == s).count();
        Totals {
            scenarios: reports.len(),
            passed: count(Status::Passed),
            failed: count(Status::Failed),
            errors: count(Status::Error),
        }
    }

    /// Whether everything passed.
    pub fn all_passed(&self) -> bool {
        self.passed == self.scenarios
    }
}

fn seen_short(seen: &Option<lyncsim_lab::Seen>) -> String {
    seen.as_ref().map_or_else(|| "-".into(), |s| s.short())
}

/// The table: one row per scenario, then the details of each that did not pass.
pub fn table(reports: &[ScenarioReport]) -> String {
    let header = [
        "SCENARIO", "EXPECTED", "SEEN", "REMEDIES", "OUTCOME", "CONTROLS", "TIME", "RESULT",
    ];
    let rows: Vec<[String; 8]> = reports
        .iter()
        .map(|r| {
            let remedies = if r.remedies.is_empty() {
                "(none)".to_owned()
            } else {
                r.remedies.join(", ")
            };
            let controls = if r.controls.is_empty() {
                "-".to_owned()
            } else {
                format!(
                    "{}/{} held",
                    r.controls.iter().filter(|c| c.held).count(),
                    r.controls.len()
                )
            };
            [
                r.name.clone(),
                r.expected.to_string(),
                seen_short(&r.seen),
                remedies,
                seen_short(&r.outcome),
                controls,
                format!("{:.2}s", r.seconds),
                r.status.label().to_owned(),
            ]
        })
        .collect();
    let mut widths = header.map(str::len);
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let mut line = |cells: &[&str]| {
        let mut text = String::new();
        for (i, (cell, w)) in cells.iter().zip(widths).enumerate() {
            if i + 1 == cells.len() {
                text.push_str(cell);
            } else {
                let _ = write!(text, "{cell:<w$}  ");
            }
        }
        out.push_str(text.trim_end());
        out.push('\n');
    };
    line(&header);
    for row in &rows {
        line(&row.each_ref().map(String::as_str));
    }
    for r in reports.iter().filter(|r| !r.passed()) {
        let _ = writeln!(out, "\n{} ({}): {:?}", r.name, r.file, r.status);
        for p in &r.problems {
            let _ = writeln!(out, "  - {p}");
        }
    }
    out
}

/// One line: "62 scenarios: 62 passed, 0 failed, 0 errors in 14.2 s".
pub fn summary(totals: &Totals, wall: Duration) -> String {
    format!(
        "{} scenario{}: {} passed, {} failed, {} errors in {:.1} s",
        totals.scenarios,
        if totals.scenarios == 1 { "" } else { "s" },
        totals.passed,
        totals.failed,
        totals.errors,
        wall.as_secs_f64()
    )
}

/// JUnit XML: one test suite, one test case per scenario, with the step log as its output.
pub fn junit(reports: &[ScenarioReport], wall: Duration) -> anyhow::Result<String> {
    let mut suite = TestSuite::new("lyncsim scenarios");
    suite.set_time(wall);
    for r in reports {
        let status = match r.status {
            Status::Passed => TestCaseStatus::success(),
            Status::Failed | Status::Error => {
                let kind = if r.status == Status::Failed {
                    NonSuccessKind::Failure
                } else {
                    NonSuccessKind::Error
                };
                let mut status = TestCaseStatus::non_success(kind);
                status
                    .set_message(r.problems.first().cloned().unwrap_or_default())
                    .set_type(if r.status == Status::Failed {
                        "outcome"
                    } else {
                        "error"
                    })
                    .set_description(r.problems.join("\n"));
                status
            }
        };
        let mut case = TestCase::new(r.name.as_str(), status);
        case.set_classname(format!("lyncsim.{}.{}", r.product, r.os))
            .set_time(Duration::from_secs_f64(r.seconds))
            .set_system_out(
                r.description
                    .iter()
                    .chain(&r.log)
                    .cloned()
                    .collect::<Vec<_>>()
                    .join("\n"),
            );
        suite.add_test_case(case);
    }
    let mut report = Report::new("lyncsim");
    report.set_time(wall).add_test_suite(suite);
    Ok(report.to_string()?)
}

/// The JSON document of a run.
#[derive(Debug, Serialize)]
pub struct JsonReport<'a> {
    /// Counts.
    pub totals: Totals,
    /// Wall-clock seconds of the whole run.
    pub seconds: f64,
    /// Scenarios run at once.
    pub jobs: usize,
    /// One entry per scenario.
    pub scenarios: &'a [ScenarioReport],
}

/// The run as JSON.
pub fn json(reports: &[ScenarioReport], wall: Duration, jobs: usize) -> anyhow::Result<String> {
    Ok(serde_json::to_string_pretty(&JsonReport {
        totals: Totals::of(reports),
        seconds: wall.as_secs_f64(),
        jobs,
        scenarios: reports,
    })?)
}
