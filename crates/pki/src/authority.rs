//! The two certificate authorities and what they issue.

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, SanType, SerialNumber,
};
use rustls_pki_types::CertificateDer;
use time::OffsetDateTime;

use crate::{DAY, PkiError, RequestedCert, pem_encode};

/// Which of the service's two authorities this is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AuthorityKind {
    /// Signs the HTTPS server certificates; client profiles trust it.
    PublicRoot,
    /// Issues personal certificates; the registrar trusts it.
    CommunicationsServer,
}

impl AuthorityKind {
    /// The CA certificate's common name.
    pub fn common_name(self) -> &'static str {
        match self {
            // Says on its face that it is a test authority, so that it is never mistaken for a
            // production root.
            AuthorityKind::PublicRoot => "lyncsim Test Public Root (NOT FOR PRODUCTION)",
            AuthorityKind::CommunicationsServer => "Communications Server",
        }
    }
}

/// A CA: its certificate and its signing key.
pub struct Authority {
    kind: AuthorityKind,
    cert_der: Vec<u8>,
    issuer: Issuer<'static, KeyPair>,
}

/// A certificate and key for one HTTPS host.
#[derive(Clone)]
pub struct ServerIdentity {
    /// The leaf certificate, DER.
    pub cert_der: Vec<u8>,
    /// The leaf's key (P-256 for HTTPS, RSA for TLS-DSK), PKCS#8 DER.
    pub key_pkcs8_der: Vec<u8>,
}

/// A personal certificate the Communications Server CA issued.
#[derive(Debug, Clone)]
pub struct IssuedCert {
    /// DER.
    pub der: Vec<u8>,
    /// PEM.
    pub pem: String,
}

fn at(unix: i64) -> Result<OffsetDateTime, PkiError> {
    OffsetDateTime::from_unix_timestamp(unix).map_err(|_| PkiError::Time(unix))
}

fn random_serial() -> SerialNumber {
    let mut bytes: [u8; 16] = rand::random();
    // Positive and of full length, as RFC 5280 asks.
    bytes[0] = (bytes[0] & 0x7f) | 0x10;
    SerialNumber::from_slice(&bytes)
}

