//! The SIP registrar spoken to by hand: a TLS connection, SIP messages written here, the
//! TLS-DSK handshake driven step by step, and the signatures made (or deliberately spoiled)
//! here. The certificate comes from the protocol tests' curl provisioning, not from the
//! emulated client.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use lyncsim_lab::AdminClient;
use lyncsim_pki::{PersonalKey, make_csr};
use lyncsim_tlsdsk::{Handshake, Keys, Step, TlsDskError};
use lyncsim_wire::admin::{Fault, OutageMode};
use lyncsim_wire::sip::{self, Auth, Message, Method, SignedBy};
use rustls_pki_types::ServerName;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

use crate::support::{World, tls_connector};

/// One SIP connection to a registrar.
struct Sip {
    tls: TlsStream<TcpStream>,
    buf: Vec<u8>,
    host: String,
    user: String,
    cseq: u32,
    user_agent: String,
    /// Whether its REGISTERs name the endpoint (`epid`, `+sip.instance`).
    identified: bool,
}

impl Sip {
    async fn connect(world: &World, host: &str, user: &str) -> Sip {
        let ip = world.info().hosts[host];
        let tcp = TcpStream::connect((ip, world.info().https_port))
            .await
            .unwrap();
        let tls = tls_connector(world.root_pem())
            .connect(ServerName::try_from(host.to_owned()).unwrap(), tcp)
            .await
            .unwrap();
        Sip {
            tls,
            buf: Vec::new(),
            host: host.into(),
            user: user.into(),
            cseq: 0,
            user_agent: "UCCAPI/15.0.4569.1503 OC/15.0.4569.1503 (Microsoft Lync)".into(),
            identified: true,
        }
    }

    fn register(&mut self, authorization: Option<String>) -> Message {
        self.cseq += 1;
        let mut m = Message::request(Method::Register, "sip:contoso.com").unwrap();
        m.push("Via", "SIP/2.0/TLS 127.0.0.1:5061;branch=z9hG4bKtest");
        let (epid, instance) = if self.identified {
            (
                ";epid=0123456789",
                ";+sip.instance=\"<urn:uuid:0e1d2c3b-0000-0000-0000-000000000001>\"",
            )
        } else {
            ("", "")
        };
        m.push("From", format!("<sip:{}>;tag=f00d{epid}", self.user));
        m.push("To", format!("<sip:{}>", self.user));
        m.push("CSeq", format!("{} REGISTER", self.cseq));
        m.push("Call-ID", "registrar-test");
        m.push("User-Agent", self.user_agent.clone());
        m.push(
            "Contact",
            format!("<sip:127.0.0.1:5061;transport=tls>{instance}"),
        );
        if let Some(a) = authorization {
            m.push("Authorization", a);
        }
        m
    }

    /// A REGISTER with `authorization`, and its answer.
    async fn ask(&mut self, authorization: Option<String>) -> Option<Message> {
        let m = self.register(authorization);
        self.send(&m).await
    }

