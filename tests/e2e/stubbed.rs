//! The client against stubbed endpoints (wiremock) that answer with the real protocol's
//! documents: a cut-off GetAndPublishCert response, garbage XML, a 503, a certificate for the
//! wrong subject. Each fails at the right stage with
//! the right text, and none damages the profile, except Lync 2010's deliberate post-outage
//! defect.
//!
//! wiremock speaks plain HTTP; a small TLS front, with certificates from a test root that the
//! profile trusts, forwards to it. The profile's DNS client cache sends every host to the
//! front, so the client's own resolve, TLS and HTTP path runs unchanged.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use lyncsim_client::{CachedRecord, InitOptions, Profile, SignInRequest};
use lyncsim_domain::{ErrorId, Os, Product, Stage};
use lyncsim_pki::{Authority, AuthorityKind};
use lyncsim_wire::admin::ServiceInfo;
use lyncsim_wire::autodiscover::{self, Access};
use lyncsim_wire::paths;
use lyncsim_wire::pool::{
    CertProvMex, CertResponse, ReceivedCertRequest, WebTicket, WebTicketMex, WebTicketResponse,
};
use lyncsim_wire::sts::{EncryptedToken, RealmInfo, TokenResponse};
use lyncsim_wire::wsse::Lifetime;
use lyncsim_wire::{FromXml, ToXml};
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

const HOSTS: [&str; 6] = [
    "webdir.online.lync.com",
    "lyncdiscover.contoso.com",
    "login.microsoftonline.com",
    "sipdir.online.lync.com",
    "pool-a.online.lync.com",
    "pool-b.online.lync.com",
];
const USER: &str = "alice@contoso.com";
const PASSWORD: &str = "anything";

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// TLS in front of wiremock; from the second GetAndPublishCert on, cuts responses off after
/// `cut_after` bytes (the first is the good sign-in that sets the machine up).
struct Front {
    addr: SocketAddr,
    root_pem: String,
}

async fn front(upstream: SocketAddr, cut_after: Option<usize>) -> Front {
    let root = Authority::generate(AuthorityKind::PublicRoot, now(), 1).unwrap();
    let names: Vec<String> = HOSTS.iter().map(|h| h.to_string()).collect();
    let id = root.issue_server(&names, now()).unwrap();
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(
        vec![CertificateDer::from(id.cert_der)],
        PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(id.key_pkcs8_der)),
    )
    .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let provisioning_calls = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let [a, b]: [u8; 2] = rand_octets();
    let listener = TcpListener::bind((IpAddr::from([127, a, b, 9]), 0))
        .await
        .unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            let provisioning_calls = provisioning_calls.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let mut first = vec![0u8; 16 * 1024];
                let Ok(n) = tls.read(&mut first).await else {
                    return;
                };
                if first[..n].starts_with(b"REGISTER ") {
                    registrar(tls, first[..n].to_vec(), addr.port()).await;
                    return;
                }
                let Ok(mut up) = TcpStream::connect(upstream).await else {
                    return;
                };
                if up.write_all(&first[..n]).await.is_err() {
                    return;
                }
                let cuts = |request: &[u8]| {
                    let text = String::from_utf8_lossy(request);
                    text.contains("GetAndPublishCert").then(|| {
                        let earlier =
                            provisioning_calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                        cut_after.filter(|_| earlier >= 1)
                    })
                };
                // The client keeps the connection alive for several requests: each request
                // is looked at as it comes, and the answer to a GetAndPublishCert after the
                // first is forwarded for `cut_after` bytes, then the connection is dropped
                // without a TLS close_notify: a response cut off.
                let (mut from_client, mut from_up) = (vec![0u8; 16 * 1024], vec![0u8; 4096]);
                let mut cut: Option<usize> = cuts(&first[..n]).flatten();
                loop {
                    tokio::select! {
                        read = tls.read(&mut from_client) => {
                            let Ok(n) = read else { return };
                            if n == 0 || up.write_all(&from_client[..n]).await.is_err() {
                                return;
                            }
                            if let Some(this) = cuts(&from_client[..n]) {
                                cut = this;
                            }
                        }
                        read = up.read(&mut from_up) => {
                            let Ok(n) = read else { return };
                            if n == 0 {
                                return;
                            }
                            let take = cut.map_or(n, |left| n.min(left));
                            if tls.write_all(&from_up[..take]).await.is_err() {
                                return;
                            }
                            if let Some(left) = cut.as_mut() {
                                *left -= take;
                                if *left == 0 {
                                    let _ = tls.flush().await;
                                    return;
                                }
                            }
                        }
                    }
                }
            });
        }
    });
    Front {
        addr,
        root_pem: root.cert_pem(),
    }
}