impl Authority {
    /// Makes a new CA, valid from a day before `now` for ten years. `generation` goes into the
    /// subject's OU so that a rotated CA can be told apart.
    ///
    /// The Communications Server CA has an RSA-2048 key, as Lync Online's has. The public root
    /// has a P-256 key: it is lyncsim's own test root, it signs only P-256 HTTPS certificates
    /// (and the registrars' one RSA certificate), and no cause of the KB touches it; an RSA key
    /// made for it at every service start was a quarter of the built-in suite's CPU.
    pub fn generate(kind: AuthorityKind, now: i64, generation: u32) -> Result<Self, PkiError> {
        let key = match kind {
            AuthorityKind::PublicRoot => KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256),
            AuthorityKind::CommunicationsServer => crate::keygen::rsa_2048(),
        }
        .map_err(PkiError::rcgen("generate the CA key"))?;
        let mut params = CertificateParams::default();
        params
            .distinguished_name
            .push(DnType::CommonName, kind.common_name());
        params
            .distinguished_name
            .push(DnType::OrganizationName, "lyncsim");
        params.distinguished_name.push(
            DnType::OrganizationalUnitName,
            format!("generation {generation}"),
        );
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        params.not_before = at(now - DAY)?;
        params.not_after = at(now + 10 * 365 * DAY)?;
        params.serial_number = Some(random_serial());
        let cert = params
            .self_signed(&key)
            .map_err(PkiError::rcgen("self-sign the CA"))?;
        Ok(Authority {
            kind,
            cert_der: cert.der().to_vec(),
            issuer: Issuer::new(params, key),
        })
    }

    /// Reads a CA back from its certificate and PKCS#8 key, both PEM. The certificate must be
    /// whole (nothing after its DER) and carry its own valid signature (each CA is
    /// self-signed): a damaged one would otherwise be served and fail every client that
    /// checks it. A key that is not the certificate's is refused too (it would sign
    /// certificates that nobody can verify).
    pub fn from_pem(kind: AuthorityKind, cert_pem: &str, key_pem: &str) -> Result<Self, PkiError> {
        use x509_parser::prelude::{FromDer, X509Certificate};
        let cert_der = crate::pem_decode("CERTIFICATE", cert_pem)?;
        let key = KeyPair::from_pem(key_pem).map_err(|e| PkiError::BadKey(e.to_string()))?;
        let (rest, cert) = X509Certificate::from_der(&cert_der)
            .map_err(|e| PkiError::BadCertificate(e.to_string()))?;
        if !rest.is_empty() {
            return Err(PkiError::BadCertificate(format!(
                "{} bytes follow the certificate's DER",
                rest.len()
            )));
        }
        // x509-parser reads leniently: webpki reads it again as strict DER, and checks what
        // the signature does not cover (the outer algorithm must be the signed one, RFC 5280
        // section 4.1.1.2).
        webpki::EndEntityCert::try_from(&CertificateDer::from(cert_der.as_slice()))
            .map_err(|e| PkiError::BadCertificate(format!("it is not strict DER X.509 ({e})")))?;
        cert.verify_signature(None).map_err(|e| {
            PkiError::BadCertificate(format!("its own signature does not verify ({e})"))
        })?;
        if cert.public_key().raw != rcgen::PublicKeyData::subject_public_key_info(&key).as_slice() {
            return Err(PkiError::BadKey(format!(
                "it is not the key of the certificate {}",
                cert.subject()
            )));
        }
        let issuer = Issuer::from_ca_cert_der(&CertificateDer::from(cert_der.as_slice()), key)
            .map_err(|e| PkiError::BadCertificate(e.to_string()))?;
        Ok(Authority {
            kind,
            cert_der,
            issuer,
        })
    }

    /// The generation [`Authority::generate`] wrote into the subject's OU (`generation N`), or
    /// `None` for a CA whose subject has none.
    pub fn generation(&self) -> Option<u32> {
        use x509_parser::prelude::{FromDer, X509Certificate};
        let (_, cert) = X509Certificate::from_der(&self.cert_der).ok()?;
        cert.subject()
            .iter_organizational_unit()
            .filter_map(|ou| ou.as_str().ok())
            .find_map(|ou| ou.strip_prefix("generation ")?.parse().ok())
    }

    /// Which authority this is.
    pub fn kind(&self) -> AuthorityKind {
        self.kind
    }

    /// The CA certificate, DER.
    pub fn cert_der(&self) -> &[u8] {
        &self.cert_der
    }

    /// The CA certificate, PEM.
    pub fn cert_pem(&self) -> String {
        pem_encode("CERTIFICATE", &self.cert_der)
    }

    /// The CA's private key, PKCS#8 PEM (for the state directory).
    pub fn key_pem(&self) -> String {
        self.issuer.key().serialize_pem()
    }

    /// Issues an HTTPS server certificate for `names` (the first is also the CN), with a new
    /// P-256 key, valid from 30 days before `now` for a year.
    pub fn issue_server(&self, names: &[String], now: i64) -> Result<ServerIdentity, PkiError> {
        let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)
            .map_err(PkiError::rcgen("generate a server key"))?;
        self.issue_leaf(key, vec![KeyUsagePurpose::DigitalSignature], names, now)
    }

    /// Issues the certificate of the registrars' TLS-DSK handshake for `names`: an RSA-2048
    /// key, because that handshake's key exchange is RSA (the client encrypts the premaster
    /// secret to it), valid from 30 days before `now` for a year.
    ///
    /// The key is made once per process ([`crate::keygen::registrar_key`]); the certificate is
    /// this authority's own.
    pub fn issue_registrar(&self, names: &[String], now: i64) -> Result<ServerIdentity, PkiError> {
        let key = crate::keygen::registrar_key()?;
        self.issue_leaf(
            key,
            vec![
                KeyUsagePurpose::DigitalSignature,
                KeyUsagePurpose::KeyEncipherment,
            ],
            names,
            now,
        )
    }

    fn issue_leaf(
        &self,
        key: KeyPair,
        key_usages: Vec<KeyUsagePurpose>,
        names: &[String],
        now: i64,
    ) -> Result<ServerIdentity, PkiError> {
        let mut params = CertificateParams::default();
        if let Some(first) = names.first() {
            params
                .distinguished_name
                .push(DnType::CommonName, first.clone());
        }
        params.subject_alt_names = names
            .iter()
            .map(|n| n.clone().try_into().map(SanType::DnsName))
            .collect::<Result<_, _>>()
            .map_err(PkiError::rcgen("name a server"))?;
        params.key_usages = key_usages;
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.use_authority_key_identifier_extension = true;
        params.not_before = at(now - 30 * DAY)?;
        params.not_after = at(now + 365 * DAY)?;
        params.serial_number = Some(random_serial());
        let cert = params
            .signed_by(&key, &self.issuer)
            .map_err(PkiError::rcgen("sign a server certificate"))?;
        Ok(ServerIdentity {
            cert_der: cert.der().to_vec(),
            key_pkcs8_der: key.serialize_der(),
        })
    }

    /// Issues a personal certificate from a verified request: subject as requested, the
    /// requested key, valid from `now` for `validity_secs`, for client authentication.
    pub fn issue_personal(
        &self,
        request: &RequestedCert,
        now: i64,
        validity_secs: i64,
    ) -> Result<IssuedCert, PkiError> {
        crate::csr::check_key(request.is_rsa, request.key_bits)?;
        let mut params = CertificateParams::default();
        params
            .distinguished_name
            .push(DnType::CommonName, request.subject_cn.clone());
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        params.use_authority_key_identifier_extension = true;
        // An explicit end entity: rcgen then writes the Subject Key Identifier (RFC 5280
        // 4.2.1.2; pkilint warns without it) beside a BasicConstraints that says cA false.
        params.is_ca = IsCa::ExplicitNoCa;
        params.not_before = at(now)?;
        params.not_after = at(now + validity_secs)?;
        params.serial_number = Some(random_serial());
        let cert = params
            .signed_by(&request.params.public_key, &self.issuer)
            .map_err(PkiError::rcgen("sign a personal certificate"))?;
        Ok(IssuedCert {
            der: cert.der().to_vec(),
            pem: cert.pem(),
        })
    }
}

