//! The SIP registrar of the director and the pools: SIP over TLS on the hosts' HTTPS port
//! (a connection whose first line ends in `SIP/2.0` is SIP, any other is HTTP), REGISTER
//! authenticated with TLS-DSK ([MS-SIPAE]).
//!
//! A REGISTER without credentials gets 401 with the `TLS-DSK` challenge naming where the
//! personal certificate comes from (`sts-uri`). The client then runs a TLS handshake inside
//! `gssapi-data` over further 401s, presenting its personal certificate; the registrar judges
//! it by the *service's* clock within the tolerance against the *current* Communications
//! Server CA, and a refusal ends the handshake with an alert (and a journal line with the real
//! reason). Once the handshake is done both sides hold its keys and every later message is
//! signed (`crand`/`cnum`/`response` by the client, `srand`/`snum`/`rspauth` by the registrar);
//! a wrong signature gets 401. The signed REGISTER is answered as Lync Online did: the
//! director redirects to the user's home pool (301), a pool that does not home the user refuses
//! (403 with `ms-diagnostics`), a pool that does registers (200 with `Expires`). A client build
//! below the service's minimum gets 403 before any of this; an outage 503.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use lyncsim_domain::Skew;
use lyncsim_pki::ValidityError;
use lyncsim_tlsdsk::{Handshake, Keys, Step, TlsDskError};
use lyncsim_wire::admin::{JournalOutcome, OutageMode};
use lyncsim_wire::agent::UserAgent;
use lyncsim_wire::paths;
use lyncsim_wire::sip::{self, Auth, Message, SignedBy};
use rustls_pki_types::{CertificateDer, UnixTime};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::conn::{ConnInfo, Limits};
use crate::diag;
use crate::directory::homed_here;
use crate::outage::Outages;
use crate::pools::pool_fqdn;
use crate::sip_conn::{Ended, SipConnection};
use crate::state::State;

/// How long a registration lasts.
const EXPIRES_SECS: u32 = 7200;

/// One host's registrar.
pub(crate) struct Registrar {
    /// The host's name: the `targetname` of its TLS-DSK.
    pub(crate) host: String,
    /// Whether this is the director (it redirects) rather than a pool (it registers).
    pub(crate) director: bool,
    /// The certificate and RSA key of the inner handshake, loaded into OpenSSL once.
    pub(crate) identity: lyncsim_tlsdsk::Identity,
    pub(crate) state: Arc<State>,
    pub(crate) outages: Arc<Outages>,
}

/// The registrar's verdict on a personal certificate: the chain must lead to the *current*
/// Communications Server CA, the certificate must be for client authentication, and it must
/// be valid by the *service's* clock within the tolerance. The chain is checked at an instant
/// inside the certificate's window, validity having been judged first.
pub(crate) fn judge_certificate(state: &State, der: &[u8]) -> Result<(), String> {
    let info = lyncsim_pki::inspect(der).map_err(|e| e.to_string())?;
    let (now, tolerance) = (state.clock.now(), state.clock.tolerance());
    if let Err(e) = info.validity.check(now, tolerance) {
        return Err(match e {
            ValidityError::Expired { late, .. } => format!(
                "expired {} ago by the service clock, tolerance {}",
                Skew(late),
                Skew(tolerance)
            ),
            ValidityError::NotYetValid { early, .. } => format!(
                "not valid for another {} by the service clock, tolerance {}",
                Skew(early),
                Skew(tolerance)
            ),
            other => other.to_string(),
        });
    }
    let ca = state.communications_server();
    let ca_der = CertificateDer::from(ca.cert_der());
    let anchor = webpki::anchor_from_trusted_cert(&ca_der)
        .map_err(|e| format!("the current CA does not parse: {e}"))?;
    let end_entity = CertificateDer::from(der);
    let ee = webpki::EndEntityCert::try_from(&end_entity)
        .map_err(|e| format!("does not parse as X.509: {e}"))?;
    let at =
        UnixTime::since_unix_epoch(Duration::from_secs(info.validity.clamp(now).max(0) as u64));
    ee.verify_for_usage(
        rustls::crypto::aws_lc_rs::default_provider()
            .signature_verification_algorithms
            .all,
        &[anchor],
        &[],
        at,
        webpki::KeyUsage::client_auth(),
        None,
        None,
    )
    .map_err(|e| match e {
        webpki::Error::UnknownIssuer => {
            "not issued by the current Communications Server CA".to_owned()
        }
        webpki::Error::InvalidSignatureForPublicKey => {
            "its signature does not verify with the current Communications Server CA".to_owned()
        }
        other => format!("chain check failed: {other}"),
    })?;
    Ok(())
}

