//! What a support person looks at on the machine, as Windows shows it: certmgr's Personal
//! store, Credential Manager, `ipconfig /displaydns`. Each view is data (for a page) and its
//! text (for the command line), made here once for both.

use std::fmt;
use std::path::Path;

use crate::profile::Profile;

fn date(unix: i64) -> String {
    chrono::DateTime::from_timestamp(unix, 0)
        .map(|t| t.format("%Y-%m-%d %H:%M").to_string())
        .unwrap_or_default()
}

/// A path inside the profile as Windows writes it (`Users\jdoe\AppData\…`).
pub fn windows_path(profile: &Profile, path: &Path) -> String {
    path.strip_prefix(profile.dir())
        .unwrap_or(path)
        .to_string_lossy()
        .replace('/', "\\")
}

/// The home pool the endpoint cache of `user` names, and when it was written, if there is one.
pub fn cached_endpoint(profile: &Profile, user: &str) -> Option<(String, String)> {
    crate::endpoint_cache::read(profile.layout(), user).map(|c| (c.home_pool, c.written))
}

/// One row of certmgr's list.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct CertRow {
    /// Issued To (the subject's CN).
    pub issued_to: String,
    /// Issued By (the issuer's CN).
    pub issued_by: String,
    /// Expiration Date.
    pub expires: String,
    /// Valid from (the certificate dialog's General tab).
    pub valid_from: String,
    /// The serial number, hex (the Details tab).
    pub serial: String,
    /// The public key, as the Details tab writes it (`RSA (2048 Bits)`).
    pub public_key: String,
    /// The SHA-1 thumbprint (the file's name in the store).
    pub thumbprint: String,
    /// Why the certificate cannot be read, when it cannot.
    pub unreadable: Option<String>,
    /// The Certification Path tab: the chain Windows builds from the machine's stores, the
    /// root first and this certificate last (this certificate alone when its issuer is in
    /// no store).
    pub path: Vec<String>,
    /// What the dialog says of the path (`None` for a certificate that cannot be read).
    pub status: Option<CertStatus>,
}

/// What the certificate dialog says of a certificate: its chain, and its validity by the
/// machine's clock. The texts are Windows' own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum CertStatus {
    /// The chain is whole and the certificate in its validity period.
    Ok,
    /// Outside its validity period by the machine's clock.
    TimeInvalid,
    /// Its issuer is in none of the machine's stores.
    NoIssuer,
}

impl CertStatus {
    /// The Certification Path tab's Certificate status.
    pub fn path_text(self) -> &'static str {
        match self {
            CertStatus::Ok => "This certificate is OK.",
            CertStatus::TimeInvalid => "This certificate has expired or is not yet valid.",
            CertStatus::NoIssuer => "The issuer of this certificate could not be found.",
        }
    }

    /// The General tab's warning above the certificate information, when there is one.
    pub fn general_text(self) -> Option<&'static str> {
        match self {
            CertStatus::Ok => None,
            CertStatus::TimeInvalid => Some(self.path_text()),
            CertStatus::NoIssuer => {
                Some("Windows does not have enough information to verify this certificate.")
            }
        }
    }
}

/// The chain and status of `der` (read as `info`) as the certificate dialog shows them: its
/// issuer looked for among the machine's trusted roots (by name and signature), its validity
/// judged by the machine's clock with no tolerance (as CertVerifyTimeValidity does). A time
/// error is shown before a missing issuer; that order is lyncsim's reading.
fn certification_path(
    profile: &Profile,
    der: &[u8],
    info: &lyncsim_pki::CertInfo,
) -> (Vec<String>, CertStatus) {
    let machine = profile.machine();
    let issuer = machine.trusted_roots.iter().find_map(|pem| {
        let root = lyncsim_pki::pem_decode("CERTIFICATE", pem).ok()?;
        lyncsim_pki::issued_by(der, &root)
            .then(|| lyncsim_pki::inspect(&root).ok())
            .flatten()
    });
    let mut path: Vec<String> = issuer.iter().map(|i| i.subject_cn.clone()).collect();
    path.push(info.subject_cn.clone());
    let status = if info.validity.check(machine.now(), 0).is_err() {
        CertStatus::TimeInvalid
    } else if issuer.is_none() {
        CertStatus::NoIssuer
    } else {
        CertStatus::Ok
    };
    (path, status)
}

/// The last `n` lines of the trace log that the client itself wrote, oldest first: the log as
/// Lync kept it, without the lines only lyncsim writes (its notes: how far a clock was off,
/// which cause a failure points to). A log that cannot be read shows as empty.
pub fn lync_trace(profile: &Profile, n: usize) -> Vec<String> {
    let log = std::fs::read_to_string(profile.trace_file()).unwrap_or_default();
    let lines: Vec<&str> = log
        .lines()
        .filter(|l| crate::trace::client_wrote(l))
        .collect();
    lines[lines.len().saturating_sub(n)..]
        .iter()
        .map(|l| (*l).to_owned())
        .collect()
}

