//! The client's side of provisioning: its RSA-2048 key and PKCS#10 request; and the CA's
//! side: parsing a request and checking its signature.

use rcgen::{CertificateParams, CertificateSigningRequestParams, DnType, KeyPair};
use rustls_pki_types::CertificateSigningRequestDer;
use x509_parser::prelude::*;

use crate::PkiError;

/// An RSA-2048 key pair as the client's key container holds it.
pub struct PersonalKey(KeyPair);

impl PersonalKey {
    /// Makes a new RSA-2048 key, as the client does before each certificate request.
    pub fn generate() -> Result<Self, PkiError> {
        crate::keygen::rsa_2048()
            .map(PersonalKey)
            .map_err(PkiError::rcgen("generate an RSA-2048 key"))
    }

    /// Reads a key back from its PKCS#8 DER (the key container's plaintext).
    pub fn from_pkcs8_der(der: &[u8]) -> Result<Self, PkiError> {
        let pkcs8 = rustls_pki_types::PrivatePkcs8KeyDer::from(der);
        KeyPair::from_pkcs8_der_and_sign_algo(&pkcs8, &rcgen::PKCS_RSA_SHA256)
            .map(PersonalKey)
            .map_err(|e| PkiError::BadKey(e.to_string()))
    }

    /// The key as PKCS#8 DER.
    pub fn pkcs8_der(&self) -> Vec<u8> {
        self.0.serialize_der()
    }

    /// The public key as SubjectPublicKeyInfo DER (what a certificate for this key carries).
    pub fn public_key_der(&self) -> Vec<u8> {
        rcgen::PublicKeyData::subject_public_key_info(&self.0)
    }
}

impl std::fmt::Debug for PersonalKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PersonalKey(RSA-2048, ..)")
    }
}

/// Makes the PKCS#10 request the client sends to GetAndPublishCert: subject `CN=sip:<user>`,
/// signed with `key`. Returns the DER.
pub fn make_csr(key: &PersonalKey, user: &str) -> Result<Vec<u8>, PkiError> {
    let mut params = CertificateParams::default();
    params
        .distinguished_name
        .push(DnType::CommonName, format!("sip:{user}"));
    let csr = params
        .serialize_request(&key.0)
        .map_err(PkiError::rcgen("sign the certificate request"))?;
    Ok(csr.der().to_vec())
}

/// A parsed request whose signature verified: what the CA may issue from.
#[derive(Debug)]
pub struct RequestedCert {
    /// The subject's common name as requested (`sip:alice@contoso.com`).
    pub subject_cn: String,
    /// The requested key's size in bits.
    pub key_bits: usize,
    /// Whether the requested key is RSA.
    pub is_rsa: bool,
    pub(crate) params: CertificateSigningRequestParams,
}

/// The smallest RSA key the Communications Server CA issues for.
pub const MIN_RSA_BITS: usize = 2048;

/// The CA's key rule: RSA of [`MIN_RSA_BITS`] or more.
pub(crate) fn check_key(is_rsa: bool, key_bits: usize) -> Result<(), PkiError> {
    if is_rsa && key_bits >= MIN_RSA_BITS {
        return Ok(());
    }
    Err(PkiError::Refused(format!(
        "the key must be RSA of {MIN_RSA_BITS} bits or more, not {key_bits} bits{}",
        if is_rsa { "" } else { " of another algorithm" }
    )))
}

/// Parses a PKCS#10 request from DER, checks its key against the CA's rule and verifies its
/// signature.
pub fn parse_csr(der: &[u8]) -> Result<RequestedCert, PkiError> {
    let (rest, req) = X509CertificationRequest::from_der(der)
        .map_err(|e| PkiError::BadRequest(format!("does not parse: {e}")))?;
    if !rest.is_empty() {
        return Err(PkiError::BadRequest(format!(
            "{} bytes after the request",
            rest.len()
        )));
    }
    let info = &req.certification_request_info;
    let subject_cn = info
        .subject
        .iter_common_name()
        .next()
        .and_then(|a| a.as_str().ok())
        .unwrap_or_default()
        .to_owned();
    let (is_rsa, key_bits) = match info.subject_pki.parsed() {
        Ok(x509_parser::public_key::PublicKey::RSA(rsa)) => (true, rsa.key_size()),
        Ok(x509_parser::public_key::PublicKey::EC(ec)) => (false, ec.key_size()),
        _ => (false, 0),
    };
    // The key rule comes before the signature check: a small RSA key's signature cannot be
    // verified here at all (aws-lc verifies RSA from 2048 bits), and "its signature does not
    // verify" would name the wrong reason for a request that is only too weak.
    check_key(is_rsa, key_bits)?;
    let params =
        CertificateSigningRequestParams::from_der(&CertificateSigningRequestDer::from(der))
            .map_err(|e| match e {
                rcgen::Error::InvalidCertificationRequestSignature => {
                    PkiError::BadRequest("its signature does not verify".into())
                }
                other => PkiError::BadRequest(other.to_string()),
            })?;
    Ok(RequestedCert {
        subject_cn,
        key_bits,
        is_rsa,
        params,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_round_trips() {
        let key = PersonalKey::generate().unwrap();
        let der = make_csr(&key, "alice@contoso.com").unwrap();
        let req = parse_csr(&der).unwrap();
        assert_eq!(req.subject_cn, "sip:alice@contoso.com");
        assert_eq!(req.key_bits, 2048);
        assert!(req.is_rsa);
        let again = PersonalKey::from_pkcs8_der(&key.pkcs8_der()).unwrap();
        assert_eq!(again.public_key_der(), key.public_key_der());
    }

    #[test]
    fn a_small_rsa_key_is_refused_for_its_size_not_its_signature() {
        // openssl req -verify accepts this request (fixtures/pki/README.md).
        let pem = include_str!("../../../fixtures/pki/rsa1024.csr.pem");
        let der = crate::pem_decode("CERTIFICATE REQUEST", pem).unwrap();
        let err = parse_csr(&der).unwrap_err();
        assert!(matches!(err, PkiError::Refused(_)), "{err:?}");
        assert!(
            err.to_string()
                .contains("RSA of 2048 bits or more, not 1024 bits"),
            "{err}"
        );
    }

    #[test]
    fn a_tampered_request_is_refused() {
        let key = PersonalKey::generate().unwrap();
        let mut der = make_csr(&key, "alice@contoso.com").unwrap();
        // Flip a bit in the subject's text: the request still parses, the signature fails.
        let at = der.windows(5).position(|w| w == b"alice").unwrap();
        der[at] ^= 0x01;
        let err = parse_csr(&der).unwrap_err();
        assert!(
            err.to_string().contains("signature does not verify"),
            "{err}"
        );
    }
}
