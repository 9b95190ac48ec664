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

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use lyncsim_tlsdsk::{Handshake, Keys, Step, TlsDskError};
use lyncsim_wire::admin::{JournalOutcome, OutageMode};
use lyncsim_wire::agent::UserAgent;
use lyncsim_wire::paths;
use lyncsim_wire::sip::{self, Auth, Message, SignedBy};
use tokio::io::{AsyncRead, AsyncWrite};
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

/// The registrar's verdict on a personal certificate: judged by the *service's* clock within
/// the tolerance against the *current* Communications Server CA ([`lyncsim_pki::judge_personal`]).
pub(crate) fn judge_certificate(state: &State, der: &[u8]) -> Result<(), String> {
    let ca = state.communications_server();
    lyncsim_pki::judge_personal(
        ca.cert_der(),
        der,
        state.clock.now(),
        state.clock.tolerance(),
    )
    .map_err(|e| e.to_string())
}

/// Why a TLS-DSK handshake ended: the `ms-diagnostics` id, the reason, and the TLS alert the
/// inner handshake sent, if any, for the client.
struct HandshakeRefused {
    id: u32,
    why: String,
    alert: Option<Vec<u8>>,
}

impl HandshakeRefused {
    fn new(id: u32, why: String) -> HandshakeRefused {
        HandshakeRefused {
            id,
            why,
            alert: None,
        }
    }
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

impl Association {
    /// The association a finished handshake sets up, for the user its certificate names.
    fn new(
        opaque: String,
        keys: Keys,
        certificate: Vec<u8>,
    ) -> Result<Association, HandshakeRefused> {
        let info = lyncsim_pki::inspect(&certificate)
            .map_err(|e| HandshakeRefused::new(diag::CERTIFICATE, e.to_string()))?;
        Ok(Association {
            opaque,
            keys,
            user: info
                .subject_cn
                .trim_start_matches("sip:")
                .to_ascii_lowercase(),
            thumbprint: info.thumbprint,
            certificate,
            cnum: 0,
            snum: 0,
        })
    }
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
    /// A response to `request`, with the registrar's `Date` by the service clock (as
    /// [MS-SIPAE]'s example challenges carry it; not part of the signed buffer).
    fn response(&self, request: &Message, code: u16, to_tag: &str) -> Message {
        let mut r = Message::response_to(request, code, to_tag);
        r.push("Date", sip::sip_date(self.state.clock.now_ms()));
        r
    }

    /// `ms-diagnostics` of `id` with its one reason ([`diag::reason`]): [MS-OCER]'s where the
    /// id is, lyncsim's own otherwise. No `ms-diagnostics-public`: [MS-OCER] makes none of
    /// these public, and the precise reason is the journal's.
    fn diagnose(&self, response: &mut Message, id: u32) {
        response.push(
            "ms-diagnostics",
            format!(
                "{id};reason=\"{}\";source=\"{}\"",
                diag::reason(id),
                self.host
            ),
        );
    }

    /// A refusal of a REGISTER: the journal says `why`, the answer carries `code` and the
    /// `ms-diagnostics` of `id`, signed when a security association is up.
    fn refuse(
        &self,
        session: &mut Session,
        request: &Message,
        user: Option<&str>,
        (code, id): (u16, u32),
        why: String,
    ) -> Reply {
        let mut r = self.response(request, code, &session.to_tag);
        self.diagnose(&mut r, id);
        self.journal("register", user, JournalOutcome::Rejected, why);
        self.finish(session, r)
    }

    /// 404 for a user the directory does not know.
    fn no_user(&self, session: &mut Session, request: &Message, user: &str) -> Reply {
        let why = format!("no user sip:{user}");
        self.refuse(session, request, Some(user), (404, diag::NO_USER), why)
    }

