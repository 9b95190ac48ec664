//! What `lyncsim break` and `lyncsim fix` do to a machine: the client-side causes of KB
//! 2604176, and its remedies, as changes to the profile folder that the real steps make to the
//! real machine.

use std::path::Path;

use anyhow::{Context, bail};
use base64::Engine;
use lyncsim_domain::{Cause, Os, Release, Remedy, Skew};

use crate::credman;
use crate::dpapi::MasterKey;
use lyncsim_durable::write_atomically;

use crate::profile::Profile;

/// Settings for the client-side causes.
#[derive(Debug, Clone)]
pub struct BreakOptions {
    /// clock-skew: how far off the machine's clock is set, in seconds (negative: behind).
    pub clock_offset_secs: i64,
    /// rsa-key-locked: the new Windows password.
    pub new_windows_password: String,
}

impl Default for BreakOptions {
    fn default() -> Self {
        BreakOptions {
            clock_offset_secs: 7 * 60 + 12,
            new_windows_password: "Spring2012!".into(),
        }
    }
}

fn remove_dir(path: &Path) -> std::io::Result<bool> {
    match std::fs::remove_dir_all(path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e),
    }
}

/// Names of what was removed, for the report.
fn plural(n: usize, what: &str) -> String {
    format!("{n} {what}{}", if n == 1 { "" } else { "s" })
}

impl Profile {
    /// Makes a client-side cause on this machine. Server-side causes are refused with the
    /// fault that makes them.
    pub fn make_cause(&mut self, cause: Cause, opts: &BreakOptions) -> anyhow::Result<String> {
        let (product, os) = (self.machine().product, self.machine().os);
        if !cause.exists_on(product, os) {
            bail!(
                "{cause} does not exist on {} on Windows {}",
                product.display_name(),
                os.id()
            );
        }
        match cause {
            Cause::ClockSkew => {
                lyncsim_domain::check_clock_offset(opts.clock_offset_secs)
                    .map_err(anyhow::Error::msg)?;
                self.update_machine(|m| m.clock_offset_secs = opts.clock_offset_secs)?;
                Ok(format!(
                    "the machine's clock is now {} off",
                    Skew(opts.clock_offset_secs)
                ))
            }
            Cause::OutdatedClient => {
                let build = product.build(Release::Outdated);
                self.update_machine(|m| m.build = build.clone())?;
                Ok(format!(
                    "{} build {build} is installed",
                    product.display_name()
                ))
            }
            Cause::OutdatedSia => {
                let version = lyncsim_domain::sign_in_assistant(Release::Outdated);
                self.update_machine(|m| m.sign_in_assistant = Some(version.clone()))?;
                Ok(format!("Sign-In Assistant {version} is installed"))
            }
            Cause::StaleCert => self.damage_certificates(),
            Cause::RsaKeyLocked => self.change_windows_password(&opts.new_windows_password),
            Cause::StaleCredentials
            | Cause::EndpointMoved
            | Cause::DnsStale
            | Cause::PostOutage
            | Cause::AccountCorrupt => bail!(
                "{cause} is made on the service side: {}",
                match cause {
                    Cause::StaleCredentials =>
                        "lyncsim fault change-password --user ADDR --password NEW",
                    Cause::EndpointMoved => "lyncsim fault move-user --user ADDR",
                    Cause::DnsStale => "lyncsim fault change-dns --host pool-a.online.lync.com",
                    Cause::PostOutage =>
                        "lyncsim fault outage --mode cut-off, then sign in, then lyncsim fault clear",
                    _ => "lyncsim fault corrupt-account --user ADDR",
                }
            ),
        }
    }

