//! Reading certificates back with x509-parser: names, validity, thumbprints.

use x509_parser::prelude::*;

use crate::PkiError;

/// What certmgr and the registrar need to know about a certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertInfo {
    /// The subject's common name (`sip:alice@contoso.com`).
    pub subject_cn: String,
    /// The issuer's common name (`Communications Server`).
    pub issuer_cn: String,
    /// The serial number, upper-case hex.
    pub serial: String,
    /// SHA-1 of the DER, upper-case hex, as Windows names the store file.
    pub thumbprint: String,
    /// When it is valid.
    pub validity: Validity,
    /// The public key's size in bits (RSA modulus length; 256 for P-256).
    pub key_bits: usize,
    /// The certificate's own key.
    pub key: KeyKind,
    /// The key that signed it (its issuer's), told by the signature: an RSA signature is as
    /// long as the signer's modulus.
    pub signed_by: KeyKind,
}

/// The kind of a public key, as far as the cost of using it goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
pub enum KeyKind {
    /// RSA with a modulus of this many bits.
    Rsa(usize),
    /// ECDSA on a curve of this many bits (256: P-256).
    Ecdsa(usize),
    /// Anything else.
    Other,
}

impl std::fmt::Display for KeyKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KeyKind::Rsa(bits) => write!(f, "RSA-{bits}"),
            KeyKind::Ecdsa(bits) => write!(f, "ECDSA P-{bits}"),
            KeyKind::Other => f.write_str("other"),
        }
    }
}

/// A certificate's validity window, Unix seconds, both ends inclusive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Validity {
    /// notBefore.
    pub not_before: i64,
    /// notAfter.
    pub not_after: i64,
}

/// A certificate outside its validity window by more than the tolerance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ValidityError {
    /// Before notBefore - tolerance.
    #[error("not valid until {not_before} (it is {now}; {early}s early, tolerance {tolerance}s)")]
    NotYetValid {
        /// The clock that judged it.
        now: i64,
        /// notBefore.
        not_before: i64,
        /// How many seconds early.
        early: i64,
        /// The tolerance applied.
        tolerance: i64,
    },
    /// After notAfter + tolerance.
    #[error("expired at {not_after} (it is {now}; {late}s late, tolerance {tolerance}s)")]
    Expired {
        /// The clock that judged it.
        now: i64,
        /// notAfter.
        not_after: i64,
        /// How many seconds late.
        late: i64,
        /// The tolerance applied.
        tolerance: i64,
    },
}

impl Validity {
    /// Whether `now` falls in the window widened by `tolerance` seconds on each side.
    pub fn check(&self, now: i64, tolerance: i64) -> Result<(), ValidityError> {
        if now < self.not_before.saturating_sub(tolerance) {
            return Err(ValidityError::NotYetValid {
                now,
                not_before: self.not_before,
                early: self.not_before.saturating_sub(now),
                tolerance,
            });
        }
        if now > self.not_after.saturating_add(tolerance) {
            return Err(ValidityError::Expired {
                now,
                not_after: self.not_after,
                late: now.saturating_sub(self.not_after),
                tolerance,
            });
        }
        Ok(())
    }

    /// `now` moved into the window: the instant at which a chain check can be made once the
    /// tolerance check has passed.
    pub fn clamp(&self, now: i64) -> i64 {
        now.clamp(self.not_before, self.not_after)
    }
}

/// SHA-1 of `der` in upper-case hex: the certificate's Windows thumbprint.
pub fn thumbprint(der: &[u8]) -> String {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY, der);
    hex::encode_upper(digest.as_ref())
}

/// How Windows' CryptoAPI reports a certificate that does not decode: the constant, its
/// value and its text, from "ASN.1 Encoding/Decoding Return Values" (learn.microsoft.com,
/// seccrypto): data cut short is CRYPT_E_ASN1_EOD, a wrong tag CRYPT_E_ASN1_BADTAG, anything
/// else CRYPT_E_ASN1_CORRUPT. What a person sees of a damaged certificate is this, not the
/// parser's own words.
fn cryptoapi_decode_error(e: &x509_parser::nom::Err<X509Error>) -> &'static str {
    use x509_parser::der_parser::error::Error as Der;
    use x509_parser::nom::Err as Nom;
    const EOD: &str = "CRYPT_E_ASN1_EOD (0x80093102): ASN.1 unexpected end of data";
    const CORRUPT: &str = "CRYPT_E_ASN1_CORRUPT (0x80093103): ASN.1 corrupted data";
    const BADTAG: &str = "CRYPT_E_ASN1_BADTAG (0x8009310B): ASN.1 bad tag value met";
    match e {
        Nom::Incomplete(_) => EOD,
        Nom::Error(x) | Nom::Failure(x) => match x {
            X509Error::NomError(x509_parser::nom::error::ErrorKind::Eof) => EOD,
            X509Error::Der(Der::Incomplete(_)) => EOD,
            X509Error::Der(Der::UnexpectedTag { .. } | Der::UnexpectedClass { .. }) => BADTAG,
            _ => CORRUPT,
        },
    }
}

