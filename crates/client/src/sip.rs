//! REGISTER at a registrar: SIP over TLS, authenticated with TLS-DSK ([MS-SIPAE]) and the
//! personal certificate, as Lync and pidgin-sipe do it.
//!
//! The first REGISTER has no credentials and draws the registrar's `TLS-DSK` challenge, which
//! names the certificate provisioning service (`sts-uri`); with a personal certificate (stored,
//! or provisioned there) the inner TLS handshake (the personal certificate presented in it) then travels in
//! `gssapi-data` over 401s until both sides hold its keys; the REGISTER signed with them is
//! answered with 200 (registered), 301 (go to the home pool) or a refusal. The registrar's
//! signature on its answer is checked: a wrong one is refused the way pidgin-sipe refuses it.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use lyncsim_tlsdsk::{Handshake, Identity, Keys, Step, TlsDskError};
use lyncsim_wire::sip::{self, Auth, Message, Method, SignedBy};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

use crate::https::{HttpFailure, Https, REQUEST_TIMEOUT, Target, io_failure};

/// How a REGISTER ended, short of a failure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Registration {
    /// 200: registered for this many seconds.
    Registered { expires: u32 },
    /// 301: register at this host and port instead.
    Redirected { host: String, port: u16 },
}

/// The most 401 round trips the handshake may take (pidgin-sipe's takes three).
const MAX_ROUNDS: usize = 6;

/// One SIP dialog over one TLS connection.
struct Dialog {
    tls: TlsStream<TcpStream>,
    buf: Vec<u8>,
    target: Target,
    user: String,
    user_agent: String,
    call_id: String,
    from_tag: String,
    cseq: u32,
    /// The endpoint's identity: its `epid` and its `+sip.instance`.
    endpoint: Endpoint,
}

/// What identifies a client endpoint to the registrar ([MS-SIPRE] 3.2.3, [MS-SIPREGE]
/// 3.1.2.5.1): the `epid` in From and the `+sip.instance` in Contact, the same at every
/// sign-in of one user on one machine.
#[derive(Debug, Clone)]
pub(crate) struct Endpoint {
    pub(crate) epid: String,
    pub(crate) instance: String,
}

impl Endpoint {
    /// The endpoint of `user` on the machine `machine_guid`: the epid the first ten
    /// hexadecimal digits of the SHA-1 of both (pidgin-sipe derives its epid from a hash of
    /// the user and the machine too, `sipe_get_epid`; this derivation is lyncsim's own), the
    /// instance the machine's GUID.
    pub(crate) fn of(user: &str, machine_guid: &str) -> Endpoint {
        let digest = aws_lc_rs::digest::digest(
            &aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY,
            format!("{}:{machine_guid}", user.to_ascii_lowercase()).as_bytes(),
        );
        let epid = digest.as_ref()[..5]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        Endpoint {
            epid,
            instance: machine_guid
                .trim_matches(|c| c == '{' || c == '}')
                .to_ascii_lowercase(),
        }
    }
}

impl Dialog {
    fn where_(&self) -> String {
        format!("{} at {}", self.target.host, self.target.addr)
    }

    fn register(&mut self, authorization: Option<String>) -> Result<Message, HttpFailure> {
        self.cseq += 1;
        let mut m = Message::request(Method::Register, &format!("sip:{}", domain(&self.user)))
            .map_err(|e| HttpFailure::BadResponse(format!("cannot address a REGISTER: {e}")))?;
        let local = "127.0.0.1:5061";
        m.push(
            "Via",
            format!(
                "SIP/2.0/TLS {local};branch=z9hG4bK{}",
                lyncsim_wire::random_guid()
            ),
        );
        m.push(
            "From",
            format!(
                "<sip:{}>;tag={};epid={}",
                self.user, self.from_tag, self.endpoint.epid
            ),
        );
        m.push("To", format!("<sip:{}>", self.user));
        m.push("Max-Forwards", "70");
        m.push("CSeq", format!("{} REGISTER", self.cseq));
        m.push("User-Agent", self.user_agent.clone());
        m.push("Call-ID", self.call_id.clone());
        m.push(
            "Contact",
            format!(
                "<sip:{local};transport=tls>;methods=\"INVITE, MESSAGE, INFO, SUBSCRIBE, OPTIONS, BYE, CANCEL, NOTIFY, ACK, REFER, BENOTIFY\";proxy=replace;+sip.instance=\"<urn:uuid:{}>\"",
                self.endpoint.instance
            ),
        );
        m.push("Supported", "gruu-10, adhoclist, msrtc-event-categories");
        m.push("Event", "registration");
        if let Some(a) = authorization {
            m.push("Authorization", a);
        }
        Ok(m)
    }

