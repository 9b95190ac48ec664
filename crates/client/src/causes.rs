//! What `lyncsim break` does to a machine: the client-side causes of KB 2604176, as the
//! changes to the profile folder that the real events make to the real machine (a clock set
//! wrong, an old build installed, a certificate damaged, the Windows password changed).

use anyhow::bail;
use base64::Engine;
use lyncsim_domain::{Cause, Os, Release, Skew};
use lyncsim_durable::write_atomically;

use crate::credman;
use crate::dpapi::MasterKey;
use crate::files::{files_in, plural};
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

/// Makes a client-side cause on this machine. Server-side causes are refused with the
/// fault that makes them.
pub fn make_cause(
    profile: &mut Profile,
    cause: Cause,
    opts: &BreakOptions,
) -> anyhow::Result<String> {
    profile.reload()?;
    let (product, os) = (profile.machine().product, profile.machine().os);
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
            profile.update_machine(|m| m.clock_offset_secs = opts.clock_offset_secs)?;
            Ok(format!(
                "the machine's clock is now {} off",
                Skew(opts.clock_offset_secs)
            ))
        }
        Cause::OutdatedClient => {
            let build = product.build(Release::Outdated);
            profile.update_machine(|m| m.build = build.clone())?;
            Ok(format!(
                "{} build {build} is installed",
                product.display_name()
            ))
        }
        Cause::OutdatedSia => {
            let version = lyncsim_domain::sign_in_assistant(Release::Outdated);
            profile.update_machine(|m| m.sign_in_assistant = Some(version.clone()))?;
            Ok(format!("Sign-In Assistant {version} is installed"))
        }
        Cause::StaleCert => damage_certificates(profile),
        Cause::RsaKeyLocked => change_windows_password(profile, &opts.new_windows_password),
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
fn damage_certificates(profile: &Profile) -> anyhow::Result<String> {
    let mut damaged = 0;
    for cert in profile.certificates()? {
        let lync = cert
            .info
            .as_ref()
            .map(|i| i.issuer_cn == lyncsim_pki::AuthorityKind::CommunicationsServer.common_name());
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
fn change_windows_password(profile: &mut Profile, new_password: &str) -> anyhow::Result<String> {
    let old = profile.master_key();
    let new = MasterKey::derive(new_password, &profile.machine().sid);
    let mut creds = 0;
    for path in files_in(&profile.layout().credentials_dir())? {
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
    if profile.machine().os != Os::Xp {
        for path in files_in(&profile.layout().rsa_dir())? {
            let Ok(plain) = old.unprotect(&std::fs::read(&path)?) else {
                continue;
            };
            write_atomically(&path, &new.protect(&plain))?;
            keys += 1;
        }
    }
    profile.update_machine(|m| m.windows_password = new_password.to_owned())?;
    Ok(format!(
        "the Windows password changed; {} and {} protected again under it",
        plural(creds, "credential"),
        plural(keys, "RSA key container")
    ))
}
