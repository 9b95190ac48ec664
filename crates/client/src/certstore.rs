//! The personal certificate store: one DER file per certificate, named by its SHA-1
//! thumbprint, as `SystemCertificates\My\Certificates` holds them.

use std::path::PathBuf;

use lyncsim_pki::CertInfo;

use crate::layout::Layout;
use lyncsim_durable::write_atomically;

/// One entry of the store.
#[derive(Debug, Clone)]
pub struct StoredCert {
    /// The file name: the thumbprint it was stored under.
    pub thumbprint: String,
    /// The file.
    pub path: PathBuf,
    /// The DER bytes as they are on disk.
    pub der: Vec<u8>,
    /// What the bytes say, or why they cannot be read.
    pub info: Result<CertInfo, String>,
}

impl StoredCert {
    /// Whether this entry's subject is `sip:<address>` and it was issued by Communications
    /// Server (`None` when the entry cannot be read).
    pub fn is_lync_cert_of(&self, address: &str) -> Option<bool> {
        let info = self.info.as_ref().ok()?;
        Some(
            info.subject_cn
                .eq_ignore_ascii_case(&format!("sip:{address}"))
                && info.issuer_cn == lyncsim_pki::AuthorityKind::CommunicationsServer.common_name(),
        )
    }
}

/// Every entry, sorted by Issued By then thumbprint (certmgr's order).
pub(crate) fn list(layout: &Layout) -> std::io::Result<Vec<StoredCert>> {
    let dir = layout.cert_store();
    let mut out = Vec::new();
    let entries = match std::fs::read_dir(&dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(e),
    };
    for entry in entries {
        let entry = entry?;
        let path = entry.path();
        if !path.is_file() {
            continue;
        }
        let der = std::fs::read(&path)?;
        let info = lyncsim_pki::inspect(&der).map_err(|e| e.to_string());
        out.push(StoredCert {
            thumbprint: entry.file_name().to_string_lossy().into_owned(),
            path,
            der,
            info,
        });
    }
    out.sort_by(|a, b| {
        let issuer = |c: &StoredCert| {
            c.info
                .as_ref()
                .map(|i| i.issuer_cn.clone())
                .unwrap_or_default()
        };
        issuer(a)
            .cmp(&issuer(b))
            .then_with(|| a.thumbprint.cmp(&b.thumbprint))
    });
    Ok(out)
}

/// Adds a certificate under its thumbprint; returns the thumbprint.
pub(crate) fn add(layout: &Layout, der: &[u8]) -> std::io::Result<String> {
    let thumbprint = lyncsim_pki::thumbprint(der);
    write_atomically(&layout.cert_store().join(&thumbprint), der)?;
    Ok(thumbprint)
}
