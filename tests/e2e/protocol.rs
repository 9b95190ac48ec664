//! The real protocol spoken by an independent client: curl sends the SOAP envelopes written out
//! by hand in `tests/data/soap` (from pidgin-sipe's templates, not from lyncsim's code), the
//! openssl command line computes the proof key, the digest and the HMAC, and `openssl verify`
//! judges the certificate that comes back. The STS refuses a timestamp 5 min 01 s off and takes
//! one 4 min 59 s off; GetAndPublishCert refuses a wrong HMAC over SignedInfo.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use lyncsim_pki::{PersonalKey, make_csr};
use lyncsim_wire::FromXml;
use lyncsim_wire::pool::CertErrorInfo;
use lyncsim_wire::sts::{StsFault, idcrl};

use crate::support::{World, admin_get, password};

fn template(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/data/soap")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn fill(text: &str, fields: &[(&str, &str)]) -> String {
    let mut out = text.to_owned();
    for (name, value) in fields {
        out = out.replace(&format!("{{{{{name}}}}}"), value);
    }
    assert!(!out.contains("{{"), "a field is left: {out}");
    out
}

/// curl against the service's hosts, resolved to their loopback addresses.
pub(crate) struct Curl<'a> {
    world: &'a World,
    root: PathBuf,
}

impl Curl<'_> {
    pub(crate) fn new(world: &World) -> Curl<'_> {
        let root = world.dir().join("protocol-root.pem");
        std::fs::write(&root, world.root_pem()).unwrap();
        Curl { world, root }
    }

    fn url(&self, host: &str, path: &str) -> (String, String) {
        let info = self.world.info();
        let port = info.https_port;
        (
            format!("{host}:{port}:{}", info.hosts[host]),
            format!("https://{host}:{port}{path}"),
        )
    }

    /// A request; the status (0 when no HTTP answer came) and the body.
    fn send(&self, host: &str, path: &str, post: Option<(&str, &str)>) -> (u16, String) {
        self.send_with(host, path, post, &[], false)
    }

    /// A GET with these request headers; with `include`, the answer's head comes before its
    /// body (curl's `-i`).
    pub(crate) fn get_with(
        &self,
        host: &str,
        path: &str,
        headers: &[String],
        include: bool,
    ) -> (u16, String) {
        self.send_with(host, path, None, headers, include)
    }

    fn send_with(
        &self,
        host: &str,
        path: &str,
        post: Option<(&str, &str)>,
        headers: &[String],
        include: bool,
    ) -> (u16, String) {
        let (resolve, url) = self.url(host, path);
        let mut cmd = Command::new("curl");
        cmd.args(["-sS", "--max-time", "10", "--cacert"])
            .arg(&self.root)
            .args(["--resolve", &resolve, "-w", "\n%{http_code}"]);
        if include {
            cmd.arg("-i");
        }
        for header in headers {
            cmd.args(["-H", header]);
        }
        if let Some((media, body)) = post {
            cmd.args([
                "-H",
                &format!("content-type: {media}"),
                "--data-binary",
                body,
            ]);
        }
        let out = cmd
            .arg(url)
            .output()
            .expect("curl is installed (.ci/run installs it)");
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let (body, status) = text.rsplit_once('\n').unwrap_or(("", &text));
        (status.trim().parse().unwrap_or(0), body.to_owned())
    }

    pub(crate) fn get(&self, host: &str, path: &str) -> (u16, String) {
        self.send(host, path, None)
    }

    pub(crate) fn post(&self, host: &str, path: &str, media: &str, body: &str) -> (u16, String) {
        self.send(host, path, Some((media, body)))
    }
}

