//! The HTTPS hosts: which names exist, what each does, and the address each listens on.

use std::net::IpAddr;

use crate::NetworkLayout;
use crate::pools::{POOLS, pool_fqdn};

/// Autodiscover's server name (`lyncdiscover.<tenant>` is a CNAME to it).
pub(crate) const WEBDIR: &str = "webdir.online.lync.com";

/// The director's name.
pub(crate) const DIRECTOR: &str = "sipdir.online.lync.com";

/// What a host does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Role {
    /// Autodiscover (`webdir.online.lync.com`, also answering as `lyncdiscover.<tenant>`).
    Webdir,
    /// The Azure AD / Org ID security token service.
    Sts,
    /// The director that Lync 2010 finds by SRV.
    Director,
    /// A front-end pool: certificate provisioning and the registrar.
    Pool(&'static str),
}

/// One host name the service serves.
#[derive(Debug, Clone)]
pub(crate) struct HostDef {
    pub(crate) fqdn: String,
    /// Other names that lead to it in DNS (CNAMEs). Its certificate names them only where the
    /// tenant says so ([`crate::Tenant::own_lyncdiscover_certificate`]).
    pub(crate) aliases: Vec<String>,
    pub(crate) ip: IpAddr,
    pub(crate) role: Role,
}

/// Every host of a service on `layout` for the tenant `domain`.
pub(crate) fn host_defs(domain: &str, layout: &NetworkLayout) -> Vec<HostDef> {
    let mut hosts = vec![
        HostDef {
            fqdn: WEBDIR.into(),
            aliases: vec![format!("lyncdiscover.{domain}")],
            ip: layout.ip(10),
            role: Role::Webdir,
        },
        HostDef {
            fqdn: "login.microsoftonline.com".into(),
            aliases: vec![],
            ip: layout.ip(11),
            role: Role::Sts,
        },
        HostDef {
            fqdn: DIRECTOR.into(),
            aliases: vec![],
            ip: layout.ip(12),
            role: Role::Director,
        },
    ];
    for (i, pool) in POOLS.iter().enumerate() {
        hosts.push(HostDef {
            fqdn: pool_fqdn(pool),
            aliases: vec![],
            ip: layout.ip(20 + i as u8),
            role: Role::Pool(pool),
        });
    }
    hosts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_host_has_its_own_address() {
        let layout = NetworkLayout {
            subnet: [127, 9, 9],
            https_port: 1,
            http_port: 4,
            dns_port: 2,
            admin_port: 3,
        };
        let hosts = host_defs("contoso.com", &layout);
        let mut ips: Vec<_> = hosts.iter().map(|h| h.ip).collect();
        ips.sort();
        ips.dedup();
        assert_eq!(ips.len(), hosts.len());
        assert!(hosts.iter().all(|h| h.ip.is_loopback()));
    }
}