/// The stub's SIP registrar: it challenges a REGISTER without credentials for TLS-DSK,
/// naming the stub's certificate provisioning (`sts-uri`), as the real registrar does, and
/// answers any other REGISTER 403: the stub registers no one.
async fn registrar(
    mut tls: tokio_rustls::server::TlsStream<TcpStream>,
    mut buf: Vec<u8>,
    port: u16,
) {
    use lyncsim_wire::sip::{self, Auth, Message};
    let mut chunk = vec![0u8; 16 * 1024];
    loop {
        while let Ok(Some(frame)) = sip::next_frame(&buf) {
            let end = frame.skip + frame.len;
            let Ok(request) = Message::parse(&buf[frame.skip..end]) else {
                return;
            };
            buf.drain(..end);
            let answer = if request.header("Authorization").is_none() {
                let mut r = Message::response_to(&request, 401, "stub");
                r.push(
                    "WWW-Authenticate",
                    Auth::tls_dsk()
                        .quoted("realm", sip::REALM)
                        .quoted("targetname", "pool-a.online.lync.com")
                        .bare("version", sip::AUTH_VERSION.to_string())
                        .quoted(
                            "sts-uri",
                            format!(
                                "https://pool-a.online.lync.com:{port}{}",
                                paths::CERT_PROV_PATH
                            ),
                        )
                        .to_string(),
                );
                r
            } else {
                Message::response_to(&request, 403, "stub")
            };
            if tls.write_all(&answer.to_bytes()).await.is_err() {
                return;
            }
        }
        match tls.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}

/// The stub user signing in with the password typed, not saved.
fn typed() -> SignInRequest {
    SignInRequest {
        user: USER.into(),
        password: Some(PASSWORD.into()),
        save_password: false,
    }
}

fn rand_octets() -> [u8; 2] {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    let id = std::process::id();
    [((t >> 8) as u8).max(1), ((id ^ t) as u8).max(1)]
}

/// GetAndPublishCert that issues a real certificate from the request (for `subject` when set).
struct Issue {
    ca: Arc<Authority>,
    subject: Option<&'static str>,
}

impl Respond for Issue {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let body =
            ReceivedCertRequest::from_xml(std::str::from_utf8(&request.body).unwrap()).unwrap();
        let mut req = lyncsim_pki::parse_csr(&body.csr_der).unwrap();
        if let Some(subject) = self.subject {
            req.subject_cn = subject.to_owned();
        }
        let issued = self
            .ca
            .issue_personal(&req, now(), 180 * 24 * 3600)
            .unwrap();
        xml(CertResponse {
            cert_der: issued.der,
            request_id: body.request_id,
        }
        .to_xml())
    }
}

