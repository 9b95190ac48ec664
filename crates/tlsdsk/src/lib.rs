//! TLS-DSK's inner TLS ([MS-SIPAE]): a TLS handshake whose records travel base64-encoded in
//! the `gssapi-data` of SIP `Authorization` / `WWW-Authenticate` headers, and the keys that
//! then sign every SIP message. The client presents its personal certificate in this handshake.
//!
//! pidgin-sipe speaks TLS 1.0 with RSA key exchange only (AES128-SHA, AES256-SHA among its
//! suites), which rustls does not; this crate drives OpenSSL on memory buffers, with the
//! protocol pinned to TLS 1.0 and the cipher list `AES128-SHA:AES256-SHA:@SECLEVEL=0` (at the
//! default security level OpenSSL finds "no suitable signature algorithm"). The keys are
//! OpenSSL's `export_keying_material` with the label `client EAP encryption` and no context:
//! 128 bytes, of which bytes 64..96 sign the client's messages and 96..128 the server's.
//!
//! It is the only place lyncsim uses OpenSSL. Each side is a state machine: bytes from the peer
//! in, bytes for the peer out, until the handshake is done.
#![warn(missing_docs)]

use std::collections::VecDeque;
use std::io::{self, Read, Write};

use openssl::pkey::PKey;
use openssl::ssl::{
    HandshakeError, MidHandshakeSslStream, Ssl, SslContext, SslMethod, SslOptions, SslStream,
    SslVerifyMode, SslVersion,
};
use openssl::x509::{X509, X509VerifyResult};

/// The cipher suites of the inner TLS: what pidgin-sipe offers that OpenSSL still has.
pub const CIPHERS: &str = "AES128-SHA:AES256-SHA:@SECLEVEL=0";
/// OpenSSL 3's `SSL_OP_NO_EXTENDED_MASTER_SECRET` (bit 0), which the `openssl` crate does not
/// name.
const NO_EXTENDED_MASTER_SECRET: u64 = 1;
/// The exporter label of TLS-DSK's keys.
pub const KEY_LABEL: &str = "client EAP encryption";

/// What went wrong.
#[derive(Debug, thiserror::Error)]
pub enum TlsDskError {
    /// OpenSSL refused a setting, a certificate or a key.
    #[error("OpenSSL: {0}")]
    Setup(#[from] openssl::error::ErrorStack),
    /// The handshake failed: the peer's bytes were not TLS, it refused us, or (on the server)
    /// the judge refused the client's certificate. `send` is the alert for the peer, if any.
    #[error("the TLS-DSK handshake failed: {reason}")]
    Handshake {
        /// What went wrong; the judge's own words when it refused.
        reason: String,
        /// The alert record to send to the peer (maybe none).
        send: Vec<u8>,
        /// The description of the fatal alert the peer sent, if its bytes held one (RFC 2246
        /// 7.2: 40 handshake_failure, 42 bad_certificate, 48 unknown_ca, …).
        alert: Option<u8>,
    },
    /// A step after the handshake was done.
    #[error("the handshake is already done")]
    Done,
}

/// The keys that sign SIP messages once the handshake is done.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Keys {
    /// Signs the client's messages (`crand`, `cnum`, `response`).
    pub client: [u8; 32],
    /// Signs the server's messages (`srand`, `snum`, `rspauth`).
    pub server: [u8; 32],
}

/// What a side gives after taking the peer's bytes.
#[derive(Debug)]
pub enum Step {
    /// Bytes for the peer; the handshake goes on.
    Send(Vec<u8>),
    /// The handshake is done: the last bytes for the peer (maybe none), the keys, and the
    /// peer's certificate (DER) if it sent one.
    Done {
        /// For the peer.
        send: Vec<u8>,
        /// The signing keys.
        keys: Keys,
        /// The peer's certificate.
        peer_certificate: Option<Vec<u8>>,
    },
}

/// A socket made of two buffers: what the peer sent (read), what we send (written).
#[derive(Debug, Default)]
struct Pipe {
    incoming: VecDeque<u8>,
    outgoing: Vec<u8>,
}

