//! The RSA key container of the personal certificate: the private key, protected with the
//! Windows user's data protection key, under `Crypto\RSA\<SID>`.

use std::path::PathBuf;

use lyncsim_pki::PersonalKey;

use crate::dpapi::MasterKey;
use crate::layout::Layout;
use lyncsim_durable::write_atomically;

/// The container file for `address` on a machine.
pub(crate) fn container_path(layout: &Layout, address: &str, machine_guid: &str) -> PathBuf {
    // Windows names containers <hash of the container name>_<machine GUID>.
    let name = format!("Lync:{}", address.to_ascii_lowercase());
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, name.as_bytes());
    layout.rsa_dir().join(format!(
        "{}_{machine_guid}",
        hex::encode(&digest.as_ref()[..16])
    ))
}

/// Whether `pkcs8` was found a usable RSA key before in this process (checking one costs
/// more than the rest of a warm sign-in's file work; Windows keeps a key it has loaded).
fn known_usable(pkcs8: &[u8]) -> bool {
    known_keys()
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .contains(&digest(pkcs8))
}

fn remember_usable(pkcs8: &[u8]) {
    let mut known = known_keys().lock().unwrap_or_else(|p| p.into_inner());
    // A bound on what is kept: forgetting only costs a check.
    if known.len() >= 4096 {
        known.clear();
    }
    known.insert(digest(pkcs8));
}

fn known_keys() -> &'static std::sync::Mutex<std::collections::HashSet<[u8; 32]>> {
    static KNOWN: std::sync::OnceLock<std::sync::Mutex<std::collections::HashSet<[u8; 32]>>> =
        std::sync::OnceLock::new();
    KNOWN.get_or_init(Default::default)
}

fn digest(bytes: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    out.copy_from_slice(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, bytes).as_ref());
    out
}

/// Opens the container: its key as PKCS#8 DER, checked to be a usable RSA key; `Ok(None)`
/// when there is none.
pub(crate) fn open_pkcs8(
    layout: &Layout,
    key: &MasterKey,
    address: &str,
    machine_guid: &str,
) -> Result<Option<Vec<u8>>, String> {
    let path = container_path(layout, address, machine_guid);
    let Some(pkcs8) = open_bytes(layout, key, address, machine_guid)? else {
        return Ok(None);
    };
    if !known_usable(&pkcs8) {
        usable(&path, &pkcs8)?;
        remember_usable(&pkcs8);
    }
    Ok(Some(pkcs8))
}

/// The key a container holds, read as an RSA key.
fn usable(path: &std::path::Path, pkcs8: &[u8]) -> Result<PersonalKey, String> {
    // Windows' error for a key blob that does not import ("NTE error codes",
    // learn.microsoft.com); the parser's own words stay out of the trace.
    PersonalKey::from_pkcs8_der(pkcs8).map_err(|_| {
        format!(
            "RSA key container {} cannot be opened: NTE_BAD_KEY (0x80090003): Bad key.",
            file_name(path)
        )
    })
}

/// Opens the container; `Ok(None)` when there is none.
pub(crate) fn open(
    layout: &Layout,
    key: &MasterKey,
    address: &str,
    machine_guid: &str,
) -> Result<Option<PersonalKey>, String> {
    let path = container_path(layout, address, machine_guid);
    open_bytes(layout, key, address, machine_guid)?
        .map(|pkcs8| usable(&path, &pkcs8))
        .transpose()
}

/// The container's plaintext; `Ok(None)` when there is none.
fn open_bytes(
    layout: &Layout,
    key: &MasterKey,
    address: &str,
    machine_guid: &str,
) -> Result<Option<Vec<u8>>, String> {
    let path = container_path(layout, address, machine_guid);
    let blob = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(format!(
                "RSA key container {} cannot be read: {e}",
                file_name(&path)
            ));
        }
    };
    key.unprotect(&blob).map(Some).map_err(|e| {
        format!(
            "RSA key container {} cannot be opened: {e}",
            file_name(&path)
        )
    })
}

/// Opens the container, or makes a new RSA-2048 key in a new one.
pub(crate) async fn open_or_create(
    layout: &Layout,
    key: &MasterKey,
    address: &str,
    machine_guid: &str,
) -> Result<(PersonalKey, bool), String> {
    if let Some(existing) = open(layout, key, address, machine_guid)? {
        return Ok((existing, false));
    }
    let fresh = generate().await?;
    let path = container_path(layout, address, machine_guid);
    write_atomically(&path, &key.protect(&fresh.pkcs8_der())).map_err(|e| {
        format!(
            "RSA key container {} cannot be written: {e}",
            path.display()
        )
    })?;
    Ok((fresh, true))
}

/// A new RSA-2048 key, made on a blocking thread and no more at once than this host has
/// cores: every emulated machine shares the host's CPU, and a key made on the async runtime
/// would hold up every other client's I/O (and the DNS answers they wait for) for its 100 ms.
async fn generate() -> Result<PersonalKey, String> {
    static SLOTS: std::sync::OnceLock<tokio::sync::Semaphore> = std::sync::OnceLock::new();
    let slots = SLOTS.get_or_init(|| {
        tokio::sync::Semaphore::new(std::thread::available_parallelism().map_or(1, |n| n.get()))
    });
    let _slot = slots.acquire().await.map_err(|e| e.to_string())?;
    tokio::task::spawn_blocking(PersonalKey::generate)
        .await
        .map_err(|e| format!("key generation stopped: {e}"))?
        .map_err(|e| e.to_string())
}

fn file_name(path: &std::path::Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}