/// The security association a finished handshake set up.
struct Association {
    opaque: String,
    keys: Keys,
    /// The user the personal certificate names (`bob@contoso.com`).
    user: String,
    thumbprint: String,
    /// The personal certificate (DER), judged again at every signed request.
    certificate: Vec<u8>,
    /// The highest `cnum` seen: each signed request must carry a higher one.
    cnum: u64,
    snum: u64,
}

/// A connection's authentication state.
#[derive(Default)]
struct Session {
    /// The handshake under way, with its `opaque`.
    handshake: Option<(String, Handshake)>,
    association: Option<Association>,
    to_tag: String,
}

/// What to send back, and whether to close the connection after it.
struct Reply {
    bytes: Vec<u8>,
    close: bool,
}

impl Registrar {
    fn journal(&self, endpoint: &str, user: Option<&str>, outcome: JournalOutcome, why: String) {
        self.state
            .journal
            .record(&self.host, endpoint, user, outcome, why);
    }

    /// The refusal's `ms-diagnostics`, and the same as `ms-diagnostics-public`, which a client
    /// outside the company network (pidgin-sipe) shows.
    fn diagnose(&self, response: &mut Message, id: u32, reason: &str) {
        let value = format!(
            "{id};reason=\"{}\";source=\"{}\"",
            reason.replace('"', "'"),
            self.host
        );
        response.push("ms-diagnostics", value.clone());
        response.push("ms-diagnostics-public", value);
    }

    /// Answers one request on the connection.
    fn handle(&self, session: &mut Session, conn: &ConnInfo, request: &Message) -> Option<Reply> {
        let method = *request.method()?;
        if method == sip::Method::Ack {
            return None;
        }
        let user = request
            .address("From")
            .map(|a| a.trim_start_matches("sip:").to_ascii_lowercase());
        let user = user.as_deref();
        let endpoint = "sip";
        match self.outages.mode(&self.host) {
            Some(OutageMode::Status503) => {
                self.journal(
                    endpoint,
                    user,
                    JournalOutcome::Rejected,
                    "outage: 503".into(),
                );
                let mut r = Message::response_to(request, 503, &session.to_tag);
                self.diagnose(
                    &mut r,
                    diag::OUTAGE,
                    &format!("{} is in an outage", self.host),
                );
                r.push("Retry-After", "30");
                return Some(Reply {
                    bytes: r.to_bytes(),
                    close: false,
                });
            }
            Some(OutageMode::CutOff) => {
                self.journal(
                    endpoint,
                    user,
                    JournalOutcome::Rejected,
                    "outage: response cut off".into(),
                );
                let mut bytes = Message::response_to(request, 401, &session.to_tag).to_bytes();
                bytes.truncate(bytes.len() / 2);
                return Some(Reply { bytes, close: true });
            }
            _ => {}
        }
        if method != sip::Method::Register {
            let mut r = Message::response_to(request, 405, &session.to_tag);
            r.push("Allow", "REGISTER, ACK");
            return Some(self.finish(session, r));
        }
        let Some(user) = user else {
            let r = Message::response_to(request, 400, &session.to_tag);
            self.journal(
                endpoint,
                None,
                JournalOutcome::Rejected,
                "REGISTER without a From address".into(),
            );
            return Some(self.finish(session, r));
        };
        let agent = UserAgent::parse(&request.header("User-Agent").unwrap_or_default());
        if let Some((product, build)) = &agent.client
            && let Some(min) = self.state.policy().min_build.get(product)
            && build < min
        {
            let why = format!(
                "client {product} build {build} is older than the minimum build {min} this service accepts"
            );
            self.journal(
                "register",
                Some(user),
                JournalOutcome::Rejected,
                why.clone(),
            );
            let mut r = Message::response_to(request, 403, &session.to_tag);
            self.diagnose(
                &mut r,
                diag::CLIENT_VERSION,
                &format!("Client version is blocked: {why}"),
            );
            return Some(self.finish(session, r));
        }
        let auth = request.auth("Authorization");
        match auth {
            Some(auth) if auth.get("response").is_some() => {
                self.signed_register(session, conn, request, user, &auth)
            }
            Some(auth) if auth.get("gssapi-data").is_some() => {
                Some(self.handshake(session, request, user, &auth))
            }
            _ => Some(self.challenge(session, conn, request, user, None)),
        }
    }

