//! The registrar's judgement of a personal certificate presented in the TLS-DSK handshake:
//! the chain must lead to the *current* Communications Server CA, the certificate must be for
//! client authentication, and it must be valid at `now` within the tolerance. The chain is
//! checked (webpki) at an instant inside the certificate's window, validity having been
//! judged first by the caller's clock.

use std::time::Duration;

use lyncsim_domain::Skew;
use rustls_pki_types::{CertificateDer, UnixTime};

use crate::inspect::{ValidityError, inspect};

/// Why a personal certificate is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum JudgeError {
    /// It does not parse as X.509.
    #[error("does not parse as X.509: {0}")]
    Unreadable(String),
    /// It expired longer ago than the tolerance, by the clock that judged it.
    #[error("expired {} ago by the service clock, tolerance {}", Skew(*late), Skew(*tolerance))]
    Expired {
        /// How many seconds late.
        late: i64,
        /// The tolerance applied.
        tolerance: i64,
    },
    /// It starts later than the tolerance allows.
    #[error("not valid for another {} by the service clock, tolerance {}", Skew(*early), Skew(*tolerance))]
    NotYetValid {
        /// How many seconds early.
        early: i64,
        /// The tolerance applied.
        tolerance: i64,
    },
    /// Another CA issued it (the CA was rotated since).
    #[error("not issued by the current Communications Server CA")]
    UnknownIssuer,
    /// Its signature does not verify with the CA's key.
    #[error("its signature does not verify with the current Communications Server CA")]
    BadSignature,
    /// The CA's own certificate does not parse.
    #[error("the current CA does not parse: {0}")]
    BadAuthority(String),
    /// Any other failure of the chain check.
    #[error("chain check failed: {0}")]
    Chain(String),
}

/// Judges the personal certificate `der` against the CA certificate `ca_der`, at `now` (Unix
/// seconds) within `tolerance` seconds.
pub fn judge_personal(
    ca_der: &[u8],
    der: &[u8],
    now: i64,
    tolerance: i64,
) -> Result<(), JudgeError> {
    let info = inspect(der).map_err(|e| JudgeError::Unreadable(e.to_string()))?;
    info.validity.check(now, tolerance).map_err(|e| match e {
        ValidityError::Expired { late, .. } => JudgeError::Expired { late, tolerance },
        ValidityError::NotYetValid { early, .. } => JudgeError::NotYetValid { early, tolerance },
    })?;
    let ca_der = CertificateDer::from(ca_der);
    let anchor = webpki::anchor_from_trusted_cert(&ca_der)
        .map_err(|e| JudgeError::BadAuthority(e.to_string()))?;
    let end_entity = CertificateDer::from(der);
    let ee = webpki::EndEntityCert::try_from(&end_entity)
        .map_err(|e| JudgeError::Unreadable(e.to_string()))?;
    // Inside the certificate's window: its validity was judged above, by the caller's clock.
    let at = UnixTime::since_unix_epoch(Duration::from_secs(
        u64::try_from(info.validity.clamp(now)).unwrap_or(0),
    ));
    ee.verify_for_usage(
        webpki::ALL_VERIFICATION_ALGS,
        &[anchor],
        &[],
        at,
        webpki::KeyUsage::client_auth(),
        None,
        None,
    )
    .map_err(|e| match e {
        webpki::Error::UnknownIssuer => JudgeError::UnknownIssuer,
        webpki::Error::InvalidSignatureForPublicKey => JudgeError::BadSignature,
        other => JudgeError::Chain(other.to_string()),
    })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Authority, AuthorityKind, PersonalKey, make_csr, parse_csr};

    const NOW: i64 = 1_780_000_000;

    #[test]
    fn a_personal_certificate_is_judged_by_its_ca_and_the_clock() {
        let ca = Authority::generate(AuthorityKind::CommunicationsServer, NOW, 1).unwrap();
        let other = Authority::generate(AuthorityKind::CommunicationsServer, NOW, 2).unwrap();
        let key = PersonalKey::generate().unwrap();
        let request = parse_csr(&make_csr(&key, "alice@contoso.com").unwrap()).unwrap();
        let cert = ca.issue_personal(&request, NOW, 8 * 3600).unwrap();
        assert_eq!(judge_personal(ca.cert_der(), &cert.der, NOW, 300), Ok(()));
        assert_eq!(
            judge_personal(other.cert_der(), &cert.der, NOW, 300),
            Err(JudgeError::UnknownIssuer)
        );
        let late = NOW + 8 * 3600 + 301;
        assert!(matches!(
            judge_personal(ca.cert_der(), &cert.der, late, 300),
            Err(JudgeError::Expired {
                late: 301,
                tolerance: 300
            })
        ));
        assert!(judge_personal(ca.cert_der(), &cert.der, NOW + 8 * 3600 + 300, 300).is_ok());
        assert!(matches!(
            judge_personal(ca.cert_der(), b"garbage", NOW, 300),
            Err(JudgeError::Unreadable(_))
        ));
    }
}
