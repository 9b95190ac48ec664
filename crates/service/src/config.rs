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
}

/// One user of the tenant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TenantUser {
    /// Sign-in and SIP address.
    pub address: String,
    /// Password.
    pub password: String,
    /// `pool-a` or `pool-b`.
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
            crate::hosts::pool_name(&u.home_pool)?;
        }
        Ok(())
    }
}

/// Checks that `address` is `name@domain`.
pub(crate) fn check_address(address: &str, domain: &str) -> anyhow::Result<()> {
    match address.split_once('@') {
        Some((name, d)) if !name.is_empty() && d.eq_ignore_ascii_case(domain) => Ok(()),
        _ => bail!("user address {address:?} is not of the form name@{domain}"),
    }
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
}

impl Default for ServiceConfig {
    fn default() -> Self {
        ServiceConfig {
            tenant: Tenant::contoso(),
            state_dir: None,
            network: None,
            tolerance_secs: DEFAULT_TOLERANCE_SECS,
            personal_validity_secs: lyncsim_pki::DEFAULT_PERSONAL_VALIDITY_SECS,
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
}