    /// Damages the bytes of every stored certificate issued by Communications Server.
    fn damage_certificates(&self) -> anyhow::Result<String> {
        let mut damaged = 0;
        for cert in self.certificates()? {
            let lync = cert.info.as_ref().map(|i| {
                i.issuer_cn == lyncsim_pki::AuthorityKind::CommunicationsServer.common_name()
            });
            if lync != Ok(true) {
                continue;
            }
            let mut bytes = cert.der.clone();
            // The outer SEQUENCE's length: the file no longer parses as a certificate.
            if bytes.len() > 2 {
                bytes[1] ^= 0x55;
                bytes[2] ^= 0xAA;
            }
            write_atomically(&cert.path, &bytes)?;
            damaged += 1;
        }
        if damaged == 0 {
            bail!(
                "there is no certificate issued by Communications Server to damage: sign in once first"
            );
        }
        Ok(format!(
            "damaged the bytes of {}",
            plural(damaged, "personal certificate")
        ))
    }

    /// Changes the Windows password as Windows does: Credential Manager's secrets are
    /// protected again under the new password. On XP the RSA key containers are not (the
    /// defect the KB describes); on later Windows they are.
    fn change_windows_password(&mut self, new_password: &str) -> anyhow::Result<String> {
        let old = self.master_key();
        let new = MasterKey::derive(new_password, &self.machine().sid);
        let mut creds = 0;
        for path in files_in(&self.layout().credentials_dir())? {
            let text = std::fs::read(&path)?;
            let Ok(mut cred) = serde_json::from_slice::<credman::Credential>(&text) else {
                continue;
            };
            let b64 = base64::engine::general_purpose::STANDARD;
            let Ok(blob) = b64.decode(&cred.blob) else {
                continue;
            };
            let Ok(plain) = old.unprotect(&blob) else {
                continue;
            };
            cred.blob = b64.encode(new.protect(&plain));
            write_atomically(&path, &serde_json::to_vec_pretty(&cred)?)?;
            creds += 1;
        }
        let mut keys = 0;
        if self.machine().os != Os::Xp {
            for path in files_in(&self.layout().rsa_dir())? {
                let Ok(plain) = old.unprotect(&std::fs::read(&path)?) else {
                    continue;
                };
                write_atomically(&path, &new.protect(&plain))?;
                keys += 1;
            }
        }
        self.update_machine(|m| m.windows_password = new_password.to_owned())?;
        Ok(format!(
            "the Windows password changed; {} and {} protected again under it",
            plural(creds, "credential"),
            plural(keys, "RSA key container")
        ))
    }

    /// Applies a remedy of KB 2604176 to this machine. A remedy the product does not offer is
    /// refused.
    pub async fn apply_remedy(&mut self, remedy: Remedy) -> anyhow::Result<String> {
        let (product, os) = (self.machine().product, self.machine().os);
        remedy.offered_on(product, os).map_err(anyhow::Error::msg)?;
        let layout = self.layout().clone();
        Ok(match remedy {
            Remedy::DeleteSigninInfo => format!(
                "Delete my sign-in information: removed {}, {} and {}",
                plural(self.remove_lync_credentials()?, "saved password"),
                plural(self.remove_lync_certificates()?, "certificate"),
                plural(self.remove_endpoint_caches()?, "connection setting folder"),
            ),
            Remedy::Fixit => {
                let report = format!(
                    "Fix it {}: removed {}, {} and {}; flushed the DNS resolver cache",
                    Remedy::fixit_number(os),
                    plural(self.remove_endpoint_caches()?, "endpoint cache folder"),
                    plural(
                        self.remove_lync_certificates()?,
                        "Communications Server certificate"
                    ),
                    plural(self.remove_lync_credentials()?, "Lync credential"),
                );
                self.flush_dns()?;
                report
            }
            Remedy::UpdateClient => {
                let build = product.build(Release::Latest);
                self.update_machine(|m| m.build = build.clone())?;
                format!("installed {} build {build}", product.display_name())
            }
            Remedy::DesktopSetup => {
                let version = lyncsim_domain::sign_in_assistant(Release::Latest);
                self.update_machine(|m| m.sign_in_assistant = Some(version.clone()))?;
                format!("Office 365 Desktop Setup installed Sign-In Assistant {version}")
            }
            Remedy::DeleteEndpointCache => {
                format!(
                    "removed {}",
                    plural(self.remove_endpoint_caches()?, "sip_<address> folder")
                )
            }
            Remedy::DeleteCert => format!(
                "certmgr: deleted {} issued by Communications Server (or unreadable)",
                plural(self.remove_lync_certificates()?, "certificate")
            ),
            Remedy::RemoveCredentials => format!(
                "Credential Manager: removed {} from the vault; type the password at the next sign-in",
                plural(self.remove_lync_credentials()?, "Lync credential")
            ),
            Remedy::SyncTime => self.sync_time().await?,
            Remedy::FlushDns => {
                self.flush_dns()?;
                "Successfully flushed the DNS Resolver Cache.".into()
            }
            Remedy::DeleteRsaKey => {
                let removed = remove_dir(&layout.rsa_dir())?;
                format!(
                    "{} {}; restart Lync",
                    if removed { "deleted" } else { "there was no" },
                    layout
                        .rsa_dir()
                        .strip_prefix(layout.root())
                        .unwrap_or(&layout.rsa_dir())
                        .display()
                )
            }
            Remedy::Restart => format!(
                "{} restarted; it keeps nothing in memory between sign-ins",
                product.display_name()
            ),
            Remedy::Escalate => "escalated to support: nothing on this machine was changed".into(),
        })
    }