    /// Sends `request` and reads the answer.
    async fn exchange(&mut self, request: &Message) -> Result<Message, HttpFailure> {
        let where_ = self.where_();
        tokio::time::timeout(REQUEST_TIMEOUT, async {
            self.tls
                .write_all(&request.to_bytes())
                .await
                .map_err(|e| io_failure(&e, &where_))?;
            let mut chunk = vec![0u8; 8192];
            loop {
                match sip::next_frame(&self.buf) {
                    Err(e) => return Err(HttpFailure::BadResponse(format!("{where_}: {e}"))),
                    Ok(Some(frame)) => {
                        let end = frame.skip + frame.len;
                        let answer = Message::parse(&self.buf[frame.skip..end]);
                        self.buf.drain(..end);
                        let answer = answer
                            .map_err(|e| HttpFailure::BadResponse(format!("{where_}: {e}")))?;
                        if answer.status().is_some() {
                            return Ok(answer);
                        }
                        // A request from the registrar: not part of registering.
                    }
                    Ok(None) => {
                        let n = self
                            .tls
                            .read(&mut chunk)
                            .await
                            .map_err(|e| io_failure(&e, &where_))?;
                        if n == 0 {
                            return Err(HttpFailure::CutOff(format!(
                                "{where_} closed the connection{}",
                                if self.buf.is_empty() {
                                    ""
                                } else {
                                    " in the middle of its answer"
                                }
                            )));
                        }
                        self.buf.extend_from_slice(&chunk[..n]);
                    }
                }
            }
        })
        .await
        .map_err(|_| {
            HttpFailure::TimedOut(format!(
                "no answer from {where_} within {REQUEST_TIMEOUT:?}"
            ))
        })?
    }
}

fn domain(user: &str) -> &str {
    user.split_once('@').map_or(user, |(_, d)| d)
}

/// The failure an answer other than the one expected stands for.
fn refusal(answer: &Message, where_: &str) -> HttpFailure {
    let status = answer.status().unwrap_or(0);
    let reason = answer
        .header("ms-diagnostics")
        .map(|d| {
            let id = d.split(';').next().unwrap_or_default().to_owned();
            let why = d
                .split(";reason=\"")
                .nth(1)
                .and_then(|r| r.split('"').next())
                .unwrap_or_default()
                .to_owned();
            format!("ms-diagnostics {id}: {why}")
        })
        .unwrap_or_else(|| "no diagnostics".to_owned());
    // RFC 3261 section 20.43: `Warning: <code> <agent> "<text>"`, as the registrar's version
    // block carries it ([MS-SIPREGE] 3.4.2.5.6).
    let warning = answer
        .header("Warning")
        .map(|w| format!("; Warning: {w}"))
        .unwrap_or_default();
    let detail = format!("{where_} ({reason}{warning})");
    match status {
        400..=599 => HttpFailure::Sip { status, detail },
        _ => HttpFailure::BadResponse(format!("SIP {status}: {detail}")),
    }
}

/// The most certificates kept loaded at once.
const LOADED_MAX: usize = 1024;