/// A machine whose every host is the stub, after one good sign-in with a saved password and a
/// clock moved on so that the stored certificate has expired: the next sign-in must provision.
async fn machine(
    dir: &std::path::Path,
    product: Product,
    bad_cert: ResponseTemplateOrIssue,
    cut_after: Option<usize>,
) -> (Profile, MockServer) {
    let mock = MockServer::start().await;
    let front = front(*mock.address(), cut_after).await;
    let ca = Arc::new(Authority::generate(AuthorityKind::CommunicationsServer, now(), 1).unwrap());
    let root = autodiscover::Root {
        user: Some(format!(
            "https://lyncdiscover.contoso.com{}?sipuri=sip:{USER}",
            paths::AUTODISCOVER_USER
        )),
        domain: None,
        redirect: None,
    };
    let pool = Access {
        fqdn: "pool-a.online.lync.com".into(),
        port: front.addr.port(),
    };
    let home = autodiscover::User {
        access: Some(autodiscover::SipAccess {
            internal: pool.clone(),
            external: pool,
        }),
        redirect: None,
    };
    let life = Lifetime {
        created_ms: now() * 1000,
        expires_ms: (now() + 3600) * 1000,
    };
    let token = TokenResponse {
        server_time_ms: now() * 1000,
        lifetime: life,
        applies_to: "urn:x".into(),
        token: EncryptedToken {
            key_name: "stub".into(),
            cipher: vec![1; 48],
        },
    };
    let realm = RealmInfo {
        login: USER.into(),
        domain: "contoso.com".into(),
        namespace_type: "Managed".into(),
        sts_auth_url: None,
    };
    let base = "https://pool-a.online.lync.com";
    let cert_mex = CertProvMex {
        web_ticket_service: format!("{base}{}", paths::WEB_TICKET_PATH),
        address: format!("{base}{}", paths::CERT_PROV_PROOF_PATH),
    };
    let ticket_mex = WebTicketMex {
        ws_fed_bearer: format!("{base}{}", paths::WS_FED_BEARER_PATH),
    };
    let ticket = WebTicket {
        assertion_id: "uuid-stub".into(),
        issuer: "stub".into(),
        user: format!("sip:{USER}"),
        lifetime: life,
        key_cipher: vec![2; 40],
    };
    let ticket = WebTicketResponse::new(&ticket, vec![3; 32]);
    let mex_cert = format!("{}/mex", paths::CERT_PROV_PATH);
    let mex_ticket = format!("{}/mex", paths::WEB_TICKET_PATH);
    for (verb, p, body) in [
        ("GET", paths::AUTODISCOVER, root.to_xml()),
        ("GET", paths::AUTODISCOVER_USER, home.to_xml()),
        ("GET", paths::REALM, realm.to_xml()),
        ("POST", paths::TOKEN, token.to_xml()),
        ("GET", mex_cert.as_str(), cert_mex.to_xml()),
        ("GET", mex_ticket.as_str(), ticket_mex.to_xml()),
        ("POST", paths::WS_FED_BEARER_PATH, ticket.to_xml()),
    ] {
        Mock::given(method(verb))
            .and(path(p))
            .respond_with(xml(body))
            .mount(&mock)
            .await;
    }
    Mock::given(method("POST"))
        .and(path(paths::CERT_PROV_PROOF_PATH))
        .respond_with(Issue {
            ca: ca.clone(),
            subject: None,
        })
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&mock)
        .await;
    let bad = Mock::given(method("POST")).and(path(paths::CERT_PROV_PROOF_PATH));
    match bad_cert {
        ResponseTemplateOrIssue::Template(t) => {
            bad.respond_with(t).with_priority(2).mount(&mock).await
        }
        ResponseTemplateOrIssue::WrongSubject => {
            bad.respond_with(Issue {
                ca,
                subject: Some("sip:bob@contoso.com"),
            })
            .with_priority(2)
            .mount(&mock)
            .await
        }
    }

    let info = ServiceInfo {
        admin_url: "http://127.0.0.1:9".into(),
        dns_addr: "127.0.0.1:9".parse().unwrap(),
        https_port: front.addr.port(),
        http_port: 0,
        tenant: "contoso.com".into(),
        hosts: Default::default(),
    };
    let profile = Profile::init(
        dir,
        InitOptions {
            product,
            os: Os::Win7,
            build: None,
            service: info,
            root_pem: front.root_pem.clone(),
            windows_user: "jdoe".into(),
            windows_password: "Winter2011!".into(),
        },
    )
    .unwrap();
    // The resolver cache names the front for every host, for ten years.
    let mut records: Vec<CachedRecord> = HOSTS
        .iter()
        .map(|h| CachedRecord {
            name: h.to_string(),
            rtype: "A".into(),
            data: front.addr.ip().to_string(),
            ttl: 3600,
            expires: now() + 3650 * 86400,
        })
        .collect();
    records.push(CachedRecord {
        name: "_sip._tls.contoso.com".into(),
        rtype: "SRV".into(),
        data: format!("100 1 {} sipdir.online.lync.com", front.addr.port()),
        ttl: 3600,
        expires: now() + 3650 * 86400,
    });
    std::fs::create_dir_all(profile.layout().dns_cache().parent().unwrap()).unwrap();
    std::fs::write(
        profile.layout().dns_cache(),
        serde_json::to_vec(&records).unwrap(),
    )
    .unwrap();

    // The first sign-in provisions and stores a certificate at the sts-uri that the stub's
    // registrar names; it stops at REGISTER, which the stub refuses (403) once authenticated.
    let first = typed();
    let stopped = lyncsim_client::sign_in(&profile, &first)
        .await
        .unwrap()
        .expect_err("the stub has no registrar");
    assert_eq!(stopped.stage, Stage::Register, "{}", stopped.reason);
    let mut profile = profile;
    profile
        .update_machine(|m| m.clock_offset_secs = 200 * 86400)
        .unwrap();
    (profile, mock)
}