    /// 401 with the TLS-DSK challenge (and why, when it ends a security association), or 404
    /// at the director for a user it does not know.
    fn challenge(
        &self,
        session: &mut Session,
        conn: &ConnInfo,
        request: &Message,
        user: &str,
        why: Option<(u32, &str)>,
    ) -> Reply {
        // The director sends the client to provision its certificate at its home pool.
        let pool = if self.director {
            match self.state.user(user) {
                Some(record) => pool_fqdn(&record.home_pool),
                None => {
                    self.journal(
                        "register",
                        Some(user),
                        JournalOutcome::Rejected,
                        format!("no user sip:{user}"),
                    );
                    let mut r = Message::response_to(request, 404, &session.to_tag);
                    self.diagnose(&mut r, diag::NO_USER, "User does not exist");
                    return self.finish(session, r);
                }
            }
        } else {
            self.host.clone()
        };
        let mut r = Message::response_to(request, 401, &session.to_tag);
        r.push(
            "WWW-Authenticate",
            Auth::tls_dsk()
                .quoted("realm", sip::REALM)
                .quoted("targetname", &self.host)
                .bare("version", sip::AUTH_VERSION.to_string())
                .quoted(
                    "sts-uri",
                    format!(
                        "https://{pool}:{}{}",
                        conn.https_port,
                        paths::CERT_PROV_PATH
                    ),
                )
                .to_string(),
        );
        if let Some((id, why)) = why {
            self.diagnose(&mut r, id, why);
        }
        Reply {
            bytes: r.to_bytes(),
            close: false,
        }
    }