/// Whether `issuer_der` issued `der`, as a chain builder finds an issuer: its subject is the
/// certificate's issuer name, and its key verifies the certificate's signature. `false` when
/// either does not parse.
pub fn issued_by(der: &[u8], issuer_der: &[u8]) -> bool {
    let (Ok((_, cert)), Ok((_, issuer))) = (
        X509Certificate::from_der(der),
        X509Certificate::from_der(issuer_der),
    ) else {
        return false;
    };
    cert.issuer() == issuer.subject() && cert.verify_signature(Some(issuer.public_key())).is_ok()
}

/// Parses `der` and reads what [`CertInfo`] holds.
pub fn inspect(der: &[u8]) -> Result<CertInfo, PkiError> {
    let (rest, cert) = X509Certificate::from_der(der)
        .map_err(|e| PkiError::BadCertificate(cryptoapi_decode_error(&e).to_owned()))?;
    if !rest.is_empty() {
        return Err(PkiError::BadCertificate(format!(
            "CRYPT_E_ASN1_NOEOD (0x80093202): ASN.1 end of data expected ({} bytes after the certificate)",
            rest.len()
        )));
    }
    let cn = |name: &X509Name<'_>| {
        name.iter_common_name()
            .next()
            .and_then(|a| a.as_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    let (key_bits, key) = match cert.public_key().parsed() {
        Ok(x509_parser::public_key::PublicKey::RSA(rsa)) => {
            (rsa.key_size(), KeyKind::Rsa(rsa.key_size()))
        }
        Ok(x509_parser::public_key::PublicKey::EC(ec)) => {
            (ec.key_size(), KeyKind::Ecdsa(ec.key_size()))
        }
        _ => (0, KeyKind::Other),
    };
    let signature = cert.signature_value.as_ref();
    let algorithm = &cert.signature_algorithm.algorithm;
    let signed_by = if *algorithm == x509_parser::oid_registry::OID_PKCS1_SHA256WITHRSA
        || *algorithm == x509_parser::oid_registry::OID_PKCS1_SHA384WITHRSA
        || *algorithm == x509_parser::oid_registry::OID_PKCS1_SHA512WITHRSA
        || *algorithm == x509_parser::oid_registry::OID_PKCS1_SHA1WITHRSA
    {
        KeyKind::Rsa(signature.len() * 8)
    } else if *algorithm == x509_parser::oid_registry::OID_SIG_ECDSA_WITH_SHA256
        || *algorithm == x509_parser::oid_registry::OID_SIG_ECDSA_WITH_SHA384
    {
        // A DER ECDSA signature is two integers of about the curve's size each.
        KeyKind::Ecdsa(if signature.len() <= 72 { 256 } else { 384 })
    } else {
        KeyKind::Other
    };
    Ok(CertInfo {
        subject_cn: cn(cert.subject()),
        issuer_cn: cn(cert.issuer()),
        serial: hex::encode_upper(cert.raw_serial()),
        thumbprint: thumbprint(der),
        validity: Validity {
            not_before: cert.validity().not_before.timestamp(),
            not_after: cert.validity().not_after.timestamp(),
        },
        key_bits,
        key,
        signed_by,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validity_is_judged_with_tolerance() {
        let v = Validity {
            not_before: 1000,
            not_after: 2000,
        };
        assert!(v.check(1000 - 300, 300).is_ok());
        assert!(v.check(2000 + 300, 300).is_ok());
        assert!(matches!(
            v.check(699, 300),
            Err(ValidityError::NotYetValid { early: 301, .. })
        ));
        assert!(matches!(
            v.check(2301, 300),
            Err(ValidityError::Expired { late: 301, .. })
        ));
        assert_eq!(v.clamp(5), 1000);
        assert_eq!(v.clamp(1500), 1500);
        assert_eq!(v.clamp(9999), 2000);
    }

    #[test]
    fn garbage_does_not_parse() {
        assert!(matches!(
            inspect(b"\x30\x03abc"),
            Err(PkiError::BadCertificate(_))
        ));
    }

    #[test]
    fn thumbprint_is_sha1_upper_hex() {
        assert_eq!(
            thumbprint(b"abc"),
            "A9993E364706816ABA3E25717850C26C9CD0D89D"
        );
    }
}
