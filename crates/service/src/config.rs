//! What a service is started with: the tenant (from TOML), the state directory, the network.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use lyncsim_domain::DEFAULT_TOLERANCE_SECS;
use serde::{Deserialize, Serialize};

use crate::NetworkLayout;

/// The built-in tenant, `fixtures/tenants/contoso.toml`.
pub const DEFAULT_TENANT_TOML: &str = include_str!("../../../fixtures/tenants/contoso.toml");

/// An Office 365 tenant: its domain and users.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tenant {
    /// The SIP domain (`contoso.com`).
    pub domain: String,
    /// The users.
    #[serde(default)]
    pub users: Vec<TenantUser>,
    /// Whether Autodiscover's certificate also names `lyncdiscover.<domain>`, as a deployment
    /// that publishes its own Autodiscover can arrange. Office 365's did not: the tenant's
    /// `lyncdiscover` is a CNAME to `webdir.online.lync.com`, whose certificate names only
    /// Microsoft's domains, so a client's HTTPS attempt fails name validation and it goes on
    /// over plain HTTP (off by default, as in Office 365).
    #[serde(default)]
    pub own_lyncdiscover_certificate: bool,
}

/// One user of the tenant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TenantUser {
    /// Sign-in and SIP address.
    pub address: String,
    /// Password.
    pub password: String,
    /// `pool-a`, `pool-b` or `pool-c`.
    #[serde(default = "default_pool")]
    pub home_pool: String,
}

fn default_pool() -> String {
    "pool-a".into()
}

impl Tenant {
    /// The built-in contoso.com tenant.
    pub fn contoso() -> Tenant {
        // The fixture is part of the binary and checked by a test: it always parses.
        Tenant::from_toml(DEFAULT_TENANT_TOML).expect("the built-in tenant parses")
    }

    /// Reads a tenant from TOML text and checks it.
    pub fn from_toml(text: &str) -> anyhow::Result<Tenant> {
        let tenant: Tenant = toml::from_str(text)?;
        tenant.check()?;
        Ok(tenant)
    }

    /// Reads a tenant file.
    pub fn load(path: &Path) -> anyhow::Result<Tenant> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading tenant {}", path.display()))?;
        Tenant::from_toml(&text).with_context(|| format!("in tenant {}", path.display()))
    }

    fn check(&self) -> anyhow::Result<()> {
        if self.domain.is_empty() || !self.domain.contains('.') {
            bail!("domain {:?} is not a DNS domain", self.domain);
        }
        for u in &self.users {
            check_address(&u.address, &self.domain)?;
            check_password(&u.password).with_context(|| format!("user {}", u.address))?;
            crate::pools::pool_name(&u.home_pool)?;
        }
        Ok(())
    }
}

/// The longest sign-in address accepted (RFC 5321's limit for a path).
pub(crate) const MAX_ADDRESS_LEN: usize = 254;
/// The longest name before the `@` (RFC 5321's limit for a local part).
const MAX_NAME_LEN: usize = 64;
/// The longest password accepted.
pub(crate) const MAX_PASSWORD_LEN: usize = 256;

/// Checks that `address` is `name@domain`, where the name is 1 to 64 letters, digits and
/// `. _ % + -` (no leading, trailing or doubled dot), and the whole is at most 254 characters.
/// The address becomes a SIP URI, a certificate subject and the name of a folder on the
/// client's machine (`sip_<address>`), so nothing else is let in.
pub(crate) fn check_address(address: &str, domain: &str) -> anyhow::Result<()> {
    let shown: String = address.chars().take(80).collect();
    let shown = if shown.len() < address.len() {
        format!("{shown:?}… ({} bytes)", address.len())
    } else {
        format!("{shown:?}")
    };
    if address.len() > MAX_ADDRESS_LEN {
        bail!("user address {shown} is longer than {MAX_ADDRESS_LEN} characters");
    }
    let Some((name, d)) = address.split_once('@') else {
        bail!("user address {shown} is not of the form name@{domain}");
    };
    if name.is_empty() || !d.eq_ignore_ascii_case(domain) {
        bail!("user address {shown} is not of the form name@{domain}");
    }
    if name.len() > MAX_NAME_LEN {
        bail!("user address {shown}: the name before @ is longer than {MAX_NAME_LEN} characters");
    }
    let allowed = |c: char| c.is_ascii_alphanumeric() || "._%+-".contains(c);
    if let Some(bad) = name.chars().find(|c| !allowed(*c)) {
        bail!(
            "user address {shown}: {bad:?} is not allowed in the name; use letters, digits and . _ % + -"
        );
    }
    if name.starts_with('.') || name.ends_with('.') || name.contains("..") {
        bail!(
            "user address {shown}: the name may not start or end with a dot, or hold two in a row"
        );
    }
    Ok(())
}

/// Checks a password: 1 to 256 characters, none of them a control character.
pub(crate) fn check_password(password: &str) -> anyhow::Result<()> {
    if password.is_empty() {
        bail!("the password must not be empty");
    }
    if password.chars().count() > MAX_PASSWORD_LEN {
        bail!("the password is longer than {MAX_PASSWORD_LEN} characters");
    }
    if password.chars().any(char::is_control) {
        bail!("the password must not hold control characters");
    }
    Ok(())
}

