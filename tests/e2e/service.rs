//! The service against hostile or odd input, spoken to with curl (an independent HTTP and TLS
//! implementation): it answers with a 4xx problem document and keeps serving.

use std::process::Command;

use lyncsim_domain::{Os, Product};
use serde_json::Value;

use crate::support::{World, sign_in};

/// curl against the admin API.
struct Curl<'a> {
    world: &'a World,
}

impl Curl<'_> {
    fn new(world: &World) -> Curl<'_> {
        Curl { world }
    }

    fn admin(&self, method: &str, path: &str, body: &str) -> (u16, Value) {
        let mut cmd = Command::new("curl");
        cmd.args([
            "-sS",
            "--max-time",
            "10",
            "-X",
            method,
            "-H",
            "content-type: application/json",
            "--data-binary",
            body,
            "-w",
            "\n%{http_code}",
        ])
        .arg(format!("{}{path}", self.world.admin_url()));
        run(&mut cmd)
    }
}

/// Runs curl with `-w '\n%{http_code}'`: the status (0 when no HTTP answer came) and the body.
fn run(cmd: &mut Command) -> (u16, Value) {
    let out = cmd
        .output()
        .expect("curl is installed (.ci/run installs it)");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, status) = text.rsplit_once('\n').unwrap_or(("", &text));
    (
        status.trim().parse().unwrap_or(0),
        serde_json::from_str(body).unwrap_or(Value::Null),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gets_a_problem_or_a_fault_and_the_service_keeps_serving() {
    let world = World::start().await;
    let by_hand = crate::protocol::Curl::new(&world);
    let gapc = "/CertProv/CertProvisioningService.svc/WebTicket_Proof_SHA1";
    // Bad input of every kind: the protocol's endpoints answer with their SOAP fault (500),
    // the others with a 4xx problem document.
    for (host, path, body, expected) in [
        ("pool-a.online.lync.com", gapc, "{not xml", 500),
        ("pool-a.online.lync.com", gapc, "<a/>", 500),
        (
            "pool-a.online.lync.com",
            "/WebTicket/WebTicketService.svc/WsFedBearer",
            "<a/>",
            500,
        ),
        (
            "login.microsoftonline.com",
            "/RST2.srf",
            r#"{"user":1}"#,
            200,
        ),
        ("login.microsoftonline.com", "/nowhere", "{}", 404),
    ] {
        // As curl sends a body when told nothing else: labelled a form.
        let (status, text) = by_hand.post(host, path, "application/x-www-form-urlencoded", body);
        assert_eq!(status, expected, "{host}{path} {body}: {text}");
        if path == "/RST2.srf" {
            // RST2.srf refused with HTTP 200, as Passport did.
            assert!(
                text.contains("Fault>") && text.contains("psf:serverInfo"),
                "{host}{path}: not Passport's fault: {text}"
            );
        } else if expected == 500 {
            assert!(
                text.contains("Fault>"),
                "{host}{path}: not a SOAP fault: {text}"
            );
        } else {
            let problem: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
            assert!(
                problem["detail"].is_string(),
                "{host}{path}: not a problem document: {text}"
            );
        }
    }

    // Still serving: a real client signs in.
    let profile = world.profile("after", Product::Lync2013, Os::Win7);
    assert!(sign_in(&profile, "alice@contoso.com").await.is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_api_adds_users_and_sets_the_clock() {
    let world = World::start().await;
    let curl = Curl::new(&world);
    let (status, created) = curl.admin(
        "POST",
        "/users",
        r#"{"address":"dave@contoso.com","password":"Passw0rd!dave","home_pool":"pool-b"}"#,
    );
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["home_pool"], "pool-b.online.lync.com");
    for (body, expected) in [
        (r#"{"address":"dave@contoso.com","password":"x"}"#, 409),
        (r#"{"address":"eve@fabrikam.com","password":"x"}"#, 400),
        (
            r#"{"address":"eve@contoso.com","password":"x","home_pool":"pool-z"}"#,
            400,
        ),
        ("[]", 400),
    ] {
        assert_eq!(curl.admin("POST", "/users", body).0, expected, "{body}");
    }
    let profile = world.profile("dave", Product::Lync2013, Os::Win8);
    let req = lyncsim_client::SignInRequest {
        user: "dave@contoso.com".into(),
        password: Some("Passw0rd!dave".into()),
        save_password: false,
    };
    let done = lyncsim_client::sign_in(&profile, &req)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(done.pool, "pool-b.online.lync.com");

    assert_eq!(
        curl.admin("PUT", "/clock", r#"{"tolerance_secs":-1}"#).0,
        400
    );
    let (status, clock) = curl.admin("PUT", "/clock", r#"{"offset_secs":600}"#);
    assert_eq!(status, 200);
    assert_eq!(clock["offset_secs"], 600);
    // The service's clock is now ten minutes ahead of the machine's: the STS says so.
    let failure = lyncsim_client::sign_in(&profile, &req)
        .await
        .unwrap()
        .unwrap_err();
    assert!(
        failure.explained().contains("skew -10m00s"),
        "{}",
        failure.explained()
    );
    let time: Value =
        serde_json::from_slice(&crate::support::admin_get(world.admin_url(), "/time").await)
            .unwrap();
    let system = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    assert!(
        (time["unix"].as_i64().unwrap() - system - 600).abs() <= 2,
        "{time}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dig_finds_every_record_over_udp_and_tcp() {
    let world = World::start().await;
    let dns = world.info().dns_addr;
    assert_eq!(dns.ip().to_string(), "127.0.0.1");
    let port = dns.port().to_string();
    let dig = |args: &[&str]| {
        let out = Command::new("dig")
            .args([
                "@127.0.0.1",
                "-p",
                &port,
                "+noall",
                "+answer",
                "+time=2",
                "+tries=1",
            ])
            .args(args)
            .output()
            .expect("dig is installed (.ci/run installs dnsutils)");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    // As a resolver answers: the CNAME and the A record of its target, in one answer, over
    // UDP and TCP; a change of the target's address shows through the CNAME at once.
    let webdir = world.info().hosts["webdir.online.lync.com"];
    for transport in ["+notcp", "+tcp"] {
        let answer = dig(&[transport, "lyncdiscover.contoso.com"]);
        assert!(
            answer.contains("lyncdiscover.contoso.com. 3600 IN CNAME webdir.online.lync.com.")
                || answer.contains("CNAME\twebdir.online.lync.com."),
            "{answer}"
        );
        assert!(
            answer.contains(&format!("webdir.online.lync.com. 3600 IN A {webdir}"))
                || answer.contains(&format!("webdir.online.lync.com.\t3600\tIN\tA\t{webdir}")),
            "{transport}: {answer}"
        );
    }
    let answer = dig(&["sip.contoso.com"]);
    let sipdir = world.info().hosts["sipdir.online.lync.com"];
    assert!(
        answer.contains(&format!("sipdir.online.lync.com.\t3600\tIN\tA\t{sipdir}")),
        "{answer}"
    );
    // A question for the CNAME itself gets just the CNAME.
    let answer = dig(&["lyncdiscover.contoso.com", "CNAME"]);
    assert!(!answer.contains("\tA\t"), "{answer}");
    let answer = dig(&["+tcp", "_sip._tls.contoso.com", "SRV"]);
    assert!(
        answer.contains(&format!(
            "SRV\t100 1 {} sipdir.online.lync.com.",
            world.info().https_port
        )),
        "{answer}"
    );
    let answer = dig(&["sip.contoso.com"]);
    assert!(
        answer.contains("CNAME\tsipdir.online.lync.com."),
        "{answer}"
    );
    let answer = dig(&["_sipfederationtls._tcp.contoso.com", "SRV"]);
    assert!(
        answer.contains("SRV\t100 1 5061 sipfed.online.lync.com."),
        "{answer}"
    );
    for (host, ip) in &world.info().hosts {
        if host.starts_with("lyncdiscover") {
            continue;
        }
        let answer = dig(&[host.as_str()]);
        assert!(
            answer.contains(&format!("3600\tIN\tA\t{ip}")),
            "{host}: {answer}"
        );
    }
}
