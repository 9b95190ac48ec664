//! The fix matrix of SPEC section 6, proved by the built-in suite.
//!
//! The table below is SPEC section 6 as data, written independently of the scenario files.
//! One test checks that the built-in suite covers every cell of it: every cause on every
//! product and OS where it exists, showing the expected text, every remedy that must restore
//! sign-in, and every negative control. The other runs the whole suite: every outcome comes
//! from a real sign-in, each scenario on its own service and machine.

use lyncsim_domain::{Cause, ErrorId, Os, Product, Remedy};
use lyncsim_suite::{Expect, RunOptions, Scenario, Step, builtin_suite, report};

use Remedy::*;

/// One row of the matrix.
struct Row {
    cause: Cause,
    /// What the user sees once the cause is made, per product; `None`: signs in.
    shows: fn(Product) -> Option<ErrorId>,
    restores_2010: &'static [&'static [Remedy]],
    restores_2013: &'static [&'static [Remedy]],
    must_not: &'static [&'static [Remedy]],
}

const E_CERT: fn(Product) -> Option<ErrorId> = |_| Some(ErrorId::ECert);

const MATRIX: &[Row] = &[
    Row {
        cause: Cause::OutdatedClient,
        shows: E_CERT,
        restores_2010: &[&[UpdateClient]],
        restores_2013: &[&[UpdateClient]],
        must_not: &[&[DeleteSigninInfo], &[Fixit]],
    },
    Row {
        cause: Cause::OutdatedSia,
        shows: E_CERT,
        restores_2010: &[&[DesktopSetup]],
        restores_2013: &[],
        must_not: &[&[UpdateClient], &[Fixit]],
    },
    Row {
        cause: Cause::StaleCert,
        shows: E_CERT,
        restores_2010: &[&[DeleteCert], &[Fixit]],
        restores_2013: &[&[DeleteSigninInfo], &[DeleteCert]],
        must_not: &[&[FlushDns], &[SyncTime]],
    },
    Row {
        cause: Cause::StaleCredentials,
        shows: E_CERT,
        restores_2010: &[&[RemoveCredentials], &[Fixit]],
        restores_2013: &[&[DeleteSigninInfo]],
        must_not: &[&[DeleteCert]],
    },
    Row {
        cause: Cause::ClockSkew,
        shows: E_CERT,
        restores_2010: &[&[SyncTime]],
        restores_2013: &[&[SyncTime]],
        must_not: &[&[Fixit], &[DeleteSigninInfo]],
    },
    Row {
        cause: Cause::RsaKeyLocked,
        shows: E_CERT,
        restores_2010: &[&[DeleteRsaKey, Restart]],
        restores_2013: &[],
        must_not: &[&[Fixit], &[DeleteCert]],
    },
    Row {
        cause: Cause::EndpointMoved,
        shows: E_CERT,
        restores_2010: &[&[DeleteEndpointCache], &[Fixit]],
        restores_2013: &[&[DeleteEndpointCache], &[DeleteSigninInfo]],
        must_not: &[&[FlushDns]],
    },
    Row {
        cause: Cause::DnsStale,
        shows: E_CERT,
        restores_2010: &[&[FlushDns], &[Fixit]],
        restores_2013: &[&[FlushDns]],
        must_not: &[&[DeleteEndpointCache]],
    },
    Row {
        cause: Cause::PostOutage,
        shows: |p| (p == Product::Lync2010).then_some(ErrorId::ESignin),
        restores_2010: &[&[Fixit], &[DeleteCert, RemoveCredentials]],
        restores_2013: &[],
        must_not: &[&[Restart]],
    },
    Row {
        cause: Cause::AccountCorrupt,
        shows: E_CERT,
        restores_2010: &[],
        restores_2013: &[],
        must_not: &[
            &[DeleteSigninInfo],
            &[Fixit],
            &[UpdateClient],
            &[DesktopSetup],
            &[DeleteEndpointCache],
            &[DeleteCert],
            &[RemoveCredentials],
            &[SyncTime],
            &[FlushDns],
            &[DeleteRsaKey, Restart],
            &[Restart],
            &[Escalate],
        ],
    },
];

fn steps(remedies: &[Remedy]) -> Vec<Step> {
    remedies.iter().copied().map(Step::Remedy).collect()
}

