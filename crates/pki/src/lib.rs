//! The service's two certificate authorities and the personal certificates they issue.
//!
//! - The *public root* signs the HTTPS server certificates of every host; client profiles
//!   trust it.
//! - *Communications Server* issues personal certificates (`CN=sip:<user>`, RSA-2048 key made
//!   by the client) from a PKCS#10 request.
//!
//! Keys and signatures come from rcgen on aws-lc-rs; reading certificates back uses
//! x509-parser, an independent implementation. Times are Unix seconds, always passed in:
//! this crate never reads a clock, so the service decides what "now" is.
//!
//! **Invariant:** nothing here knows about HTTP, files or sockets.
#![warn(missing_docs)]

mod authority;
mod csr;
mod error;
mod inspect;
mod judge;
mod keygen;

pub use authority::{Authority, AuthorityKind, IssuedCert, ServerIdentity};
pub use csr::{MIN_RSA_BITS, PersonalKey, RequestedCert, make_csr, parse_csr};
pub use error::PkiError;
pub use inspect::{CertInfo, KeyKind, Validity, ValidityError, inspect, issued_by, thumbprint};
pub use judge::{JudgeError, judge_personal};
pub use keygen::rsa_keys_made;

/// Seconds in a day.
pub const DAY: i64 = 24 * 3600;
/// The default lifetime of a personal certificate: 180 days.
pub const DEFAULT_PERSONAL_VALIDITY_SECS: i64 = 180 * DAY;
/// The shortest lifetime the service may be configured to issue: 8 hours.
pub const MIN_PERSONAL_VALIDITY_SECS: i64 = 8 * 3600;

/// PEM-encodes DER under `label` (`CERTIFICATE`, `CERTIFICATE REQUEST`, …).
pub fn pem_encode(label: &str, der: &[u8]) -> String {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        // Base64 output is ASCII, so every chunk is valid UTF-8.
        out.push_str(std::str::from_utf8(chunk).unwrap_or_default());
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

/// Decodes the first PEM block labelled `label`.
pub fn pem_decode(label: &str, pem: &str) -> Result<Vec<u8>, PkiError> {
    use base64::Engine;
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let start = pem.find(&begin).ok_or_else(|| PkiError::Pem {
        label: label.to_owned(),
        detail: "no BEGIN line".into(),
    })? + begin.len();
    let stop = pem[start..].find(&end).ok_or_else(|| PkiError::Pem {
        label: label.to_owned(),
        detail: "no END line".into(),
    })? + start;
    let body: String = pem[start..stop].split_whitespace().collect();
    base64::engine::general_purpose::STANDARD
        .decode(body)
        .map_err(|e| PkiError::Pem {
            label: label.to_owned(),
            detail: e.to_string(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pem_round_trips() {
        let der: Vec<u8> = (0..=255).collect();
        let pem = pem_encode("CERTIFICATE", &der);
        assert!(pem.lines().all(|l| l.len() <= 64 || l.starts_with("-----")));
        assert_eq!(pem_decode("CERTIFICATE", &pem).unwrap(), der);
        assert!(pem_decode("CERTIFICATE REQUEST", &pem).is_err());
    }
}