impl Read for Pipe {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.incoming.is_empty() {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        let n = buf.len().min(self.incoming.len());
        for (slot, byte) in buf.iter_mut().zip(self.incoming.drain(..n)) {
            *slot = byte;
        }
        Ok(n)
    }
}

impl Write for Pipe {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.outgoing.extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// The first verdict of the judge in one handshake (OpenSSL may ask about a certificate more
/// than once).
type Verdict = std::sync::Arc<std::sync::Mutex<Option<Result<(), String>>>>;

enum State {
    Start(Ssl),
    Mid(MidHandshakeSslStream<Pipe>),
    Done,
}

/// One side of the inner handshake.
pub struct Handshake {
    state: State,
    server: bool,
    verdict: Verdict,
}

/// One side's certificate and key, loaded into OpenSSL once: a registrar makes every
/// handshake from the same one (parsing a key and building a context cost more than the
/// handshake's own RSA operations under OpenSSL 3).
#[derive(Clone)]
pub struct Identity {
    ctx: SslContext,
}

impl std::fmt::Debug for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Identity(..)")
    }
}

impl Identity {
    /// A certificate and its key (DER; the key PKCS#8 or PKCS#1). The key must be RSA for a
    /// server: the suites are RSA key exchange.
    pub fn new(cert_der: &[u8], key_der: &[u8]) -> Result<Identity, TlsDskError> {
        let mut ctx = SslContext::builder(SslMethod::tls())?;
        ctx.set_min_proto_version(Some(SslVersion::TLS1))?;
        ctx.set_max_proto_version(Some(SslVersion::TLS1))?;
        ctx.set_cipher_list(CIPHERS)?;
        // pidgin-sipe's hello has no extensions: no extended master secret (RFC 7627), which
        // would change how the master secret, and so the keys, are derived; no session ticket.
        ctx.set_options(
            SslOptions::from_bits_retain(NO_EXTENDED_MASTER_SECRET) | SslOptions::NO_TICKET,
        );
        let cert = X509::from_der(cert_der)?;
        let key = PKey::private_key_from_pkcs8(key_der)
            .or_else(|_| PKey::private_key_from_der(key_der))?;
        ctx.set_certificate(&cert)?;
        ctx.set_private_key(&key)?;
        ctx.check_private_key()?;
        // pidgin-sipe does not check the registrar's certificate either: it only uses its
        // key. A server asks for the client's in each handshake ([`Handshake::accept`]).
        ctx.set_verify(SslVerifyMode::NONE);
        Ok(Identity { ctx: ctx.build() })
    }
}

impl Handshake {
    /// The registrar's side, with its certificate and key (DER; the key PKCS#8 or PKCS#1), and
    /// the judge of the client's certificate. The key must be RSA: the suites are RSA key
    /// exchange.
    pub fn server(
        cert_der: &[u8],
        key_der: &[u8],
        judge: impl Fn(&[u8]) -> Result<(), String> + Send + Sync + 'static,
    ) -> Result<Handshake, TlsDskError> {
        Handshake::accept(&Identity::new(cert_der, key_der)?, judge)
    }

    /// The registrar's side of one handshake with its `identity`: the client's certificate is
    /// asked for and `judge` decides on the end entity (by the service clock, against the
    /// current CA); OpenSSL's own chain check, with no trust store here, has no say.
    pub fn accept(
        identity: &Identity,
        judge: impl Fn(&[u8]) -> Result<(), String> + Send + Sync + 'static,
    ) -> Result<Handshake, TlsDskError> {
        let verdict = Verdict::default();
        let slot = verdict.clone();
        let mut ssl = Ssl::new(&identity.ctx)?;
        ssl.set_verify_callback(
            SslVerifyMode::PEER | SslVerifyMode::FAIL_IF_NO_PEER_CERT,
            move |_, store| {
                if store.error_depth() != 0 {
                    return true;
                }
                let mut slot = slot.lock().unwrap_or_else(|p| p.into_inner());
                if slot.is_none() {
                    let der = store.current_cert().and_then(|c| c.to_der().ok());
                    *slot = Some(match der {
                        Some(der) => judge(&der),
                        None => Err("no client certificate".into()),
                    });
                }
                let ok = matches!(*slot, Some(Ok(())));
                if !ok {
                    store.set_error(X509VerifyResult::APPLICATION_VERIFICATION);
                }
                ok
            },
        );
        Ok(Handshake {
            state: State::Start(ssl),
            server: true,
            verdict,
        })
    }