/// How to start a service.
#[derive(Debug, Clone)]
pub struct ServiceConfig {
    /// The tenant; ignored for users when the state directory already holds some.
    pub tenant: Tenant,
    /// Where CAs, users and issued certificates are kept; in memory when `None`.
    pub state_dir: Option<PathBuf>,
    /// Addresses and ports; chosen at random on 127.0.0.0/8 when `None` (and then kept in the
    /// state directory, so that a restart comes back on the same ones).
    pub network: Option<NetworkLayout>,
    /// Tolerance for timestamps and validity, seconds.
    pub tolerance_secs: i64,
    /// Lifetime of issued personal certificates, seconds (at least 8 hours).
    pub personal_validity_secs: i64,
    /// The Communications Server CA a new service starts with (one whose state folder holds
    /// none yet), instead of making one. The pools of one Lync Online trust one such CA; the
    /// scenarios of one `lyncsim run` share one the same way, which saves an RSA key per
    /// scenario. A CA rotation still gives the service rotated a new CA of its own.
    pub communications_server: Option<CaPem>,
    /// A bearer token the admin API then wants on every request (`Authorization: Bearer …`);
    /// without one, the admin API is open to whoever can reach its loopback port.
    pub admin_token: Option<AdminToken>,
}

/// The admin API's bearer token: at least 16 printable characters, kept out of logs.
#[derive(Clone, PartialEq, Eq)]
pub struct AdminToken(String);

impl AdminToken {
    /// Checks `token`: a password, so long, and without spaces or control characters (it
    /// travels in a header).
    pub fn new(token: &str) -> anyhow::Result<AdminToken> {
        if token.len() < 16 || !token.bytes().all(|b| b.is_ascii_graphic()) {
            bail!(
                "the admin token must be at least 16 printable characters without spaces (it is a password: make it long and random)"
            );
        }
        Ok(AdminToken(token.to_owned()))
    }

    /// The token itself.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for AdminToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AdminToken(…)")
    }
}

/// A certificate authority's certificate and PKCS#8 key, PEM.
#[derive(Clone)]
pub struct CaPem {
    /// The CA certificate.
    pub cert: String,
    /// Its key.
    pub key: String,
}

impl std::fmt::Debug for CaPem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The key stays out of logs.
        f.debug_struct("CaPem").finish_non_exhaustive()
    }
}

impl CaPem {
    /// A new Communications Server CA, valid from a day before `now` (Unix seconds): an
    /// RSA-2048 key, about 0.1 s of CPU.
    pub fn communications_server(now: i64) -> anyhow::Result<CaPem> {
        let ca = lyncsim_pki::Authority::generate(
            lyncsim_pki::AuthorityKind::CommunicationsServer,
            now,
            1,
        )?;
        Ok(CaPem {
            cert: ca.cert_pem(),
            key: ca.key_pem(),
        })
    }
}

impl Default for ServiceConfig {
    fn default() -> Self {
        ServiceConfig {
            tenant: Tenant::contoso(),
            state_dir: None,
            network: None,
            tolerance_secs: DEFAULT_TOLERANCE_SECS,
            personal_validity_secs: lyncsim_pki::DEFAULT_PERSONAL_VALIDITY_SECS,
            communications_server: None,
            admin_token: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn built_in_tenant_parses() {
        let t = Tenant::contoso();
        assert_eq!(t.domain, "contoso.com");
        assert!(t.users.iter().any(|u| u.address == "alice@contoso.com"));
    }

    #[test]
    fn bad_tenants_are_refused_with_a_reason() {
        let err = Tenant::from_toml("domain = \"contoso.com\"\n[[users]]\naddress = \"alice@fabrikam.com\"\npassword = \"x\"\n")
            .unwrap_err();
        assert!(format!("{err:#}").contains("name@contoso.com"), "{err:#}");
        let err = Tenant::from_toml("domain = \"contoso.com\"\n[[users]]\naddress = \"a@contoso.com\"\npassword = \"x\"\nhome_pool = \"pool-z\"\n")
            .unwrap_err();
        assert!(format!("{err:#}").contains("pool-z"), "{err:#}");
        assert!(Tenant::from_toml("domain = \"contoso.com\"\nsurprise = 1\n").is_err());
    }

    #[test]
    fn addresses_and_passwords_are_checked() {
        let ok = |a: &str| check_address(a, "contoso.com").is_ok();
        assert!(ok("alice@contoso.com"));
        assert!(ok("Jean-Luc.Picard+lync_2%x@CONTOSO.com"));
        for bad in [
            "alice",
            "@contoso.com",
            "alice@fabrikam.com",
            "al\0ice@contoso.com",
            "al\nice@contoso.com",
            "../../etc@contoso.com",
            "a/b@contoso.com",
            ".alice@contoso.com",
            "alice.@contoso.com",
            "al..ice@contoso.com",
            "al ice@contoso.com",
            "élise@contoso.com",
        ] {
            assert!(!ok(bad), "{bad:?} was accepted");
        }
        let long = format!("{}@contoso.com", "a".repeat(1 << 20));
        let err = check_address(&long, "contoso.com").unwrap_err().to_string();
        assert!(err.contains("longer than 254") && err.len() < 300, "{err}");
        assert!(!ok(&format!("{}@contoso.com", "a".repeat(65))));
        assert!(ok(&format!("{}@contoso.com", "a".repeat(64))));
        assert!(check_password("Winter2011!").is_ok());
        assert!(check_password("").is_err());
        assert!(check_password("a\nb").is_err());
        assert!(check_password(&"p".repeat(257)).is_err());
    }
}