/// Certificates - Current User > Personal > Certificates, sorted by Issued By.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Certmgr {
    /// The store's folder, as Windows writes it.
    pub location: String,
    /// The certificates.
    pub rows: Vec<CertRow>,
}

/// The Personal store of `profile`.
pub fn certmgr(profile: &Profile) -> anyhow::Result<Certmgr> {
    let mut rows: Vec<CertRow> = profile
        .certificates()?
        .into_iter()
        .map(|c| match &c.info {
            Ok(i) => {
                let (path, status) = certification_path(profile, &c.der, i);
                CertRow {
                    issued_to: i.subject_cn.clone(),
                    issued_by: i.issuer_cn.clone(),
                    expires: date(i.validity.not_after),
                    valid_from: date(i.validity.not_before),
                    serial: i.serial.clone(),
                    public_key: match i.key {
                        lyncsim_pki::KeyKind::Rsa(bits) => format!("RSA ({bits} Bits)"),
                        lyncsim_pki::KeyKind::Ecdsa(bits) => format!("ECC ({bits} Bits)"),
                        lyncsim_pki::KeyKind::Other => "unknown".into(),
                    },
                    thumbprint: c.thumbprint.clone(),
                    unreadable: None,
                    path,
                    status: Some(status),
                }
            }
            Err(e) => CertRow {
                issued_to: "<cannot be read>".into(),
                issued_by: String::new(),
                expires: String::new(),
                valid_from: String::new(),
                serial: String::new(),
                public_key: String::new(),
                thumbprint: c.thumbprint.clone(),
                unreadable: Some(e.clone()),
                path: Vec::new(),
                status: None,
            },
        })
        .collect();
    // As certmgr sorts on the Issued By column; what cannot be read goes last.
    rows.sort_by(|a, b| {
        (
            a.unreadable.is_some(),
            &a.issued_by,
            &a.issued_to,
            &a.thumbprint,
        )
            .cmp(&(
                b.unreadable.is_some(),
                &b.issued_by,
                &b.issued_to,
                &b.thumbprint,
            ))
    });
    Ok(Certmgr {
        location: windows_path(profile, &profile.layout().cert_store()),
        rows,
    })
}

impl fmt::Display for Certmgr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "Certificates - Current User > Personal > Certificates")?;
        writeln!(f, "({})\n", self.location)?;
        if self.rows.is_empty() {
            return writeln!(f, "There are no items to show in this view.");
        }
        writeln!(
            f,
            "{:<30} {:<24} {:<17} Thumbprint",
            "Issued To", "Issued By", "Expiration Date"
        )?;
        for r in &self.rows {
            write!(
                f,
                "{:<30} {:<24} {:<17} {}",
                r.issued_to, r.issued_by, r.expires, r.thumbprint
            )?;
            // The columns stay where they are; the reason follows the thumbprint.
            match &r.unreadable {
                Some(e) => writeln!(f, "  ({e})")?,
                None => writeln!(f)?,
            }
        }
        Ok(())
    }
}

/// One entry of Credential Manager.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub enum CredEntry {
    /// A generic credential.
    Generic {
        /// Its target (`Microsoft_OC1:uri=…`).
        target: String,
        /// The user name.
        user: String,
        /// When it was last written.
        modified: String,
    },
    /// A file that cannot be read as a credential.
    Unreadable {
        /// The file, as Windows writes it.
        path: String,
        /// Why.
        reason: String,
    },
}

/// Credential Manager > Windows Vault > Generic Credentials.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Credman {
    /// The credentials folder, as Windows writes it.
    pub location: String,
    /// The entries.
    pub entries: Vec<CredEntry>,
}

/// The generic credentials of `profile`.
pub fn credman(profile: &Profile) -> anyhow::Result<Credman> {
    let entries = profile
        .credentials()?
        .into_iter()
        .map(|c| match c {
            Ok(c) => CredEntry::Generic {
                target: c.target,
                user: c.user,
                modified: c.last_written,
            },
            Err((path, reason)) => CredEntry::Unreadable {
                path: windows_path(profile, &path),
                reason,
            },
        })
        .collect();
    Ok(Credman {
        location: windows_path(profile, &profile.layout().credentials_dir()),
        entries,
    })
}

