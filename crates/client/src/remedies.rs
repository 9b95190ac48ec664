//! What `lyncsim fix` does to a machine: the remedies of KB 2604176, as the changes to the
//! profile folder that the real steps make to the real machine (certmgr, Credential Manager,
//! the Fix it, `ipconfig /flushdns`, an update, a time sync).

use anyhow::Context;
use lyncsim_domain::{Release, Remedy, Skew};

use crate::credman;
use crate::files::{plural, remove_dir};
use crate::profile::Profile;

/// Applies a remedy of KB 2604176 to this machine. A remedy the product does not offer is
/// refused.
pub async fn apply_remedy(profile: &mut Profile, remedy: Remedy) -> anyhow::Result<String> {
    profile.reload()?;
    let (product, os) = (profile.machine().product, profile.machine().os);
    remedy.offered_on(product, os).map_err(anyhow::Error::msg)?;
    let layout = profile.layout().clone();
    Ok(match remedy {
        Remedy::DeleteSigninInfo => format!(
            "Delete my sign-in information: removed {}, {} and {}",
            plural(remove_lync_credentials(profile)?, "saved password"),
            plural(remove_lync_certificates(profile)?, "certificate"),
            plural(
                remove_endpoint_caches(profile)?,
                "connection setting folder"
            ),
        ),
        Remedy::Fixit => {
            let report = format!(
                "Fix it {}: removed {}, {} and {}; flushed the DNS resolver cache",
                Remedy::fixit_number(os),
                plural(remove_endpoint_caches(profile)?, "endpoint cache folder"),
                plural(
                    remove_lync_certificates(profile)?,
                    "Communications Server certificate"
                ),
                plural(remove_lync_credentials(profile)?, "Lync credential"),
            );
            profile.flush_dns()?;
            report
        }
        Remedy::UpdateClient => {
            let build = product.build(Release::Latest);
            profile.update_machine(|m| m.build = build.clone())?;
            format!("installed {} build {build}", product.display_name())
        }
        Remedy::DesktopSetup => {
            let version = lyncsim_domain::sign_in_assistant(Release::Latest);
            profile.update_machine(|m| m.sign_in_assistant = Some(version.clone()))?;
            format!("Office 365 Desktop Setup installed Sign-In Assistant {version}")
        }
        Remedy::DeleteEndpointCache => {
            format!(
                "removed {}",
                plural(remove_endpoint_caches(profile)?, "sip_<address> folder")
            )
        }
        Remedy::DeleteCert => format!(
            "certmgr: deleted {} issued by Communications Server (or unreadable)",
            plural(remove_lync_certificates(profile)?, "certificate")
        ),
        Remedy::RemoveCredentials => format!(
            "Credential Manager: removed {} from the vault; type the password at the next sign-in",
            plural(remove_lync_credentials(profile)?, "Lync credential")
        ),
        Remedy::SyncTime => sync_time(profile).await?,
        Remedy::FlushDns => {
            profile.flush_dns()?;
            "Successfully flushed the DNS Resolver Cache.".into()
        }
        Remedy::DeleteRsaKey => {
            let removed = remove_dir(&layout.rsa_dir())?;
            format!(
                "{} {}; restart Lync",
                if removed { "deleted" } else { "there was no" },
                crate::views::windows_path(profile, &layout.rsa_dir())
            )
        }
        Remedy::Restart => format!(
            "{} restarted; it keeps nothing in memory between sign-ins",
            product.display_name()
        ),
        Remedy::Escalate => "escalated to support: nothing on this machine was changed".into(),
    })
}

fn remove_lync_credentials(profile: &Profile) -> anyhow::Result<usize> {
    let mut n = 0;
    for entry in profile.credentials()? {
        let path = match entry {
            Ok(c) if c.target.starts_with("Microsoft_OC1:") => {
                credman::file_for(profile.layout(), &c.target)
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

fn remove_lync_certificates(profile: &Profile) -> anyhow::Result<usize> {
    let issuer = lyncsim_pki::AuthorityKind::CommunicationsServer.common_name();
    let mut n = 0;
    for cert in profile.certificates()? {
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

fn remove_endpoint_caches(profile: &Profile) -> anyhow::Result<usize> {
    let mut n = 0;
    let dir = profile.layout().product_dir();
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
async fn sync_time(profile: &mut Profile) -> anyhow::Result<String> {
    let url = profile.machine().network.time_source.clone();
    let time = crate::time_source::fetch(&url).await?;
    let before_ms = profile.machine().now_ms();
    let system_ms = before_ms - profile.machine().clock_offset_secs * 1000;
    let offset = Skew::from_millis(Skew::millis_between(time.unix_ms, system_ms)).0;
    lyncsim_domain::check_clock_offset(offset)
        .map_err(|e| anyhow::anyhow!("{url} gave a time this machine cannot be set to: {e}"))?;
    profile.update_machine(|m| m.clock_offset_secs = offset)?;
    Ok(format!(
        "synchronised with {url}: the clock was {} off; it now reads {}",
        Skew::from_millis(Skew::millis_between(before_ms, time.unix_ms)),
        time.rfc3339
    ))
}
