//! The scenario harness and the troubleshooter: wrong scenarios are caught, fix scripts run
//! against the profile, the KB procedure restores every client-side cause, and the shell
//! commands behave as the README says.

use std::path::Path;
use std::sync::Arc;

use lyncsim_client::Profile;
use lyncsim_domain::{Cause, ErrorId, Os, Product, Remedy};
use lyncsim_lab::Lab;
use lyncsim_suite::{
    Accounts, Expect, RunOptions, Status, Verdict, builtin_suite, prepare, report, run, scenario,
    troubleshoot,
};

use crate::support::{lyncsim, stderr, stdout};

const ALICE: &str = "alice@contoso.com";
const CAROL: &str = "carol@contoso.com";

fn opts() -> RunOptions {
    RunOptions {
        jobs: 2,
        lyncsim: Some(env!("CARGO_BIN_EXE_lyncsim").into()),
        ..RunOptions::default()
    }
}

fn one(dir: &Path, name: &str, text: &str) -> lyncsim_suite::Scenario {
    std::fs::write(dir.join(name), text).unwrap();
    let mut s = scenario::load(&[dir.join(name)]).unwrap();
    assert_eq!(s.len(), 1);
    s.remove(0)
}

/// A stale DNS record is not fixed by deleting the endpoint cache (SPEC section 6), and
/// flushing DNS does fix it: this file claims the opposite of both.
const WRONG: &str = r#"
expect = "E_CERT"
remedies = ["delete-endpoint-cache"]
outcome = "signed-in"

[client]
product = "lync2010"
os = "win7"

[[fault]]
cause = "dns-stale"