/// The scenarios of the suite with exactly this one cause on this product and OS.
fn single_cause(suite: &[Scenario], cause: Cause, product: Product, os: Os) -> Vec<&Scenario> {
    suite
        .iter()
        .filter(|s| s.product == product && s.os == os)
        .filter(|s| s.causes.len() == 1 && s.causes[0].cause == cause && s.server_faults.is_empty())
        .collect()
}

/// Whether some scenario applies `remedies` (as its remedies or as a control) and expects
/// `restores` (signed in, or still failing).
fn tried(scenarios: &[&Scenario], remedies: &[Remedy], restores: bool) -> bool {
    let want = steps(remedies);
    let meets = |outcome: Expect| (outcome == Expect::SignedIn) == restores;
    scenarios.iter().any(|s| {
        (s.remedies == want && meets(s.outcome))
            || s.controls
                .iter()
                .any(|c| c.remedies == want && meets(c.outcome))
    })
}

#[test]
fn the_built_in_suite_covers_every_cell_of_the_fix_matrix() {
    let suite = builtin_suite().unwrap().scenarios;
    let mut missing = Vec::new();
    let mut cells = 0;
    for row in MATRIX {
        for product in Product::ALL {
            for os in Os::ALL {
                if !row.cause.exists_on(*product, *os) {
                    continue;
                }
                let here = single_cause(&suite, row.cause, *product, *os);
                let at = format!("{} on {product}/{os}", row.cause);
                let shows = match (row.shows)(*product) {
                    Some(id) => Expect::Shows(id),
                    None => Expect::SignedIn,
                };
                cells += 1;
                if !here.iter().any(|s| s.expect == shows) {
                    missing.push(format!("{at}: no scenario expecting {shows}"));
                }
                let restores = if *product == Product::Lync2010 {
                    row.restores_2010
                } else {
                    row.restores_2013
                };
                for remedies in restores {
                    cells += 1;
                    if !tried(&here, remedies, true) {
                        missing.push(format!("{at}: {remedies:?} must restore sign-in"));
                    }
                }
                for remedies in row.must_not {
                    if shows == Expect::SignedIn {
                        break; // it recovers by itself: there is nothing to restore
                    }
                    if remedies
                        .iter()
                        .any(|r| r.offered_on(*product, *os).is_err())
                    {
                        continue; // the product does not offer it: a user could not apply it
                    }
                    cells += 1;
                    if !tried(&here, remedies, false) {
                        missing.push(format!("{at}: {remedies:?} must not restore sign-in"));
                    }
                }
                if row.cause == Cause::AccountCorrupt
                    && !here.iter().any(|s| s.second_account.is_some())
                {
                    missing.push(format!("{at}: no second-account check"));
                }
            }
        }
    }
    let combined = suite.iter().filter(|s| s.causes.len() >= 2).count();
    assert!(
        combined >= 6,
        "only {combined} scenarios with two causes or more"
    );
    assert!(cells > 200, "the matrix has only {cells} cells");
    assert!(
        missing.is_empty(),
        "{} of {cells} cells of the matrix are not in the built-in suite:\n{}",
        missing.len(),
        missing.join("\n")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_built_in_suite_passes_and_its_junit_report_has_one_test_case_per_scenario() {
    let suite = builtin_suite().unwrap();
    let count = suite.scenarios.len();
    let opts = RunOptions {
        jobs: 4,
        lyncsim: Some(env!("CARGO_BIN_EXE_lyncsim").into()),
        ..RunOptions::default()
    };
    let started = std::time::Instant::now();
    let reports = lyncsim_suite::run_all(suite.scenarios.clone(), &opts, |_| {}).await;
    let wall = started.elapsed();
    assert_eq!(reports.len(), count);
    let totals = report::Totals::of(&reports);
    assert!(totals.all_passed(), "{}", report::table(&reports));

    let xml = report::junit(&reports, wall).unwrap();
    let doc = roxmltree::Document::parse(&xml).expect("the JUnit report is well-formed XML");
    let cases: Vec<_> = doc
        .descendants()
        .filter(|n| n.has_tag_name("testcase"))
        .collect();
    assert_eq!(cases.len(), count);
    let names: std::collections::BTreeSet<_> =
        cases.iter().filter_map(|c| c.attribute("name")).collect();
    assert_eq!(names.len(), count, "test case names are unique");
    assert!(
        !doc.descendants()
            .any(|n| n.has_tag_name("failure") || n.has_tag_name("error"))
    );
    let json: serde_json::Value =
        serde_json::from_str(&report::json(&reports, wall, 4).unwrap()).unwrap();
    assert_eq!(json["totals"]["passed"], count);
}
