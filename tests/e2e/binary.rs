//! The real `lyncsim` binary: serve with a ready file and a state directory, client init,
//! signin's texts and exit codes, a restart that changes nothing for clients.

use lyncsim_domain::ErrorId;

use crate::support::{Serve, World, init_profile, lyncsim, stderr, stdout};

#[test]
fn serve_signin_and_a_restart_with_a_state_dir() {
    let dir = tempfile::tempdir().unwrap();
    let (state, ready, profile) = (
        dir.path().join("state"),
        dir.path().join("ready.json"),
        dir.path().join("machine"),
    );
    let serve = Serve::start(&state, &ready);
    let before = serve.info.clone();
    assert!(before.dns_addr.ip().is_loopback());
    assert!(before.hosts.values().all(|ip| ip.is_loopback()));

    let p = profile.to_str().unwrap();
    init_profile(p, "lync2010", "win7", &before.admin_url);
    let out = lyncsim(&[
        "signin",
        "--profile",
        p,
        "--user",
        "alice@contoso.com",
        "--password",
        "Passw0rd!alice",
        "--save-password",
    ]);
    assert_eq!(
        stdout(&out),
        "Signed in as alice@contoso.com\n",
        "{}",
        stderr(&out)
    );
    assert_eq!(out.status.code(), Some(0));
    serve.stop();

    // A restart is not a server-side update: same addresses, same CAs, the same certificate.
    let serve = Serve::start(&state, &ready);
    assert_eq!(serve.info, before);
    let out = lyncsim(&[
        "signin",
        "--profile",
        p,
        "--user",
        "alice@contoso.com",
        "--json",
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
    let json: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(json["signed_in"], true);
    assert_eq!(json["new_certificate"], false, "{json}");
    let issued = std::fs::read_to_string(state.join("issued-certificates.jsonl")).unwrap();
    assert_eq!(issued.matches("\"thumbprint\"").count(), 1);
    serve.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_signin_prints_exactly_the_catalogue_text_and_exits_1() {
    let world = World::start().await;
    let profile = world.dir().join("skewed");
    let p = profile.to_str().unwrap();
    init_profile(p, "lync2013", "win8", world.admin_url());
    let machine = profile.join("machine.toml");
    let text = std::fs::read_to_string(&machine)
        .unwrap()
        .replace("clock_offset_secs = 0", "clock_offset_secs = -301");
    std::fs::write(&machine, text).unwrap();

    let out = lyncsim(&[
        "signin",
        "--profile",
        p,
        "--user",
        "carol@contoso.com",
        "--password",
        "Passw0rd!carol",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(stdout(&out), format!("{}\n", ErrorId::ECert.text()));
    assert!(stderr(&out).contains("trace log"));

    let out = lyncsim(&[
        "signin",
        "--profile",
        p,
        "--user",
        "carol@contoso.com",
        "--password",
        "Passw0rd!carol",
        "--json",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let json: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(json["error"], "E_CERT");
    assert_eq!(json["stage"], "token");
    // The reason is what the client logged (the STS's fault); lyncsim's note works out
    // the skew.
    assert!(
        json["reason"]
            .as_str()
            .unwrap()
            .contains("[PPCRL_REQUEST_E_INVALID_SERVICE_TIMESTAMP]"),
        "{json}"
    );
    assert!(
        json["note"]
            .as_str()
            .unwrap()
            .contains("STS rejected the request timestamp: skew -5m01s ("),
        "{json}"
    );

    let out = lyncsim(&["certmgr", "--profile", p]);
    assert!(
        stdout(&out).contains("There are no items to show in this view."),
        "{}",
        stdout(&out)
    );
    let out = lyncsim(&["ipconfig", "--profile", p, "--displaydns"]);
    assert!(
        stdout(&out).contains("login.microsoftonline.com"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn bad_requests_are_refused_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let out = lyncsim(&["serve", "--subnet", "10.1.2"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("only ever listens on loopback"),
        "{}",
        stderr(&out)
    );

    let p = dir.path().join("xp").to_str().unwrap().to_owned();
    let out = lyncsim(&[
        "client",
        "init",
        "--profile",
        &p,
        "--product",
        "lync2013",
        "--os",
        "xp",
        "--service",
        "http://127.0.0.1:9",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("does not run on Windows XP"),
        "{}",
        stderr(&out)
    );

    let out = lyncsim(&[
        "client",
        "init",
        "--profile",
        &p,
        "--product",
        "lync2007",
        "--os",
        "xp",
        "--service",
        "http://127.0.0.1:9",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("lync2010, lync2013"),
        "{}",
        stderr(&out)
    );

    let out = lyncsim(&["signin", "--profile", &p, "--user", "alice@contoso.com"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("not a lyncsim profile"),
        "{}",
        stderr(&out)
    );

    let out = lyncsim(&[
        "client",
        "init",
        "--profile",
        &p,
        "--product",
        "lync2010",
        "--os",
        "xp",
        "--service",
        "http://10.0.0.1:9",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("only ever on loopback"),
        "{}",
        stderr(&out)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_time_corrects_a_clock_faked_with_faketime() {
    let world = World::start().await;
    let profile = world.dir().join("faked");
    let p = profile.to_str().unwrap();
    init_profile(p, "lync2010", "win7", world.admin_url());
    let faked = |args: &[&str]| {
        std::process::Command::new("faketime")
            .args(["-f", "+6m", env!("CARGO_BIN_EXE_lyncsim")])
            .args(args)
            .output()
            .expect("faketime is installed (.ci/run installs it)")
    };
    let signin = [
        "signin",
        "--profile",
        p,
        "--user",
        "bob@contoso.com",
        "--password",
        "Passw0rd!bob",
    ];

    let out = faked(&signin);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
    assert_eq!(stdout(&out), format!("{}\n", ErrorId::ECert.text()));
    let trace =
        std::fs::read_to_string(crate::support::find_file(&profile, "uccapilog").unwrap()).unwrap();
    assert!(
        trace.contains("STS rejected the request timestamp: skew 6m00s"),
        "{trace}"
    );

    let out = faked(&["fix", "--profile", p, "sync-time"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("the clock was 6m00s off"),
        "{}",
        stdout(&out)
    );

    let out = faked(&signin);
    assert_eq!(
        stdout(&out),
        "Signed in as bob@contoso.com\n",
        "{}",
        stderr(&out)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn break_fix_and_fault_from_the_shell() {
    let world = World::start().await;
    let admin = world.admin_url().to_owned();
    let profile = world.dir().join("qa");
    let p = profile.to_str().unwrap();
    init_profile(p, "lync2010", "xp", &admin);
    let signin = |extra: &[&str]| {
        let mut args = vec!["signin", "--profile", p, "--user", "alice@contoso.com"];
        args.extend_from_slice(extra);
        lyncsim(&args)
    };
    assert_eq!(
        signin(&["--password", "Passw0rd!alice", "--save-password"])
            .status
            .code(),
        Some(0)
    );

    // A server-side fault, listed, then removed one by one: removal undoes it.
    let out = lyncsim(&["fault", "--service", &admin, "rotate-ca"]);
    assert!(
        stdout(&out).starts_with("fault 1: the Communications Server CA was replaced"),
        "{}",
        stderr(&out)
    );
    assert!(stdout(&lyncsim(&["fault", "--service", &admin, "list"])).contains("  1  "));
    assert_eq!(signin(&[]).status.code(), Some(1));
    assert!(
        lyncsim(&["fault", "--service", &admin, "remove", "1"])
            .status
            .success()
    );
    assert_eq!(
        stdout(&lyncsim(&["fault", "--service", &admin, "list"])),
        "no faults in force\n"
    );
    assert_eq!(
        signin(&[]).status.code(),
        Some(0),
        "the old CA is back, and with it the certificate"
    );

    // A client-side cause and its remedy.
    let out = lyncsim(&[
        "break",
        "--profile",
        p,
        "clock-skew",
        "--clock-offset",
        "-432",
    ]);
    assert_eq!(
        stdout(&out),
        "clock-skew: the machine's clock is now -7m12s off\n",
        "{}",
        stderr(&out)
    );
    let out = signin(&["--json"]);
    assert!(stdout(&out).contains("skew -7m12s"), "{}", stdout(&out));
    assert!(
        lyncsim(&["fix", "--profile", p, "sync-time"])
            .status
            .success()
    );
    assert_eq!(signin(&[]).status.code(), Some(0));

    // Refusals say why, and exit 2.
    let out = lyncsim(&["fix", "--profile", p, "delete-signin-info"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("Lync 2010 does not offer it"),
        "{}",
        stderr(&out)
    );
    let out = lyncsim(&["break", "--profile", p, "dns-stale"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("lyncsim fault change-dns"),
        "{}",
        stderr(&out)
    );
    let out = lyncsim(&["break", "--profile", p, "no-such-cause"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("outdated-client"), "{}", stderr(&out));
    for bad in [
        vec![
            "fault",
            "--service",
            &admin,
            "move-user",
            "--user",
            "zed@contoso.com",
        ],
        vec![
            "fault",
            "--service",
            &admin,
            "change-dns",
            "--host",
            "www.example.com",
        ],
        vec!["fault", "--service", &admin, "remove", "99"],
        vec!["fault", "--service", &admin, "outage", "--mode", "sideways"],
    ] {
        let out = lyncsim(&bad);
        assert_eq!(out.status.code(), Some(2), "{bad:?}");
        assert!(!stderr(&out).is_empty());
    }
}

/// `lyncsim serve` with a token (here from LYNCSIM_ADMIN_TOKEN, as the README advises): the
/// admin API answers only a request that presents it; lyncsim's own commands send the
/// variable; a token too short to be a password stops serve before it starts.
#[test]
fn with_a_token_the_admin_api_answers_only_those_who_present_it() {
    let dir = tempfile::tempdir().unwrap();
    let token = "a-long-random-token-0123456789";
    let serve = Serve::start_with(
        &dir.path().join("state"),
        &dir.path().join("ready.json"),
        &[("LYNCSIM_ADMIN_TOKEN", token)],
    );
    let url = serve.info.admin_url.clone();
    let curl = |auth: Option<&str>| {
        let mut cmd = std::process::Command::new("curl");
        cmd.args(["-sS", "-i", "--max-time", "10"]);
        if let Some(a) = auth {
            cmd.args(["-H", &format!("authorization: {a}")]);
        }
        let out = cmd
            .arg(format!("{url}/journal"))
            .output()
            .expect("curl is installed (.ci/run installs it)");
        stdout(&out)
    };
    for refused in [None, Some("Bearer not-the-token"), Some(token)] {
        let answer = curl(refused);
        assert!(answer.starts_with("HTTP/1.1 401"), "{refused:?}: {answer}");
        assert!(
            answer
                .to_ascii_lowercase()
                .contains("www-authenticate: bearer"),
            "{answer}"
        );
    }
    let answer = curl(Some(&format!("Bearer {token}")));
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");

    let list = |env: &[(&str, &str)]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_lyncsim"))
            .args(["fault", "list", "--service", &url])
            .env_remove("LYNCSIM_ADMIN_TOKEN")
            .envs(env.iter().copied())
            .output()
            .expect("lyncsim runs")
    };
    let out = list(&[("LYNCSIM_ADMIN_TOKEN", token)]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = list(&[]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("LYNCSIM_ADMIN_TOKEN"),
        "{}",
        stderr(&out)
    );
    serve.stop();

    let out = lyncsim(&["serve", "--admin-token", "short"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("at least 16 printable characters"),
        "{}",
        stderr(&out)
    );
}