impl std::fmt::Debug for Authority {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authority")
            .field("kind", &self.kind)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{KeyKind, PersonalKey, inspect, make_csr, parse_csr};

    const NOW: i64 = 1_780_000_000;

    #[test]
    fn personal_certificate_has_the_requested_subject_and_lifetime() {
        let ca = Authority::generate(AuthorityKind::CommunicationsServer, NOW, 1).unwrap();
        let key = PersonalKey::generate().unwrap();
        let req = parse_csr(&make_csr(&key, "alice@contoso.com").unwrap()).unwrap();
        let issued = ca
            .issue_personal(&req, NOW, crate::DEFAULT_PERSONAL_VALIDITY_SECS)
            .unwrap();
        let info = inspect(&issued.der).unwrap();
        assert_eq!(info.subject_cn, "sip:alice@contoso.com");
        assert_eq!(info.issuer_cn, "Communications Server");
        assert_eq!(info.key_bits, 2048);
        assert_eq!(info.validity.not_before, NOW);
        assert_eq!(info.validity.not_after, NOW + 180 * DAY);
        assert_eq!(
            crate::pem_decode("CERTIFICATE", &issued.pem).unwrap(),
            issued.der
        );
        // A Subject Key Identifier (RFC 5280 4.2.1.2), and an end entity.
        use x509_parser::prelude::*;
        let (_, cert) = X509Certificate::from_der(&issued.der).unwrap();
        let ski = cert.extensions().iter().any(|e| {
            matches!(
                e.parsed_extension(),
                ParsedExtension::SubjectKeyIdentifier(_)
            )
        });
        assert!(ski, "no Subject Key Identifier");
        assert!(!cert.is_ca());
    }

    #[test]
    fn personal_certificate_verifies_against_its_ca_only() {
        use x509_parser::prelude::*;
        let ca = Authority::generate(AuthorityKind::CommunicationsServer, NOW, 1).unwrap();
        let rotated = Authority::generate(AuthorityKind::CommunicationsServer, NOW, 2).unwrap();
        let key = PersonalKey::generate().unwrap();
        let req = parse_csr(&make_csr(&key, "bob@contoso.com").unwrap()).unwrap();
        let issued = ca.issue_personal(&req, NOW, 8 * 3600).unwrap();
        let (_, leaf) = X509Certificate::from_der(&issued.der).unwrap();
        let (_, good) = X509Certificate::from_der(ca.cert_der()).unwrap();
        let (_, other) = X509Certificate::from_der(rotated.cert_der()).unwrap();
        assert!(leaf.verify_signature(Some(good.public_key())).is_ok());
        assert!(leaf.verify_signature(Some(other.public_key())).is_err());
        // As a chain builder finds the issuer: its CA, not the rotated one (same name,
        // another key), nor another CA.
        let root = Authority::generate(AuthorityKind::PublicRoot, NOW, 1).unwrap();
        assert!(crate::issued_by(&issued.der, ca.cert_der()));
        assert!(!crate::issued_by(&issued.der, rotated.cert_der()));
        assert!(!crate::issued_by(&issued.der, root.cert_der()));
        assert!(!crate::issued_by(b"garbage", ca.cert_der()));
    }

    #[test]
    fn each_authority_has_its_kind_of_key() {
        let root = Authority::generate(AuthorityKind::PublicRoot, NOW, 1).unwrap();
        let cs = Authority::generate(AuthorityKind::CommunicationsServer, NOW, 1).unwrap();
        assert_eq!(inspect(root.cert_der()).unwrap().key, KeyKind::Ecdsa(256));
        assert_eq!(inspect(cs.cert_der()).unwrap().key, KeyKind::Rsa(2048));
        let https = root.issue_server(&["webdir.online.lync.com".into()], NOW);
        let https = inspect(&https.unwrap().cert_der).unwrap();
        assert_eq!(
            (https.key, https.signed_by),
            (KeyKind::Ecdsa(256), KeyKind::Ecdsa(256))
        );
    }