    /// One step of the inner TLS handshake: its bytes back in a 401.
    fn handshake(
        &self,
        session: &mut Session,
        request: &Message,
        user: &str,
        auth: &Auth,
    ) -> Reply {
        let refuse = |session: &mut Session, id: u32, why: String, gssapi: Option<Vec<u8>>| {
            self.journal(
                "register",
                Some(user),
                JournalOutcome::Rejected,
                why.clone(),
            );
            session.handshake = None;
            let mut header = Auth::tls_dsk()
                .quoted("realm", sip::REALM)
                .quoted("targetname", &self.host);
            if let Some(bytes) = gssapi {
                header = header.quoted("gssapi-data", B64.encode(bytes));
            }
            let mut r = Message::response_to(request, 401, &session.to_tag);
            r.push(
                "WWW-Authenticate",
                header
                    .bare("version", sip::AUTH_VERSION.to_string())
                    .to_string(),
            );
            self.diagnose(&mut r, id, &why);
            Reply {
                bytes: r.to_bytes(),
                close: false,
            }
        };
        let data = match B64.decode(auth.get("gssapi-data").unwrap_or_default()) {
            Ok(d) => d,
            Err(e) => {
                return refuse(
                    session,
                    diag::MALFORMED,
                    format!("gssapi-data is not base64: {e}"),
                    None,
                );
            }
        };
        let opaque = auth.get("opaque").map(str::to_owned);
        let continuing = matches!(
            (&session.handshake, &opaque),
            (Some((mine, _)), Some(theirs)) if mine == theirs
        );
        if !continuing {
            let state = self.state.clone();
            match Handshake::accept(&self.identity, move |der| judge_certificate(&state, der)) {
                Ok(h) => session.handshake = Some((random_hex(4), h)),
                Err(e) => return refuse(session, diag::HANDSHAKE, format!("TLS-DSK: {e}"), None),
            }
        }
        let Some((opaque, handshake)) = session.handshake.as_mut() else {
            return refuse(session, diag::HANDSHAKE, "no handshake".into(), None);
        };
        let opaque = opaque.clone();
        let (send, done) = match handshake.step(&data) {
            Ok(Step::Send(bytes)) => (lyncsim_tlsdsk::merge_handshake_records(&bytes), None),
            Ok(Step::Done {
                send,
                keys,
                peer_certificate,
            }) => (send, Some((keys, peer_certificate))),
            Err(TlsDskError::Handshake { reason, send }) => {
                return refuse(
                    session,
                    diag::CERTIFICATE,
                    format!("client certificate rejected: {reason}"),
                    Some(send),
                );
            }
            Err(e) => return refuse(session, diag::HANDSHAKE, format!("TLS-DSK: {e}"), None),
        };
        if let Some((keys, certificate)) = done {
            session.handshake = None;
            let Some(certificate) = certificate else {
                return refuse(
                    session,
                    diag::CERTIFICATE,
                    "no client certificate".into(),
                    None,
                );
            };
            let info = match lyncsim_pki::inspect(&certificate) {
                Ok(i) => i,
                Err(e) => return refuse(session, diag::CERTIFICATE, e.to_string(), None),
            };
            session.association = Some(Association {
                opaque: opaque.clone(),
                keys,
                user: info
                    .subject_cn
                    .trim_start_matches("sip:")
                    .to_ascii_lowercase(),
                thumbprint: info.thumbprint,
                certificate,
                cnum: 0,
                snum: 0,
            });
        }
        let mut r = Message::response_to(request, 401, &session.to_tag);
        r.push(
            "WWW-Authenticate",
            Auth::tls_dsk()
                .quoted("opaque", &opaque)
                .quoted("gssapi-data", B64.encode(send))
                .quoted("targetname", &self.host)
                .quoted("realm", sip::REALM)
                .bare("version", sip::AUTH_VERSION.to_string())
                .to_string(),
        );
        Reply {
            bytes: r.to_bytes(),
            close: false,
        }
    }