    /// The client's side, with its personal certificate and key.
    pub fn client(cert_der: &[u8], key_der: &[u8]) -> Result<Handshake, TlsDskError> {
        Handshake::connect(&Identity::new(cert_der, key_der)?)
    }

    /// The client's side of one handshake with its `identity`.
    pub fn connect(identity: &Identity) -> Result<Handshake, TlsDskError> {
        Ok(Handshake {
            state: State::Start(Ssl::new(&identity.ctx)?),
            server: false,
            verdict: Verdict::default(),
        })
    }

    /// Takes the peer's bytes (none for the client's first step) and gives what to send.
    pub fn step(&mut self, from_peer: &[u8]) -> Result<Step, TlsDskError> {
        let result = match std::mem::replace(&mut self.state, State::Done) {
            State::Done => return Err(TlsDskError::Done),
            State::Start(ssl) => {
                let pipe = Pipe {
                    incoming: from_peer.iter().copied().collect(),
                    outgoing: Vec::new(),
                };
                if self.server {
                    ssl.accept(pipe)
                } else {
                    ssl.connect(pipe)
                }
            }
            State::Mid(mut mid) => {
                mid.get_mut().incoming.extend(from_peer.iter().copied());
                mid.handshake()
            }
        };
        match result {
            Ok(mut stream) => {
                let send = std::mem::take(&mut stream.get_mut().outgoing);
                let keys = export(&stream)?;
                let peer_certificate = stream
                    .ssl()
                    .peer_certificate()
                    .map(|c| c.to_der())
                    .transpose()?;
                Ok(Step::Done {
                    send,
                    keys,
                    peer_certificate,
                })
            }
            Err(HandshakeError::WouldBlock(mut mid)) => {
                let send = std::mem::take(&mut mid.get_mut().outgoing);
                self.state = State::Mid(mid);
                Ok(Step::Send(send))
            }
            Err(HandshakeError::Failure(mut mid)) => {
                let send = std::mem::take(&mut mid.get_mut().outgoing);
                let judged = self
                    .verdict
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .clone();
                let reason = match judged {
                    Some(Err(why)) => why,
                    // OpenSSL's reason ("sslv3 alert handshake failure"), not its whole stack.
                    _ => mid
                        .error()
                        .ssl_error()
                        .and_then(|stack| stack.errors().first())
                        .and_then(|e| e.reason())
                        .map_or_else(|| mid.error().to_string(), str::to_owned),
                };
                Err(TlsDskError::Handshake {
                    reason,
                    send,
                    alert: fatal_alert(from_peer),
                })
            }
            Err(HandshakeError::SetupFailure(e)) => Err(TlsDskError::Setup(e)),
        }
    }
}

/// The description of the first fatal alert among TLS records (RFC 2246 6.2.1, 7.2: a record of
/// content type 21 whose level is 2). During the handshake alerts are not encrypted yet.
fn fatal_alert(mut records: &[u8]) -> Option<u8> {
    while let [content_type, _, _, len_hi, len_lo, rest @ ..] = records {
        let len = usize::from(u16::from_be_bytes([*len_hi, *len_lo]));
        let body = rest.get(..len)?;
        if *content_type == 21
            && let [2, description, ..] = body
        {
            return Some(*description);
        }
        records = &rest[len..];
    }
    None
}

fn export(stream: &SslStream<Pipe>) -> Result<Keys, TlsDskError> {
    let mut material = [0u8; 128];
    stream
        .ssl()
        .export_keying_material(&mut material, KEY_LABEL, None)?;
    let mut keys = Keys {
        client: [0; 32],
        server: [0; 32],
    };
    keys.client.copy_from_slice(&material[64..96]);
    keys.server.copy_from_slice(&material[96..128]);
    Ok(keys)
}

