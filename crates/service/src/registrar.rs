//! The registrar's check of a personal certificate during the TLS handshake.
//!
//! The chain must lead to the *current* Communications Server CA, the certificate must be for
//! client authentication, and it must be valid by the *service's* clock within the tolerance.
//! rustls would use the system clock, so validity is judged here and the chain is then checked
//! at an instant inside the certificate's window. A failure becomes a TLS alert to the client
//! and a journal line with the real reason.

use std::sync::Arc;
use std::time::Duration;

use lyncsim_domain::Skew;
use lyncsim_pki::ValidityError;
use lyncsim_wire::Outcome;
use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{CertificateError, DigitallySignedStruct, DistinguishedName, Error, SignatureScheme};
use rustls_pki_types::{CertificateDer, UnixTime};

use crate::state::State;

pub(crate) struct RegistrarVerifier {
    pool: String,
    state: Arc<State>,
    algorithms: WebPkiSupportedAlgorithms,
}

impl std::fmt::Debug for RegistrarVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegistrarVerifier")
            .field("pool", &self.pool)
            .finish_non_exhaustive()
    }
}

impl RegistrarVerifier {
    pub(crate) fn new(pool: String, state: Arc<State>, provider: &CryptoProvider) -> Self {
        RegistrarVerifier {
            pool,
            state,
            algorithms: provider.signature_verification_algorithms,
        }
    }

    fn reject(&self, subject: Option<&str>, reason: String, error: CertificateError) -> Error {
        self.state.journal.record(
            &self.pool,
            "tls",
            subject,
            Outcome::Rejected,
            format!("client certificate rejected: {reason}"),
        );
        Error::InvalidCertificate(error)
    }

    fn check(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
    ) -> Result<(), Error> {
        let info = match lyncsim_pki::inspect(end_entity) {
            Ok(info) => info,
            Err(e) => return Err(self.reject(None, e.to_string(), CertificateError::BadEncoding)),
        };
        let subject = info.subject_cn.trim_start_matches("sip:").to_owned();
        let (now, tolerance) = (self.state.clock.now(), self.state.clock.tolerance());
        if let Err(e) = info.validity.check(now, tolerance) {
            let (reason, error) = match e {
                ValidityError::Expired { late, .. } => (
                    format!(
                        "expired {} ago by the service clock, tolerance {}",
                        Skew(late),
                        Skew(tolerance)
                    ),
                    CertificateError::Expired,
                ),
                ValidityError::NotYetValid { early, .. } => (
                    format!(
                        "not valid for another {} by the service clock, tolerance {}",
                        Skew(early),
                        Skew(tolerance)
                    ),
                    CertificateError::NotValidYet,
                ),
                _ => (e.to_string(), CertificateError::BadEncoding),
            };
            return Err(self.reject(Some(&subject), reason, error));
        }
        let ca = self.state.communications_server();
        let ca_der = CertificateDer::from(ca.cert_der());
        let anchor = webpki::anchor_from_trusted_cert(&ca_der).map_err(|e| {
            self.reject(
                Some(&subject),
                format!("the current CA does not parse: {e}"),
                CertificateError::BadEncoding,
            )
        })?;
        let ee = webpki::EndEntityCert::try_from(end_entity).map_err(|e| {
            self.reject(
                Some(&subject),
                format!("does not parse as X.509: {e}"),
                CertificateError::BadEncoding,
            )
        })?;
        let at =
            UnixTime::since_unix_epoch(Duration::from_secs(info.validity.clamp(now).max(0) as u64));
        ee.verify_for_usage(
            self.algorithms.all,
            &[anchor],
            intermediates,
            at,
            webpki::KeyUsage::client_auth(),
            None,
            None,
        )
        .map_err(|e| {
            let (reason, error) = match e {
                webpki::Error::UnknownIssuer => (
                    "not issued by the current Communications Server CA".to_owned(),
                    CertificateError::UnknownIssuer,
                ),
                webpki::Error::InvalidSignatureForPublicKey => (
                    "its signature does not verify with the current Communications Server CA"
                        .to_owned(),
                    CertificateError::BadSignature,
                ),
                other => (
                    format!("chain check failed: {other}"),
                    CertificateError::BadEncoding,
                ),
            };
            self.reject(Some(&subject), reason, error)
        })?;
        Ok(())
    }
}

impl ClientCertVerifier for RegistrarVerifier {
    fn offer_client_auth(&self) -> bool {
        true
    }

    /// The same listener serves GetAndPublishCert, which a client calls before it has a
    /// certificate; the registrar endpoint itself insists on one.
    fn client_auth_mandatory(&self) -> bool {
        false
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, Error> {
        self.check(end_entity, intermediates)
            .map(|()| ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}