    /// Sends and reads the answer; `None` when the registrar closed the connection.
    async fn send(&mut self, m: &Message) -> Option<Message> {
        self.tls.write_all(&m.to_bytes()).await.ok()?;
        let mut chunk = vec![0u8; 8192];
        loop {
            if let Some(f) = sip::next_frame(&self.buf).unwrap() {
                let end = f.skip + f.len;
                let answer = Message::parse(&self.buf[f.skip..end]).unwrap();
                self.buf.drain(..end);
                return Some(answer);
            }
            let n = self.tls.read(&mut chunk).await.ok()?;
            if n == 0 {
                return None;
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }

    /// The challenge, then the TLS-DSK handshake with `cert`/`key`: the keys and `opaque`, or
    /// the 401 that ended it (with the alert in its `gssapi-data`).
    async fn authenticate(
        &mut self,
        cert: &[u8],
        key: &PersonalKey,
    ) -> Result<(Keys, String), (Message, Option<TlsDskError>)> {
        let challenge = self.ask(None).await.unwrap();
        assert_eq!(challenge.status(), Some(401));
        let offer = challenge.auth("WWW-Authenticate").unwrap();
        assert_eq!(offer.get("targetname"), Some(self.host.as_str()));
        assert_eq!(offer.get("version"), Some("4"));
        let mut hs = Handshake::client(cert, &key.pkcs8_der()).unwrap();
        let Step::Send(mut out) = hs.step(&[]).unwrap() else {
            panic!()
        };
        let mut opaque = String::new();
        for _ in 0..4 {
            let mut auth = Auth::tls_dsk().quoted("qop", "auth");
            if !opaque.is_empty() {
                auth = auth.quoted("opaque", &opaque);
            }
            let auth = auth
                .quoted("realm", sip::REALM)
                .quoted("targetname", &self.host)
                .quoted("gssapi-data", B64.encode(&out))
                .bare("version", "4");
            let answer = self.ask(Some(auth.to_string())).await.unwrap();
            let Some(data) = answer
                .auth("WWW-Authenticate")
                .and_then(|a| a.get("gssapi-data").map(str::to_owned))
            else {
                return Err((answer, None));
            };
            if let Some(o) = answer.auth("WWW-Authenticate").unwrap().get("opaque") {
                opaque = o.to_owned();
            }
            match hs.step(&B64.decode(data).unwrap()) {
                Ok(Step::Send(b)) => out = b,
                Ok(Step::Done { keys, .. }) => return Ok((keys, opaque)),
                Err(e) => return Err((answer, Some(e))),
            }
        }
        panic!("the handshake did not end");
    }

    /// A REGISTER signed with `key`.
    async fn signed(&mut self, key: &[u8], opaque: &str, cnum: u32) -> Message {
        let mut m = self.register(None);
        let cnum = cnum.to_string();
        let by = SignedBy {
            rand: "0badc0de",
            num: &cnum,
            realm: sip::REALM,
            target: &self.host,
        };
        let auth = Auth::tls_dsk()
            .quoted("qop", "auth")
            .quoted("opaque", opaque)
            .quoted("realm", sip::REALM)
            .quoted("targetname", &self.host)
            .quoted("crand", by.rand)
            .quoted("cnum", &cnum)
            .quoted("response", sip::sign(key, &sip::signature_input(&m, by)));
        m.push("Authorization", auth.to_string());
        self.send(&m).await.unwrap()
    }
}

/// The registrar's signature on its answer checks with the server key.
fn signed_by_registrar(answer: &Message, keys: &Keys) -> bool {
    let info = answer.auth("Authentication-Info").unwrap();
    let input = sip::signature_input(
        answer,
        SignedBy {
            rand: info.get("srand").unwrap(),
            num: info.get("snum").unwrap(),
            realm: info.get("realm").unwrap(),
            target: info.get("targetname").unwrap(),
        },
    );
    sip::verify(&keys.server, &input, info.get("rspauth").unwrap())
}

fn diagnostics(m: &Message) -> String {
    m.header("ms-diagnostics").unwrap_or_default()
}

async fn journal_reasons(world: &World) -> Vec<String> {
    world
        .journal()
        .await
        .into_iter()
        .filter(|e| e.endpoint == "register" || e.endpoint == "sip")
        .map(|e| e.reason)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_registrar_authenticates_with_tls_dsk_and_answers_as_lync_online_did() {
    let world = World::start().await;
    let curl = crate::protocol::Curl::new(&world);
    let (cert, key) = crate::protocol::provision(&curl, "alice@contoso.com", "pool-a");

    // Home pool: 200 with Expires, signed by the registrar.
    let mut sip = Sip::connect(&world, "pool-a.online.lync.com", "alice@contoso.com").await;
    let (keys, opaque) = sip.authenticate(&cert, &key).await.unwrap();
    let ok = sip.signed(&keys.client, &opaque, 1).await;
    assert_eq!(ok.status(), Some(200), "{ok:?}");
    assert_eq!(ok.header("Expires").as_deref(), Some("7200"));
    // As [MS-SIPREGE]'s example 200 OK: the Contact with its expiry, instance and GRUU, and
    // ms-keep-alive.
    let contact = ok.header("Contact").unwrap();
    assert!(contact.contains(";expires=7200"), "{contact}");
    assert!(contact.contains("+sip.instance=\"<urn:uuid:"), "{contact}");
    assert!(
        contact.contains("gruu=\"sip:alice@contoso.com;opaque=user:epid:0123456789;gruu\""),
        "{contact}"
    );
    assert_eq!(
        ok.header("ms-keep-alive").as_deref(),
        Some("UAS; tcp=no; hop-hop=yes; end-end=no; timeout=300")
    );
    assert!(signed_by_registrar(&ok, &keys));
    // Every answer carries the registrar's Date (RFC 3261 section 20.17), by the service
    // clock, outside the signed buffer.
    let date = ok.header("Date").expect("a Date header");
    let at = chrono::NaiveDateTime::parse_from_str(&date, "%a, %d %b %Y %H:%M:%S GMT")
        .unwrap_or_else(|e| panic!("{date:?}: {e}"))
        .and_utc();
    assert!((chrono::Utc::now() - at).num_seconds().abs() < 60, "{date}");
    // A replayed cnum is refused.
    let replay = sip.signed(&keys.client, &opaque, 1).await;
    assert_eq!(replay.status(), Some(401), "{replay:?}");

    // Once authenticated, a REGISTER that does not name its endpoint: 400 with [MS-OCER]'s
    // 4010, as [MS-SIPREGE] 3.1.2.5.1 has it.
    let mut sip = Sip::connect(&world, "pool-a.online.lync.com", "alice@contoso.com").await;
    sip.identified = false;
    let (keys, opaque) = sip.authenticate(&cert, &key).await.unwrap();
    let unnamed = sip.signed(&keys.client, &opaque, 1).await;
    assert_eq!(unnamed.status(), Some(400), "{unnamed:?}");
    assert_eq!(
        diagnostics(&unnamed),
        "4010;reason=\"Missing endpoint identifier.\";source=\"pool-a.online.lync.com\""
    );

    // A message signed with a wrong key: 401.
    let mut sip = Sip::connect(&world, "pool-a.online.lync.com", "alice@contoso.com").await;
    let (keys, opaque) = sip.authenticate(&cert, &key).await.unwrap();
    let forged = sip.signed(&keys.server, &opaque, 1).await;
    assert_eq!(forged.status(), Some(401), "{forged:?}");
    assert!(
        diagnostics(&forged).starts_with("90012;reason=\"The message signature is not valid.\"")
    );

    // A pool of another deployment: 403, the user is not homed there (it knows nothing of
    // her).
    let mut sip = Sip::connect(&world, "pool-b.online.lync.com", "alice@contoso.com").await;
    let (keys, opaque) = sip.authenticate(&cert, &key).await.unwrap();
    let refused = sip.signed(&keys.client, &opaque, 1).await;
    assert_eq!(refused.status(), Some(403));
    // [MS-OCER]'s 4006 with its reason; the journal says which pool.
    assert_eq!(
        diagnostics(&refused),
        "4006;reason=\"User not found in pool.\";source=\"pool-b.online.lync.com\"",
    );
    assert_eq!(refused.header("ms-diagnostics-public"), None);
    assert!(signed_by_registrar(&refused, &keys));

    // Alice's certificate for bob: 403.
    let mut sip = Sip::connect(&world, "pool-a.online.lync.com", "bob@contoso.com").await;
    let (keys, opaque) = sip.authenticate(&cert, &key).await.unwrap();
    let refused = sip.signed(&keys.client, &opaque, 1).await;
    assert_eq!(refused.status(), Some(403));
    assert!(diagnostics(&refused).starts_with("90024;"), "{refused:?}");

    // The director redirects to the home pool, and so does another pool of her pool's
    // deployment.
    for redirector in ["sipdir.online.lync.com", "pool-c.online.lync.com"] {
        let mut sip = Sip::connect(&world, redirector, "alice@contoso.com").await;
        let (keys, opaque) = sip.authenticate(&cert, &key).await.unwrap();
        let moved = sip.signed(&keys.client, &opaque, 1).await;
        assert_eq!(moved.status(), Some(301), "{redirector}");
        assert_eq!(
            moved.address("Contact").unwrap(),
            format!(
                "sip:pool-a.online.lync.com:{};transport=tls",
                world.info().https_port
            ),
            "{redirector}"
        );
    }

    // HTTPS still answers on the same port.
    let (status, _) = curl.get(
        "pool-a.online.lync.com",
        "/CertProv/CertProvisioningService.svc/mex",
    );
    assert_eq!(status, 200);

    // The wire carried each refusal's one reason; the journal has the precise one.
    let reasons = journal_reasons(&world).await;
    for precise in [
        "is homed on pool-a, in another deployment than pool-b",
        "the certificate is for sip:alice@contoso.com",
    ] {
        assert!(reasons.iter().any(|r| r.contains(precise)), "{reasons:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_registrar_judges_the_certificate_in_the_tls_dsk_handshake() {
    let world = World::start().await;
    let curl = crate::protocol::Curl::new(&world);
    let (cert, key) = crate::protocol::provision(&curl, "alice@contoso.com", "pool-a");

    // The same key and subject from another CA: the handshake ends with an alert.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let foreign =
        lyncsim_pki::Authority::generate(lyncsim_pki::AuthorityKind::CommunicationsServer, now, 9)
            .unwrap();
    let request = lyncsim_pki::parse_csr(&make_csr(&key, "alice@contoso.com").unwrap()).unwrap();
    let forged = foreign.issue_personal(&request, now, 24 * 3600).unwrap();
    let mut sip = Sip::connect(&world, "pool-a.online.lync.com", "alice@contoso.com").await;
    let (answer, error) = sip.authenticate(&forged.der, &key).await.unwrap_err();
    assert_eq!(answer.status(), Some(401));
    assert!(
        error.is_some_and(|e| e.to_string().contains("alert")),
        "the client sees the registrar's alert"
    );

    // An association lasts as long as its certificate is trusted: once the CA rotates, the
    // next signed REGISTER gets 401 with a new challenge, and the client must authenticate
    // again.
    let admin = AdminClient::new(world.admin_url()).unwrap();
    let mut live = Sip::connect(&world, "pool-a.online.lync.com", "alice@contoso.com").await;
    let (keys, opaque) = live.authenticate(&cert, &key).await.unwrap();
    assert_eq!(
        live.signed(&keys.client, &opaque, 1).await.status(),
        Some(200)
    );
    admin.add_fault(&Fault::RotateCa).await.unwrap();
    let ended = live.signed(&keys.client, &opaque, 2).await;
    assert_eq!(ended.status(), Some(401), "{ended:?}");
    assert!(
        ended
            .auth("WWW-Authenticate")
            .unwrap()
            .get("sts-uri")
            .is_some()
    );
    // The wire says the certificate was not accepted; why is the journal's (below).
    assert!(
        diagnostics(&ended)
            .starts_with("90032;reason=\"The client certificate was not accepted.\""),
        "{ended:?}"
    );
    admin.clear_faults().await.unwrap();

    // Half a year on by the service's clock, the genuine certificate has expired.
    admin
        .set_clock(&lyncsim_wire::admin::ClockUpdate {
            offset_secs: Some(183 * 86400),
            ..Default::default()
        })
        .await
        .unwrap();
    let mut sip = Sip::connect(&world, "pool-a.online.lync.com", "alice@contoso.com").await;
    assert!(sip.authenticate(&cert, &key).await.is_err());

    let reasons = journal_reasons(&world).await;
    assert!(
        reasons
            .iter()
            .any(|r| r.contains("not issued by the current Communications Server CA")),
        "{reasons:?}"
    );
    assert!(
        reasons
            .iter()
            .any(|r| r.contains("expired") && r.contains("by the service clock")),
        "{reasons:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outages_old_clients_and_garbage_get_the_registrars_answers() {
    let world = World::start().await;
    let admin = AdminClient::new(world.admin_url()).unwrap();

    // A build below the minimum: 403 before any authentication.
    let mut sip = Sip::connect(&world, "pool-a.online.lync.com", "alice@contoso.com").await;
    sip.user_agent = "UCCAPI/15.0.4420.1017 OC/15.0.4420.1017 (Microsoft Lync)".into();
    admin
        .add_fault(&Fault::MinClientBuild {
            product: lyncsim_domain::Product::Lync2013,
            build: Some("15.0.4569.1503".parse().unwrap()),
        })
        .await
        .unwrap();
    let old = sip.ask(None).await.unwrap();
    // [MS-SIPREGE] 3.4.2.5.6 and [MS-OCER] 8.16.
    assert_eq!(old.status(), Some(403));
    assert_eq!(
        diagnostics(&old),
        "17002;reason=\"Invalid protocol client version.\";source=\"pool-a.online.lync.com\""
    );
    assert_eq!(
        old.header("Warning").as_deref(),
        Some("314 lcs.microsoft.com \"Check Microsoft Update for the newest version.\"")
    );
    assert_eq!(old.header("ms-diagnostics-public"), None);

    // An outage: 503.
    admin
        .add_fault(&Fault::Outage {
            hosts: vec!["pool-a.online.lync.com".into()],
            mode: OutageMode::Status503,
            duration_secs: None,
        })
        .await
        .unwrap();
    let mut sip = Sip::connect(&world, "pool-a.online.lync.com", "alice@contoso.com").await;
    let down = sip.ask(None).await.unwrap();
    assert_eq!(down.status(), Some(503));

    // A message that cannot be framed after a SIP start line (no Content-Length) gets RFC
    // 3261's 400, naming its request, and the connection ends; the registrar goes on.
    let mut sip = Sip::connect(&world, "pool-b.online.lync.com", "carol@contoso.com").await;
    sip.tls
        .write_all(b"REGISTER sip:contoso.com SIP/2.0\r\nCSeq: 1 REGISTER\r\n\r\n")
        .await
        .unwrap();
    let mut rest = Vec::new();
    let _ = sip.tls.read_to_end(&mut rest).await;
    assert_eq!(
        String::from_utf8_lossy(&rest),
        "SIP/2.0 400 Bad Request\r\nCSeq: 1 REGISTER\r\nContent-Length: 0\r\n\r\n"
    );
    let mut sip = Sip::connect(&world, "pool-b.online.lync.com", "carol@contoso.com").await;
    let challenge = sip.ask(None).await.unwrap();
    assert_eq!(challenge.status(), Some(401));
}