    #[test]
    fn registrars_of_two_services_share_a_key_and_not_a_certificate() {
        use x509_parser::prelude::*;
        let names = ["sipdir.online.lync.com".to_string()];
        let (one, two) = (
            Authority::generate(AuthorityKind::PublicRoot, NOW, 1).unwrap(),
            Authority::generate(AuthorityKind::PublicRoot, NOW, 1).unwrap(),
        );
        let (a, b) = (
            one.issue_registrar(&names, NOW).unwrap(),
            two.issue_registrar(&names, NOW).unwrap(),
        );
        assert_eq!(a.key_pkcs8_der, b.key_pkcs8_der);
        assert_ne!(a.cert_der, b.cert_der);
        let info = inspect(&a.cert_der).unwrap();
        assert_eq!(
            info.key,
            KeyKind::Rsa(2048),
            "TLS-DSK's key exchange is RSA"
        );
        // Each certificate is its own root's: one service's does not pass for the other's.
        let (_, leaf) = X509Certificate::from_der(&a.cert_der).unwrap();
        let (_, own) = X509Certificate::from_der(one.cert_der()).unwrap();
        let (_, other) = X509Certificate::from_der(two.cert_der()).unwrap();
        assert!(leaf.verify_signature(Some(own.public_key())).is_ok());
        assert!(leaf.verify_signature(Some(other.public_key())).is_err());
    }

    #[test]
    fn a_ca_certificate_with_any_byte_changed_is_refused() {
        // Any one byte of the certificate changed (a length, a name, the signature) is
        // refused, for both kinds of key.
        for kind in [
            AuthorityKind::PublicRoot,
            AuthorityKind::CommunicationsServer,
        ] {
            let ca = Authority::generate(kind, NOW, 1).unwrap();
            for at in 0..ca.cert_der().len() {
                let mut der = ca.cert_der().to_vec();
                der[at] ^= 0x01;
                let pem = crate::pem_encode("CERTIFICATE", &der);
                assert!(
                    Authority::from_pem(kind, &pem, &ca.key_pem()).is_err(),
                    "{kind:?}: byte {at} of {} changed and still read: {:02x?}",
                    der.len(),
                    &der[at.saturating_sub(12)..(at + 4).min(der.len())]
                );
            }
        }
    }

    #[test]
    fn authority_survives_pem_round_trip() {
        let ca = Authority::generate(AuthorityKind::PublicRoot, NOW, 1).unwrap();
        let back =
            Authority::from_pem(AuthorityKind::PublicRoot, &ca.cert_pem(), &ca.key_pem()).unwrap();
        assert_eq!(back.cert_der(), ca.cert_der());
        let server = back
            .issue_server(&["login.microsoftonline.com".into()], NOW)
            .unwrap();
        let info = inspect(&server.cert_der).unwrap();
        assert_eq!(info.issuer_cn, AuthorityKind::PublicRoot.common_name());
        assert_eq!(info.subject_cn, "login.microsoftonline.com");
    }

    #[test]
    fn a_ca_reads_back_only_with_its_own_key() {
        let root = Authority::generate(AuthorityKind::PublicRoot, NOW, 1).unwrap();
        let cs = Authority::generate(AuthorityKind::CommunicationsServer, NOW, 1).unwrap();
        let again = Authority::from_pem(
            AuthorityKind::CommunicationsServer,
            &cs.cert_pem(),
            &cs.key_pem(),
        )
        .unwrap();
        assert_eq!(again.cert_der(), cs.cert_der());
        let err = Authority::from_pem(
            AuthorityKind::CommunicationsServer,
            &cs.cert_pem(),
            &root.key_pem(),
        )
        .unwrap_err();
        assert!(matches!(err, PkiError::BadKey(_)), "{err:?}");
        assert!(
            err.to_string().contains("not the key of the certificate"),
            "{err}"
        );
    }

    #[test]
    fn small_or_non_rsa_keys_are_refused() {
        let ec = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let mut params = CertificateParams::default();
        params
            .distinguished_name
            .push(DnType::CommonName, "sip:eve@contoso.com");
        let der = params.serialize_request(&ec).unwrap().der().to_vec();
        let err = parse_csr(&der).unwrap_err();
        assert!(err.to_string().contains("RSA of 2048 bits"), "{err}");
        assert!(err.to_string().contains("of another algorithm"), "{err}");
    }

    #[test]
    fn a_ca_tells_its_generation() {
        let ca = Authority::generate(AuthorityKind::PublicRoot, 1_700_000_000, 7).unwrap();
        assert_eq!(ca.generation(), Some(7));
        let again =
            Authority::from_pem(AuthorityKind::PublicRoot, &ca.cert_pem(), &ca.key_pem()).unwrap();
        assert_eq!(again.generation(), Some(7));
    }
}