/// Puts consecutive handshake records into one record, as pidgin-sipe's parser needs the
/// server's first flight (ServerHello, Certificate, CertificateRequest, ServerHelloDone) to
/// come: OpenSSL writes each message in a record of its own. Other records, and what would
/// not fit in one record, are left as they are.
pub fn merge_handshake_records(bytes: &[u8]) -> Vec<u8> {
    const HANDSHAKE: u8 = 22;
    const MAX: usize = 16 * 1024;
    let mut out = Vec::with_capacity(bytes.len());
    let mut pending: Option<([u8; 2], Vec<u8>)> = None;
    let flush = |out: &mut Vec<u8>, pending: &mut Option<([u8; 2], Vec<u8>)>| {
        if let Some((version, body)) = pending.take() {
            out.push(HANDSHAKE);
            out.extend_from_slice(&version);
            out.extend_from_slice(&u16::try_from(body.len()).unwrap_or(u16::MAX).to_be_bytes());
            out.extend_from_slice(&body);
        }
    };
    let mut rest = bytes;
    while rest.len() >= 5 {
        let (kind, version) = (rest[0], [rest[1], rest[2]]);
        let len = usize::from(u16::from_be_bytes([rest[3], rest[4]]));
        if rest.len() < 5 + len {
            break;
        }
        let body = &rest[5..5 + len];
        match &mut pending {
            Some((v, b)) if kind == HANDSHAKE && *v == version && b.len() + len <= MAX => {
                b.extend_from_slice(body)
            }
            _ => {
                flush(&mut out, &mut pending);
                if kind == HANDSHAKE {
                    pending = Some((version, body.to_vec()));
                } else {
                    out.extend_from_slice(&rest[..5 + len]);
                }
            }
        }
        rest = &rest[5 + len..];
    }
    flush(&mut out, &mut pending);
    out.extend_from_slice(rest);
    out
}

