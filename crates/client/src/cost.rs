//! The public-key operations a sign-in cost, both sides together, counted from what its
//! handshakes negotiated and what provisioning did: the figure a benchmark turns into the most
//! sign-ins a machine's cores could do (`cargo xtask bench`).
//!
//! Counted from the facts of each handshake (the key exchange group rustls negotiated, the
//! keys of the certificates presented, whether the session was resumed), by the rules of the
//! protocols: a full TLS 1.3 handshake is one key exchange, the server's CertificateVerify
//! (one signature, one verification) and one verification per presented certificate; a
//! TLS-DSK handshake (TLS 1.0, RSA key exchange, a client certificate) is the premaster
//! secret encrypted and decrypted, the client's CertificateVerify signed and verified, and the
//! registrar's check of the personal certificate's signature. Symmetric work (AES, HMAC,
//! hashes) is not counted.

use std::collections::BTreeMap;

use lyncsim_pki::KeyKind;
use serde::Serialize;

/// The library that does an operation (its speed is that library's on this machine).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum Library {
    /// aws-lc-rs: rustls, webpki, rcgen (and its check of a CSR's signature), the client's
    /// keys.
    AwsLc,
    /// OpenSSL: TLS-DSK's inner TLS 1.0.
    OpenSsl,
}

/// One public-key operation.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum PublicKeyOp {
    /// A whole TLS 1.3 key exchange (both sides' shares and secrets) in the named group, as
    /// rustls on aws-lc-rs does it.
    KeyExchange(String),
    /// A signature.
    Sign(KeyKind, Library),
    /// A signature checked.
    Verify(KeyKind, Library),
    /// RSA encryption with the public key (TLS-DSK's premaster secret, OpenSSL).
    RsaEncrypt(usize),
    /// RSA decryption with the private key (OpenSSL).
    RsaDecrypt(usize),
    /// A new key pair (aws-lc-rs).
    Generate(KeyKind),
}

impl std::fmt::Display for PublicKeyOp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PublicKeyOp::KeyExchange(group) => write!(f, "{group} key exchange"),
            PublicKeyOp::Sign(key, lib) => write!(f, "{key} sign ({lib:?})"),
            PublicKeyOp::Verify(key, lib) => write!(f, "{key} verify ({lib:?})"),
            PublicKeyOp::RsaEncrypt(bits) => write!(f, "RSA-{bits} encrypt (OpenSsl)"),
            PublicKeyOp::RsaDecrypt(bits) => write!(f, "RSA-{bits} decrypt (OpenSsl)"),
            PublicKeyOp::Generate(key) => write!(f, "{key} key generation"),
        }
    }
}

/// How many of each operation.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PublicKeyCost(BTreeMap<PublicKeyOp, u32>);

impl PublicKeyCost {
    /// Counts `op` once more.
    pub(crate) fn add(&mut self, op: PublicKeyOp) {
        *self.0.entry(op).or_insert(0) += 1;
    }

    /// Each operation and its count.
    pub fn iter(&self) -> impl Iterator<Item = (&PublicKeyOp, u32)> {
        self.0.iter().map(|(op, n)| (op, *n))
    }

    /// A TLS handshake of the client's, by what it negotiated: `group` (none when the
    /// session was resumed without a new exchange), `resumed`, and the certificates the
    /// server presented (leaf first).
    pub(crate) fn tls_handshake(&mut self, group: Option<String>, resumed: bool, chain: &[&[u8]]) {
        if let Some(group) = group {
            self.add(PublicKeyOp::KeyExchange(group));
        }
        if resumed {
            return;
        }
        let mut certs = chain
            .iter()
            .filter_map(|der| lyncsim_pki::inspect(der).ok());
        if let Some(leaf) = certs.next() {
            // The server's CertificateVerify, made and checked; the leaf's signature checked.
            self.add(PublicKeyOp::Sign(leaf.key, Library::AwsLc));
            self.add(PublicKeyOp::Verify(leaf.key, Library::AwsLc));
            self.add(PublicKeyOp::Verify(leaf.signed_by, Library::AwsLc));
        }
        for intermediate in certs {
            self.add(PublicKeyOp::Verify(intermediate.signed_by, Library::AwsLc));
        }
    }

    /// A TLS-DSK handshake with the personal certificate `client` and the registrar's
    /// `server` certificate.
    pub(crate) fn tls_dsk_handshake(&mut self, client: &[u8], server: Option<&[u8]>) {
        if let Some(registrar) = server.and_then(|der| lyncsim_pki::inspect(der).ok())
            && let KeyKind::Rsa(bits) = registrar.key
        {
            self.add(PublicKeyOp::RsaEncrypt(bits));
            self.add(PublicKeyOp::RsaDecrypt(bits));
        }
        if let Ok(personal) = lyncsim_pki::inspect(client) {
            self.add(PublicKeyOp::Sign(personal.key, Library::OpenSsl));
            self.add(PublicKeyOp::Verify(personal.key, Library::OpenSsl));
            // The registrar's judge checks the issuer's signature with webpki.
            self.add(PublicKeyOp::Verify(personal.signed_by, Library::AwsLc));
        }
    }

    /// A certificate provisioned: the key made (if it was new), the CSR signed and checked,
    /// the certificate signed by the CA.
    pub(crate) fn provisioning(&mut self, new_key: Option<KeyKind>, issued: &[u8]) {
        if let Some(key) = new_key {
            self.add(PublicKeyOp::Generate(key));
        }
        if let Ok(cert) = lyncsim_pki::inspect(issued) {
            self.add(PublicKeyOp::Sign(cert.key, Library::AwsLc));
            self.add(PublicKeyOp::Verify(cert.key, Library::AwsLc));
            self.add(PublicKeyOp::Sign(cert.signed_by, Library::AwsLc));
        }
    }
}
