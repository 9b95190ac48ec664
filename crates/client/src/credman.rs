//! Credential Manager: generic credentials, their secrets protected with the Windows user's
//! data protection key. Lync stores its password under `Microsoft_OC1:uri=<addr>:specific:OCS:1`.

use std::path::{Path, PathBuf};

use base64::Engine;
use serde::{Deserialize, Serialize};

use crate::dpapi::MasterKey;
use crate::layout::Layout;
use lyncsim_durable::write_atomically;

/// The generic credential Lync keeps its password in.
pub(crate) fn lync_target(address: &str) -> String {
    format!(
        "Microsoft_OC1:uri={}:specific:OCS:1",
        address.to_ascii_lowercase()
    )
}

/// One credential as Credential Manager lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Credential {
    /// The target name.
    pub target: String,
    /// Generic or domain.
    #[serde(rename = "type")]
    pub kind: String,
    /// The user name saved with it.
    pub user: String,
    /// When it was last written (machine clock, RFC 3339).
    pub last_written: String,
    /// The protected secret, base64.
    pub blob: String,
}

/// A credential file that cannot be read.
#[derive(Debug, Clone)]
pub(crate) struct Unreadable {
    pub(crate) path: PathBuf,
    pub(crate) reason: String,
}

pub(crate) fn file_for(layout: &Layout, target: &str) -> PathBuf {
    // Windows names credential files by a hash; any stable name that maps 1:1 will do.
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, target.as_bytes());
    layout
        .credentials_dir()
        .join(hex::encode_upper(&digest.as_ref()[..16]))
}

/// What Windows says of a credential whose file does not decode: NTE_BAD_DATA, as the data
/// protection API reports a damaged blob ("NTE error codes", learn.microsoft.com); the
/// decoder's own words stay out of what a person sees.
const BAD_DATA: &str = "the credential cannot be read: NTE_BAD_DATA (0x80090005): Bad data.";

fn read_file(path: &Path) -> Result<Credential, String> {
    let bytes = std::fs::read(path).map_err(|e| e.to_string())?;
    serde_json::from_slice(&bytes).map_err(|_| BAD_DATA.to_owned())
}

/// Every credential, and the files that cannot be read.
pub(crate) fn list(layout: &Layout) -> std::io::Result<Vec<Result<Credential, Unreadable>>> {
    let mut out = Vec::new();
    let entries = match std::fs::read_dir(layout.credentials_dir()) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(e),
    };
    for entry in entries {
        let path = entry?.path();
        if path.is_file() {
            out.push(read_file(&path).map_err(|reason| Unreadable { path, reason }));
        }
    }
    out.sort_by_key(|c| match c {
        Ok(c) => c.target.clone(),
        Err(u) => u.path.to_string_lossy().into_owned(),
    });
    Ok(out)
}

/// The saved Lync password of `address`: `Ok(None)` when none is saved, `Err` when one is
/// saved but cannot be read.
pub(crate) fn read_lync_password(
    layout: &Layout,
    key: &MasterKey,
    address: &str,
) -> Result<Option<String>, String> {
    let path = file_for(layout, &lync_target(address));
    if !path.exists() {
        return Ok(None);
    }
    let cred = read_file(&path)?;
    let blob = base64::engine::general_purpose::STANDARD
        .decode(&cred.blob)
        .map_err(|_| BAD_DATA.to_owned())?;
    let plain = key
        .unprotect(&blob)
        .map_err(|e| format!("the saved credential cannot be decrypted: {e}"))?;
    String::from_utf8(plain)
        .map(Some)
        .map_err(|_| "the saved credential's secret is not text".to_owned())
}

/// Saves the Lync password of `address`.
pub(crate) fn save_lync_password(
    layout: &Layout,
    key: &MasterKey,
    address: &str,
    password: &str,
    now_rfc3339: String,
) -> std::io::Result<()> {
    let target = lync_target(address);
    let cred = Credential {
        target: target.clone(),
        kind: "Generic".into(),
        user: address.to_owned(),
        last_written: now_rfc3339,
        blob: base64::engine::general_purpose::STANDARD.encode(key.protect(password.as_bytes())),
    };
    let json = serde_json::to_vec_pretty(&cred).map_err(std::io::Error::other)?;
    write_atomically(&file_for(layout, &target), &json)
}
