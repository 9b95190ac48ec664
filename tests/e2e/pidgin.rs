//! A real client: pidgin-sipe (Debian's `pidgin-sipe`, unmodified) signs in to `lyncsim serve`,
//! fails and recovers, inside a private network, mount and PID namespace where the service
//! listens where pidgin-sipe looks (443, 80 and 53 on loopback) and `/etc/ssl/certs` holds
//! lyncsim's root. `tests/pidgin/sipe-host.c` is the headless libpurple host;
//! `tests/pidgin/sax1-shim.c` works around Debian 12's libxml2, which drops sipe's SAX1
//! callbacks; `tests/pidgin/in-namespace.sh` runs the steps. Needs root (for the namespace),
//! a C compiler, and the packages pidgin-sipe and libpurple-dev, which `.ci/run` installs.

use std::path::{Path, PathBuf};
use std::process::Command;

use lyncsim_wire::admin::JournalEntry;

const SIPE_PLUGIN: &str = "/usr/lib/purple-2/libsipe.so";

fn pidgin_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/pidgin")
}

/// Compiles the host program and the shim into `work`.
fn build(work: &Path) -> (PathBuf, PathBuf) {
    assert!(
        Path::new(SIPE_PLUGIN).exists(),
        "pidgin-sipe is needed ({SIPE_PLUGIN} is missing): apt-get install pidgin-sipe libpurple-dev (.ci/run does)"
    );
    let flags = |packages: &[&str]| -> Vec<String> {
        let out = Command::new("pkg-config")
            .args(["--cflags", "--libs"])
            .args(packages)
            .output()
            .expect("pkg-config is needed (apt-get install pkg-config)");
        assert!(
            out.status.success(),
            "pkg-config does not know {packages:?}: apt-get install libpurple-dev (.ci/run does): {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout)
            .split_whitespace()
            .map(str::to_owned)
            .collect()
    };
    let compile = |source: &str, output: &Path, extra: &[&str], packages: &[&str]| {
        let out = Command::new("cc")
            .arg("-Wall")
            .args(extra)
            .arg("-o")
            .arg(output)
            .arg(pidgin_dir().join(source))
            .args(flags(packages))
            .output()
            .expect("a C compiler (cc) is needed");
        assert!(
            out.status.success(),
            "cc {source}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let host = work.join("sipe-host");
    let shim = work.join("sax1-shim.so");
    compile("sipe-host.c", &host, &[], &["purple", "glib-2.0"]);
    compile("sax1-shim.c", &shim, &["-shared", "-fPIC"], &["libxml-2.0"]);
    (host, shim)
}

/// What a run gave: each step's line, the questions libpurple asked (step number and
/// text), and the service's journal.
struct Run {
    steps: Vec<String>,
    prompts: Vec<(usize, String)>,
    journal: Vec<JournalEntry>,
}

/// Runs `steps` (see `in-namespace.sh`) against a fresh service in a fresh namespace.
fn run(steps: &[String]) -> Run {
    let work = tempfile::tempdir().unwrap();
    let (host, shim) = build(work.path());
    let steps_file = work.path().join("steps");
    std::fs::write(&steps_file, steps.join("\n") + "\n").unwrap();
    let out = Command::new("unshare")
        .args(["--mount", "--net", "--pid", "--fork", "--kill-child"])
        .arg(pidgin_dir().join("in-namespace.sh"))
        .arg(work.path())
        .arg(env!("CARGO_BIN_EXE_lyncsim"))
        .arg(&host)
        .arg(&shim)
        .arg(&steps_file)
        .output()
        .expect("unshare (util-linux) is needed");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "the namespace run failed ({}): {stderr}{stdout}{}",
        out.status,
        if stderr.contains("unshare failed") || stderr.contains("Operation not permitted") {
            "\nthe pidgin-sipe tests need root for a private network namespace (CI runs as root)"
        } else {
            ""
        }
    );
    let mut run = Run {
        steps: Vec::new(),
        prompts: Vec::new(),
        journal: Vec::new(),
    };
    for line in stdout.lines() {
        if let Some(journal) = line.strip_prefix("journal: ") {
            run.journal = serde_json::from_str(journal).unwrap();
        } else if let Some((n, text)) = line
            .strip_prefix("prompt ")
            .and_then(|rest| rest.split_once(": "))
        {
            run.prompts.push((n.parse().unwrap(), text.to_owned()));
        } else if let Some((_, rest)) = line.split_once(": ").filter(|_| line.starts_with("step "))
        {
            run.steps.push(rest.to_owned());
        }
    }
    assert_eq!(run.steps.len(), steps.len(), "{stdout}");
    run
}

fn fault(json: &str) -> String {
    format!("fault {json}")
}

#[test]
fn pidgin_sipe_signs_in_fails_and_recovers_as_the_kb_says() {
    let alice = "signin alice@contoso.com Passw0rd!alice".to_owned();
    let bob = "signin bob@contoso.com Passw0rd!bob".to_owned();
    let steps = vec![
        alice.clone(),
        // A damaged directory account: the certificate request is refused; another user of
        // the same machine signs in (the KB's second-account check).
        fault(r#"{"kind":"corrupt-account","user":"alice@contoso.com"}"#),
        alice.clone(),
        bob.clone(),
        "clear".to_owned(),
        // An outage of the home pool, then the storm after it.
        fault(r#"{"kind":"outage","hosts":["pool-a.online.lync.com"],"mode":"503"}"#),
        bob.clone(),
        "clear".to_owned(),
        bob.clone(),
        // The user moved: Autodiscover names the new pool and the client registers there.
        fault(r#"{"kind":"move-user","user":"alice@contoso.com","to":"pool-b"}"#),
        alice.clone(),
        // The CA rotates while bob is signed in: his next registration is refused and so is
        // the certificate he then authenticates with; reconnected, he gets one from the new
        // CA and signs in.
        format!(
            "live bob@contoso.com Passw0rd!bob {}",
            r#"{"kind":"rotate-ca"}"#
        ),
        bob.clone(),
        // A client below the minimum build.
        fault(r#"{"kind":"min-client-build","product":"lync2013","build":"15.0.4569.1503"}"#),
        format!("{bob} UCCAPI/15.0.4420.1017 OC/15.0.4420.1017 (Microsoft Lync)"),
        // The password changed at the service; the client still has the old one.
        fault(r#"{"kind":"change-password","user":"carol@contoso.com","password":"N3w!carol"}"#),
        "signin carol@contoso.com Passw0rd!carol".to_owned(),
        "signin carol@contoso.com N3w!carol".to_owned(),
        // Told to use the director, it is redirected (301) to the home pool and registers
        // there.
        "signin-at sipdir.online.lync.com:443 carol@contoso.com N3w!carol".to_owned(),
        // Autodiscover is down: pidgin-sipe goes on by SRV _sip._tls to the director, whose
        // 301 sends it to the home pool.
        fault(r#"{"kind":"outage","hosts":["webdir.online.lync.com"],"mode":"503"}"#),
        bob.clone(),
        "clear".to_owned(),
    ];
    let run = run(&steps);
    let s = &run.steps;
    assert_eq!(s[0], "signed-on");
    assert!(
        s[2].starts_with("connection-error: Certificate request to"),
        "{}",
        s[2]
    );
    assert_eq!(s[3], "signed-on", "the second account signs in");
    assert_eq!(
        s[6],
        "connection-error: Service unavailable: The service is temporarily unavailable."
    );
    assert_eq!(s[8], "signed-on", "signs in when the outage ends");
    assert_eq!(s[10], "signed-on");
    assert_eq!(
        s[11],
        "signed-on|connection-error: Failed to authenticate to server"
    );
    assert_eq!(s[12], "signed-on", "signs in again once reconnected");
    // The registrar's 403 with [MS-SIPREGE] 3.4.2.5.6's Warning, whose text pidgin-sipe
    // shows.
    assert_eq!(
        s[14],
        "connection-error: You have been rejected by the server: Check Microsoft Update for the newest version."
    );

    // The STS refuses with HTTP 200 and Passport's fault, so pidgin-sipe shows Passport's
    // own words under its "Web ticket request … failed" (sipe-webticket.c reads
    // Body/Fault/Detail/error/internalerror/text).
    assert!(
        s[16].starts_with("connection-error: Web ticket request to")
            && s[16].ends_with("failed\\n(The entered and stored passwords do not match.)"),
        "the old password fails at the STS: {}",
        s[16]
    );
    assert_eq!(s[17], "signed-on", "the new password signs in");
    assert_eq!(s[18], "signed-on", "through the director");
    assert_eq!(s[20], "signed-on", "by SRV, with Autodiscover down");
    let registered: Vec<(String, String)> = run
        .journal
        .iter()
        .filter(|e| e.endpoint == "register" && e.reason.starts_with("registered"))
        .map(|e| (e.user.clone().unwrap_or_default(), e.host.clone()))
        .collect();
    assert!(
        registered.contains(&("alice@contoso.com".into(), "pool-b.online.lync.com".into())),
        "after move-user alice registers on pool-b: {registered:?}"
    );
    // Autodiscover's real path: lyncdiscover.contoso.com over HTTPS shows webdir's
    // certificate, which does not name it (libpurple asks the user, who does not answer);
    // over plain HTTP the root redirects to webdir's HTTPS root, and pidgin-sipe signs in
    // through that.
    assert!(
        run.prompts.iter().any(|(n, text)| *n == 1
            && text.contains("lyncdiscover.contoso.com")
            && text.contains("claims to be from \"webdir.online.lync.com\"")),
        "{:?}",
        run.prompts
    );
    assert!(run.journal.iter().any(|e| {
        e.host == "webdir.online.lync.com"
            && e.user.as_deref() == Some("alice@contoso.com")
            && e.reason
                .starts_with("plain HTTP: Redirect to https://webdir.online.lync.com/")
    }));
    // pidgin-sipe answered Autodiscover's 401 as the real service asked: a web ticket from
    // webdir's web ticket service, then the User resource with it.
    assert!(
        run.journal
            .iter()
            .any(|e| e.host == "webdir.online.lync.com" && e.endpoint == "WebTicket"),
        "webdir issued pidgin-sipe a web ticket for Autodiscover"
    );
    let redirected = run.journal.iter().any(|e| {
        e.host == "sipdir.online.lync.com"
            && e.reason == "redirected to the home pool pool-b.online.lync.com"
    });
    assert!(redirected, "the director redirected carol to pool-b");
    let by_srv = run.journal.iter().any(|e| {
        e.host == "sipdir.online.lync.com"
            && e.user.as_deref() == Some("bob@contoso.com")
            && e.reason == "redirected to the home pool pool-a.online.lync.com"
    });
    assert!(
        by_srv,
        "with Autodiscover down, bob came by SRV to the director"
    );
}