impl fmt::Display for Credman {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "Credential Manager > Windows Vault > Generic Credentials"
        )?;
        writeln!(f, "({})\n", self.location)?;
        if self.entries.is_empty() {
            writeln!(f, "No generic credentials.")?;
        }
        for e in &self.entries {
            match e {
                CredEntry::Generic {
                    target,
                    user,
                    modified,
                } => writeln!(
                    f,
                    "{target}\n    User name: {user}\n    Modified: {modified}"
                )?,
                CredEntry::Unreadable { path, reason } => {
                    writeln!(f, "{path}\n    <cannot be read: {reason}>")?
                }
            }
        }
        Ok(())
    }
}

/// One record of the DNS client cache, as `ipconfig /displaydns` shows it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct DnsRow {
    /// Record Name.
    pub name: String,
    /// Record Type (1 A, 5 CNAME, 33 SRV).
    pub type_number: u16,
    /// The label of the data line (`A (Host) Record`).
    pub label: &'static str,
    /// Time To Live left, by the machine's clock.
    pub ttl_left: i64,
    /// Data Length.
    pub data_length: usize,
    /// The data.
    pub data: String,
}

/// The DNS client cache.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct DisplayDns {
    /// The records.
    pub rows: Vec<DnsRow>,
}

/// The DNS client cache of `profile`, with each record's time to live by the machine's clock.
pub fn displaydns(profile: &Profile) -> DisplayDns {
    let now = profile.machine().now();
    let rows = profile
        .dns_cache()
        .into_iter()
        .map(|r| {
            let (type_number, label, data_length) = match r.rtype.as_str() {
                "A" => (1, "A (Host) Record", 4),
                "CNAME" => (5, "CNAME Record", r.data.len() + 2),
                _ => (33, "SRV Record", r.data.len() + 8),
            };
            DnsRow {
                ttl_left: (r.expires - now).max(0),
                name: r.name,
                type_number,
                label,
                data_length,
                data: r.data,
            }
        })
        .collect();
    DisplayDns { rows }
}

impl fmt::Display for DisplayDns {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "\nWindows IP Configuration\n")?;
        if self.rows.is_empty() {
            writeln!(f, "Could not display the DNS Resolver Cache.")?;
        }
        for r in &self.rows {
            writeln!(
                f,
                "    {}\n    ----------------------------------------",
                r.name
            )?;
            writeln!(f, "    Record Name . . . . . : {}", r.name)?;
            writeln!(f, "    Record Type . . . . . : {}", r.type_number)?;
            writeln!(f, "    Time To Live  . . . . : {}", r.ttl_left)?;
            writeln!(f, "    Data Length . . . . . : {}", r.data_length)?;
            writeln!(f, "    Section . . . . . . . : Answer")?;
            writeln!(f, "    {:<21} : {}\n", r.label, r.data)?;
        }
        Ok(())
    }
}

/// `ipconfig /flushdns`: empties the DNS client cache; the text Windows prints.
pub fn flushdns(profile: &Profile) -> anyhow::Result<String> {
    profile.flush_dns()?;
    Ok("\nWindows IP Configuration\n\nSuccessfully flushed the DNS Resolver Cache.\n".into())
}

/// `nslookup <name>` as Windows prints it: the machine's DNS server asked directly (the
/// resolver cache, which `ipconfig /displaydns` shows, is not used), so that a stale cached
/// record can be told from what DNS says now. The layout is Windows nslookup's ("Server:
/// UnKnown" for a server without a PTR record, "Non-authoritative answer:", `Aliases:` for a
/// CNAME); the texts of its refusal are Windows's too.
pub async fn nslookup(profile: &Profile, name: &str) -> String {
    let server = profile.machine().network.dns_server;
    let mut out = format!("Server:  UnKnown\nAddress:  {}\n\n", server.ip());
    let name = name.trim().trim_end_matches('.');
    match crate::resolver::ask_server(server, name).await {
        Ok(records) => {
            let address = records.iter().find(|(_, t, _)| t == "A");
            let Some((owner, _, ip)) = address else {
                out.push_str(&format!("*** UnKnown can't find {name}: No answer\n"));
                return out;
            };
            out.push_str(&format!(
                "Non-authoritative answer:\nName:    {owner}\nAddress:  {ip}\n"
            ));
            let aliases: Vec<&str> = records
                .iter()
                .filter(|(_, t, _)| t == "CNAME")
                .map(|(o, _, _)| o.as_str())
                .collect();
            if !aliases.is_empty() {
                out.push_str(&format!("Aliases:  {}\n", aliases.join("\n          ")));
            }
        }
        Err(crate::resolver::ResolveError::NoRecord(_)) => {
            out.push_str(&format!(
                "*** UnKnown can't find {name}: Non-existent domain\n"
            ));
        }
        Err(_) => out.push_str(
            "DNS request timed out.\n    timeout was 2 seconds.\n*** Request to UnKnown timed-out\n",
        ),
    }
    out
}
