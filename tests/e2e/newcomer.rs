//! The rough edges a newcomer hit, from the shell: each command's exit code and text.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::{World, init_profile, lyncsim, stderr, stdout};

fn lyncsim_env(args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_lyncsim"))
        .args(args)
        .envs(env.iter().copied())
        .output()
        .expect("lyncsim runs")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_sign_in_address_shows_the_sign_in_text() {
    let world = World::start().await;
    let dir = world.dir().join("pc");
    let p = dir.to_str().unwrap();
    init_profile(p, "lync2013", "win7", world.admin_url());
    let out = lyncsim(&[
        "signin",
        "--profile",
        p,
        "--user",
        "nobody@contoso.com",
        "--password",
        "x",
        "--json",
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    // Lync 2013 learns it at the STS: Autodiscover's User resource asks for a web ticket
    // before it looks anyone up ([MS-OCDISCWS] 3.1.5.3), and the STS answers an address it
    // does not know with IDCRL's invalid member name.
    assert_eq!(json["error"], "E_SIGNIN", "{json}");
    assert_eq!(json["stage"], "token", "{json}");
    assert_eq!(json["kind"], "unknown_address", "{json}");
    let out = lyncsim(&[
        "signin",
        "--profile",
        p,
        "--user",
        "nobody@contoso.com",
        "--password",
        "x",
    ]);
    assert!(
        stdout(&out)
            .starts_with("Cannot sign in to Lync. You may have entered your sign-in address"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn a_port_in_use_is_named_and_not_retried_and_no_old_ready_file_is_left() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let dir = tempfile::tempdir().unwrap();
    let ready = dir.path().join("ready.json");
    std::fs::write(&ready, "{\"admin_url\":\"http://127.0.0.1:1\"}").unwrap();
    let out = lyncsim(&[
        "serve",
        "--admin-port",
        &port,
        "--ready-file",
        ready.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.contains(&format!(
            "cannot listen on 127.0.0.1:{port} for the admin API"
        )),
        "{err}"
    );
    assert!(err.contains("another program listens there"), "{err}");
    assert!(
        !err.contains("attempts"),
        "a port that was given is tried once: {err}"
    );
    assert!(
        !ready.exists(),
        "the ready file of an earlier run was left in place"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fault_takes_its_service_anywhere_and_from_the_environment_and_says_what_an_undo_breaks() {
    let world = World::start().await;
    let admin = world.admin_url().to_owned();
    let out = lyncsim(&["fault", "list", "--service", &admin]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "no faults in force\n");
    let out = lyncsim_env(
        &["fault", "change-dns", "--host", "pool-a.online.lync.com"],
        &[("LYNCSIM_SERVICE", &admin)],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let out = lyncsim_env(&["fault", "remove", "1"], &[("LYNCSIM_SERVICE", &admin)]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.starts_with("removed fault 1: pool-a.online.lync.com moved"),
        "{text}"
    );
    assert!(
        text.contains("undone: pool-a.online.lync.com is at") && text.contains("DNS cache"),
        "{text}"
    );
    lyncsim(&["fault", "--service", &admin, "rotate-ca"]);
    let out = lyncsim(&["fault", "clear", "--service", &admin]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("certificates issued since the rotation are no longer trusted"),
        "{}",
        stdout(&out)
    );
    let out = lyncsim_env(&["fault", "list"], &[("LYNCSIM_SERVICE", "")]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("set LYNCSIM_SERVICE"),
        "{}",
        stderr(&out)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_service_url_that_is_not_the_admin_api_says_so() {
    let world = World::start().await;
    let admin = world.admin_url().to_owned();
    let bare = admin.trim_start_matches("http://");
    let out = lyncsim(&["fault", "list", "--service", bare]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains(&format!("did you mean http://{bare}?")),
        "{}",
        stderr(&out)
    );
    // The DNS port speaks TCP, but not HTTP.
    let dns = format!("http://{}", world.info().dns_addr);
    let out = lyncsim(&["fault", "list", "--service", &dns]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("no lyncsim admin API answered at")
            && stderr(&out).contains("admin_url that lyncsim serve prints"),
        "{}",
        stderr(&out)
    );
}

/// curl's `-d` labels JSON as a form, which any web page may post anywhere without asking:
/// the admin API refuses it (415) and says what to add; with the label it is taken.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_api_wants_json_labelled_as_json_and_says_how() {
    let world = World::start().await;
    let curl = |extra: &[&str]| {
        let out = Command::new("curl")
            .args(["-sS", "-w", "\n%{http_code}"])
            .args(extra)
            .args([
                "-d",
                r#"{"address":"dave@contoso.com","password":"Spring2012!"}"#,
            ])
            .arg(format!("{}/users", world.admin_url()))
            .output()
            .expect("curl is installed (.ci/run installs it)");
        stdout(&out)
    };
    let text = curl(&[]);
    assert!(text.ends_with("\n415"), "{text}");
    assert!(
        text.contains("-H 'content-type: application/json'"),
        "{text}"
    );
    let text = curl(&["-H", "content-type: application/json"]);
    assert!(text.ends_with("\n201"), "{text}");
}

/// A scenario file that signs in and passes quickly.
const QUICK: &str = r#"
description = "a quick one"
expect = "E_CERT"
remedies = ["sync-time"]
outcome = "signed-in"

[client]
product = "lync2013"
os = "win7"

[[fault]]
cause = "clock-skew"
"#;

#[test]
fn run_writes_json_or_junit_to_standard_output_with_the_table_on_standard_error() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("quick.toml");
    std::fs::write(&file, QUICK).unwrap();
    let f = file.to_str().unwrap();
    let out = lyncsim(&["run", f, "--json", "-"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("stdout is the JSON");
    assert_eq!(json["scenarios"][0]["name"], "quick", "{json}");
    assert!(
        stderr(&out).contains("1 scenarios: 1 passed") || stderr(&out).contains("1 passed"),
        "{}",
        stderr(&out)
    );
    assert!(!dir.path().join("-").exists() && !std::path::Path::new("-").exists());
    let out = lyncsim(&["run", f, "--junit", "-"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        roxmltree::Document::parse(&stdout(&out)).is_ok(),
        "{}",
        stdout(&out)
    );
    let out = lyncsim(&["run", f, "--junit", "-", "--json", "-"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("cannot both be -"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_scenario_file_with_several_mistakes_reports_each() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bad.toml");
    let bad = QUICK
        .replace("os = \"win7\"", "os = \"win7\"\nbuild = \"1.x\"")
        .replace(
            "remedies = [\"sync-time\"]",
            "remedies = [\"desktop-setup\"]",
        )
        .replace(
            "[[fault]]\ncause = \"clock-skew\"",
            "[[fault]]\ncause = \"clock-skew\"\nmode = \"503\"",
        );
    std::fs::write(&file, bad).unwrap();
    let out = lyncsim(&["run", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    let lines: Vec<&str> = err.lines().filter(|l| l.starts_with("error: ")).collect();
    assert_eq!(lines.len(), 3, "{err}");
    assert!(lines.iter().all(|l| l.contains("bad.toml:")), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn certmgr_keeps_its_columns_for_a_certificate_that_cannot_be_read() {
    let world = World::start().await;
    let dir = world.dir().join("pc");
    let p = dir.to_str().unwrap();
    init_profile(p, "lync2013", "win7", world.admin_url());
    let out = lyncsim(&[
        "signin",
        "--profile",
        p,
        "--user",
        "alice@contoso.com",
        "--password",
        &crate::support::password("alice@contoso.com"),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = lyncsim(&["break", "--profile", p, "stale-cert"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = lyncsim(&["certmgr", "--profile", p]);
    let text = stdout(&out);
    let header = text
        .lines()
        .find(|l| l.starts_with("Issued To"))
        .expect("a header");
    let row = text
        .lines()
        .find(|l| l.starts_with("<cannot be read>"))
        .expect("the damaged one");
    let column = header.find("Thumbprint").unwrap();
    let thumbprint = &row[column..column + 40];
    assert!(thumbprint.chars().all(|c| c.is_ascii_hexdigit()), "{text}");
}

#[test]
fn ctrl_c_during_a_run_shows_what_finished() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a-quick.toml"), QUICK).unwrap();
    let marker = dir.path().join("second-started");
    let slow = QUICK.replace(
        "remedies = [\"sync-time\"]",
        &format!(
            "remedies = [{{ exec = \"touch {} && sleep 60\" }}]",
            marker.display()
        ),
    );
    std::fs::write(dir.path().join("b-slow.toml"), slow).unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_lyncsim"))
        .args(["run", "--jobs", "1"])
        .arg(dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The second scenario starts once the first has finished (one at a time).
    let deadline = Instant::now() + Duration::from_secs(60);
    while !marker.exists() {
        assert!(
            Instant::now() < deadline,
            "the second scenario never started"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130));
    let err = stderr(&out);
    assert!(err.contains("a-quick") && err.contains("pass"), "{err}");
    assert!(err.contains("interrupted after 1 of 2 scenarios"), "{err}");
}
