//! The RSA key container of the personal certificate: the private key, protected with the
//! Windows user's data protection key, under `Crypto\RSA\<SID>`.

use std::path::PathBuf;

use lyncsim_pki::PersonalKey;

use crate::dpapi::MasterKey;
use crate::layout::Layout;
use crate::profile::write_atomically;

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

/// Opens the container; `Ok(None)` when there is none.
pub(crate) fn open(
    layout: &Layout,
    key: &MasterKey,
    address: &str,
    machine_guid: &str,
) -> Result<Option<PersonalKey>, String> {
    let path = container_path(layout, address, machine_guid);
    let blob = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(format!(
                "RSA key container {} cannot be read: {e}",
                path.display()
            ));
        }
    };
    let pkcs8 = key.unprotect(&blob).map_err(|e| {
        format!(
            "RSA key container {} cannot be opened: {e}",
            file_name(&path)
        )
    })?;
    PersonalKey::from_pkcs8_der(&pkcs8).map(Some).map_err(|e| {
        format!(
            "RSA key container {} holds no usable key: {e}",
            file_name(&path)
        )
    })
}

/// Opens the container, or makes a new RSA-2048 key in a new one.
pub(crate) fn open_or_create(
    layout: &Layout,
    key: &MasterKey,
    address: &str,
    machine_guid: &str,
) -> Result<PersonalKey, String> {
    if let Some(existing) = open(layout, key, address, machine_guid)? {
        return Ok(existing);
    }
    let fresh = PersonalKey::generate().map_err(|e| e.to_string())?;
    let path = container_path(layout, address, machine_guid);
    write_atomically(&path, &key.protect(&fresh.pkcs8_der())).map_err(|e| {
        format!(
            "RSA key container {} cannot be written: {e}",
            path.display()
        )
    })?;
    Ok(fresh)
}

fn file_name(path: &std::path::Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}
