//! Every RSA key this crate makes comes from here, and the time spent making them is counted:
//! a benchmark tells how much of a run went into key generation (`cargo xtask bench`).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use rcgen::{KeyPair, RsaKeySize};

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

/// The RSA keys made by this process so far, and the time spent making them (summed over
/// threads: two made at once on two cores count twice).
pub fn rsa_keys_made() -> (u64, Duration) {
    (
        MADE.load(Ordering::Relaxed),
        Duration::from_nanos(NANOS.load(Ordering::Relaxed)),
    )
}