fn xml(body: String) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_raw(body, "text/xml; charset=utf-8")
}

enum ResponseTemplateOrIssue {
    Template(ResponseTemplate),
    WrongSubject,
}

/// The certificate and credential files, byte for byte.
fn snapshot(profile: &Profile) -> Vec<Vec<u8>> {
    let mut files: Vec<Vec<u8>> = profile
        .certificates()
        .unwrap()
        .into_iter()
        .map(|c| c.der)
        .collect();
    for dir in [profile.layout().credentials_dir()] {
        for e in std::fs::read_dir(dir).unwrap() {
            files.push(std::fs::read(e.unwrap().path()).unwrap());
        }
    }
    files.sort();
    files
}

async fn provision_fails(
    product: Product,
    bad: ResponseTemplateOrIssue,
    cut_after: Option<usize>,
) -> (lyncsim_client::SignInFailure, bool) {
    let dir = tempfile::tempdir().unwrap();
    let (profile, _mock) = machine(&dir.path().join("m"), product, bad, cut_after).await;
    let before = snapshot(&profile);
    let again = typed();
    let failure = lyncsim_client::sign_in(&profile, &again)
        .await
        .unwrap()
        .expect_err("provisioning fails");
    let unchanged = snapshot(&profile) == before;
    (failure, unchanged)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cut_off_certificate_response_cannot_be_reached_and_only_lync_2010_is_left_damaged() {
    let (f, unchanged) = provision_fails(
        Product::Lync2013,
        ResponseTemplateOrIssue::WrongSubject,
        Some(120),
    )
    .await;
    assert_eq!(
        (f.stage, f.error),
        (Stage::Certificate, ErrorId::EUnreachable),
        "{}",
        f.reason
    );
    assert!(f.reason.contains("cut off"), "{}", f.reason);
    assert!(unchanged, "Lync 2013 must leave the profile as it was");

    let (f, unchanged) = provision_fails(
        Product::Lync2010,
        ResponseTemplateOrIssue::WrongSubject,
        Some(120),
    )
    .await;
    assert_eq!(
        (f.stage, f.error),
        (Stage::Certificate, ErrorId::EUnreachable),
        "{}",
        f.reason
    );
    assert!(
        !unchanged,
        "Lync 2010's post-outage defect leaves its certificate and credential damaged"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_xml_from_get_and_publish_cert_is_a_certificate_problem() {
    let garbage =
        ResponseTemplate::new(200).set_body_raw("<s:Envelope xmlns:s='x'><s:Body><Get", "text/xml");
    let (f, unchanged) = provision_fails(
        Product::Lync2013,
        ResponseTemplateOrIssue::Template(garbage),
        None,
    )
    .await;
    assert_eq!(
        (f.stage, f.error),
        (Stage::Certificate, ErrorId::ECert),
        "{}",
        f.reason
    );
    assert!(f.reason.contains("unusable response"), "{}", f.reason);
    assert!(unchanged);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_503_from_get_and_publish_cert_cannot_be_reached() {
    let unavailable =
        ResponseTemplate::new(503).set_body_json(lyncsim_wire::Problem::unavailable("maintenance"));
    let (f, unchanged) = provision_fails(
        Product::Lync2013,
        ResponseTemplateOrIssue::Template(unavailable),
        None,
    )
    .await;
    assert_eq!(
        (f.stage, f.error),
        (Stage::Certificate, ErrorId::EUnreachable),
        "{}",
        f.reason
    );
    assert!(f.reason.contains("HTTP 503: maintenance"), "{}", f.reason);
    assert!(unchanged);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_certificate_for_the_wrong_subject_is_not_stored() {
    let (f, unchanged) = provision_fails(
        Product::Lync2013,
        ResponseTemplateOrIssue::WrongSubject,
        None,
    )
    .await;
    assert_eq!(
        (f.stage, f.error),
        (Stage::Certificate, ErrorId::ECert),
        "{}",
        f.reason
    );
    assert!(
        f.reason
            .contains("a certificate for sip:bob@contoso.com, not sip:alice@contoso.com"),
        "{}",
        f.reason
    );
    assert!(unchanged, "the wrong certificate must not be stored");
}

/// Mounts an Autodiscover document at `at`, ahead of the machine's own.
async fn autodiscover_at(mock: &MockServer, at: &str, body: String) {
    Mock::given(method("GET"))
        .and(path(at))
        .respond_with(ResponseTemplate::new(200).set_body_raw(body, autodiscover::MEDIA_XML))
        .with_priority(2)
        .mount(mock)
        .await;
}

/// Lync 2013 follows Autodiscover's `Redirect` links, of a root and of a User document, to
/// the next hop ([MS-OCDISCWS] 3.1.5.2-3.1.5.3), and refuses a redirect loop.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn autodiscover_redirects_are_followed_and_a_loop_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (profile, mock) = machine(
        &dir.path().join("m"),
        Product::Lync2013,
        ResponseTemplateOrIssue::WrongSubject,
        None,
    )
    .await;
    let port = profile.machine().network.https_port;
    let url = |p: &str| format!("https://webdir.online.lync.com:{port}{p}?sipuri=sip:{USER}");
    let redirect = |to: String| autodiscover::Root {
        user: None,
        domain: None,
        redirect: Some(to),
    };
    autodiscover_at(
        &mock,
        paths::AUTODISCOVER,
        redirect(url("/hop/root")).to_xml(),
    )
    .await;
    let hop = autodiscover::User {
        access: None,
        redirect: Some(url("/home/user")),
    };
    autodiscover_at(&mock, "/hop/root", hop.to_xml()).await;
    let pool_b = Access {
        fqdn: "pool-b.online.lync.com".into(),
        port,
    };
    let home = autodiscover::User {
        access: Some(autodiscover::SipAccess {
            internal: pool_b.clone(),
            external: pool_b,
        }),
        redirect: None,
    };
    autodiscover_at(&mock, "/home/user", home.to_xml()).await;
    let again = typed();
    let failure = lyncsim_client::sign_in(&profile, &again)
        .await
        .unwrap()
        .expect_err("the stub issues a certificate for the wrong subject");
    assert_eq!(failure.stage, Stage::Certificate, "{}", failure.reason);
    let trace = std::fs::read_to_string(profile.trace_file()).unwrap();
    for seen in [
        format!("Link token=Redirect: {}", url("/hop/root")),
        format!("Link token=Redirect: {}", url("/home/user")),
        "SipClientExternalAccess fqdn=pool-b.online.lync.com".to_owned(),
    ] {
        assert!(trace.contains(&seen), "{seen}: {trace}");
    }

    // A root that redirects to itself.
    autodiscover_at(&mock, "/loop/root", redirect(url("/loop/root")).to_xml()).await;
    Mock::given(method("GET"))
        .and(path(paths::AUTODISCOVER))
        .respond_with(ResponseTemplate::new(200).set_body_raw(
            redirect(url("/loop/root")).to_xml(),
            autodiscover::MEDIA_XML,
        ))
        .with_priority(1)
        .mount(&mock)
        .await;
    let failure = lyncsim_client::sign_in(&profile, &again)
        .await
        .unwrap()
        .expect_err("a loop");
    assert_eq!(failure.stage, Stage::Discover, "{}", failure.reason);
    assert!(failure.reason.contains("in a loop"), "{}", failure.reason);
}