    /// A REGISTER signed with the association's key: redirect, refuse or register.
    fn signed_register(
        &self,
        session: &mut Session,
        conn: &ConnInfo,
        request: &Message,
        user: &str,
        auth: &Auth,
    ) -> Option<Reply> {
        let checked = match &mut session.association {
            None => Err("a signed REGISTER without a security association".to_owned()),
            Some(sa) if auth.get("opaque") != Some(sa.opaque.as_str()) => Err(format!(
                "the signature names security association {:?}, not {:?}",
                auth.get("opaque").unwrap_or_default(),
                sa.opaque
            )),
            Some(sa) => {
                let (rand, num) = (
                    auth.get("crand").unwrap_or_default(),
                    auth.get("cnum").unwrap_or_default(),
                );
                let input = sip::signature_input(
                    request,
                    SignedBy {
                        rand,
                        num,
                        realm: sip::REALM,
                        target: &self.host,
                    },
                );
                let n: u64 = num.parse().unwrap_or(0);
                if !sip::verify(
                    &sa.keys.client,
                    &input,
                    auth.get("response").unwrap_or_default(),
                ) {
                    Err("Invalid message signature".to_owned())
                } else if n <= sa.cnum {
                    Err(format!(
                        "cnum {n} is not above the last one, {}: a replay",
                        sa.cnum
                    ))
                } else if let Err(why) = judge_certificate(&self.state, &sa.certificate) {
                    // The association lasts only as long as its certificate is trusted: after
                    // a CA rotation, or once it expires by the service clock, the client must
                    // authenticate again (and its certificate is judged again).
                    return Some(self.end_association(
                        session,
                        conn,
                        request,
                        user,
                        diag::CERTIFICATE,
                        format!("client certificate rejected: {why}"),
                    ));
                } else {
                    sa.cnum = n;
                    Ok(())
                }
            }
        };
        if let Err(why) = checked {
            return Some(self.end_association(session, conn, request, user, diag::SIGNATURE, why));
        }
        let (subject, thumbprint) = match &session.association {
            Some(sa) => (sa.user.clone(), sa.thumbprint.clone()),
            None => return None,
        };
        if subject != user {
            let why = format!("the certificate is for sip:{subject}, not sip:{user}");
            self.journal(
                "register",
                Some(user),
                JournalOutcome::Rejected,
                why.clone(),
            );
            let mut r = Message::response_to(request, 403, &session.to_tag);
            self.diagnose(&mut r, diag::SUBJECT, &why);
            return Some(self.finish(session, r));
        }
        if self.director {
            let Some(record) = self.state.user(user) else {
                let why = format!("no user sip:{user}");
                self.journal("register", Some(user), JournalOutcome::Rejected, why);
                let mut r = Message::response_to(request, 404, &session.to_tag);
                self.diagnose(&mut r, diag::NO_USER, "User does not exist");
                return Some(self.finish(session, r));
            };
            let pool = pool_fqdn(&record.home_pool);
            self.journal(
                "register",
                Some(user),
                JournalOutcome::Ok,
                format!("redirected to the home pool {pool}"),
            );
            let mut r = Message::response_to(request, 301, &session.to_tag);
            r.push(
                "Contact",
                format!("<sip:{pool}:{};transport=tls>", conn.https_port),
            );
            return Some(self.finish(session, r));
        }
        let pool_conn = ConnInfo {
            host: self.host.clone(),
            https_port: conn.https_port,
        };
        if let Err((id, why)) = homed_here(&self.state, &pool_conn, user) {
            self.journal(
                "register",
                Some(user),
                JournalOutcome::Rejected,
                why.clone(),
            );
            let mut r = Message::response_to(
                request,
                if id == diag::NO_USER { 404 } else { 403 },
                &session.to_tag,
            );
            self.diagnose(&mut r, id, &why);
            return Some(self.finish(session, r));
        }
        let asked = request
            .header("Expires")
            .and_then(|e| e.parse::<u32>().ok())
            .unwrap_or(EXPIRES_SECS);
        let expires = asked.min(EXPIRES_SECS);
        self.journal(
            "register",
            Some(user),
            JournalOutcome::Ok,
            if expires == 0 {
                "unregistered".to_owned()
            } else {
                format!("registered with certificate {thumbprint}")
            },
        );
        let mut r = Message::response_to(request, 200, &session.to_tag);
        if let Some(contact) = request.header("Contact") {
            r.push("Contact", format!("{contact};expires={expires}"));
        }
        r.push("Expires", expires.to_string());
        r.push("Server", "RTC/5.0");
        r.push("Supported", "msrtc-event-categories");
        Some(self.finish(session, r))
    }

    /// Ends the connection's security association: a journal line, and 401 with a new
    /// challenge, which makes the client authenticate again.
    fn end_association(
        &self,
        session: &mut Session,
        conn: &ConnInfo,
        request: &Message,
        user: &str,
        id: u32,
        why: String,
    ) -> Reply {
        self.journal(
            "register",
            Some(user),
            JournalOutcome::Rejected,
            why.clone(),
        );
        session.association = None;
        self.challenge(session, conn, request, user, Some((id, &why)))
    }