    fn remove_lync_credentials(&self) -> anyhow::Result<usize> {
        let mut n = 0;
        for entry in self.credentials()? {
            let path = match entry {
                Ok(c) if c.target.starts_with("Microsoft_OC1:") => {
                    credman::file_for(self.layout(), &c.target)
                }
                Ok(_) => continue,
                // A credential file that cannot be read is listed, and removed, by its file.
                Err((path, _)) => path,
            };
            std::fs::remove_file(&path).with_context(|| format!("removing {}", path.display()))?;
            n += 1;
        }
        Ok(n)
    }

    fn remove_lync_certificates(&self) -> anyhow::Result<usize> {
        let issuer = lyncsim_pki::AuthorityKind::CommunicationsServer.common_name();
        let mut n = 0;
        for cert in self.certificates()? {
            let remove = match &cert.info {
                Ok(info) => info.issuer_cn == issuer,
                Err(_) => true,
            };
            if remove {
                std::fs::remove_file(&cert.path)
                    .with_context(|| format!("removing {}", cert.path.display()))?;
                n += 1;
            }
        }
        Ok(n)
    }

    fn remove_endpoint_caches(&self) -> anyhow::Result<usize> {
        let mut n = 0;
        let dir = self.layout().product_dir();
        let Ok(entries) = std::fs::read_dir(&dir) else {
            return Ok(0);
        };
        for entry in entries {
            let path = entry?.path();
            if path.is_dir()
                && path
                    .file_name()
                    .is_some_and(|f| f.to_string_lossy().starts_with("sip_"))
            {
                remove_dir(&path)?;
                n += 1;
            }
        }
        Ok(n)
    }

    /// Sets the machine's clock from the trusted time source, whatever the system clock says
    /// (it corrects a clock faked with faketime, too).
    async fn sync_time(&mut self) -> anyhow::Result<String> {
        let url = self.machine().network.time_source.clone();
        let time: lyncsim_wire::TimeResponse =
            serde_json::from_slice(&crate::fetch_plain(&url).await?)
                .with_context(|| format!("{url} is not a time source"))?;
        let before_ms = self.machine().now_ms();
        let system_ms = before_ms - self.machine().clock_offset_secs * 1000;
        let offset = Skew::from_millis(Skew::millis_between(time.unix_ms, system_ms)).0;
        lyncsim_domain::check_clock_offset(offset)
            .map_err(|e| anyhow::anyhow!("{url} gave a time this machine cannot be set to: {e}"))?;
        self.update_machine(|m| m.clock_offset_secs = offset)?;
        Ok(format!(
            "synchronised with {url}: the clock was {} off; it now reads {}",
            Skew::from_millis(Skew::millis_between(before_ms, time.unix_ms)),
            time.rfc3339
        ))
    }
}

fn files_in(dir: &Path) -> std::io::Result<Vec<std::path::PathBuf>> {
    match std::fs::read_dir(dir) {
        Ok(entries) => Ok(entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.is_file())
            .collect()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(e),
    }
}