/// The personal certificate and key loaded into OpenSSL, kept for the next sign-in with the
/// same pair, as Windows keeps a key loaded in its key isolation service rather than
/// decoding it again for every handshake. The key container is still read from the profile
/// at each sign-in; only the same bytes find the loaded key.
fn loaded_identity(cert_der: &[u8], key_pkcs8: &[u8]) -> Result<Identity, TlsDskError> {
    use std::collections::HashMap;
    use std::sync::{Mutex, OnceLock};
    static LOADED: OnceLock<Mutex<HashMap<[u8; 32], Identity>>> = OnceLock::new();
    let mut ctx = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
    ctx.update(&(cert_der.len() as u64).to_be_bytes());
    ctx.update(cert_der);
    ctx.update(key_pkcs8);
    let mut id = [0u8; 32];
    id.copy_from_slice(ctx.finish().as_ref());
    let loaded = LOADED.get_or_init(Mutex::default);
    if let Some(identity) = loaded.lock().unwrap_or_else(|p| p.into_inner()).get(&id) {
        return Ok(identity.clone());
    }
    let identity = Identity::new(cert_der, key_pkcs8)?;
    let mut map = loaded.lock().unwrap_or_else(|p| p.into_inner());
    if map.len() >= LOADED_MAX {
        map.clear();
    }
    map.insert(id, identity.clone());
    Ok(identity)
}

/// A REGISTER dialog whose first REGISTER, without credentials, drew the registrar's TLS-DSK
/// challenge ([MS-SIPAE] 3.2.5.1; pidgin-sipe's `initialize_auth_context` in
/// `sip-transport.c` answers it the same way): the client then finds a personal certificate,
/// from its store or from the certificate provisioning service the challenge names
/// (`sts-uri`), and authenticates with it ([`Challenged::authenticate`]).
pub(crate) struct Challenged {
    dialog: Dialog,
    challenge: Challenge,
}

/// Opens a dialog with the registrar at `target` and sends `user`'s first REGISTER, noting
/// each step in `notes`.
pub(crate) async fn challenge(
    https: &Https,
    target: &Target,
    (user, endpoint): (&str, Endpoint),
    notes: &mut Vec<String>,
) -> Result<Challenged, HttpFailure> {
    let tls = https.connect(target, None).await?;
    let mut dialog = Dialog {
        tls,
        buf: Vec::new(),
        target: target.clone(),
        user: user.to_owned(),
        user_agent: https.user_agent().to_owned(),
        call_id: lyncsim_wire::random_guid(),
        from_tag: lyncsim_wire::random_guid()[..8].to_owned(),
        cseq: 0,
        endpoint,
    };
    let challenge = dialog.challenge(notes).await?;
    Ok(Challenged { dialog, challenge })
}

impl Challenged {
    /// The certificate provisioning service the challenge names (`sts-uri`), if it names one.
    pub(crate) fn sts_uri(&self) -> Option<&str> {
        self.challenge.sts_uri.as_deref()
    }

    /// Authenticates with the personal certificate and its key (PKCS#8): the TLS-DSK
    /// handshake carried in `gssapi-data`, then a REGISTER signed with the handshake's key,
    /// whose signed answer says registered or redirected.
    pub(crate) async fn authenticate(
        mut self,
        https: &Https,
        (cert_der, key_pkcs8): (&[u8], &[u8]),
        notes: &mut Vec<String>,
    ) -> Result<Registration, HttpFailure> {
        let (dialog, challenge) = (&mut self.dialog, &self.challenge);
        let identity = loaded_identity(cert_der, key_pkcs8).map_err(|e| {
            HttpFailure::Tls(format!("the personal certificate cannot be used: {e}"))
        })?;
        let (opaque, keys, server_cert) = dialog.tls_dsk(challenge, &identity).await?;
        https.count_tls_dsk(cert_der, server_cert.as_deref());
        notes.push(format!(
            "TLS-DSK security association {opaque} with {}",
            challenge.target_name
        ));
        let answer = dialog.signed_register(challenge, &opaque, &keys).await?;
        registration(&answer, &dialog.target, &dialog.where_())
    }
}

/// What the registrar's challenge names: its target name, realm, and where certificates
/// come from.
struct Challenge {
    target_name: String,
    realm: String,
    sts_uri: Option<String>,
}