    /// Signs `response` if a security association is up, and makes it the reply.
    fn finish(&self, session: &mut Session, mut response: Message) -> Reply {
        if let Some(sa) = &mut session.association {
            sa.snum += 1;
            let (rand, num) = (random_hex(4), sa.snum.to_string());
            let input = sip::signature_input(
                &response,
                SignedBy {
                    rand: &rand,
                    num: &num,
                    realm: sip::REALM,
                    target: &self.host,
                },
            );
            let signature = sip::sign(&sa.keys.server, &input);
            response.push(
                "Authentication-Info",
                Auth::tls_dsk()
                    .quoted("qop", "auth")
                    .quoted("opaque", &sa.opaque)
                    .quoted("srand", rand)
                    .quoted("snum", num)
                    .quoted("rspauth", signature)
                    .quoted("targetname", &self.host)
                    .quoted("realm", sip::REALM)
                    .bare("version", sip::AUTH_VERSION.to_string())
                    .to_string(),
            );
        }
        Reply {
            bytes: response.to_bytes(),
            close: false,
        }
    }
}

fn random_hex(bytes: usize) -> String {
    let mut b = vec![0u8; bytes];
    rand::fill(b.as_mut_slice());
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Serves SIP on one connection until the client closes it, sends what is not SIP, breaks a
/// time limit (see [`SipConnection`]), or the service stops. `first` is what was already read
/// from the connection to tell SIP from HTTP, from `began` on.
pub(crate) async fn serve_sip<IO>(
    io: IO,
    (first, began): (Vec<u8>, Instant),
    registrar: Arc<Registrar>,
    conn: ConnInfo,
    limits: Limits,
    stop: CancellationToken,
) where
    IO: AsyncRead + AsyncWrite + Unpin,
{
    let mut session = Session {
        to_tag: random_hex(4),
        ..Session::default()
    };
    let mut sip = SipConnection::new(io, first, began, limits, session.to_tag.clone());
    loop {
        let message = match sip.read(&stop).await {
            Ok(m) => m,
            Err(Ended::Closed) => return,
            Err(Ended::Refused(why)) => {
                registrar.journal("sip", None, JournalOutcome::Rejected, why);
                return;
            }
        };
        if let Some(reply) = registrar.handle(&mut session, &conn, &message)
            && (sip.send(&reply.bytes).await.is_err() || reply.close)
        {
            sip.close().await;
            return;
        }
    }
}

/// Reads the start of a connection until its first line is complete (or `max` bytes, or the
/// end): whether the line ends in `SIP/2.0`, and the bytes read.
pub(crate) async fn first_line<IO>(
    io: &mut IO,
    max: usize,
    limit: Duration,
) -> std::io::Result<(bool, Vec<u8>)>
where
    IO: AsyncRead + Unpin,
{
    let mut buf = Vec::new();
    let mut chunk = [0u8; 1024];
    let read = tokio::time::timeout(limit, async {
        loop {
            let start = buf
                .iter()
                .take_while(|b| **b == b'\r' || **b == b'\n')
                .count();
            if let Some(end) = buf[start..].windows(2).position(|w| w == b"\r\n") {
                return Ok(buf[start..start + end].ends_with(b" SIP/2.0"));
            }
            if buf.len() >= max {
                return Ok(false);
            }
            let n = io.read(&mut chunk).await?;
            if n == 0 {
                return Ok(false);
            }
            buf.extend_from_slice(&chunk[..n]);
        }
    })
    .await;
    match read {
        Ok(Ok(sip)) => Ok((sip, buf)),
        Ok(Err(e)) => Err(e),
        // Too slow for a line: HTTP's own limits answer it (408).
        Err(_) => Ok((false, buf)),
    }
}
