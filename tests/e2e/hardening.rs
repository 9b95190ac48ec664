//! The service against bad input and hostile clients (SPEC section 9): a corpus of cases as
//! data, sent over real TLS and TCP, each answered with its status and problem document, or
//! the protocol's SOAP fault (or with a closed connection), after each of which /health, DNS
//! and a real sign-in still work.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use lyncsim_domain::{Os, Product};
use lyncsim_pki::{PersonalKey, make_csr};
use lyncsim_wire::pool::{
    CertErrorInfo, CertRequest, WebTicket, WebTicketRequest, WebTicketResponse,
};
use lyncsim_wire::soap::SoapFault;
use lyncsim_wire::sts::{StsFault, TokenRequest, TokenResponse};
use lyncsim_wire::wsse::{Lifetime, p_sha1};
use lyncsim_wire::{FromXml, ToXml};
use lyncsim_wire::{agent::UserAgent, paths};
use serde_json::{Value, json};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};

use crate::support::{World, admin_get, password, sign_in, tls_connector};

/// How long one exchange may take before the test fails (real time: the service answers in
/// milliseconds, or closes).
const EXCHANGE_LIMIT: Duration = Duration::from_secs(20);

/// What a case is sent to.
#[derive(Debug, Clone, Copy)]
enum To {
    /// An HTTPS host, over TLS with its name.
    Tls(&'static str),
    /// An HTTPS host's address and port, as plain TCP (no TLS).
    Tcp(&'static str),
    /// A host's plain-HTTP port (webdir's, where `lyncdiscover.<tenant>` answers on 80).
    Http(&'static str),
    /// The admin API.
    Admin,
    /// The DNS server over UDP.
    DnsUdp,
    /// The DNS server over TCP.
    DnsTcp,
}

/// What the case must see.
#[derive(Debug, Clone, PartialEq)]
enum Expect {
    /// This status, with a problem document of this kind (`urn:lyncsim:problem:<kind>`), and
    /// when given, text that its detail holds.
    Problem(u16, &'static str, Option<&'static str>),
    /// This status, whatever the body.
    Status(u16),
    /// This status with an empty body (Autodiscover's unknown user, [MS-OCDISCWS] 3.1.5.3).
    Empty(u16),
    /// No HTTP answer: the service closes the connection (or, for DNS, may say nothing).
    NoAnswer,
    /// After an early close: this problem if the answer gets out, or nothing.
    ProblemOrNothing(u16, &'static str),
    /// A SOAP fault whose code, reason or detail, or the journal's reason for refusing the
    /// request, says this text: HTTP 500 from a pool, HTTP 200 with Passport's header and its
    /// `ServerTime` from the STS (as RST2.srf answered).
    Fault(&'static str),
    /// GetAndPublishCert's refusal of the request itself: HTTP 200, `ErrorInfo` in the
    /// response ([MS-OCAUTHWS] 3.1.4.1), whose reason, or the journal's reason for it, says
    /// this text.
    ErrorInfo(&'static str),
    /// A SIP response with this status, and then the connection closed.
    Sip(u16),
}

struct Case {
    name: String,
    to: To,
    bytes: Vec<u8>,
    /// Close our side for writing after sending (an early close).
    half_close: bool,
    expect: Expect,
}

fn case(name: impl Into<String>, to: To, bytes: Vec<u8>, expect: Expect) -> Case {
    Case {
        name: name.into(),
        to,
        bytes,
        half_close: false,
        expect,
    }
}

/// An HTTP/1.1 request with `Connection: close` and a Content-Length for the body.
fn request(method: &str, path: &str, host: &str, headers: &[(&str, &str)], body: &[u8]) -> Vec<u8> {
    let mut out = format!("{method} {path} HTTP/1.1\r\nhost: {host}\r\nconnection: close\r\n");
    for (name, value) in headers {
        out.push_str(&format!("{name}: {value}\r\n"));
    }
    if !body.is_empty() || method != "GET" {
        out.push_str(&format!("content-length: {}\r\n", body.len()));
    }
    out.push_str("\r\n");
    let mut out = out.into_bytes();
    out.extend_from_slice(body);
    out
}

fn problem(status: u16, kind: &'static str) -> Expect {
    Expect::Problem(status, kind, None)
}

fn bad_request() -> Expect {
    problem(400, "bad-request")
}

/// An `X-MS-WebTicket` whose assertion names webdir's web ticket service as its issuer but
/// was sealed by no key of this service.
fn forged_ticket(https_port: u16) -> String {
    let ticket = WebTicket {
        assertion_id: "uuid-forged".into(),
        issuer: format!(
            "https://webdir.online.lync.com:{https_port}{}",
            paths::WEB_TICKET_PATH
        ),
        user: "sip:alice@contoso.com".into(),
        lifetime: Lifetime {
            created_ms: now_ms(),
            expires_ms: now_ms() + 3_600_000,
        },
        key_cipher: vec![0; 60],
    };
    WebTicket::header_value(&ticket.to_xml())
}

const HOSTS: [&str; 5] = [
    "webdir.online.lync.com",
    "login.microsoftonline.com",
    "sipdir.online.lync.com",
    "pool-a.online.lync.com",
    "pool-b.online.lync.com",
];

/// The path each host serves, and the method it takes; the director serves SIP only (its
/// HTTPS answers every path with 404).
fn endpoint_of(host: &str) -> Option<(&'static str, &'static str)> {
    match host {
        "webdir.online.lync.com" => Some(("GET", paths::AUTODISCOVER)),
        "login.microsoftonline.com" => Some(("POST", paths::TOKEN)),
        "sipdir.online.lync.com" => None,
        _ => Some(("POST", paths::CERT_PROV_PROOF_PATH)),
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

const WEB_AUTH: &str = "urn:component:Microsoft.Rtc.WebAuthentication.2010";

/// An RST2 request; `created_ms` is the timestamp's Created (Expires five minutes on).
fn token_body(user: &str, password: &str, created_ms: i64) -> Vec<u8> {
    TokenRequest {
        user: user.into(),
        password: password.into(),
        timestamp: Some(Lifetime {
            created_ms,
            expires_ms: created_ms.saturating_add(300_000),
        }),
        applies_to: WEB_AUTH.into(),
    }
    .to_xml()
    .into_bytes()
}

fn soap_post(path: &str, host: &str, extra: &[(&str, &str)], body: &[u8]) -> Vec<u8> {
    let mut headers = vec![("content-type", "application/soap+xml; charset=utf-8")];
    headers.extend_from_slice(extra);
    request("POST", path, host, &headers, body)
}

/// What the corpus needs of a real sign-in: alice's STS token, her web ticket and its proof
/// key, and two certificate requests the service must refuse.
struct Credentials {
    token: TokenResponse,
    ticket: WebTicketResponse,
    proof_key: Vec<u8>,
    /// A well-signed request with an RSA-1024 key.
    csr_1024: Vec<u8>,
    /// Alice's key in a request for bob.
    csr_bob: Vec<u8>,
    /// pool-a's certificate provisioning (its signed port): what a web ticket there is for.
    cert_prov: String,
    /// Alice's token for pool-b's web ticket service (a relying party of the STS).
    token_for_b: TokenResponse,
    /// Alice's token for SharePoint Online, which the STS issues as the real one did.
    token_for_sharepoint: TokenResponse,
    /// Carol's web ticket from pool-a, its proof key and a request of hers.
    carol: Option<(WebTicketResponse, Vec<u8>, Vec<u8>)>,
    /// The service's HTTPS port.
    https_port: u16,
}

/// A GetAndPublishCert of alice's, signed with `key`.
fn gapc_body(c: &Credentials, key: &[u8], csr: &[u8]) -> String {
    CertRequest {
        to: "https://pool-a.online.lync.com/CertProv/CertProvisioningService.svc/WebTicket_Proof_SHA1",
        ticket: &c.ticket,
        proof_key: key,
        device_id: "00000000-0000-0000-0000-000000000001",
        entity: "alice@contoso.com",
        csr_der: csr,
        request_id: "r",
    }
    .to_xml()
}

/// The corpus, with what a real sign-in of alice's gave.
fn corpus(creds: &Credentials) -> Vec<Case> {
    let mut cases = Vec::new();

    // Raw bytes on the TLS port of every host: no TLS, garbage, a cut-off hello, nothing.
    let hello_start: Vec<u8> = vec![0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03];
    let garbage: Vec<u8> = (0..=255u8).cycle().take(4096).collect();
    for host in HOSTS {
        for (what, bytes) in [
            ("plain HTTP", b"GET / HTTP/1.1\r\nhost: x\r\n\r\n".to_vec()),
            ("garbage", garbage.clone()),
            ("a cut-off ClientHello", hello_start.clone()),
            ("nothing", Vec::new()),
        ] {
            let mut c = case(
                format!("{host}: {what} on the TLS port"),
                To::Tcp(host),
                bytes,
                Expect::NoAnswer,
            );
            c.half_close = true;
            cases.push(c);
        }
    }

    // HTTP that hyper refuses, odd methods and paths, early closes: on every host.
    for host in HOSTS {
        let endpoint = endpoint_of(host);
        let (method, path) = endpoint.unwrap_or(("GET", "/"));
        let other = if method == "GET" { "DELETE" } else { "GET" };
        let huge_header = "a".repeat(100_000);
        let long_path = format!("/{}", "p".repeat(100_000));
        cases.extend([
            case(
                format!("{host}: a request line that is not HTTP"),
                To::Tls(host),
                b"GARBAGE\r\n\r\n".to_vec(),
                bad_request(),
            ),
            case(
                format!("{host}: a control character in the path"),
                To::Tls(host),
                b"GET /\x01 HTTP/1.1\r\nhost: x\r\n\r\n".to_vec(),
                bad_request(),
            ),
            case(
                format!("{host}: a 100 kB header"),
                To::Tls(host),
                request("GET", path, host, &[("x-big", &huge_header)], b""),
                problem(431, "headers-too-large"),
            ),
            case(
                format!("{host}: a 100 kB path"),
                To::Tls(host),
                request("GET", &long_path, host, &[], b""),
                problem(431, "headers-too-large"),
            ),
            case(
                format!("{host}: two different Content-Lengths"),
                To::Tls(host),
                format!(
                    "POST {path} HTTP/1.1\r\nhost: {host}\r\ncontent-length: 2\r\ncontent-length: 5\r\n\r\n{{}}"
                )
                .into_bytes(),
                bad_request(),
            ),
            case(
                format!("{host}: a path that does not exist"),
                To::Tls(host),
                request("GET", "/nope", host, &[], b""),
                problem(404, "not-found"),
            ),
            case(
                format!("{host}: the HTTP/2 preface"),
                To::Tls(host),
                b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec(),
                Expect::NoAnswer,
            ),
        ]);
        let mut hangup = case(
            format!("{host}: a handshake, then a close without reading"),
            To::Tls(host),
            Vec::new(),
            Expect::NoAnswer,
        );
        hangup.half_close = true;
        cases.push(hangup);
        if endpoint.is_none() {
            continue;
        }
        cases.push(case(
            format!("{host}: {other} on {path}"),
            To::Tls(host),
            request(other, path, host, &[], b""),
            problem(405, "method-not-allowed"),
        ));
        // The answer depends on what the host checks before the body: the method (GET
        // endpoints), or the body itself (the STS, the pools' web services), which never
        // arrives whole.
        let after_early_close = match host {
            "login.microsoftonline.com" | "pool-a.online.lync.com" | "pool-b.online.lync.com" => {
                Expect::ProblemOrNothing(400, "bad-request")
            }
            _ => Expect::ProblemOrNothing(405, "method-not-allowed"),
        };
        let mut early = case(
            format!("{host}: Content-Length 900, 2 bytes, then a close"),
            To::Tls(host),
            format!(
                "POST {path} HTTP/1.1\r\nhost: {host}\r\ncontent-type: application/json\r\ncontent-length: 900\r\n\r\n{{}}"
            )
            .into_bytes(),
            after_early_close,
        );
        early.half_close = true;
        cases.push(early);
    }

    // Bodies that are not what a JSON endpoint takes, on every JSON endpoint.
    let nested = "[".repeat(100_000);
    let big = format!("{{\"user\":\"{}\"}}", "a".repeat(1 << 20));
    let bodies: Vec<(&str, Vec<u8>, Expect)> = vec![
        ("an empty body", Vec::new(), bad_request()),
        ("half an object", b"{".to_vec(), bad_request()),
        ("null", b"null".to_vec(), bad_request()),
        ("an array", b"[]".to_vec(), bad_request()),
        ("a string", b"\"alice\"".to_vec(), bad_request()),
        ("an empty object", b"{}".to_vec(), bad_request()),
        ("100,000 nested arrays", nested.into_bytes(), bad_request()),
        (
            "invalid UTF-8",
            b"{\"user\":\"\xff\xfe\xfd\"}".to_vec(),
            bad_request(),
        ),
        (
            "a number past f64",
            b"{\"timestamp_ms\":1e999,\"offset_secs\":1e999}".to_vec(),
            bad_request(),
        ),
        (
            "a number past i64",
            b"{\"timestamp_ms\":99999999999999999999,\"offset_secs\":99999999999999999999}"
                .to_vec(),
            bad_request(),
        ),
        ("a 1 MB body", big.into_bytes(), problem(413, "too-large")),
    ];
    // (name, target, method, path, headers)
    type Endpoint<'a> = (&'a str, To, &'a str, &'a str, Vec<(&'a str, &'a str)>);
    // The protocol's endpoints answer any body that is not their message with their fault.
    for (endpoint, host, path) in [
        ("the STS", HOSTS[1], paths::TOKEN),
        (
            "the web ticket service",
            HOSTS[3],
            paths::WS_FED_BEARER_PATH,
        ),
        ("GetAndPublishCert", HOSTS[3], paths::CERT_PROV_PROOF_PATH),
    ] {
        for (what, body, expect) in &bodies {
            let expect = match expect {
                Expect::Problem(413, ..) => expect.clone(),
                _ => Expect::Fault(""),
            };
            cases.push(case(
                format!("{endpoint}: {what}"),
                To::Tls(host),
                soap_post(path, host, &[], body),
                expect,
            ));
        }
    }
    let json_endpoints: Vec<Endpoint> = vec![
        ("POST /users", To::Admin, "POST", "/users", vec![]),
        ("PUT /clock", To::Admin, "PUT", "/clock", vec![]),
        ("POST /faults", To::Admin, "POST", "/faults", vec![]),
    ];
    for (endpoint, to, method, path, extra) in &json_endpoints {
        let host = match to {
            To::Tls(h) => h,
            _ => "127.0.0.1",
        };
        for (what, body, expect) in &bodies {
            // Every field of a clock change may be left out: `{}` (or serde's sequence form of
            // it, `[]`) changes nothing.
            let expect = if *path == "/clock" && (body == b"{}" || body == b"[]") {
                &Expect::Status(200)
            } else {
                expect
            };
            let mut headers = vec![("content-type", "application/json")];
            headers.extend(extra.iter().copied());
            cases.push(case(
                format!("{endpoint}: {what}"),
                *to,
                request(method, path, host, &headers, body),
                expect.clone(),
            ));
        }
    }

    // What each endpoint checks, at the edges of its numbers and strings.
    let sts = |name: &str, body: Vec<u8>, extra: &[(&str, &str)], expect: Expect| {
        case(
            format!("the STS: {name}"),
            To::Tls(HOSTS[1]),
            soap_post(paths::TOKEN, HOSTS[1], extra, &body),
            expect,
        )
    };
    let alice = "alice@contoso.com";
    let good = password(alice);
    let skew = Expect::Fault("STS rejected the request timestamp");
    let lync = |build: &str| {
        UserAgent {
            client: Some((Product::Lync2013, build.parse().unwrap())),
            sign_in_assistant: None,
        }
        .header()
    };
    let old_lync = lync("15.0.1.0");
    let hundred_parts = format!(
        "UCCAPI/{b} OC/{b} (Microsoft Lync)",
        b = vec!["1"; 100].join(".")
    );
    cases.extend([
        sts(
            "a timestamp 2^63 ms before now",
            token_body(alice, &good, now_ms().wrapping_sub(1 << 63)),
            &[],
            Expect::Fault(""),
        ),
        sts(
            "the earliest timestamp",
            token_body(alice, &good, i64::MIN),
            &[],
            Expect::Fault(""),
        ),
        sts(
            "the latest timestamp",
            token_body(alice, &good, i64::MAX),
            &[],
            Expect::Fault(""),
        ),
        sts(
            "a year ahead",
            token_body(alice, &good, now_ms() + 365 * 86_400_000),
            &[],
            skew.clone(),
        ),
        sts(
            "an hour ahead",
            token_body(alice, &good, now_ms() + 3_600_000),
            &[],
            skew.clone(),
        ),
        sts(
            "5 min 01 s behind",
            token_body(alice, &good, now_ms() - 301_000),
            &[],
            skew,
        ),
        sts(
            "a wrong password",
            token_body(alice, "nope", now_ms()),
            &[],
            Expect::Fault("FailedAuthentication: Authentication Failure (0x80048821; 0x80041012"),
        ),
        sts(
            "an unknown user",
            token_body("mallory@contoso.com", "x", now_ms()),
            &[],
            Expect::Fault("no user"),
        ),
        // Lync's own build is the registrar's to block ([MS-SIPREGE] 3.4.2.5.6), not the
        // STS's: it issues the token.
        sts(
            "a Lync 2013 older than the minimum",
            token_body(alice, &good, now_ms()),
            &[("user-agent", old_lync.as_str())],
            Expect::Status(200),
        ),
        sts(
            "Lync 2010 without its Sign-In Assistant",
            token_body(alice, &good, now_ms()),
            &[(
                "user-agent",
                "UCCAPI/4.0.7577.4419 OC/4.0.7577.4419 (Microsoft Lync 2010)",
            )],
            Expect::Fault("did not come through the Sign-In Assistant"),
        ),
        // A build that is not one is no Lync agent at all: no Lync minimum applies to it.
        sts(
            "an agent naming a build of 100 parts",
            token_body(alice, &good, now_ms()),
            &[("user-agent", hundred_parts.as_str())],
            Expect::Status(200),
        ),
        sts(
            "a SOAP 1.1 envelope",
            format!(
                "<s:Envelope xmlns:s=\"{}\"/>",
                lyncsim_wire::xml::ns::SOAP11
            )
            .into_bytes(),
            &[],
            Expect::Fault("not a SOAP 1.2 envelope"),
        ),
        sts(
            "no UsernameToken",
            String::from_utf8(token_body(alice, &good, now_ms()))
                .unwrap()
                .replace("UsernameToken", "NameToken")
                .into_bytes(),
            &[],
            Expect::Fault("UsernameToken"),
        ),
        sts(
            "a DTD with an entity",
            b"<?xml version=\"1.0\"?><!DOCTYPE a [<!ENTITY x \"y\">]><a>&x;</a>".to_vec(),
            &[],
            Expect::Fault("not well-formed"),
        ),
    ]);
    let ticket = |name: &str, body: String, expect: Expect| {
        case(
            format!("the web ticket service: {name}"),
            To::Tls(HOSTS[3]),
            soap_post(paths::WS_FED_BEARER_PATH, HOSTS[3], &[], body.as_bytes()),
            expect,
        )
    };
    let ticket_request = |cipher: Vec<u8>, claim: &str, entropy: Vec<u8>| {
        let mut token = creds.token.token.clone();
        token.cipher = cipher;
        WebTicketRequest {
            to: "https://pool-a.online.lync.com/WebTicket/WebTicketService.svc/WsFedBearer".into(),
            sts_lifetime: creds.token.lifetime,
            sts_token: token,
            applies_to: creds.cert_prov.clone(),
            claim: claim.into(),
            entropy,
            context: "c".into(),
        }
        .to_xml()
    };
    let cipher = creds.token.token.cipher.clone();
    let mut bent = cipher.clone();
    bent[cipher.len() / 2] ^= 0x40;
    cases.extend([
        ticket(
            "a token that another STS made",
            ticket_request(vec![0; cipher.len()], "sip:alice@contoso.com", vec![1; 32]),
            Expect::Fault("not issued by this STS"),
        ),
        ticket(
            "a token with one bit changed",
            ticket_request(bent, "sip:alice@contoso.com", vec![1; 32]),
            Expect::Fault("InvalidSecurity"),
        ),
        ticket(
            "a claim for another user",
            ticket_request(cipher.clone(), "sip:bob@contoso.com", vec![1; 32]),
            Expect::Fault("the token is for alice@contoso.com"),
        ),
        ticket(
            "an entropy of one byte",
            ticket_request(cipher, "sip:alice@contoso.com", vec![1]),
            Expect::Fault("at least 16"),
        ),
    ]);
    let gapc = |name: &str, body: String, expect: Expect| {
        case(
            format!("GetAndPublishCert: {name}"),
            To::Tls(HOSTS[3]),
            soap_post(paths::CERT_PROV_PROOF_PATH, HOSTS[3], &[], body.as_bytes()),
            expect,
        )
    };
    let key = creds.proof_key.as_slice();
    let mut forged = creds.ticket.clone();
    forged.assertion_xml = forged.assertion_xml.replace("sip:alice@", "sip:bob@");
    let forged = Credentials {
        token: creds.token.clone(),
        ticket: forged,
        proof_key: creds.proof_key.clone(),
        csr_1024: Vec::new(),
        csr_bob: Vec::new(),
        cert_prov: String::new(),
        token_for_b: creds.token.clone(),
        token_for_sharepoint: creds.token.clone(),
        carol: None,
        https_port: creds.https_port,
    };
    cases.extend([
        gapc(
            "a signature with another key",
            gapc_body(creds, &[0; 32], &creds.csr_bob),
            Expect::Fault("FailedCheck"),
        ),
        gapc(
            "a ticket rewritten for bob",
            gapc_body(&forged, key, &creds.csr_bob),
            Expect::Fault("was changed since"),
        ),
        gapc(
            "a timestamp changed after signing",
            gapc_body(creds, key, &creds.csr_bob).replacen("<wsu:Expires>2", "<wsu:Expires>3", 1),
            Expect::Fault("the digest of the signed timestamp does not match"),
        ),
        gapc(
            "an RSA-1024 request",
            gapc_body(creds, key, &creds.csr_1024),
            Expect::ErrorInfo("RSA of 2048 bits or more, not 1024"),
        ),
        gapc(
            "a request for another user",
            gapc_body(creds, key, &creds.csr_bob),
            Expect::ErrorInfo("is not the signed-in user"),
        ),
        gapc(
            "a PKCS#10 of garbage",
            gapc_body(creds, key, &[0x30, 0x03, 1, 2, 3]),
            Expect::ErrorInfo("does not parse"),
        ),
        gapc(
            "base64 that is not",
            gapc_body(creds, key, &creds.csr_bob).replace("\r\nMII", "\r\n!!!"),
            Expect::Fault("not base64"),
        ),
    ]);
    cases.extend(security_cases(creds));
    cases.extend(sip_cases());
    cases.extend(plain_http_cases(creds));
    // Autodiscover's User resource asks for a web ticket before it looks the user up
    // ([MS-OCDISCWS] 3.1.5.3: 401, then 404 for an unknown user).
    let (host, path, unknown) = (HOSTS[0], paths::AUTODISCOVER_USER, Expect::Empty(401));
    let long = format!("{path}?sipuri={}", "a".repeat(20_000));
    cases.extend([
        case(
            format!("{host}: no sipuri"),
            To::Tls(host),
            request("GET", path, host, &[], b""),
            bad_request(),
        ),
        case(
            format!("{host}: an unknown user"),
            To::Tls(host),
            request(
                "GET",
                &format!("{path}?sipuri=sip:nobody@contoso.com"),
                host,
                &[],
                b"",
            ),
            unknown.clone(),
        ),
        case(
            format!("{host}: a 20 kB sipuri"),
            To::Tls(host),
            request("GET", &long, host, &[], b""),
            unknown.clone(),
        ),
        case(
            format!("{host}: a sipuri of bytes that are not UTF-8"),
            To::Tls(host),
            request("GET", &format!("{path}?sipuri=%ff%fe"), host, &[], b""),
            unknown.clone(),
        ),
    ]);
    let forged = forged_ticket(creds.https_port);
    cases.extend([
        case(
            "webdir.online.lync.com: an X-MS-WebTicket that is not base64",
            To::Tls(HOSTS[0]),
            request(
                "GET",
                &format!("{}?sipuri=sip:alice@contoso.com", paths::AUTODISCOVER_USER),
                HOSTS[0],
                &[("x-ms-webticket", "opaque=!!!")],
                b"",
            ),
            Expect::Empty(401),
        ),
        case(
            "webdir.online.lync.com: an X-MS-WebTicket of a forged assertion",
            To::Tls(HOSTS[0]),
            request(
                "GET",
                &format!("{}?sipuri=sip:alice@contoso.com", paths::AUTODISCOVER_USER),
                HOSTS[0],
                &[("x-ms-webticket", forged.as_str())],
                b"",
            ),
            Expect::Empty(401),
        ),
    ]);

    let admin = |name: &str, method: &str, path: &str, body: Value, expect: Expect| {
        case(
            format!("admin: {name}"),
            To::Admin,
            json_post_method(method, path, body.to_string().as_bytes()),
            expect,
        )
    };
    let range = |text| Expect::Problem(400, "bad-request", Some(text));
    cases.extend([
        admin("an offset of i64::MAX", "PUT", "/clock", json!({"offset_secs": i64::MAX}), range("out of range")),
        admin("an offset of i64::MIN", "PUT", "/clock", json!({"offset_secs": i64::MIN}), range("out of range")),
        admin("an offset of a century and a second", "PUT", "/clock", json!({"offset_secs": lyncsim_domain::MAX_CLOCK_OFFSET_SECS + 1}), range("out of range")),
        admin("a tolerance of i64::MAX", "PUT", "/clock", json!({"tolerance_secs": i64::MAX}), range("out of range")),
        admin("a negative tolerance", "PUT", "/clock", json!({"tolerance_secs": -1}), range("out of range")),
        admin("an unknown clock field", "PUT", "/clock", json!({"offset": 1}), bad_request()),
        admin("a user with a NUL", "POST", "/users", json!({"address": "a\u{0}b@contoso.com", "password": "x"}), range("not allowed")),
        admin("a user with a newline", "POST", "/users", json!({"address": "a\nb@contoso.com", "password": "x"}), range("not allowed")),
        admin("a user of 200 kB", "POST", "/users", json!({"address": format!("{}@contoso.com", "a".repeat(200_000)), "password": "x"}), range("longer than 254")),
        admin("a user with a path in it", "POST", "/users", json!({"address": "../../x@contoso.com", "password": "x"}), range("not allowed")),
        admin("a user of another domain", "POST", "/users", json!({"address": "eve@fabrikam.com", "password": "x"}), range("name@contoso.com")),
        admin("an empty password", "POST", "/users", json!({"address": "dave@contoso.com", "password": ""}), range("must not be empty")),
        admin("a password with a newline", "POST", "/users", json!({"address": "dave@contoso.com", "password": "a\nb"}), range("control characters")),
        admin("an unknown pool", "POST", "/users", json!({"address": "dave@contoso.com", "password": "x", "home_pool": "pool-z"}), range("pool-a, pool-b")),
        admin("a user that exists", "POST", "/users", json!({"address": "alice@contoso.com", "password": "x"}), problem(409, "conflict")),
        admin("an unknown fault", "POST", "/faults", json!({"kind": "meteor"}), bad_request()),
        admin("an outage of u64::MAX seconds", "POST", "/faults", json!({"kind": "outage", "mode": "503", "duration_secs": u64::MAX}), range("out of range")),
        admin("an outage of no time", "POST", "/faults", json!({"kind": "outage", "mode": "503", "duration_secs": 0}), range("out of range")),
        admin("an outage of an unknown host", "POST", "/faults", json!({"kind": "outage", "mode": "503", "hosts": ["nowhere.example"]}), problem(404, "not-found")),
        admin("a new password with a newline", "POST", "/faults", json!({"kind": "change-password", "user": "alice@contoso.com", "password": "a\nb"}), range("control characters")),
        admin("a move to a pool that does not exist", "POST", "/faults", json!({"kind": "move-user", "user": "alice@contoso.com", "to": "pool-z"}), range("pool-a, pool-b")),
        admin("a move of nobody", "POST", "/faults", json!({"kind": "move-user", "user": "nobody@contoso.com"}), problem(404, "not-found")),
        admin("a DNS change of an unknown host", "POST", "/faults", json!({"kind": "change-dns", "host": "nowhere.example"}), problem(404, "not-found")),
        admin("a minimum build of 100 parts", "POST", "/faults", json!({"kind": "min-client-build", "product": "lync2013", "build": vec!["9"; 100].join(".")}), bad_request()),
    ]);
    for (name, method, path, expect) in [
        ("DELETE /faults/abc", "DELETE", "/faults/abc", bad_request()),
        (
            "DELETE /faults/2^64",
            "DELETE",
            "/faults/18446744073709551616",
            bad_request(),
        ),
        (
            "DELETE /faults/12345",
            "DELETE",
            "/faults/12345",
            problem(404, "not-found"),
        ),
        ("GET /nope", "GET", "/nope", problem(404, "not-found")),
        (
            "POST /health",
            "POST",
            "/health",
            problem(405, "method-not-allowed"),
        ),
        (
            "PATCH /clock",
            "PATCH",
            "/clock",
            problem(405, "method-not-allowed"),
        ),
        (
            "DELETE /users",
            "DELETE",
            "/users",
            problem(405, "method-not-allowed"),
        ),
        (
            "PUT /ca/root.pem",
            "PUT",
            "/ca/root.pem",
            problem(405, "method-not-allowed"),
        ),
    ] {
        cases.push(case(
            format!("admin: {name}"),
            To::Admin,
            request(method, path, "127.0.0.1", &[], b""),
            expect,
        ));
    }
    cases.extend([
        case(
            "admin: a request line that is not HTTP",
            To::Admin,
            b"GARBAGE\r\n\r\n".to_vec(),
            bad_request(),
        ),
        case(
            "admin: a 100 kB header",
            To::Admin,
            request(
                "GET",
                "/health",
                "127.0.0.1",
                &[("x-big", &"a".repeat(100_000))],
                b"",
            ),
            problem(431, "headers-too-large"),
        ),
    ]);
    let mut early = case(
        "admin: Content-Length 900, 2 bytes, then a close",
        To::Admin,
        b"POST /users HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\ncontent-length: 900\r\n\r\n{}".to_vec(),
        Expect::ProblemOrNothing(400, "bad-request"),
    );
    early.half_close = true;
    cases.push(early);
    cases.extend(web_page_cases());

    // DNS: what is not a DNS message, over UDP and TCP.
    let mut header_lies = vec![0x12, 0x34, 0x01, 0x00, 0xff, 0xff, 0, 0, 0, 0, 0, 0];
    header_lies.extend_from_slice(&[3, b'w', b'w', b'w']);
    let pointer_loop = vec![
        0xab, 0xcd, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, 0xc0, 12, 0, 1, 0, 1,
    ];
    for (what, bytes) in [
        ("an empty datagram", Vec::new()),
        ("one byte", vec![0]),
        ("4 kB of garbage", garbage.clone()),
        ("a header that claims 65,535 questions", header_lies.clone()),
        ("a name that points at itself", pointer_loop.clone()),
    ] {
        cases.push(case(
            format!("DNS over UDP: {what}"),
            To::DnsUdp,
            bytes,
            Expect::NoAnswer,
        ));
    }
    for (what, bytes) in [
        (
            "a length of 65,535 and then a close",
            vec![0xff, 0xff, 1, 2, 3],
        ),
        ("garbage", garbage),
        ("a header that claims 65,535 questions", {
            let mut b = (header_lies.len() as u16).to_be_bytes().to_vec();
            b.extend(header_lies);
            b
        }),
        ("a name that points at itself", {
            let mut b = (pointer_loop.len() as u16).to_be_bytes().to_vec();
            b.extend(pointer_loop);
            b
        }),
    ] {
        let mut c = case(
            format!("DNS over TCP: {what}"),
            To::DnsTcp,
            bytes,
            Expect::NoAnswer,
        );
        c.half_close = true;
        cases.push(c);
    }
    cases
}

/// `xml` with `depth` nested elements put just after the first `after`.
fn nested_after(xml: &str, after: &str, depth: usize) -> String {
    let deep = format!(
        "{}{}",
        "<x:d xmlns:x=\"urn:x\">".repeat(depth),
        "</x:d>".repeat(depth)
    );
    xml.replacen(after, &format!("{after}{deep}"), 1)
}

/// The element of `xml` from `<{start}` to `</{end}>`, whole.
fn element(xml: &str, start: &str, end: &str) -> String {
    let from = xml.find(&format!("<{start}")).expect("the element");
    let to = xml[from..].find(&format!("</{end}>")).expect("its end") + from + end.len() + 3;
    xml[from..to].to_owned()
}

/// What a web page in a browser could send the admin API: a form or text posted across
/// origins without a preflight, a DNS-rebound name, another origin. None is obeyed.
fn web_page_cases() -> Vec<Case> {
    let user = br#"{"address":"mallory@contoso.com","password":"Spring2012!"}"#;
    let fault = br#"{"kind":"outage","mode":"503"}"#;
    let admin = |name: &str, bytes: Vec<u8>, expect: Expect| {
        case(
            format!("admin from a web page: {name}"),
            To::Admin,
            bytes,
            expect,
        )
    };
    let media = Expect::Problem(415, "unsupported-media-type", Some("application/json"));
    let foreign = |text| Expect::Problem(403, "forbidden", Some(text));
    let json = ("content-type", "application/json");
    vec![
        admin(
            "JSON posted as a form",
            request(
                "POST",
                "/users",
                "127.0.0.1",
                &[("content-type", "application/x-www-form-urlencoded")],
                user,
            ),
            media.clone(),
        ),
        admin(
            "a fault posted as text/plain",
            request(
                "POST",
                "/faults",
                "127.0.0.1",
                &[("content-type", "text/plain")],
                fault,
            ),
            media.clone(),
        ),
        admin(
            "a fault posted with no Content-Type",
            request("POST", "/faults", "127.0.0.1", &[], fault),
            media,
        ),
        admin(
            "a DNS-rebound Host",
            request("POST", "/faults", "attacker.example:80", &[json], fault),
            foreign("is not this admin API's address"),
        ),
        admin(
            "a DNS-rebound Host reading the journal",
            request("GET", "/journal", "attacker.example", &[], b""),
            foreign("is not this admin API's address"),
        ),
        admin(
            "another origin",
            request(
                "POST",
                "/faults",
                "127.0.0.1",
                &[json, ("origin", "http://attacker.example")],
                fault,
            ),
            foreign("origin"),
        ),
        admin(
            "a sandboxed page's null origin",
            request("DELETE", "/faults", "127.0.0.1", &[("origin", "null")], b""),
            foreign("origin"),
        ),
        admin(
            "a cross-site fetch",
            request(
                "GET",
                "/users",
                "127.0.0.1",
                &[("sec-fetch-site", "cross-site")],
                b"",
            ),
            foreign("Sec-Fetch-Site"),
        ),
    ]
}

/// Plain HTTP on webdir serves Autodiscover's root (a Redirect to HTTPS) and its Domain
/// resource only: no token or web ticket is taken or handed out in cleartext; every other
/// path is IIS's "SSL required" (403.4).
fn plain_http_cases(creds: &Credentials) -> Vec<Case> {
    let webdir = HOSTS[0];
    let ssl_required = Expect::Problem(403, "forbidden", Some("SSL is required"));
    // A ticket the service issued (for pool-a): refused before it is looked at.
    let ticket = WebTicket::header_value(&creds.ticket.assertion_xml);
    let user = format!("{}?sipuri=sip:alice@contoso.com", paths::AUTODISCOVER_USER);
    let token = token_body(
        "alice@contoso.com",
        &password("alice@contoso.com"),
        now_ms(),
    );
    let get = |path: &str, headers: &[(&str, &str)]| request("GET", path, webdir, headers, b"");
    let plain = |name: &str, bytes: Vec<u8>, expect: Expect| {
        case(
            format!("plain HTTP: {name}"),
            To::Http(webdir),
            bytes,
            expect,
        )
    };
    vec![
        plain("Autodiscover's root", get("/", &[]), Expect::Status(200)),
        plain(
            "the Domain resource",
            get(paths::AUTODISCOVER_DOMAIN, &[]),
            Expect::Status(200),
        ),
        plain("the User resource", get(&user, &[]), ssl_required.clone()),
        plain(
            "the User resource with a web ticket",
            get(&user, &[("x-ms-webticket", &ticket)]),
            ssl_required.clone(),
        ),
        plain(
            "the web ticket service",
            soap_post(paths::WS_FED_BEARER_PATH, webdir, &[], b"<x/>"),
            ssl_required.clone(),
        ),
        plain(
            "a token request",
            soap_post(paths::TOKEN, webdir, &[], &token),
            ssl_required,
        ),
    ]
}

/// What WS-Security must not resolve by taking the first, what a token or ticket is bound to,
/// and documents nested thousands deep at each element that is canonicalized.
fn security_cases(creds: &Credentials) -> Vec<Case> {
    let sts = |name: &str, body: String, expect: Expect| {
        case(
            format!("the STS: {name}"),
            To::Tls(HOSTS[1]),
            soap_post(paths::TOKEN, HOSTS[1], &[], body.as_bytes()),
            expect,
        )
    };
    let alice = "alice@contoso.com";
    let good = String::from_utf8(token_body(alice, &password(alice), now_ms())).unwrap();
    let security = element(&good, "wsse:Security", "wsse:Security");
    let timestamp = element(&good, "wsu:Timestamp", "wsu:Timestamp");
    let evil = String::from_utf8(token_body(alice, &password(alice), now_ms()))
        .unwrap()
        .replace(WEB_AUTH, "urn:evil");
    let mut cases = vec![
        sts(
            "two Security headers",
            good.replace("</S:Header>", &format!("{security}</S:Header>")),
            Expect::Fault("more than one wsse:Security header"),
        ),
        sts(
            "two passwords",
            good.replace(
                "</wsse:Password>",
                "</wsse:Password><wsse:Password>nope</wsse:Password>",
            ),
            Expect::Fault("more than one Password"),
        ),
        sts(
            "two timestamps",
            good.replace("</wsse:Security>", &format!("{timestamp}</wsse:Security>")),
            Expect::Fault("more than one Timestamp"),
        ),
        // No time is inside it: the STS's timestamp refusal (MessageExpired,
        // PPCRL_REQUEST_E_INVALID_SERVICE_TIMESTAMP), not a missing credential.
        sts(
            "a timestamp that expires before it is created",
            good.replace(
                &element(&good, "wsu:Expires", "wsu:Expires"),
                "<wsu:Expires>1999-01-01T00:00:00.000Z</wsu:Expires>",
            ),
            Expect::Fault("MessageExpired: The message has expired (0x8004885C"),
        ),
        sts(
            "a header it must understand and does not",
            good.replace(
                "<S:Header>",
                "<S:Header><x:Route xmlns:x=\"urn:x\" S:mustUnderstand=\"1\"/>",
            ),
            Expect::Fault("MustUnderstand"),
        ),
        sts(
            "a token for an unknown relying party",
            evil,
            Expect::Fault("InvalidScope"),
        ),
        sts(
            "a Security header nested 5,000 deep",
            nested_after(&good, "<wsse:Security>", 5_000),
            Expect::Fault("elements deep"),
        ),
    ];

    // The web ticket service takes only tokens for itself, and issues tickets only for its
    // own pool's certificate provisioning.
    let ticket = |name: &str, token: &TokenResponse, applies_to: &str| {
        let body = WebTicketRequest {
            to: "https://pool-a.online.lync.com/WebTicket/WebTicketService.svc/WsFedBearer".into(),
            sts_lifetime: token.lifetime,
            sts_token: token.token.clone(),
            applies_to: applies_to.into(),
            claim: "sip:alice@contoso.com".into(),
            entropy: vec![1; 32],
            context: "c".into(),
        }
        .to_xml();
        (name.to_owned(), body)
    };
    for ((name, body), expect) in [
        (
            ticket(
                "a token for pool-b's web ticket service",
                &creds.token_for_b,
                &creds.cert_prov,
            ),
            Expect::Fault("not for this web ticket service"),
        ),
        (
            ticket(
                "a token for SharePoint Online",
                &creds.token_for_sharepoint,
                &creds.cert_prov,
            ),
            Expect::Fault("not for this web ticket service"),
        ),
        (
            ticket(
                "a ticket for another service",
                &creds.token,
                "https://evil.example/x",
            ),
            Expect::Fault("InvalidScope"),
        ),
        (
            ticket(
                "a ticket for pool-b's certificate provisioning",
                &creds.token,
                &creds.cert_prov.replace("pool-a", "pool-b"),
            ),
            Expect::Fault("InvalidScope"),
        ),
        (
            ticket(
                "a mandatory header it does not understand",
                &creds.token,
                &creds.cert_prov,
            ),
            Expect::Fault("MustUnderstand"),
        ),
    ] {
        let body = if name.contains("mandatory") {
            body.replace(
                "<soap:Header>",
                "<soap:Header><x:Route xmlns:x=\"urn:x\" soap:mustUnderstand=\"1\"/>",
            )
        } else {
            body
        };
        cases.push(case(
            format!("the web ticket service: {name}"),
            To::Tls(HOSTS[3]),
            soap_post(paths::WS_FED_BEARER_PATH, HOSTS[3], &[], body.as_bytes()),
            expect,
        ));
    }

    // GetAndPublishCert: the signed timestamp judged, one of each security element, a ticket
    // only where it was issued, and no tree deeper than the bound at the canonicalized
    // elements.
    let gapc = |name: &str, to: &'static str, body: String, expect: Expect| {
        case(
            format!("GetAndPublishCert: {name}"),
            To::Tls(to),
            soap_post(paths::CERT_PROV_PROOF_PATH, to, &[], body.as_bytes()),
            expect,
        )
    };
    let key = creds.proof_key.as_slice();
    let body = gapc_body(creds, key, &creds.csr_bob);
    let signed_with = |lifetime: Lifetime| {
        let mut ticket = creds.ticket.clone();
        ticket.lifetime = lifetime;
        CertRequest {
            to: "https://pool-a.online.lync.com/CertProv/CertProvisioningService.svc/WebTicket_Proof_SHA1",
            ticket: &ticket,
            proof_key: key,
            device_id: "00000000-0000-0000-0000-000000000001",
            entity: "alice@contoso.com",
            csr_der: &creds.csr_bob,
            request_id: "r",
        }
        .to_xml()
    };
    let y1999 = 915_148_800_000;
    let security = element(&body, "wsse:Security", "wsse:Security");
    let timestamp = element(&body, "wsu:Timestamp", "wsu:Timestamp");
    cases.extend([
        gapc(
            "a signed timestamp of 1999",
            HOSTS[3],
            signed_with(Lifetime {
                created_ms: y1999,
                expires_ms: y1999 + 300_000,
            }),
            Expect::Fault("MessageExpired"),
        ),
        gapc(
            "a signed timestamp that expires before it is created",
            HOSTS[3],
            signed_with(Lifetime {
                created_ms: now_ms(),
                expires_ms: now_ms() - 1_000,
            }),
            Expect::Fault("before it begins"),
        ),
        gapc(
            "two Security headers",
            HOSTS[3],
            body.replace("</soap:Header>", &format!("{security}</soap:Header>")),
            Expect::Fault("more than one wsse:Security header"),
        ),
        gapc(
            "two timestamps",
            HOSTS[3],
            body.replacen(&timestamp, &format!("{timestamp}{timestamp}"), 1),
            Expect::Fault("more than one"),
        ),
        gapc(
            "a header it must understand and does not",
            HOSTS[3],
            body.replace(
                "<soap:Header>",
                "<soap:Header><x:Route xmlns:x=\"urn:x\" soap:mustUnderstand=\"1\"/>",
            ),
            Expect::Fault("MustUnderstand"),
        ),
    ]);
    for (element, after) in [
        ("the Timestamp", "<wsu:Timestamp xmlns:wsu"),
        ("SignedInfo", "<SignedInfo"),
        ("the web ticket", "<saml:Assertion"),
        ("the body", "<soap:Body>"),
    ] {
        // Put inside the element's start tag's end: after the tag's first `>`.
        let start = body.find(after).expect("the element");
        let close = body[start..].find('>').unwrap() + start + 1;
        let tag = &body[start..close];
        cases.push(gapc(
            &format!("{element} nested 5,000 deep"),
            HOSTS[3],
            nested_after(&body, tag, 5_000),
            Expect::Fault("elements deep"),
        ));
    }
    if let Some((ticket, proof_key, csr)) = &creds.carol {
        let carol_at_b = CertRequest {
            to: "https://pool-b.online.lync.com/CertProv/CertProvisioningService.svc/WebTicket_Proof_SHA1",
            ticket,
            proof_key,
            device_id: "00000000-0000-0000-0000-000000000002",
            entity: "carol@contoso.com",
            csr_der: csr,
            request_id: "r",
        }
        .to_xml();
        cases.push(gapc(
            "carol's web ticket from pool-a at pool-b",
            HOSTS[4],
            carol_at_b,
            Expect::Fault("not by this pool's web ticket service"),
        ));
    }
    cases
}

/// SIP framing the registrar must answer (RFC 3261: 400 Bad Request, 513 Message Too Large)
/// and then close, on pool-a's port.
fn sip_cases() -> Vec<Case> {
    let head = "REGISTER sip:contoso.com SIP/2.0\r\nVia: SIP/2.0/TLS 127.0.0.1:5;branch=z9hG4bK1\r\nFrom: <sip:alice@contoso.com>;tag=1\r\nTo: <sip:alice@contoso.com>\r\nCall-ID: c1\r\nCSeq: 1 REGISTER\r\n";
    let sip = |name: &str, tail: Vec<u8>, code: u16| {
        let mut bytes = head.as_bytes().to_vec();
        bytes.extend(tail);
        case(
            format!("SIP: {name}"),
            To::Tls(HOSTS[3]),
            bytes,
            Expect::Sip(code),
        )
    };
    let big = format!("X-Big: {}\r\n\r\n", "a".repeat(1 << 20));
    vec![
        sip(
            "two Content-Lengths, 0 then 10",
            b"Content-Length: 0\r\nContent-Length: 10\r\n\r\n".to_vec(),
            400,
        ),
        sip("no Content-Length", b"\r\n".to_vec(), 400),
        sip(
            "a negative Content-Length",
            b"Content-Length: -1\r\n\r\n".to_vec(),
            400,
        ),
        sip(
            "a Content-Length past u64",
            b"Content-Length: 99999999999999999999999\r\n\r\n".to_vec(),
            400,
        ),
        sip(
            "a declared body of 60 MB",
            b"Content-Length: 60000000\r\n\r\n".to_vec(),
            513,
        ),
        sip("a 1 MB header", big.into_bytes(), 513),
        sip(
            "a header that is not UTF-8",
            b"X-Name: \xff\xfe\r\nContent-Length: 0\r\n\r\n".to_vec(),
            400,
        ),
        sip(
            "a head rsip cannot parse",
            b"Content-Length: 0\r\nnot a header line\r\n\r\n".to_vec(),
            400,
        ),
    ]
}

fn json_post_method(method: &str, path: &str, body: &[u8]) -> Vec<u8> {
    request(
        method,
        path,
        "127.0.0.1",
        &[("content-type", "application/json")],
        body,
    )
}

/// What came back: the status, the content type and the body, or nothing.
#[derive(Debug)]
struct Answer {
    status: u16,
    content_type: String,
    body: String,
}

fn parse_answer(bytes: &[u8]) -> Option<Answer> {
    let text = String::from_utf8_lossy(bytes);
    let (head, body) = text.split_once("\r\n\r\n")?;
    let status = head.get(9..12)?.parse().ok()?;
    let content_type = head
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("content-type:")
                .map(|v| v.trim().to_owned())
        })
        .unwrap_or_default();
    Some(Answer {
        status,
        content_type,
        body: body.to_owned(),
    })
}

/// Writes `bytes` (a write the service refuses part-way is fine: it may close first), closes
/// our side if asked, and reads until the service closes.
async fn exchange<S: AsyncRead + AsyncWrite + Unpin>(
    mut stream: S,
    bytes: &[u8],
    half_close: bool,
) -> Vec<u8> {
    let _ = stream.write_all(bytes).await;
    let _ = stream.flush().await;
    if half_close {
        let _ = stream.shutdown().await;
    }
    let mut out = Vec::new();
    let mut buf = [0u8; 16 * 1024];
    loop {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return out,
            Ok(n) => out.extend_from_slice(&buf[..n]),
        }
    }
}

pub(crate) struct Target {
    tls: tokio_rustls::TlsConnector,
    https_port: u16,
    http_port: u16,
    hosts: std::collections::BTreeMap<String, IpAddr>,
    admin: SocketAddr,
    dns: SocketAddr,
}

impl Target {
    pub(crate) fn new(world: &World) -> Target {
        let info = world.info();
        Target {
            tls: tls_connector(world.root_pem()),
            https_port: info.https_port,
            http_port: info.http_port,
            hosts: info.hosts.clone(),
            admin: world
                .admin_url()
                .trim_start_matches("http://")
                .parse()
                .unwrap(),
            dns: info.dns_addr,
        }
    }

    /// One request to an HTTPS host: the status (0 for no answer) and the body.
    pub(crate) async fn call(
        &self,
        host: &'static str,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> (u16, String) {
        let mut all = vec![("content-type", "application/json")];
        all.extend_from_slice(headers);
        let c = case(
            "call",
            To::Tls(host),
            request(method, path, host, &all, body),
            Expect::NoAnswer,
        );
        match parse_answer(&self.send(&c).await) {
            Some(a) => (a.status, a.body),
            None => (0, String::new()),
        }
    }

    /// `user`'s token from the STS for `applies_to`.
    async fn token(&self, user: &str, applies_to: &str) -> TokenResponse {
        let body = String::from_utf8(token_body(user, &password(user), now_ms()))
            .unwrap()
            .replace(WEB_AUTH, applies_to);
        let c = case(
            "token",
            To::Tls(HOSTS[1]),
            soap_post(paths::TOKEN, HOSTS[1], &[], body.as_bytes()),
            Expect::Status(200),
        );
        let answer = parse_answer(&self.send(&c).await).expect("an answer");
        TokenResponse::from_xml(&answer.body).unwrap_or_else(|e| panic!("{e}: {}", answer.body))
    }

    /// `user`'s web ticket from pool-a for `applies_to`, with `token`; and its proof key.
    async fn ticket(
        &self,
        token: &TokenResponse,
        user: &str,
        applies_to: &str,
    ) -> (WebTicketResponse, Vec<u8>) {
        let entropy = vec![9u8; 32];
        let body = WebTicketRequest {
            to: "https://pool-a.online.lync.com/WebTicket/WebTicketService.svc/WsFedBearer".into(),
            sts_lifetime: token.lifetime,
            sts_token: token.token.clone(),
            applies_to: applies_to.into(),
            claim: format!("sip:{user}"),
            entropy: entropy.clone(),
            context: "c".into(),
        }
        .to_xml();
        let c = case(
            "web ticket",
            To::Tls(HOSTS[3]),
            soap_post(paths::WS_FED_BEARER_PATH, HOSTS[3], &[], body.as_bytes()),
            Expect::Status(200),
        );
        let answer = parse_answer(&self.send(&c).await).expect("an answer");
        let ticket = WebTicketResponse::from_xml(&answer.body)
            .unwrap_or_else(|e| panic!("{e}: {}", answer.body));
        let proof_key = p_sha1(&entropy, &ticket.entropy, 32);
        (ticket, proof_key)
    }

    /// Sends one case; returns the bytes that came back.
    async fn send(&self, case: &Case) -> Vec<u8> {
        match case.to {
            To::Tls(host) | To::Tcp(host) => {
                let addr = SocketAddr::new(self.hosts[host], self.https_port);
                let tcp = TcpStream::connect(addr).await.unwrap();
                if matches!(case.to, To::Tcp(_)) {
                    return exchange(tcp, &case.bytes, case.half_close).await;
                }
                let name = rustls_pki_types::ServerName::try_from(host.to_owned()).unwrap();
                let tls = self.tls.connect(name, tcp).await.expect("TLS handshake");
                exchange(tls, &case.bytes, case.half_close).await
            }
            To::Http(host) => {
                let addr = SocketAddr::new(self.hosts[host], self.http_port);
                let tcp = TcpStream::connect(addr).await.unwrap();
                exchange(tcp, &case.bytes, case.half_close).await
            }
            To::Admin => {
                let tcp = TcpStream::connect(self.admin).await.unwrap();
                exchange(tcp, &case.bytes, case.half_close).await
            }
            To::DnsTcp => {
                let tcp = TcpStream::connect(self.dns).await.unwrap();
                exchange(tcp, &case.bytes, case.half_close).await
            }
            To::DnsUdp => {
                let udp = UdpSocket::bind("127.0.0.1:0").await.unwrap();
                udp.send_to(&case.bytes, self.dns).await.unwrap();
                // A FORMERR or nothing; either is fine, so wait only briefly for it.
                let mut buf = [0u8; 1500];
                match tokio::time::timeout(Duration::from_millis(200), udp.recv(&mut buf)).await {
                    Ok(Ok(n)) => buf[..n].to_vec(),
                    _ => Vec::new(),
                }
            }
        }
    }

    /// Asks the DNS server for `name`'s A record over UDP; the addresses in the answer.
    async fn resolve(&self, name: &str) -> Vec<IpAddr> {
        let mut query = vec![0x42, 0x42, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
        for label in name.split('.') {
            query.push(label.len() as u8);
            query.extend_from_slice(label.as_bytes());
        }
        query.extend_from_slice(&[0, 0, 1, 0, 1]);
        let udp = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        udp.send_to(&query, self.dns).await.unwrap();
        let mut buf = [0u8; 1500];
        let n = tokio::time::timeout(Duration::from_secs(5), udp.recv(&mut buf))
            .await
            .expect("DNS answers within 5 s")
            .unwrap();
        let message = hickory_proto::op::Message::from_vec(&buf[..n]).expect("a DNS message");
        message
            .answers
            .iter()
            .filter_map(|r| match &r.data {
                hickory_proto::rr::RData::A(a) => Some(IpAddr::V4(a.0)),
                _ => None,
            })
            .collect()
    }
}

fn check(case: &Case, got: &[u8], journal_reason: &str) -> Result<(), String> {
    let answer = parse_answer(got);
    match (&case.expect, answer) {
        (Expect::Sip(code), _) => {
            let text = String::from_utf8_lossy(got);
            if !text.starts_with(&format!("SIP/2.0 {code} ")) || !text.ends_with("\r\n\r\n") {
                return Err(format!("expected one SIP {code}, got {text:?}"));
            }
            Ok(())
        }
        (Expect::NoAnswer, None) => Ok(()),
        // DNS may answer garbage with FORMERR; an HTTP port must not answer at all.
        (Expect::NoAnswer, Some(_)) if matches!(case.to, To::DnsUdp | To::DnsTcp) => Ok(()),
        (Expect::NoAnswer, Some(a)) => {
            Err(format!("expected no answer, got {} {}", a.status, a.body))
        }
        (Expect::ProblemOrNothing(..), None) => Ok(()),
        (Expect::ProblemOrNothing(status, kind), Some(_)) => check(
            &Case {
                name: case.name.clone(),
                to: case.to,
                bytes: Vec::new(),
                half_close: false,
                expect: Expect::Problem(*status, kind, None),
            },
            got,
            journal_reason,
        ),
        (_, None) => Err(format!(
            "expected {:?}, got no HTTP answer ({} bytes)",
            case.expect,
            got.len()
        )),
        (Expect::Fault(text), Some(a)) => {
            let fault = SoapFault::read(&a.body)
                .ok()
                .flatten()
                .ok_or_else(|| format!("expected a SOAP fault, got {} {}", a.status, a.body))?;
            let from_sts = matches!(case.to, To::Tls(host) if host == HOSTS[1]);
            let status = if from_sts { 200 } else { 500 };
            if from_sts && StsFault::from_xml(&a.body).is_err() {
                return Err(format!(
                    "expected Passport's header with the fault: {}",
                    a.body
                ));
            }
            let said = fault.describe().contains(text) || journal_reason.contains(text);
            if a.status != status || !said {
                return Err(format!(
                    "expected HTTP {status} with a fault saying {text:?}, got {}: {} (journal: {journal_reason})",
                    a.status,
                    fault.describe()
                ));
            }
            Ok(())
        }
        (Expect::ErrorInfo(text), Some(a)) => match CertErrorInfo::from_xml(&a.body) {
            Ok(info)
                if a.status == 200
                    && (info.reason.contains(text) || journal_reason.contains(text)) =>
            {
                Ok(())
            }
            _ => Err(format!(
                "expected HTTP 200 with ErrorInfo saying {text:?}, got {} {}",
                a.status, a.body
            )),
        },
        (Expect::Empty(s), Some(a)) if a.status == *s && a.body.is_empty() => Ok(()),
        (Expect::Empty(s), Some(a)) => Err(format!(
            "expected {s} with an empty body, got {} {:?}",
            a.status, a.body
        )),
        (Expect::Status(s), Some(a)) if a.status == *s => Ok(()),
        (Expect::Status(s), Some(a)) => Err(format!("expected {s}, got {} {}", a.status, a.body)),
        (Expect::Problem(status, kind, detail), Some(a)) => {
            if a.status != *status {
                return Err(format!("expected {status}, got {} {}", a.status, a.body));
            }
            if a.content_type != "application/problem+json" {
                return Err(format!(
                    "content type {:?}, body {}",
                    a.content_type, a.body
                ));
            }
            let doc: Value = serde_json::from_str(&a.body)
                .map_err(|e| format!("the body is not JSON ({e}): {}", a.body))?;
            if doc["type"] != format!("urn:lyncsim:problem:{kind}") || doc["status"] != *status {
                return Err(format!("expected a {kind} problem, got {doc}"));
            }
            if let Some(text) = detail
                && !doc["detail"].as_str().unwrap_or_default().contains(text)
            {
                return Err(format!("the detail does not say {text:?}: {doc}"));
            }
            Ok(())
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_case_of_the_bad_input_corpus_is_refused_and_the_service_keeps_serving() {
    let world = World::start().await;
    let target = Target::new(&world);
    let alice = "alice@contoso.com";
    let profile = world.profile("alice", Product::Lync2013, Os::Win7);
    let first = sign_in(&profile, alice).await;
    assert!(first.is_ok(), "{first:?}");

    // Alice's token and web ticket, and the requests GetAndPublishCert must refuse.
    let cert_prov = format!(
        "https://pool-a.online.lync.com:{}{}",
        target.https_port,
        paths::CERT_PROV_PROOF_PATH
    );
    let bearer_b = format!(
        "https://pool-b.online.lync.com:{}{}",
        target.https_port,
        paths::WS_FED_BEARER_PATH
    );
    let token = target.token(alice, WEB_AUTH).await;
    let (ticket, proof_key) = target.ticket(&token, alice, &cert_prov).await;
    let carol = "carol@contoso.com";
    let carol_token = target.token(carol, WEB_AUTH).await;
    let (carol_ticket, carol_key) = target.ticket(&carol_token, carol, &cert_prov).await;
    let csr_1024 = lyncsim_pki::pem_decode(
        "CERTIFICATE REQUEST",
        include_str!("../../fixtures/pki/rsa1024.csr.pem"),
    )
    .unwrap();
    let key = PersonalKey::generate().unwrap();
    let creds = Credentials {
        token,
        ticket,
        proof_key,
        csr_1024,
        csr_bob: make_csr(&key, "bob@contoso.com").unwrap(),
        cert_prov,
        token_for_b: target.token(alice, &bearer_b).await,
        token_for_sharepoint: target.token(alice, "sharepoint.com").await,
        carol: Some((carol_ticket, carol_key, make_csr(&key, carol).unwrap())),
        https_port: target.https_port,
    };

    let cases = corpus(&creds);
    assert!(cases.len() >= 150, "{} cases", cases.len());
    let login_ip = target.hosts[HOSTS[1]];
    let mut failures = Vec::new();
    for case in &cases {
        let got = tokio::time::timeout(EXCHANGE_LIMIT, target.send(case))
            .await
            .unwrap_or_else(|_| panic!("{}: no end within {EXCHANGE_LIMIT:?}", case.name));
        let journal_reason = world
            .journal()
            .await
            .last()
            .map(|e| e.reason.clone())
            .unwrap_or_default();
        if let Err(e) = check(case, &got, &journal_reason) {
            failures.push(format!("{}: {e}", case.name));
        }
        // The service still serves: health, DNS, and a real sign-in.
        let health: Value =
            serde_json::from_slice(&admin_get(world.admin_url(), "/health").await).unwrap();
        assert_eq!(health["status"], "ok", "after {}", case.name);
        assert_eq!(
            target.resolve(HOSTS[1]).await,
            vec![login_ip],
            "DNS after {}",
            case.name
        );
        let again = sign_in(&profile, alice).await;
        assert!(again.is_ok(), "sign-in after {}: {again:?}", case.name);
    }
    println!(
        "bad-input corpus: {} cases, {} failed",
        cases.len(),
        failures.len()
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
