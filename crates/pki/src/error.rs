//! What can go wrong making, reading or issuing certificates.

/// A PKI operation that failed, with what a person needs to know why.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PkiError {
    /// rcgen could not generate a key or sign.
    #[error("could not {action}: {source}")]
    Rcgen {
        /// What was being done.
        action: &'static str,
        /// rcgen's error.
        #[source]
        source: rcgen::Error,
    },
    /// A PEM document is not what it claims.
    #[error("not a PEM {label}: {detail}")]
    Pem {
        /// The expected label.
        label: String,
        /// What was wrong.
        detail: String,
    },
    /// A certificate's DER does not parse.
    #[error("the certificate cannot be decoded: {0}")]
    BadCertificate(String),
    /// A certificate request does not parse, or its signature does not verify.
    #[error("certificate request is invalid: {0}")]
    BadRequest(String),
    /// A certificate request asks for something the CA does not issue.
    #[error("certificate request refused: {0}")]
    Refused(String),
    /// A private key does not parse.
    #[error("private key does not parse: {0}")]
    BadKey(String),
    /// A timestamp cannot be placed in a certificate.
    #[error("time {0} cannot be written in a certificate")]
    Time(i64),
}

impl PkiError {
    pub(crate) fn rcgen(action: &'static str) -> impl FnOnce(rcgen::Error) -> PkiError {
        move |source| PkiError::Rcgen { action, source }
    }
}