    /// Answers one request on the connection.
    fn handle(&self, session: &mut Session, conn: &ConnInfo, request: &Message) -> Option<Reply> {
        let method = request.method()?;
        if *method == sip::Method::Ack {
            return None;
        }
        let user = request
            .address("From")
            .map(|a| a.trim_start_matches("sip:").to_ascii_lowercase());
        if let Some(reply) = self.in_outage(session, request, user.as_deref()) {
            return Some(reply);
        }
        if *method != sip::Method::Register {
            let mut r = self.response(request, 405, &session.to_tag);
            r.push("Allow", "REGISTER, ACK");
            return Some(self.finish(session, r));
        }
        let Some(user) = user.as_deref() else {
            self.journal(
                "sip",
                None,
                JournalOutcome::Rejected,
                "REGISTER without a From address".into(),
            );
            let r = self.response(request, 400, &session.to_tag);
            return Some(self.finish(session, r));
        };
        if let Err(why) = self.check_client_build(request) {
            return Some(self.block_version(session, request, user, why));
        }
        match request.auth("Authorization") {
            Some(auth) if auth.get("response").is_some() => {
                self.signed_register(session, conn, request, user, &auth)
            }
            Some(auth) if auth.get("gssapi-data").is_some() => {
                Some(self.handshake(session, request, user, &auth))
            }
            _ => Some(self.challenge(session, conn, request, None)),
        }
    }

    /// The answer of a host in an outage: 503 with `Retry-After`, or a response cut off.
    fn in_outage(&self, session: &Session, request: &Message, user: Option<&str>) -> Option<Reply> {
        match self.outages.mode(&self.host)? {
            OutageMode::Status503 => {
                self.journal("sip", user, JournalOutcome::Rejected, "outage: 503".into());
                let mut r = self.response(request, 503, &session.to_tag);
                self.diagnose(&mut r, diag::OUTAGE);
                r.push("Retry-After", "30");
                Some(Reply {
                    bytes: r.to_bytes(),
                    close: false,
                })
            }
            OutageMode::CutOff => {
                let why = "outage: response cut off".to_owned();
                self.journal("sip", user, JournalOutcome::Rejected, why);
                let mut bytes = self.response(request, 401, &session.to_tag).to_bytes();
                bytes.truncate(bytes.len() / 2);
                Some(Reply { bytes, close: true })
            }
            OutageMode::Refuse | OutageMode::Reset => None,
        }
    }

    /// The answer to a client build below the minimum, as [MS-SIPREGE] 3.4.2.5.6 has it
    /// (the action "block clients with upgrade"): 403 with `Warning: 314 lcs.microsoft.com
    /// "Check Microsoft Update for the newest version."` (pidgin-sipe shows the Warning's
    /// text: `sip-transport.c`, its 403), and `ms-diagnostics` 17002 with [MS-OCER] 8.16's
    /// reason, "Invalid protocol client version."; the minimum and the build sent stay in the
    /// journal.
    fn block_version(
        &self,
        session: &mut Session,
        request: &Message,
        user: &str,
        why: String,
    ) -> Reply {
        let mut r = self.response(request, 403, &session.to_tag);
        self.diagnose(&mut r, diag::CLIENT_VERSION);
        r.push(
            "Warning",
            "314 lcs.microsoft.com \"Check Microsoft Update for the newest version.\"",
        );
        self.journal("register", Some(user), JournalOutcome::Rejected, why);
        self.finish(session, r)
    }

    /// A client build below the service's minimum (from `User-Agent`) is blocked.
    fn check_client_build(&self, request: &Message) -> Result<(), String> {
        let agent = UserAgent::parse(&request.header("User-Agent").unwrap_or_default());
        if let Some((product, build)) = &agent.client
            && let Some(min) = self.state.policy().min_build.get(product)
            && build < min
        {
            return Err(format!(
                "client {product} build {build} is older than the minimum build {min} this service accepts"
            ));
        }
        Ok(())
    }