impl Dialog {
    /// REGISTER without credentials: the registrar's 401 and its TLS-DSK challenge.
    async fn challenge(&mut self, notes: &mut Vec<String>) -> Result<Challenge, HttpFailure> {
        let where_ = self.where_();
        let first = self.register(None)?;
        let answer = self.exchange(&first).await?;
        let challenge = match (answer.status(), answer.auth("WWW-Authenticate")) {
            (Some(401), Some(c)) => c,
            _ => return Err(refusal(&answer, &where_)),
        };
        let target_name = challenge.get("targetname").unwrap_or_default().to_owned();
        let sts_uri = challenge.get("sts-uri").map(str::to_owned);
        notes.push(format!(
            "401: {where_} asks for TLS-DSK (targetname {target_name}, sts-uri {}; Date {})",
            sts_uri.as_deref().unwrap_or("none"),
            answer.header("Date").unwrap_or_else(|| "none".into())
        ));
        Ok(Challenge {
            target_name,
            realm: challenge.get("realm").unwrap_or(sip::REALM).to_owned(),
            sts_uri,
        })
    }

    /// The inner TLS handshake over REGISTERs and the registrar's 401s, presenting the
    /// personal certificate: the security association's `opaque`, its keys, and the
    /// registrar's certificate.
    async fn tls_dsk(
        &mut self,
        challenge: &Challenge,
        identity: &Identity,
    ) -> Result<(String, Keys, Option<Vec<u8>>), HttpFailure> {
        let where_ = self.where_();
        let mut handshake = Handshake::connect(identity).map_err(|e| {
            HttpFailure::Tls(format!("the personal certificate cannot be used: {e}"))
        })?;
        let mut to_server = match handshake.step(&[]) {
            Ok(Step::Send(bytes)) => bytes,
            Ok(Step::Done { .. }) | Err(_) => {
                return Err(HttpFailure::Tls("TLS-DSK could not start".into()));
            }
        };
        let mut opaque: Option<String> = None;
        for _ in 0..MAX_ROUNDS {
            let data = self
                .handshake_round(challenge, &mut opaque, &to_server)
                .await?;
            match handshake.step(&data) {
                Ok(Step::Send(bytes)) => to_server = bytes,
                Ok(Step::Done {
                    keys,
                    peer_certificate,
                    ..
                }) => return Ok((opaque.unwrap_or_default(), keys, peer_certificate)),
                // Schannel's words for a fatal alert from the peer (its event 36887, "Schannel
                // Events", learn.microsoft.com) and the SSPI error it returns (winerror.h's
                // SEC_E_ILLEGAL_MESSAGE; that Schannel returned this one for an alert is
                // lyncsim's reading). OpenSSL's own words stay out of the trace.
                Err(TlsDskError::Handshake { alert, .. }) => {
                    let code = alert.map_or_else(String::new, |a| {
                        format!(" A fatal alert was received from the remote endpoint. The TLS protocol defined fatal alert code is {a}.")
                    });
                    return Err(HttpFailure::Sip {
                        status: 401,
                        detail: format!(
                            "{where_} ended the TLS-DSK handshake: SEC_E_ILLEGAL_MESSAGE (0x80090326): The message received was unexpected or badly formatted.{code}"
                        ),
                    });
                }
                Err(e) => return Err(HttpFailure::Tls(format!("{where_}: {e}"))),
            }
        }
        Err(HttpFailure::BadResponse(format!(
            "{where_}: the TLS-DSK handshake did not end within {MAX_ROUNDS} rounds"
        )))
    }

    /// One round of the handshake: our bytes in `gssapi-data`, the registrar's bytes from its
    /// 401 (and the `opaque` it names, kept in `opaque`).
    async fn handshake_round(
        &mut self,
        challenge: &Challenge,
        opaque: &mut Option<String>,
        to_server: &[u8],
    ) -> Result<Vec<u8>, HttpFailure> {
        let where_ = self.where_();
        let mut auth = Auth::tls_dsk().quoted("qop", "auth");
        if let Some(o) = opaque.as_deref() {
            auth = auth.quoted("opaque", o);
        }
        let auth = auth
            .quoted("realm", &challenge.realm)
            .quoted("targetname", &challenge.target_name)
            .quoted("gssapi-data", B64.encode(to_server))
            .bare("version", sip::AUTH_VERSION.to_string());
        let request = self.register(Some(auth.to_string()))?;
        let answer = self.exchange(&request).await?;
        let Some(their) = answer
            .auth("WWW-Authenticate")
            .filter(|_| answer.status() == Some(401))
        else {
            return Err(refusal(&answer, &where_));
        };
        let Some(data) = their.get("gssapi-data") else {
            return Err(refusal(&answer, &where_));
        };
        let data = B64
            .decode(data)
            .map_err(|e| HttpFailure::BadResponse(format!("{where_}: gssapi-data: {e}")))?;
        if let Some(o) = their.get("opaque") {
            *opaque = Some(o.to_owned());
        }
        Ok(data)
    }

