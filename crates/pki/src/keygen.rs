//! Every RSA key this crate makes comes from here, and the time spent making them is counted:
//! a benchmark tells how much of a run went into key generation (`cargo xtask bench`).

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use rcgen::{KeyPair, RsaKeySize};

use crate::PkiError;

static MADE: AtomicU64 = AtomicU64::new(0);
static NANOS: AtomicU64 = AtomicU64::new(0);

/// A new RSA-2048 key pair for SHA-256 signatures.
pub(crate) fn rsa_2048() -> Result<KeyPair, rcgen::Error> {
    let started = Instant::now();
    let key = KeyPair::generate_rsa_for(&rcgen::PKCS_RSA_SHA256, RsaKeySize::_2048);
    let took = u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX);
    MADE.fetch_add(1, Ordering::Relaxed);
    NANOS.fetch_add(took, Ordering::Relaxed);
    key
}

/// The registrars' TLS-DSK key, made the first time a service of this process starts and
/// shared by every service it starts after.
///
/// A client encrypts its premaster secret to this key and checks the certificate that carries
/// it, never the key itself (Lync does not pin it, nor does pidgin-sipe), so nothing a client
/// sees depends on whether two services share it; each service's certificate for it is signed
/// by that service's own root. Made per service, it was an RSA key per scenario of a suite.
pub(crate) fn registrar_key() -> Result<KeyPair, PkiError> {
    static PKCS8: OnceLock<Vec<u8>> = OnceLock::new();
    let der = match PKCS8.get() {
        Some(der) => der,
        None => {
            let key = rsa_2048().map_err(PkiError::rcgen("generate a registrar key"))?;
            // Two services starting at once may both make one; the first kept is everyone's.
            PKCS8.get_or_init(|| key.serialize_der())
        }
    };
    let pkcs8 = rustls_pki_types::PrivatePkcs8KeyDer::from(der.as_slice());
    KeyPair::from_pkcs8_der_and_sign_algo(&pkcs8, &rcgen::PKCS_RSA_SHA256)
        .map_err(PkiError::rcgen("read the registrar key"))
}

/// The RSA keys made by this process so far, and the time spent making them (summed over
/// threads: two made at once on two cores count twice).
pub fn rsa_keys_made() -> (u64, Duration) {
    (
        MADE.load(Ordering::Relaxed),
        Duration::from_nanos(NANOS.load(Ordering::Relaxed)),
    )
}