    /// 401 with the TLS-DSK challenge (and why, when it ends a security association).
    fn challenge(
        &self,
        session: &mut Session,
        conn: &ConnInfo,
        request: &Message,
        why: Option<(u32, &str)>,
    ) -> Reply {
        // Every REGISTER without credentials is challenged, whoever it names ([MS-SIPAE]
        // 3.3.5.1): nothing about the user, not whether they exist nor where they are homed,
        // is said before they authenticate. The challenge names this registrar's own
        // certificate provisioning: the director's provisions any user of the tenant (a
        // Lync Server director runs the web services too; that Lync Online's named its own
        // is lyncsim's reading), a pool's its own users.
        let mut r = self.response(request, 401, &session.to_tag);
        r.push(
            "WWW-Authenticate",
            Auth::tls_dsk()
                .quoted("realm", sip::REALM)
                .quoted("targetname", &self.host)
                .bare("version", sip::AUTH_VERSION.to_string())
                .quoted(
                    "sts-uri",
                    format!(
                        "https://{}:{}{}",
                        self.host,
                        conn.https_port,
                        paths::CERT_PROV_PATH
                    ),
                )
                .to_string(),
        );
        if let Some((id, _)) = why {
            self.diagnose(&mut r, id);
        }
        Reply {
            bytes: r.to_bytes(),
            close: false,
        }
    }