/// The records of `bytes`: (content type, length), for a look at a flight.
pub fn records(bytes: &[u8]) -> Vec<(u8, usize)> {
    let mut out = Vec::new();
    let mut rest = bytes;
    while rest.len() >= 5 {
        let len = usize::from(u16::from_be_bytes([rest[3], rest[4]]));
        out.push((rest[0], len));
        rest = &rest[(5 + len).min(rest.len())..];
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use lyncsim_pki::{Authority, AuthorityKind, PersonalKey, make_csr, parse_csr};

    const NOW: i64 = 1_780_000_000;

    struct Ids {
        server: (Vec<u8>, Vec<u8>),
        client: (Vec<u8>, Vec<u8>),
    }

    /// An RSA-2048 certificate and key from a Communications Server CA (the suites are RSA
    /// key exchange, so the registrar's key is RSA too).
    fn rsa_identity(cs: &Authority, name: &str) -> (Vec<u8>, Vec<u8>) {
        let key = PersonalKey::generate().unwrap();
        let req = parse_csr(&make_csr(&key, name).unwrap()).unwrap();
        let cert = cs.issue_personal(&req, NOW, 180 * 86400).unwrap();
        (cert.der, key.pkcs8_der())
    }

    fn ids() -> Ids {
        let cs = Authority::generate(AuthorityKind::CommunicationsServer, NOW, 1).unwrap();
        Ids {
            server: rsa_identity(&cs, "pool-a.online.lync.com"),
            client: rsa_identity(&cs, "alice@contoso.com"),
        }
    }

    /// What a handshake of both sides gave: the client's keys, the server's, the certificate
    /// the server saw, and the records of each flight the server sent.
    struct Run {
        client: Keys,
        server: Keys,
        seen: Option<Vec<u8>>,
        flights: Vec<Vec<(u8, usize)>>,
        /// Every byte each side sent, in order: the recorded handshake.
        from_client: Vec<Vec<u8>>,
        from_server: Vec<Vec<u8>>,
    }

    /// Runs both sides against each other, the server's flights merged as for pidgin-sipe.
    fn run(ids: &Ids) -> Result<Run, TlsDskError> {
        let mut client = Handshake::client(&ids.client.0, &ids.client.1)?;
        let mut server = Handshake::server(&ids.server.0, &ids.server.1, |_| Ok(()))?;
        let mut to_server = match client.step(&[])? {
            Step::Send(b) => b,
            Step::Done { .. } => unreachable!(),
        };
        let mut server_flights = Vec::new();
        let (mut from_client, mut from_server) = (vec![to_server.clone()], Vec::new());
        let (mut client_keys, mut server_keys, mut seen) = (None, None, None);
        for _ in 0..4 {
            let to_client = match server.step(&to_server)? {
                Step::Send(b) => merge_handshake_records(&b),
                Step::Done {
                    send,
                    keys,
                    peer_certificate,
                } => {
                    server_keys = Some(keys);
                    seen = peer_certificate;
                    send
                }
            };
            server_flights.push(records(&to_client));
            from_server.push(to_client.clone());
            if client_keys.is_some() {
                break;
            }
            to_server = match client.step(&to_client)? {
                Step::Send(b) => b,
                Step::Done { send, keys, .. } => {
                    client_keys = Some(keys);
                    send
                }
            };
            from_client.push(to_server.clone());
            if server_keys.is_some() && client_keys.is_some() {
                break;
            }
        }
        Ok(Run {
            client: client_keys.expect("the client finished"),
            server: server_keys.expect("the server finished"),
            seen,
            flights: server_flights,
            from_client,
            from_server,
        })
    }

    #[test]
    fn both_sides_derive_the_same_keys_and_the_server_sees_the_personal_certificate() {
        let ids = ids();
        let Run {
            client,
            server,
            seen,
            flights,
            ..
        } = run(&ids).unwrap();
        assert_eq!(client, server);
        assert_ne!(client.client, client.server);
        assert_eq!(seen.as_deref(), Some(ids.client.0.as_slice()));
        // The first flight, merged, is one handshake record, as pidgin-sipe reads it.
        assert_eq!(flights[0].len(), 1, "{flights:?}");
        assert_eq!(flights[0][0].0, 22);
        // Another run makes other keys.
        assert_ne!(run(&ids).unwrap().client, client);
    }

    #[test]
    fn garbage_from_the_peer_fails_the_handshake() {
        let ids = ids();
        let mut server = Handshake::server(&ids.server.0, &ids.server.1, |_| Ok(())).unwrap();
        let err = server
            .step(b"this is not TLS at all, not even close")
            .unwrap_err();
        assert!(matches!(err, TlsDskError::Handshake { .. }), "{err}");
    }

    /// TLS 1.0's PRF (RFC 2246 5): P_MD5 over the first half of the secret XOR P_SHA1 over
    /// the second, written out here so that the test does not trust OpenSSL's exporter.
    fn prf(secret: &[u8], label: &str, seed: &[u8], len: usize) -> Vec<u8> {
        use openssl::hash::MessageDigest;
        use openssl::sign::Signer;
        fn p_hash(md: MessageDigest, secret: &[u8], seed: &[u8], len: usize) -> Vec<u8> {
            let key = PKey::hmac(secret).unwrap();
            let hmac = |data: &[u8]| {
                let mut s = Signer::new(md, &key).unwrap();
                s.update(data).unwrap();
                s.sign_to_vec().unwrap()
            };
            let (mut a, mut out) = (hmac(seed), Vec::new());
            while out.len() < len {
                out.extend(hmac(&[a.as_slice(), seed].concat()));
                a = hmac(&a);
            }
            out.truncate(len);
            out
        }
        let half = secret.len().div_ceil(2);
        let seed = [label.as_bytes(), seed].concat();
        let md5 = p_hash(MessageDigest::md5(), &secret[..half], &seed, len);
        let sha1 = p_hash(
            MessageDigest::sha1(),
            &secret[secret.len() - half..],
            &seed,
            len,
        );
        md5.iter().zip(sha1).map(|(a, b)| a ^ b).collect()
    }

    /// The handshake messages (type, body) of a flight, up to its ChangeCipherSpec.
    fn handshake_messages(flight: &[u8]) -> Vec<(u8, Vec<u8>)> {
        let mut stream = Vec::new();
        let mut rest = flight;
        while rest.len() >= 5 {
            let len = usize::from(u16::from_be_bytes([rest[3], rest[4]]));
            if rest[0] != 22 {
                break;
            }
            stream.extend_from_slice(&rest[5..5 + len]);
            rest = &rest[5 + len..];
        }
        let (mut out, mut rest) = (Vec::new(), stream.as_slice());
        while rest.len() >= 4 {
            let len = usize::from(rest[1]) << 16 | usize::from(rest[2]) << 8 | usize::from(rest[3]);
            out.push((rest[0], rest[4..4 + len].to_vec()));
            rest = &rest[4 + len..];
        }
        out
    }

    #[test]
    fn the_keys_are_ms_sipae_s_derivation_from_the_recorded_handshake() {
        let ids = ids();
        let run = run(&ids).unwrap();
        // The randoms of ClientHello and ServerHello (after type, length and version).
        let hello = |flight: &[u8], kind: u8| {
            let (_, body) = handshake_messages(flight)
                .into_iter()
                .find(|(t, _)| *t == kind)
                .expect("hello");
            body[2..34].to_vec()
        };
        let client_random = hello(&run.from_client[0], 1);
        let server_random = hello(&run.from_server[0], 2);
        // The premaster secret, from ClientKeyExchange, opened with the registrar's key.
        let (_, exchange) = handshake_messages(&run.from_client[1])
            .into_iter()
            .find(|(t, _)| *t == 16)
            .expect("ClientKeyExchange");
        let key = PKey::private_key_from_der(&ids.server.1)
            .unwrap()
            .rsa()
            .unwrap();
        let mut premaster = vec![0u8; key.size() as usize];
        let n = key
            .private_decrypt(&exchange[2..], &mut premaster, openssl::rsa::Padding::PKCS1)
            .unwrap();
        assert_eq!(n, 48);
        let randoms = [client_random.as_slice(), &server_random].concat();
        let master = prf(&premaster[..48], "master secret", &randoms, 48);
        let block = prf(&master, KEY_LABEL, &randoms, 128);
        assert_eq!(run.client.client.as_slice(), &block[64..96]);
        assert_eq!(run.client.server.as_slice(), &block[96..128]);
        assert_eq!(run.server, run.client);
    }

    #[test]
    fn a_certificate_the_judge_refuses_ends_the_handshake_with_an_alert() {
        let ids = ids();
        let mut client = Handshake::client(&ids.client.0, &ids.client.1).unwrap();
        let mut server = Handshake::server(&ids.server.0, &ids.server.1, |der| {
            assert!(!der.is_empty());
            Err("expired 2h ago by the service clock".into())
        })
        .unwrap();
        let Step::Send(hello) = client.step(&[]).unwrap() else {
            panic!("the client sends its hello first")
        };
        let Step::Send(flight) = server.step(&hello).unwrap() else {
            panic!("the server answers with its first flight")
        };
        let Step::Send(second) = client.step(&flight).unwrap() else {
            panic!("the client sends its certificate")
        };
        let TlsDskError::Handshake {
            reason,
            send,
            alert,
        } = server.step(&second).unwrap_err()
        else {
            panic!("the judge's refusal fails the handshake")
        };
        assert_eq!(reason, "expired 2h ago by the service clock");
        assert_eq!(alert, None, "the client sent no alert");
        assert_eq!(
            records(&send).first().map(|r| r.0),
            Some(21),
            "an alert record"
        );
        // The client reads the fatal alert's description from the record itself.
        let sent = send[6];
        assert_eq!(send[5], 2, "a fatal alert");
        let TlsDskError::Handshake { alert, .. } = client.step(&send).unwrap_err() else {
            panic!("the alert fails the client's handshake")
        };
        assert_eq!(alert, Some(sent));
    }

    #[test]
    fn merging_keeps_other_records_and_joins_handshakes() {
        let rec = |t: u8, body: &[u8]| {
            let mut r = vec![t, 3, 1];
            r.extend_from_slice(&(body.len() as u16).to_be_bytes());
            r.extend_from_slice(body);
            r
        };
        let input = [
            rec(22, b"ab"),
            rec(22, b"cd"),
            rec(20, b"x"),
            rec(22, b"ef"),
        ]
        .concat();
        let merged = merge_handshake_records(&input);
        assert_eq!(
            merged,
            [rec(22, b"abcd"), rec(20, b"x"), rec(22, b"ef")].concat()
        );
        assert_eq!(records(&merged), vec![(22, 4), (20, 1), (22, 2)]);
    }
}
