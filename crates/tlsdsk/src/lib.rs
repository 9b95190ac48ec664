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
    HandshakeError, MidHandshakeSslStream, Ssl, SslContext, SslMethod, SslStream, SslVerifyMode,
    SslVersion,
};
use openssl::x509::X509;

/// The cipher suites of the inner TLS: what pidgin-sipe offers that OpenSSL still has.
pub const CIPHERS: &str = "AES128-SHA:AES256-SHA:@SECLEVEL=0";
/// The exporter label of TLS-DSK's keys.
pub const KEY_LABEL: &str = "client EAP encryption";

/// What went wrong.
#[derive(Debug, thiserror::Error)]
pub enum TlsDskError {
    /// OpenSSL refused a setting, a certificate or a key.
    #[error("OpenSSL: {0}")]
    Setup(#[from] openssl::error::ErrorStack),
    /// The handshake failed: the peer's bytes were not TLS, or it refused us.
    #[error("the TLS-DSK handshake failed: {0}")]
    Handshake(String),
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

enum State {
    Start(Ssl),
    Mid(MidHandshakeSslStream<Pipe>),
    Done,
}

/// One side of the inner handshake.
pub struct Handshake {
    state: State,
    server: bool,
}

fn context(cert_der: &[u8], key_der: &[u8], server: bool) -> Result<SslContext, TlsDskError> {
    let mut ctx = SslContext::builder(SslMethod::tls())?;
    ctx.set_min_proto_version(Some(SslVersion::TLS1))?;
    ctx.set_max_proto_version(Some(SslVersion::TLS1))?;
    ctx.set_cipher_list(CIPHERS)?;
    let cert = X509::from_der(cert_der)?;
    let key = PKey::private_key_from_der(key_der)?;
    ctx.set_certificate(&cert)?;
    ctx.set_private_key(&key)?;
    ctx.check_private_key()?;
    if server {
        // Ask for the client's certificate; whether it is trusted is the registrar's own
        // judgement (by the service clock, against the current CA), made on what this returns.
        ctx.set_verify_callback(
            SslVerifyMode::PEER | SslVerifyMode::FAIL_IF_NO_PEER_CERT,
            |_, _| true,
        );
    } else {
        // pidgin-sipe does not check the registrar's certificate either: it only uses its key.
        ctx.set_verify(SslVerifyMode::NONE);
    }
    Ok(ctx.build())
}

impl Handshake {
    /// The registrar's side, with its certificate and key (DER; the key PKCS#8 or PKCS#1). The
    /// key must be RSA: the suites are RSA key exchange.
    pub fn server(cert_der: &[u8], key_der: &[u8]) -> Result<Handshake, TlsDskError> {
        Handshake::new(cert_der, key_der, true)
    }

    /// The client's side, with its personal certificate and key.
    pub fn client(cert_der: &[u8], key_der: &[u8]) -> Result<Handshake, TlsDskError> {
        Handshake::new(cert_der, key_der, false)
    }

    fn new(cert_der: &[u8], key_der: &[u8], server: bool) -> Result<Handshake, TlsDskError> {
        let ctx = context(cert_der, key_der, server)?;
        Ok(Handshake {
            state: State::Start(Ssl::new(&ctx)?),
            server,
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
            Err(HandshakeError::Failure(mid)) => {
                Err(TlsDskError::Handshake(mid.error().to_string()))
            }
            Err(HandshakeError::SetupFailure(e)) => Err(TlsDskError::Setup(e)),
        }
    }
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
    }

    /// Runs both sides against each other, the server's flights merged as for pidgin-sipe.
    fn run(ids: &Ids) -> Result<Run, TlsDskError> {
        let mut client = Handshake::client(&ids.client.0, &ids.client.1)?;
        let mut server = Handshake::server(&ids.server.0, &ids.server.1)?;
        let mut to_server = match client.step(&[])? {
            Step::Send(b) => b,
            Step::Done { .. } => unreachable!(),
        };
        let mut server_flights = Vec::new();
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
            if server_keys.is_some() && client_keys.is_some() {
                break;
            }
        }
        Ok(Run {
            client: client_keys.expect("the client finished"),
            server: server_keys.expect("the server finished"),
            seen,
            flights: server_flights,
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
        let mut server = Handshake::server(&ids.server.0, &ids.server.1).unwrap();
        let err = server
            .step(b"this is not TLS at all, not even close")
            .unwrap_err();
        assert!(matches!(err, TlsDskError::Handshake(_)), "{err}");
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