/// openssl with `input` on its standard input; its standard output.
fn openssl(args: &[&str], input: &[u8]) -> Vec<u8> {
    let mut child = Command::new("openssl")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("openssl is installed (.ci/run installs it)");
    child.stdin.take().unwrap().write_all(input).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

fn sha1(data: &[u8]) -> Vec<u8> {
    openssl(&["dgst", "-sha1", "-binary"], data)
}

fn hmac_sha1(key: &[u8], data: &[u8]) -> Vec<u8> {
    let key = format!("hexkey:{}", hex::encode(key));
    openssl(
        &["dgst", "-sha1", "-mac", "HMAC", "-macopt", &key, "-binary"],
        data,
    )
}

/// WS-Trust's P_SHA1(client entropy, server entropy): the TLS PRF with SHA-1 and no label.
fn p_sha1(secret: &[u8], seed: &[u8]) -> Vec<u8> {
    let secret = format!("hexsecret:{}", hex::encode(secret));
    let seed = format!("hexseed:{}", hex::encode(seed));
    let out = openssl(
        &[
            "kdf",
            "-keylen",
            "32",
            "-kdfopt",
            "digest:SHA1",
            "-kdfopt",
            &secret,
            "-kdfopt",
            &seed,
            "TLS1-PRF",
        ],
        b"",
    );
    hex::decode(String::from_utf8(out).unwrap().trim().replace(':', "")).unwrap()
}

fn time(unix_ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(unix_ms)
        .unwrap()
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// The raw text of the first element named `local` in `xml`, as pidgin-sipe copies it, and the
/// raw text of its content.
fn raw<'a>(xml: &'a str, local: &str) -> (&'a str, &'a str) {
    let doc = roxmltree::Document::parse(xml).unwrap_or_else(|e| panic!("{e}: {xml}"));
    let node = doc
        .descendants()
        .find(|n| n.is_element() && n.tag_name().name() == local)
        .unwrap_or_else(|| panic!("no {local} in {xml}"));
    let whole = node.range();
    let inner = match (node.first_child(), node.last_child()) {
        (Some(first), Some(last)) => first.range().start..last.range().end,
        _ => whole.end..whole.end,
    };
    (&xml[whole], &xml[inner])
}

fn text_of(xml: &str, local: &str) -> String {
    let doc = roxmltree::Document::parse(xml).unwrap();
    doc.descendants()
        .find(|n| n.is_element() && n.tag_name().name() == local)
        .and_then(|n| n.text())
        .unwrap_or_default()
        .trim()
        .to_owned()
}

const SOAP12: &str = "application/soap+xml; charset=utf-8";
const SOAP11: &str = "text/xml; charset=utf-8";

/// RST2.srf with `user`'s password and a timestamp `offset_ms` off the real clock.
pub(crate) fn rst2(curl: &Curl<'_>, user: &str, offset_ms: i64) -> (u16, String) {
    let created = now_ms() + offset_ms;
    let body = fill(
        &template("rst2.xml"),
        &[
            ("USER", user),
            ("PASSWORD", &password(user)),
            ("CREATED", &time(created)),
            ("EXPIRES", &time(created + 300_000)),
        ],
    );
    curl.post("login.microsoftonline.com", "/RST2.srf", SOAP12, &body)
}

/// What a sign-in by hand got as far as GetAndPublishCert.
pub(crate) struct Ticket {
    pub(crate) pool: String,
    lifetime: String,
    assertion: String,
    assertion_id: String,
    proof_key: Vec<u8>,
}

/// A token from RST2.srf, then a web ticket from `user`'s home pool.
pub(crate) fn web_ticket(curl: &Curl<'_>, user: &str, pool: &str) -> Ticket {
    let host = format!("{pool}.online.lync.com");
    // The ticket is for the pool's certificate provisioning: the address of its port, which
    // sipe takes from the `mex` (`service_metadata`, sipe-webticket.c).
    let (_, applies_to) = curl.url(
        &host,
        "/CertProv/CertProvisioningService.svc/WebTicket_Proof_SHA1",
    );
    web_ticket_at(curl, user, &host, &applies_to)
}

/// A token from RST2.srf, then a web ticket from the web ticket service on `host`, for the
/// service at `applies_to`.
pub(crate) fn web_ticket_at(curl: &Curl<'_>, user: &str, host: &str, applies_to: &str) -> Ticket {
    let (status, answer) = rst2(curl, user, 0);
    assert_eq!(status, 200, "{answer}");
    let (_, lifetime) = raw(&answer, "Lifetime");
    let (encrypted, _) = raw(&answer, "EncryptedData");
    let entropy: [u8; 32] = rand::random();
    let host = host.to_owned();
    let to = format!("https://{host}/WebTicket/WebTicketService.svc/WsFedBearer");
    let body = fill(
        &template("webticket.xml"),
        &[
            ("TO", &to),
            ("APPLIES_TO", applies_to),
            ("LIFETIME", lifetime),
            ("ENCRYPTED_DATA", encrypted),
            ("USER", user),
            ("ENTROPY", &B64.encode(entropy)),
        ],
    );
    let (status, answer) = curl.post(
        &host,
        "/WebTicket/WebTicketService.svc/WsFedBearer",
        SOAP11,
        &body,
    );
    assert_eq!(status, 200, "{answer}");
    let (assertion, _) = raw(&answer, "Assertion");
    let (_, lifetime) = raw(&answer, "Lifetime");
    let doc = roxmltree::Document::parse(assertion).unwrap();
    let assertion_id = doc
        .root_element()
        .attribute("AssertionID")
        .unwrap()
        .to_owned();
    let server_entropy = B64.decode(text_of(&answer, "BinarySecret")).unwrap();
    Ticket {
        pool: host,
        lifetime: lifetime.to_owned(),
        assertion: assertion.to_owned(),
        assertion_id,
        proof_key: p_sha1(&entropy, &server_entropy),
    }
}

/// GetAndPublishCert with `csr`, signed with `key` (the ticket's proof key, or another).
pub(crate) fn get_and_publish_cert(
    curl: &Curl<'_>,
    user: &str,
    ticket: &Ticket,
    key: &[u8],
    csr: &[u8],
) -> (u16, String) {
    let timestamp = format!(
        "<wsu:Timestamp xmlns:wsu=\"http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd\" wsu:Id=\"timestamp\">{}</wsu:Timestamp>",
        ticket.lifetime
    );
    let signed_info = fill(
        &template("signedinfo.xml"),
        &[("DIGEST", &B64.encode(sha1(timestamp.as_bytes())))],
    );
    let signature = B64.encode(hmac_sha1(key, signed_info.as_bytes()));
    let path = "/CertProv/CertProvisioningService.svc/WebTicket_Proof_SHA1";
    let body = fill(
        &template("getandpublishcert.xml"),
        &[
            ("TO", &format!("https://{}{path}", ticket.pool)),
            ("TIMESTAMP", &timestamp),
            ("ASSERTION", &ticket.assertion),
            ("SIGNED_INFO", &signed_info),
            ("SIGNATURE", &signature),
            ("ASSERTION_ID", &ticket.assertion_id),
            ("USER", user),
            ("CSR", &B64.encode(csr)),
        ],
    );
    curl.post(&ticket.pool, path, SOAP11, &body)
}

/// A personal certificate for `user` by hand, and its key: the whole HTTP side of a sign-in.
pub(crate) fn provision(curl: &Curl<'_>, user: &str, pool: &str) -> (Vec<u8>, PersonalKey) {
    let ticket = web_ticket(curl, user, pool);
    let key = PersonalKey::generate().unwrap();
    let csr = make_csr(&key, user).unwrap();
    let (status, answer) = get_and_publish_cert(curl, user, &ticket, &ticket.proof_key, &csr);
    assert_eq!(status, 200, "{answer}");
    let der = B64
        .decode(text_of(&answer, "BinarySecurityToken").replace(['\r', '\n'], ""))
        .unwrap();
    (der, key)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn curl_gets_a_token_a_web_ticket_and_a_certificate_that_openssl_verifies() {
    let world = World::start().await;
    let curl = Curl::new(&world);
    let user = "alice@contoso.com";

    // Autodiscover names the home pool, in its media type.
    // Over HTTPS the root links to the User and the Domain resources ([MS-OCDISCWS] 3.1.5.2).
    let (status, root) = curl.get("webdir.online.lync.com", &format!("/?sipuri=sip:{user}"));
    assert_eq!(status, 200, "{root}");
    assert!(
        root.contains("<Link token=\"User\"") && root.contains("<Link token=\"Domain\""),
        "{root}"
    );
    assert!(!root.contains("Redirect"), "{root}");
    let (status, domain) = curl.get(
        "webdir.online.lync.com",
        &format!("/autodiscover/autodiscoverservice.svc/root/domain?sipuri=sip:{user}"),
    );
    assert_eq!(status, 200, "{domain}");
    assert!(
        domain.contains("<Domain><SipClientInternalAccess fqdn=\"sipdir.online.lync.com\""),
        "{domain}"
    );

    // The User resource asks for a web ticket first, naming webdir's web ticket service
    // ([MS-OCDISCWS] 3.1.5.3), and answers with one for itself.
    let user_path = format!("/autodiscover/autodiscoverservice.svc/root/user?sipuri=sip:{user}");
    let (status, challenge) = curl.get_with("webdir.online.lync.com", &user_path, &[], true);
    assert_eq!(status, 401, "{challenge}");
    let (_, service) = curl.url("webdir.online.lync.com", "/WebTicket/WebTicketService.svc");
    assert!(
        challenge.to_ascii_lowercase().contains(&format!(
            "x-ms-webticketurl: {}",
            service.to_ascii_lowercase()
        )),
        "{challenge}"
    );
    let (_, user_url) = curl.url("webdir.online.lync.com", &user_path);
    let ticket = web_ticket_at(&curl, user, "webdir.online.lync.com", &user_url);
    let header = format!(
        "X-MS-WebTicket: opaque={}",
        B64.encode(ticket.assertion.as_bytes())
    );
    let (status, found) = curl.get_with("webdir.online.lync.com", &user_path, &[header], false);
    assert_eq!(status, 200, "{found}");
    // A pool's ticket is not Autodiscover's.
    let pool_ticket = web_ticket(&curl, user, "pool-a");
    let wrong = format!(
        "X-MS-WebTicket: opaque={}",
        B64.encode(pool_ticket.assertion.as_bytes())
    );
    let (status, _) = curl.get_with("webdir.online.lync.com", &user_path, &[wrong], false);
    assert_eq!(status, 401);
    assert!(
        found.contains("<SipClientExternalAccess fqdn=\"pool-a.online.lync.com\""),
        "{found}"
    );
    // Over plain HTTP the root answers a single Redirect to webdir's HTTPS root (3.1.5.2).
    // And in JSON for a client that asks for JSON.
    let info = world.info();
    let plain = Command::new("curl")
        .args(["-sS", "--max-time", "10", "-i", "--resolve"])
        .arg(format!(
            "lyncdiscover.contoso.com:{}:{}",
            info.http_port, info.hosts["lyncdiscover.contoso.com"]
        ))
        .arg(format!(
            "http://lyncdiscover.contoso.com:{}/?sipuri=sip:{user}",
            info.http_port
        ))
        .output()
        .expect("curl is installed");
    let plain = String::from_utf8_lossy(&plain.stdout);
    assert!(plain.starts_with("HTTP/1.1 200"), "{plain}");
    assert!(
        plain.contains("content-type: application/vnd.microsoft.rtc.autodiscover+xml;v=1"),
        "{plain}"
    );
    assert!(
        plain.contains(&format!(
            "<Root><Link token=\"Redirect\" href=\"https://webdir.online.lync.com:{}/autodiscover/autodiscoverservice.svc/root?sipuri=sip:alice@contoso.com\"/></Root>",
            info.https_port
        )),
        "{plain}"
    );
    let (status, json) = curl.get_with(
        "webdir.online.lync.com",
        &user_path,
        &[
            "Accept: application/vnd.microsoft.rtc.autodiscover+json;v=1".to_owned(),
            format!(
                "X-MS-WebTicket: opaque={}",
                B64.encode(ticket.assertion.as_bytes())
            ),
        ],
        false,
    );
    assert_eq!(status, 200, "{json}");
    let json: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(
        json["SipClientExternalAccess"]["fqdn"], "pool-a.online.lync.com",
        "{json}"
    );

    let (status, realm) = curl.get(
        "login.microsoftonline.com",
        &format!("/getuserrealm.srf?login={user}&xml=1"),
    );
    assert_eq!(status, 200, "{realm}");
    assert_eq!(text_of(&realm, "NameSpaceType"), "Managed");
    for (host, path, port) in [
        (
            "pool-a.online.lync.com",
            "/CertProv/CertProvisioningService.svc/mex",
            "CertProvisioningServiceWebTicketProof_SHA1",
        ),
        (
            "pool-a.online.lync.com",
            "/WebTicket/WebTicketService.svc/mex",
            "WsFedBearer",
        ),
    ] {
        let (status, mex) = curl.get(host, path);
        assert_eq!(status, 200, "{mex}");
        assert!(mex.contains(&format!("name=\"{port}\"")), "{mex}");
    }

    let (der, _key) = provision(&curl, user, "pool-a");
    let dir = tempfile::tempdir().unwrap();
    let (ca, cert) = (dir.path().join("ca.pem"), dir.path().join("cert.pem"));
    std::fs::write(
        &ca,
        admin_get(world.admin_url(), "/ca/communications-server.pem").await,
    )
    .unwrap();
    std::fs::write(&cert, lyncsim_pki::pem_encode("CERTIFICATE", &der)).unwrap();
    let out = Command::new("openssl")
        .args(["verify", "-purpose", "sslclient", "-CAfile"])
        .arg(&ca)
        .arg(&cert)
        .output()
        .expect("openssl is installed");
    assert!(
        out.status.success(),
        "openssl verify: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let info = lyncsim_pki::inspect(&der).unwrap();
    assert_eq!(info.subject_cn, "sip:alice@contoso.com");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sts_refuses_a_timestamp_5_min_01_s_off_and_takes_4_min_59_s() {
    let world = World::start().await;
    let curl = Curl::new(&world);
    let user = "alice@contoso.com";
    for offset in [299_000, -299_000] {
        let (status, answer) = rst2(&curl, user, offset);
        assert_eq!(status, 200, "{offset} ms: {answer}");
        assert!(answer.contains("<EncryptedData"), "{answer}");
        assert!(answer.contains("<psf:serverInfo ServerTime=\""), "{answer}");
    }
    for offset in [301_000, -301_000] {
        let (status, answer) = rst2(&curl, user, offset);
        // As RST2.srf answered: HTTP 200, Passport's header, IDCRL's code for a timestamp.
        assert_eq!(status, 200, "{offset} ms: {answer}");
        let refusal = StsFault::from_xml(&answer).unwrap();
        assert_eq!(refusal.fault.code.local, "MessageExpired", "{answer}");
        assert_eq!(refusal.value(), Some(idcrl::INVALID_SERVICE_TIMESTAMP));
        assert!(
            refusal.server_time_ms.abs_diff(now_ms()) < 60_000,
            "{answer}"
        );
        // The wire says which check failed, not by how much: the journal does.
        assert!(!answer.contains("skew"), "{answer}");
        let seen = world.journal().await;
        let last = seen.last().unwrap();
        assert!(
            last.reason
                .starts_with("STS rejected the request timestamp: skew ")
                && last.reason.ends_with(", tolerance 5m00s"),
            "{last:?}"
        );
    }
}

/// Each refusal of RST2.srf carries its own IDCRL code; a wrong password is Passport's own
/// fault, word for word.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_sts_refusal_carries_its_own_passport_code() {
    let world = World::start().await;
    let curl = Curl::new(&world);
    let ask = |user: &str, password: &str| {
        let body = fill(
            &template("rst2.xml"),
            &[
                ("USER", user),
                ("PASSWORD", password),
                ("CREATED", &time(now_ms())),
                ("EXPIRES", &time(now_ms() + 300_000)),
            ],
        );
        let (status, answer) = curl.post("login.microsoftonline.com", "/RST2.srf", SOAP12, &body);
        assert_eq!(status, 200, "{answer}");
        (StsFault::from_xml(&answer).unwrap(), answer)
    };
    let (wrong, answer) = ask("alice@contoso.com", "not-the-password");
    assert_eq!(wrong.fault.code.local, "FailedAuthentication");
    assert_eq!(wrong.value(), Some(idcrl::BAD_MEMBER_NAME_OR_PASSWORD));
    assert!(
        answer.contains("<psf:code>0x80041012</psf:code><psf:text>The entered and stored passwords do not match.&#xD;\n</psf:text>"),
        "{answer}"
    );
    assert!(
        answer.contains("<psf:reqstatus>0x80048821</psf:reqstatus>"),
        "{answer}"
    );
    let (unknown, _) = ask("mallory@contoso.com", "x");
    assert_eq!(unknown.value(), Some(idcrl::INVALID_MEMBER_NAME));
    assert_ne!(unknown, wrong, "an unknown name is not a wrong password");
    let (malformed, _) = ask("not an address", "x");
    assert_eq!(malformed.value(), Some(idcrl::INVALID_MEMBER_NAME));
    let reasons: Vec<String> = world
        .journal()
        .await
        .iter()
        .map(|e| e.reason.clone())
        .collect();
    assert!(
        reasons
            .iter()
            .any(|r| r == "no user mallory@contoso.com in this tenant"),
        "{reasons:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_and_publish_cert_refuses_a_wrong_hmac_and_another_users_request() {
    let world = World::start().await;
    let curl = Curl::new(&world);
    let user = "alice@contoso.com";
    let ticket = web_ticket(&curl, user, "pool-a");
    let key = PersonalKey::generate().unwrap();
    let csr = make_csr(&key, user).unwrap();

    let mut wrong = ticket.proof_key.clone();
    wrong[0] ^= 1;
    let (status, answer) = get_and_publish_cert(&curl, user, &ticket, &wrong, &csr);
    assert_eq!(status, 500, "{answer}");
    assert!(answer.contains("FailedCheck"), "{answer}");

    let bob = make_csr(&key, "bob@contoso.com").unwrap();
    // A refusal of the request itself is ErrorInfo in the response, not a SOAP fault
    // ([MS-OCAUTHWS] 3.1.4.1).
    let (status, answer) = get_and_publish_cert(&curl, user, &ticket, &ticket.proof_key, &bob);
    assert_eq!(status, 200, "{answer}");
    assert!(!answer.contains("Fault"), "{answer}");
    let info = CertErrorInfo::from_xml(&answer).unwrap();
    // Its one reason on the wire; the precise one in the journal.
    assert_eq!(info.error_id, 90024);
    assert_eq!(info.reason, "The certificate names another user.");
    let journal = world.journal().await;
    assert!(
        journal.iter().any(|e| e
            .reason
            .contains("CN=sip:bob@contoso.com is not the signed-in user sip:alice@contoso.com")),
        "{journal:?}"
    );

    // The same ticket and key sign a good request.
    let (status, answer) = get_and_publish_cert(&curl, user, &ticket, &ticket.proof_key, &csr);
    assert_eq!(status, 200, "{answer}");
    let journal = world.journal().await;
    assert!(journal.iter().any(|e| e.endpoint == "GetAndPublishCert"
        && e.reason.contains("does not verify with the proof key")));
}
