//! Where the service listens: a /24 of loopback addresses, one per HTTPS host, all on one
//! port (Autodiscover's host also on a plain-HTTP port); the DNS server and the admin API on
//! 127.0.0.1.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use anyhow::bail;
use serde::{Deserialize, Serialize};

/// Refuses any address outside 127.0.0.0/8 (or ::1): the service never listens off loopback.
pub fn require_loopback(addr: IpAddr) -> anyhow::Result<()> {
    if addr.is_loopback() {
        Ok(())
    } else {
        bail!("refusing to listen on {addr}: lyncsim only ever listens on loopback (127.0.0.0/8)")
    }
}

/// The addresses and ports of one service instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkLayout {
    /// The first three octets of the /24 (`[127, 42, 7]`).
    pub subnet: [u8; 3],
    /// The HTTPS port every host shares; 0 picks a free one.
    pub https_port: u16,
    /// The plain-HTTP port of Autodiscover (`http://lyncdiscover.<tenant>/`); 0 picks a free
    /// one. Absent from a layout saved before it existed, which then picks one.
    #[serde(default)]
    pub http_port: u16,
    /// The DNS port (UDP and TCP); 0 picks a free one.
    pub dns_port: u16,
    /// The admin API's port; 0 picks a free one.
    pub admin_port: u16,
}

impl NetworkLayout {
    /// A random /24 in 127.0.0.0/8 (never 127.0.0.x) with every port left to the kernel.
    pub fn random() -> NetworkLayout {
        let [a, b]: [u8; 2] = rand::random();
        NetworkLayout {
            subnet: [127, a.max(1), b.max(1)],
            https_port: 0,
            http_port: 0,
            dns_port: 0,
            admin_port: 0,
        }
    }

    /// The address `.host` in the subnet.
    pub fn ip(&self, host: u8) -> IpAddr {
        let [a, b, c] = self.subnet;
        IpAddr::V4(Ipv4Addr::new(a, b, c, host))
    }

    /// The DNS server's address: 127.0.0.1, so that `dig @127.0.0.1 -p PORT` finds it.
    pub fn dns_addr(&self) -> SocketAddr {
        SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), self.dns_port)
    }

    /// The admin API's address, on 127.0.0.1 beside the DNS server.
    pub fn admin_addr(&self) -> SocketAddr {
        SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), self.admin_port)
    }

    /// Checks that the subnet is on loopback.
    pub fn check(&self) -> anyhow::Result<()> {
        require_loopback(self.ip(1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_is_accepted() {
        assert!(require_loopback("127.3.4.5".parse().unwrap()).is_ok());
        assert!(require_loopback("::1".parse().unwrap()).is_ok());
        let err = require_loopback("10.0.0.1".parse().unwrap()).unwrap_err();
        assert!(err.to_string().contains("only ever listens on loopback"));
        let bad = NetworkLayout {
            subnet: [192, 168, 1],
            https_port: 0,
            http_port: 0,
            dns_port: 0,
            admin_port: 0,
        };
        assert!(bad.check().is_err());
        assert!(NetworkLayout::random().check().is_ok());
    }
}
