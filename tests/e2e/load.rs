//! `lyncsim load`: many machines signing in at once, with an outage in the middle; each phase
//! counted by what the sign-ins showed.

use std::time::Duration;

use lyncsim_lab::Lab;
use lyncsim_load::{Action, LoadOptions, Scheduled, load};
use serde_json::Value;

use crate::support::{lyncsim, stderr, stdout};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_load_with_an_outage_counts_each_phase_by_what_sign_in_showed() {
    let lab = Lab::start().await.unwrap();
    let opts = LoadOptions {
        users: 3,
        machines: 6,
        concurrency: 3,
        duration: Duration::from_secs(8),
        schedule: vec![
            "2500ms:outage@login.microsoftonline.com".parse().unwrap(),
            Scheduled {
                at: Duration::from_millis(5500),
                action: Action::Clear,
            },
        ],
        ..LoadOptions::default()
    };
    let report = load(&lab, &opts, |_| {}).await.unwrap();
    assert_eq!(report.first.sign_ins, 6, "{report:#?}");
    assert_eq!(
        report.first.outcomes.get("signed-in"),
        Some(&6),
        "{report:#?}"
    );

    let names: Vec<&str> = report.phases.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "before",
            "outage 503, login.microsoftonline.com",
            "faults cleared"
        ]
    );
    let [before, during, after] = &report.phases[..] else {
        unreachable!()
    };
    for p in [before, during, after] {
        assert!(
            p.sign_ins > 0,
            "no sign-in started in {}: {report:#?}",
            p.name
        );
    }
    assert!(before.outcomes.contains_key("signed-in"), "{before:#?}");
    // While the STS answers 503 no sign-in gets through: each shows the text of a service
    // that cannot be reached. A phase begins when the admin API has answered, so the few that
    // started in the moment between the outage's end and that answer signed in.
    let unreachable = during.outcomes.get("E_UNREACHABLE").copied().unwrap_or(0);
    let through = during.outcomes.get("signed-in").copied().unwrap_or(0);
    assert!(unreachable > 0, "{during:#?}");
    // The reason shown is the client's own: the outage's 503 at the first host it asked.
    assert!(
        during.why["E_UNREACHABLE"].contains("is in an outage"),
        "{during:#?}"
    );
    assert!(!during.why.contains_key("signed-in"), "{during:#?}");
    assert!(
        through <= 2 * opts.concurrency as u64 && through * 10 < unreachable,
        "{during:#?}"
    );
    assert_eq!(unreachable + through, during.sign_ins, "{during:#?}");
    assert!(after.outcomes.contains_key("signed-in"), "{after:#?}");
    let sum: u64 = report.phases.iter().map(|p| p.sign_ins).sum();
    assert_eq!(report.total.sign_ins, sum);
    assert!(before.latency_ms.p50 > 0.0 && before.latency_ms.p50 <= before.latency_ms.max);
}

/// Paced below what its workers could do, a load keeps its schedule and ends with it: workers
/// waiting for turns due after the end do not hold the run open.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paced_load_ends_when_its_schedule_does() {
    let lab = Lab::start().await.unwrap();
    let opts = LoadOptions {
        users: 2,
        machines: 8,
        concurrency: 8,
        rate: Some(2.0),
        duration: Duration::from_secs(3),
        ..LoadOptions::default()
    };
    let report = load(&lab, &opts, |_| {}).await.unwrap();
    let total = &report.total;
    // Turns 0 to 5 are due at 0, 0.5, … 2.5 s; the eighth worker's first turn, 3.5 s, is not.
    assert_eq!(total.sign_ins, 6, "{total:#?}");
    assert_eq!(total.outcomes.get("signed-in"), Some(&6), "{total:#?}");
    // The run ends with its last sign-in (due at 2.5 s), not when the last worker's turn
    // would have come (3.5 s).
    assert!(total.to_secs < 3.4, "{total:#?}");
    lab.shutdown().await;
}

#[test]
fn lyncsim_load_prints_its_table_and_json_and_refuses_nonsense() {
    let out = lyncsim(&[
        "load",
        "--users",
        "2",
        "--machines",
        "2",
        "--concurrency",
        "2",
        "--max",
        "6",
        "--json",
        "-",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let report: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(report["first"]["sign_ins"], 2, "{report}");
    assert_eq!(report["total"]["sign_ins"], 6, "{report}");
    assert_eq!(report["total"]["outcomes"]["signed-in"], 6, "{report}");

    let out = lyncsim(&["load", "--users", "2", "--machines", "2", "--max", "2"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let table = stdout(&out);
    assert!(table.contains("first sign-ins"), "{table}");
    assert!(table.contains("repeat sign-ins"), "{table}");

    for (args, says) in [
        (vec!["load", "--users", "0"], "--users must be 1 to"),
        (
            vec!["load", "--fault", "5s:meteor"],
            "unknown fault \"meteor\"",
        ),
        (
            vec!["load", "--duration", "2 weeks"],
            "the unit is one of ms, s, m, h",
        ),
        (
            vec!["load", "--duration", "2s", "--clear", "5s"],
            "comes after the end of the run",
        ),
        (
            vec!["load", "--product", "lync2013", "--os", "xp"],
            "does not run on Windows XP",
        ),
    ] {
        let out = lyncsim(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stdout(&out));
        assert!(stderr(&out).contains(says), "{args:?}: {}", stderr(&out));
    }
}