    /// A REGISTER signed with the association's key; the answer, its signature checked with
    /// the registrar's key (a 401 ends the association and is not signed).
    async fn signed_register(
        &mut self,
        challenge: &Challenge,
        opaque: &str,
        keys: &Keys,
    ) -> Result<Message, HttpFailure> {
        let where_ = self.where_();
        let mut request = self.register(None)?;
        let crand = hex::encode(rand::random::<[u8; 4]>());
        let cnum = "1";
        let by = SignedBy {
            rand: &crand,
            num: cnum,
            realm: &challenge.realm,
            target: &challenge.target_name,
        };
        let input = sip::signature_input(&request, by);
        let signed = Auth::tls_dsk()
            .quoted("qop", "auth")
            .quoted("opaque", opaque)
            .quoted("realm", &challenge.realm)
            .quoted("targetname", &challenge.target_name)
            .quoted("crand", &crand)
            .quoted("cnum", cnum)
            .quoted("response", sip::sign(&keys.client, &input));
        request.push("Authorization", signed.to_string());
        let answer = self.exchange(&request).await?;
        if answer.status() == Some(401) {
            return Ok(answer);
        }
        let Some(info) = answer.auth("Authentication-Info") else {
            // An unsigned refusal (a 503 of an outage that began during the dialog) is still
            // the refusal it says; an unsigned success is not to be believed.
            if answer.status().is_some_and(|s| s >= 400) {
                return Err(refusal(&answer, &where_));
            }
            return Err(HttpFailure::BadResponse(format!(
                "{where_}: SIP {} without a signature",
                answer.status().unwrap_or(0)
            )));
        };
        let by = SignedBy {
            rand: info.get("srand").unwrap_or_default(),
            num: info.get("snum").unwrap_or_default(),
            realm: info.get("realm").unwrap_or(&challenge.realm),
            target: info.get("targetname").unwrap_or(&challenge.target_name),
        };
        let input = sip::signature_input(&answer, by);
        if !sip::verify(
            &keys.server,
            &input,
            info.get("rspauth").unwrap_or_default(),
        ) {
            return Err(HttpFailure::BadResponse(format!(
                "{where_}: Invalid message signature received"
            )));
        }
        Ok(answer)
    }
}

/// What the registrar's answer to the signed REGISTER says: registered (200 with `Expires`),
/// redirected (301 with a `Contact`), or refused.
fn registration(
    answer: &Message,
    target: &Target,
    where_: &str,
) -> Result<Registration, HttpFailure> {
    match answer.status() {
        Some(200) => {
            let expires = answer
                .header("Expires")
                .and_then(|e| e.parse().ok())
                .unwrap_or(0);
            if expires == 0 {
                return Err(HttpFailure::BadResponse(format!(
                    "{where_}: 200 to REGISTER without Expires"
                )));
            }
            Ok(Registration::Registered { expires })
        }
        Some(301) => {
            let contact = answer.address("Contact").unwrap_or_default();
            let hostport = contact
                .trim_start_matches("sip:")
                .split(';')
                .next()
                .unwrap_or_default();
            let (host, port) = match hostport.rsplit_once(':') {
                Some((h, p)) => (h.to_owned(), p.parse().unwrap_or(target.addr.port())),
                None => (hostport.to_owned(), target.addr.port()),
            };
            if host.is_empty() {
                return Err(HttpFailure::BadResponse(format!(
                    "{where_}: 301 without a Contact"
                )));
            }
            Ok(Registration::Redirected { host, port })
        }
        _ => Err(refusal(answer, where_)),
    }
}