[[control]]
remedies = ["flush-dns"]
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scenario_whose_remedy_does_not_fix_its_cause_fails_with_the_text_seen() {
    let dir = tempfile::tempdir().unwrap();
    let report = run(&one(dir.path(), "wrong.toml", WRONG), &opts()).await;
    assert_eq!(report.status, Status::Failed, "{:#?}", report.log);
    assert_eq!(report.seen.as_ref().unwrap().error, Some(ErrorId::ECert));
    let outcome = report.outcome.as_ref().unwrap();
    assert_eq!(outcome.error, Some(ErrorId::ECert));
    assert_eq!(outcome.text.as_deref(), Some(ErrorId::ECert.text()));
    assert_eq!(report.problems.len(), 2, "{:#?}", report.problems);
    assert!(
        report.problems[0].starts_with(
            "after delete-endpoint-cache: expected signed-in, saw E_CERT: \"There was a problem acquiring a personal certificate"
        ),
        "{}",
        report.problems[0]
    );
    assert!(
        report.problems[1]
            .starts_with("control 1: after flush-dns alone: expected fails, saw signed in"),
        "{}",
        report.problems[1]
    );
    assert!(!report.controls[0].held);

    let xml = report::junit(std::slice::from_ref(&report), std::time::Duration::ZERO).unwrap();
    let doc = roxmltree::Document::parse(&xml).unwrap();
    let failure = doc
        .descendants()
        .find(|n| n.has_tag_name("failure"))
        .expect("a failure element");
    assert!(
        failure
            .attribute("message")
            .unwrap()
            .contains(ErrorId::ECert.text())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exec_steps_get_the_machine_in_their_environment_and_a_failing_script_fails() {
    let dir = tempfile::tempdir().unwrap();
    // The script checks what it was given, then removes the stale certificate itself by its
    // Windows path; only then can sign-in come back.
    std::fs::write(
        dir.path().join("check.sh"),
        r#"set -eu
test "$LYNCSIM_USER" = alice@contoso.com
test "$LYNCSIM_PRODUCT" = lync2010 && test "$LYNCSIM_OS" = xp
test -f "$LYNCSIM_PROFILE/machine.toml"
test "$USERPROFILE" = "$LYNCSIM_PROFILE/Documents and Settings/jdoe"
test "$APPDATA" = "$USERPROFILE/Application Data"
test "$LOCALAPPDATA" = "$USERPROFILE/Local Settings/Application Data"
"$LYNCSIM" --version >/dev/null
rm "$APPDATA"/Microsoft/SystemCertificates/My/Certificates/*
echo "removed the certificate"
"#,
    )
    .unwrap();
    let good = r#"
expect = "E_CERT"
remedies = [{ exec = "sh check.sh" }]
outcome = "signed-in"

[client]
product = "lync2010"
os = "xp"

[[fault]]
cause = "stale-cert"
via = "rotate-ca"
"#;
    let report = run(&one(dir.path(), "script.toml", good), &opts()).await;
    assert_eq!(report.status, Status::Passed, "{:#?}", report.log);
    assert!(
        report
            .log
            .iter()
            .any(|l| l == "exec `sh check.sh`: removed the certificate"),
        "{:#?}",
        report.log
    );

    let failing = good.replace("sh check.sh", "echo no vault here >&2; exit 3");
    let report = run(&one(dir.path(), "failing.toml", &failing), &opts()).await;
    assert_eq!(report.status, Status::Failed);
    assert_eq!(
        report.problems,
        ["exec `echo no vault here >&2; exit 3` exited with 3: no vault here"]
    );
}

/// Wiremock-style: a service, a machine, a cause, sign-ins and assertions; nothing to clean up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_lab_api_reproduces_and_fixes_a_cause_in_process() {
    let lab = Lab::start().await.unwrap();
    let mut pc = lab.machine(Product::Lync2010, Os::Xp).await.unwrap();
    pc.sign_in(ALICE).await.unwrap().assert_signed_in();
    lab.cause(&mut pc, ALICE, Cause::OutdatedSia).await.unwrap();
    let failure = pc.sign_in(ALICE).await.unwrap();
    let failure = failure.assert_shows(ErrorId::ECert);
    assert!(
        failure.explained().contains("Sign-In Assistant"),
        "{}",
        failure.explained()
    );
    pc.fix(Remedy::DesktopSetup).await.unwrap();
    pc.sign_in(ALICE).await.unwrap().assert_signed_in();
    let dir = lab.dir().to_path_buf();
    drop(pc);
    drop(lab);
    assert!(!dir.exists(), "the lab's profiles go away with it");
}

/// The troubleshooter on the broken machine of every scenario of the built-in suite.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_troubleshooter_restores_every_client_side_cause_and_escalates_account_corrupt() {
    let suite = builtin_suite().unwrap();
    let limit = Arc::new(tokio::sync::Semaphore::new(4));
    let mut walks = tokio::task::JoinSet::new();
    for s in suite.scenarios.clone() {
        let limit = limit.clone();
        walks.spawn(async move {
            let _permit = limit.acquire_owned().await.unwrap();
            let mut log = Vec::new();
            let (lab, mut machine) = prepare(&s, &mut log).await.unwrap();
            let accounts = Accounts {
                user: s.user.clone(),
                password: lab.password(&s.user),
                second: Some((CAROL.into(), lab.password(CAROL).unwrap())),
            };
            let walk = troubleshoot(machine.profile_mut(), &accounts)
                .await
                .unwrap();
            (s, walk)
        });
    }
    let mut wrong = Vec::new();
    let mut walked = 0;
    while let Some(done) = walks.join_next().await {
        let (s, walk) = done.unwrap();
        walked += 1;
        let expected = if s.causes.iter().any(|c| c.cause == Cause::AccountCorrupt) {
            Verdict::EscalateAccount
        } else if s.expect == Expect::SignedIn {
            Verdict::AlreadySignedIn
        } else {
            Verdict::Restored
        };
        if walk.verdict != expected {
            wrong.push(format!(
                "{}: expected {expected:?}\n{}",
                s.name,
                lyncsim_suite::render(&walk)
            ));
        }
        if expected == Verdict::EscalateAccount {
            assert_eq!(walk.conclusion, "escalate: the account, not this machine");
            let procedure = Remedy::procedure(s.product, s.os);
            assert_eq!(walk.steps.len(), procedure.len(), "every step was tried");
        }
        if s.name == "combined-lync2010-xp-outdated-sia-clock-skew" {
            // Desktop Setup (step 3) fixes one cause; sign-in comes back at sync-time.
            let names: Vec<_> = walk
                .steps
                .iter()
                .map(|s| s.taken.remedies.clone())
                .collect();
            assert_eq!(
                names,
                Remedy::procedure(Product::Lync2010, Os::Xp)[..7].to_vec()
            );
            assert!(
                walk.conclusion.ends_with("step 7: sync-time"),
                "{}",
                walk.conclusion
            );
        }
    }
    assert_eq!(walked, suite.scenarios.len());
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

const SKEWED: &str = r#"
expect = "E_CERT"
remedies = ["sync-time"]
outcome = "signed-in"

[client]
product = "lync2013"
os = "win8"

[[fault]]
cause = "clock-skew"
"#;

#[test]
fn lyncsim_run_reports_failures_writes_junit_and_json_and_refuses_bad_files() {
    let dir = tempfile::tempdir().unwrap();
    let suite = dir.path().join("suite");
    std::fs::create_dir(&suite).unwrap();
    std::fs::write(suite.join("skewed.toml"), SKEWED).unwrap();
    std::fs::write(suite.join("wrong.toml"), WRONG).unwrap();
    let (junit, json) = (dir.path().join("j.xml"), dir.path().join("r.json"));
    let out = lyncsim(&[
        "run",
        suite.to_str().unwrap(),
        "--junit",
        junit.to_str().unwrap(),
        "--json",
        json.to_str().unwrap(),
        "--jobs",
        "2",
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.starts_with("SCENARIO "), "{text}");
    assert!(text.contains("skewed "), "{text}");
    assert!(
        text.contains(ErrorId::ECert.text()),
        "the failure shows the text seen: {text}"
    );
    assert!(
        text.contains("2 scenarios: 1 passed, 1 failed, 0 errors"),
        "{text}"
    );
    let xml = std::fs::read_to_string(&junit).unwrap();
    let doc = roxmltree::Document::parse(&xml).unwrap();
    assert_eq!(
        doc.descendants()
            .filter(|n| n.has_tag_name("testcase"))
            .count(),
        2
    );
    assert_eq!(
        doc.descendants()
            .filter(|n| n.has_tag_name("failure"))
            .count(),
        1
    );
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    assert_eq!(json["totals"]["failed"], 1);
    assert_eq!(json["scenarios"][1]["name"], "wrong");
    assert_eq!(json["scenarios"][1]["status"], "failed");

    // --filter keeps what matches; the passing one alone exits 0.
    let out = lyncsim(&["run", suite.to_str().unwrap(), "--filter", "SKEW"]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    let out = lyncsim(&["run", suite.to_str().unwrap(), "--filter", "nothing"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("no scenario to run matches --filter \"nothing\""));

    // A bad file stops the run before anything starts, with file, line and column.
    std::fs::write(
        suite.join("typo.toml"),
        SKEWED.replace("\"sync-time\"", "\"sync-tim\""),
    )
    .unwrap();
    let out = lyncsim(&["run", suite.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.contains("typo.toml:3:13: unknown remedy \"sync-tim\"; expected one of: delete-signin-info, fixit,"),
        "{err}"
    );
    assert!(stdout(&out).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lyncsim_troubleshoot_walks_the_kb_and_escalates_an_account_problem() {
    let lab = Lab::start().await.unwrap();
    let mut pc = lab.machine(Product::Lync2010, Os::Win7).await.unwrap();
    pc.sign_in(ALICE).await.unwrap().assert_signed_in();
    lab.cause(&mut pc, ALICE, Cause::DnsStale).await.unwrap();
    let profile = pc.dir().to_str().unwrap().to_owned();
    let password = lab.password(ALICE).unwrap();
    let troubleshoot = |more: &[&str]| {
        let mut args = vec![
            "troubleshoot",
            "--profile",
            &profile,
            "--user",
            ALICE,
            "--password",
            &password,
        ];
        args.extend_from_slice(more);
        lyncsim(&args)
    };
    let out = troubleshoot(&[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("step 1: fixit"), "{text}");
    assert!(
        text.ends_with("sign-in restored by step 1: fixit\n"),
        "{text}"
    );

    lab.cause(&mut pc, ALICE, Cause::AccountCorrupt)
        .await
        .unwrap();
    let carol = lab.password(CAROL).unwrap();
    let out = troubleshoot(&[
        "--second-user",
        CAROL,
        "--second-password",
        &carol,
        "--json",
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let walk: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(walk["verdict"], "escalate-account");
    assert_eq!(
        walk["conclusion"],
        "escalate: the account, not this machine"
    );
    assert_eq!(
        walk["steps"].as_array().unwrap().len(),
        Remedy::procedure(Product::Lync2010, Os::Win7).len()
    );
    assert_eq!(walk["second_account"][1]["error"], serde_json::Value::Null);

    // Without a second account the check cannot run, and the walk says so.
    let out = troubleshoot(&[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stdout(&out).contains("the second-account check was not run"));
    assert!(Profile::open(Path::new(&profile)).is_ok());

    // The password is needed up front: the first step removes the saved one.
    let out = lyncsim(&["troubleshoot", "--profile", &profile, "--user", ALICE]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("--password"), "{}", stderr(&out));
}

/// The services of one run share one Communications Server CA, as the pools of one Lync
/// Online do; a service that rotates it gets one of its own, and the others keep trusting
/// what the shared one issued.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn services_given_one_communications_server_ca_share_it_until_one_rotates() {
    use lyncsim_service::{CaPem, ServiceConfig};
    let ca = CaPem::communications_server(chrono::Utc::now().timestamp()).unwrap();
    let config = ServiceConfig {
        communications_server: Some(ca.clone()),
        ..ServiceConfig::default()
    };
    let (one, two) = (
        Lab::with_config(config.clone()).await.unwrap(),
        Lab::with_config(config).await.unwrap(),
    );
    let exported = |lab: &Lab| {
        let url = format!("{}/ca/communications-server.pem", lab.admin_url());
        async move { String::from_utf8(lyncsim_lab::fetch_plain(&url).await.unwrap()).unwrap() }
    };
    assert_eq!(exported(&one).await, ca.cert);
    assert_eq!(exported(&two).await, ca.cert);

    let machine = one.machine(Product::Lync2013, Os::Win7).await.unwrap();
    machine.sign_in(ALICE).await.unwrap().assert_signed_in();
    // The personal certificate is the shared CA's: its signature checks with that key.
    use x509_parser::prelude::{FromDer, X509Certificate};
    let issued = machine.profile().certificates().unwrap();
    let ca_der = lyncsim_pki::pem_decode("CERTIFICATE", &ca.cert).unwrap();
    let (_, ca_cert) = X509Certificate::from_der(&ca_der).unwrap();
    let (_, leaf) = X509Certificate::from_der(&issued[0].der).unwrap();
    assert!(leaf.verify_signature(Some(ca_cert.public_key())).is_ok());

    two.fault(&lyncsim_wire::admin::Fault::RotateCa)
        .await
        .unwrap();
    assert_ne!(
        exported(&two).await,
        ca.cert,
        "the rotated service has a CA of its own"
    );
    assert_eq!(
        exported(&one).await,
        ca.cert,
        "the other keeps the shared one"
    );
    machine.sign_in(ALICE).await.unwrap().assert_signed_in();
    one.shutdown().await;
    two.shutdown().await;
}

/// One judge of the KB: on the same broken machine, the trial the console scores by and the
/// scenario runner's controls use (`lyncsim_lab::trial`) and the troubleshooter's walk of the
/// KB's procedure agree. Where a step restores sign-in, the steps the walk took include a set
/// the trial found; where none does, the trial says escalate, the walk ends in "the account,
/// not this machine", and the second-account check signs in.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_trial_and_the_troubleshooter_agree_on_the_same_machine() {
    use lyncsim_console::engine::{Exercise, ExerciseSpec};
    use lyncsim_lab::trial::{Scratch, second_account};
    let cases: [(&[Cause], Product, Os); 4] = [
        (&[Cause::ClockSkew], Product::Lync2010, Os::Xp),
        (
            &[Cause::StaleCredentials, Cause::DnsStale],
            Product::Lync2010,
            Os::Win7,
        ),
        (&[Cause::EndpointMoved], Product::Lync2013, Os::Win7),
        (&[Cause::AccountCorrupt], Product::Lync2013, Os::Win8),
    ];
    for (causes, product, os) in cases {
        let user = "bob@contoso.com";
        let spec = ExerciseSpec {
            causes: causes.to_vec(),
            product,
            os,
            user: user.into(),
        };
        let mut ex = Exercise::prepare(spec).await.unwrap();
        let trial = ex.shortest_paths(3).await.unwrap();
        let mut copy = Scratch::of(ex.machine(), "walk").unwrap();
        let accounts = Accounts {
            user: user.into(),
            password: ex.lab().password(user),
            second: Some((
                "alice@contoso.com".into(),
                ex.lab().password("alice@contoso.com").unwrap(),
            )),
        };
        let walk = troubleshoot(copy.profile_mut(), &accounts).await.unwrap();
        let case = format!("{causes:?} on {product:?} {os:?}");
        if trial.escalate {
            assert_eq!(walk.verdict, Verdict::EscalateAccount, "{case}: {walk:?}");
            let other = second_account(ex.machine(), "alice@contoso.com")
                .await
                .unwrap();
            assert!(other.signed_in(), "{case}");
        } else {
            assert_eq!(walk.verdict, Verdict::Restored, "{case}: {walk:?}");
            let done: std::collections::BTreeSet<Remedy> = walk
                .steps
                .iter()
                .flat_map(|s| s.taken.remedies.iter().copied())
                .collect();
            assert!(trial.restored_by(&done), "{case}: {done:?} vs {trial:?}");
        }
    }
}