    /// One step of the inner TLS handshake: its bytes back in a 401; once it is done, the
    /// security association it set up.
    fn handshake(
        &self,
        session: &mut Session,
        request: &Message,
        user: &str,
        auth: &Auth,
    ) -> Reply {
        match self.step_handshake(session, auth) {
            Ok((opaque, send)) => {
                let mut r = self.response(request, 401, &session.to_tag);
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
            Err(refused) => {
                session.handshake = None;
                self.handshake_refused(session, request, user, refused)
            }
        }
    }

    /// Feeds the client's `gssapi-data` to the handshake under way (or a new one): the
    /// `opaque` and the bytes to send back; a finished handshake becomes the connection's
    /// security association.
    fn step_handshake(
        &self,
        session: &mut Session,
        auth: &Auth,
    ) -> Result<(String, Vec<u8>), HandshakeRefused> {
        let data = B64
            .decode(auth.get("gssapi-data").unwrap_or_default())
            .map_err(|e| {
                HandshakeRefused::new(diag::MALFORMED, format!("gssapi-data is not base64: {e}"))
            })?;
        let continuing = matches!(
            (&session.handshake, auth.get("opaque")),
            (Some((mine, _)), Some(theirs)) if mine == theirs
        );
        if !continuing {
            let state = self.state.clone();
            let handshake =
                Handshake::accept(&self.identity, move |der| judge_certificate(&state, der))
                    .map_err(|e| HandshakeRefused::new(diag::HANDSHAKE, format!("TLS-DSK: {e}")))?;
            session.handshake = Some((random_hex(4), handshake));
        }
        let Some((opaque, handshake)) = session.handshake.as_mut() else {
            return Err(HandshakeRefused::new(
                diag::HANDSHAKE,
                "no handshake".into(),
            ));
        };
        let opaque = opaque.clone();
        match handshake.step(&data) {
            Ok(Step::Send(bytes)) => Ok((opaque, lyncsim_tlsdsk::merge_handshake_records(&bytes))),
            Ok(Step::Done {
                send,
                keys,
                peer_certificate,
            }) => {
                session.handshake = None;
                let certificate = peer_certificate.ok_or_else(|| {
                    HandshakeRefused::new(diag::CERTIFICATE, "no client certificate".into())
                })?;
                session.association = Some(Association::new(opaque.clone(), keys, certificate)?);
                Ok((opaque, send))
            }
            Err(TlsDskError::Handshake { reason, send, .. }) => Err(HandshakeRefused {
                id: diag::CERTIFICATE,
                why: format!("client certificate rejected: {reason}"),
                alert: Some(send),
            }),
            Err(e) => Err(HandshakeRefused::new(
                diag::HANDSHAKE,
                format!("TLS-DSK: {e}"),
            )),
        }
    }

    /// 401 saying why the handshake ended, with the TLS alert in `gssapi-data` when there is
    /// one.
    fn handshake_refused(
        &self,
        session: &Session,
        request: &Message,
        user: &str,
        refused: HandshakeRefused,
    ) -> Reply {
        self.journal(
            "register",
            Some(user),
            JournalOutcome::Rejected,
            refused.why.clone(),
        );
        let mut header = Auth::tls_dsk()
            .quoted("realm", sip::REALM)
            .quoted("targetname", &self.host);
        if let Some(bytes) = refused.alert {
            header = header.quoted("gssapi-data", B64.encode(bytes));
        }
        let mut r = self.response(request, 401, &session.to_tag);
        r.push(
            "WWW-Authenticate",
            header
                .bare("version", sip::AUTH_VERSION.to_string())
                .to_string(),
        );
        self.diagnose(&mut r, refused.id);
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
        if let Err((id, why)) = self.check_signature(session, request, auth) {
            return Some(self.end_association(session, conn, request, user, id, why));
        }
        if let Err(why) = endpoint_identified(request) {
            let code = (400, diag::NO_ENDPOINT_ID);
            return Some(self.refuse(session, request, Some(user), code, why));
        }
        let sa = session.association.as_ref()?;
        let (subject, thumbprint) = (sa.user.clone(), sa.thumbprint.clone());
        if subject != user {
            let why = format!("the certificate is for sip:{subject}, not sip:{user}");
            let code = (403, diag::SUBJECT);
            return Some(self.refuse(session, request, Some(user), code, why));
        }
        if self.director {
            return Some(match self.state.user(user) {
                Some(record) => self.redirect(session, conn, request, (user, &record.home_pool)),
                None => self.no_user(session, request, user),
            });
        }
        Some(self.register(session, conn, request, user, &thumbprint))
    }

    /// The signature of a REGISTER, made with the association's key, its `cnum` above the last
    /// one, and the association's certificate still trusted: the association lasts only as
    /// long as its certificate is (after a CA rotation, or once it expires by the service
    /// clock, the client must authenticate again, and its certificate is judged again).
    fn check_signature(
        &self,
        session: &mut Session,
        request: &Message,
        auth: &Auth,
    ) -> Result<(), (u32, String)> {
        let sa = session.association.as_mut().ok_or_else(|| {
            (
                diag::SIGNATURE,
                "a signed REGISTER without a security association".to_owned(),
            )
        })?;
        if auth.get("opaque") != Some(sa.opaque.as_str()) {
            return Err((
                diag::SIGNATURE,
                format!(
                    "the signature names security association {:?}, not {:?}",
                    auth.get("opaque").unwrap_or_default(),
                    sa.opaque
                ),
            ));
        }
        let (rand, num) = (
            auth.get("crand").unwrap_or_default(),
            auth.get("cnum").unwrap_or_default(),
        );
        let by = SignedBy {
            rand,
            num,
            realm: sip::REALM,
            target: &self.host,
        };
        let input = sip::signature_input(request, by);
        if !sip::verify(
            &sa.keys.client,
            &input,
            auth.get("response").unwrap_or_default(),
        ) {
            return Err((diag::SIGNATURE, "Invalid message signature".to_owned()));
        }
        let n: u64 = num.parse().unwrap_or(0);
        if n <= sa.cnum {
            return Err((
                diag::SIGNATURE,
                format!("cnum {n} is not above the last one, {}: a replay", sa.cnum),
            ));
        }
        judge_certificate(&self.state, &sa.certificate).map_err(|why| {
            (
                diag::CERTIFICATE,
                format!("client certificate rejected: {why}"),
            )
        })?;
        sa.cnum = n;
        Ok(())
    }

    /// The director's answer to an authenticated REGISTER, and a pool's to a user homed on
    /// another pool of its deployment: 301 to the user's home pool.
    fn redirect(
        &self,
        session: &mut Session,
        conn: &ConnInfo,
        request: &Message,
        (user, home_pool): (&str, &str),
    ) -> Reply {
        let pool = pool_fqdn(home_pool);
        self.journal(
            "register",
            Some(user),
            JournalOutcome::Ok,
            format!("redirected to the home pool {pool}"),
        );
        let mut r = self.response(request, 301, &session.to_tag);
        r.push(
            "Contact",
            format!("<sip:{pool}:{};transport=tls>", conn.https_port),
        );
        self.finish(session, r)
    }

    /// A pool's answer to an authenticated REGISTER: 200 with `Expires` when it homes the
    /// user (their account readable), else 403 or 404.
    fn register(
        &self,
        session: &mut Session,
        conn: &ConnInfo,
        request: &Message,
        user: &str,
        thumbprint: &str,
    ) -> Reply {
        let pool_conn = ConnInfo {
            host: self.host.clone(),
            ..conn.clone()
        };
        match homed_here(&self.state, &pool_conn, user) {
            Err(not) => {
                let code = if not.id == diag::NO_USER { 404 } else { 403 };
                return self.refuse(session, request, Some(user), (code, not.id), not.why);
            }
            Ok(record) if record.home_pool != crate::directory::pool_of(&pool_conn) => {
                return self.redirect(session, conn, request, (user, &record.home_pool));
            }
            Ok(_) => {}
        }
        let asked = request
            .header("Expires")
            .and_then(|e| e.parse::<u32>().ok())
            .unwrap_or(EXPIRES_SECS);
        let expires = asked.min(EXPIRES_SECS);
        let done = if expires == 0 {
            "unregistered".to_owned()
        } else {
            format!("registered with certificate {thumbprint}")
        };
        self.journal("register", Some(user), JournalOutcome::Ok, done);
        // As [MS-SIPREGE]'s example 200 OK: the client's Contact with its expiry and a GRUU
        // made from the endpoint's epid ([MS-SIPRE] 2.2.3; the opaque value's form here is
        // lyncsim's own), Expires, and ms-keep-alive.
        let mut r = self.response(request, 200, &session.to_tag);
        if let Some(contact) = request.header("Contact") {
            let epid = request.header_param("From", "epid").unwrap_or_default();
            r.push(
                "Contact",
                format!(
                    "{contact};expires={expires};gruu=\"sip:{user};opaque=user:epid:{epid};gruu\""
                ),
            );
        }
        r.push("Expires", expires.to_string());
        r.push(
            "ms-keep-alive",
            "UAS; tcp=no; hop-hop=yes; end-end=no; timeout=300",
        );
        r.push("Server", "RTC/5.0");
        r.push("Supported", "msrtc-event-categories");
        self.finish(session, r)
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
        self.challenge(session, conn, request, Some((id, &why)))
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

/// That a REGISTER names its endpoint: `epid` in From ([MS-SIPRE] 3.2.4.1) and
/// `+sip.instance` in Contact. [MS-SIPREGE] 3.1.2.5.1 has the registrar validate this once
/// the security association is up, and answer 400 with ErrorId 4010 when either is missing.
fn endpoint_identified(request: &Message) -> Result<(), String> {
    let missing: Vec<&str> = [("From", "epid"), ("Contact", "+sip.instance")]
        .into_iter()
        .filter(|(header, param)| request.header_param(header, param).is_none())
        .map(|(_, param)| param)
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    Err(format!(
        "the REGISTER does not identify its endpoint: no {}",
        missing.join(" and no ")
    ))
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
        let reply = registrar.handle(&mut session, &conn, &message);
        sip.secure(session.association.is_some());
        if let Some(reply) = reply
            && (sip.send(&reply.bytes).await.is_err() || reply.close)
        {
            sip.close().await;
            return;
        }
    }
}
