//! Data protection as DPAPI does it: a key derived from the Windows password (and the user's
//! SID) protects secrets at rest. Change the password without re-protecting, and the old
//! blobs no longer open.

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
use aws_lc_rs::pbkdf2;
use std::num::NonZeroU32;

/// Iterations of PBKDF2, as Windows XP's DPAPI used.
const ITERATIONS: u32 = 4000;
const MAGIC: &[u8] = b"LYNCSIM-DPAPI-1\0";

/// Why a blob did not open, as Windows reports it: the NTE error and its text from the
/// "NTE error codes" table (learn.microsoft.com). That a blob protected under another
/// password reports NTE_BAD_KEY_STATE, and a blob not of DPAPI's format NTE_BAD_DATA, is
/// lyncsim's reading; the texts are the table's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum UnprotectError {
    /// Not a protected blob (damaged, or of another format).
    #[error("NTE_BAD_DATA (0x80090005): Bad data.")]
    Format,
    /// The key derived from the current Windows password does not decrypt it: it was
    /// protected under another password, or its bytes were damaged.
    #[error("NTE_BAD_KEY_STATE (0x8009000B): Key not valid for use in specified state.")]
    Key,
}

/// The key of one Windows user.
pub(crate) struct MasterKey(LessSafeKey);

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MasterKey(..)")
    }
}

impl MasterKey {
    pub(crate) fn derive(windows_password: &str, sid: &str) -> MasterKey {
        let mut key = [0u8; 32];
        let iterations = NonZeroU32::new(ITERATIONS).unwrap_or(NonZeroU32::MIN);
        pbkdf2::derive(
            pbkdf2::PBKDF2_HMAC_SHA256,
            iterations,
            sid.as_bytes(),
            windows_password.as_bytes(),
            &mut key,
        );
        // A 32-byte key is always a valid AES-256 key.
        let unbound = UnboundKey::new(&AES_256_GCM, &key).expect("32 bytes is an AES-256 key");
        MasterKey(LessSafeKey::new(unbound))
    }

    pub(crate) fn protect(&self, plaintext: &[u8]) -> Vec<u8> {
        let nonce_bytes: [u8; 12] = rand::random();
        let mut sealed = plaintext.to_vec();
        // Sealing in place cannot fail for inputs under AES-GCM's 64 GiB limit.
        self.0
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce_bytes),
                Aad::from(MAGIC),
                &mut sealed,
            )
            .expect("AES-GCM seal");
        [MAGIC, &nonce_bytes, &sealed].concat()
    }

    pub(crate) fn unprotect(&self, blob: &[u8]) -> Result<Vec<u8>, UnprotectError> {
        let rest = blob.strip_prefix(MAGIC).ok_or(UnprotectError::Format)?;
        if rest.len() < 12 + 16 {
            return Err(UnprotectError::Format);
        }
        let (nonce, sealed) = rest.split_at(12);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| UnprotectError::Format)?;
        let mut buf = sealed.to_vec();
        let plain = self
            .0
            .open_in_place(nonce, Aad::from(MAGIC), &mut buf)
            .map_err(|_| UnprotectError::Key)?;
        Ok(plain.to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_blob_opens_only_under_the_password_that_protected_it() {
        let sid = "S-1-5-21-1-2-3-1001";
        let old = MasterKey::derive("Winter2011!", sid);
        let new = MasterKey::derive("Spring2012!", sid);
        let blob = old.protect(b"secret");
        assert_eq!(old.unprotect(&blob).unwrap(), b"secret");
        assert_eq!(new.unprotect(&blob), Err(UnprotectError::Key));
        let mut damaged = blob.clone();
        let last = damaged.len() - 1;
        damaged[last] ^= 1;
        assert_eq!(old.unprotect(&damaged), Err(UnprotectError::Key));
        assert_eq!(old.unprotect(b"garbage"), Err(UnprotectError::Format));
    }
}
