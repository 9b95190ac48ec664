//! The HTTPS hosts: which names exist, where they listen, their certificates by SNI, and the
//! TLS accept loop that hands each connection to the host's router, or to its SIP registrar
//! when the connection speaks SIP.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;

use axum::Router;
use rustls::ServerConfig;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::NetworkLayout;
use crate::conn::{ConnInfo, LIMITS, Prefixed, accept_loop, serve_http};
use crate::outage::Outages;
use crate::pools::{POOLS, pool_fqdn};
use crate::registrar::{Registrar, first_line, serve_sip};

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
    /// Other names on the same server certificate.
    pub(crate) aliases: Vec<String>,
    pub(crate) ip: IpAddr,
    pub(crate) role: Role,
}

/// Every host of a service on `layout` for the tenant `domain`.
pub(crate) fn host_defs(domain: &str, layout: &NetworkLayout) -> Vec<HostDef> {
    let mut hosts = vec![
        HostDef {
            fqdn: "webdir.online.lync.com".into(),
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
            fqdn: "sipdir.online.lync.com".into(),
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

/// Chooses the server certificate by SNI among every host's.
#[derive(Debug, Default)]
pub(crate) struct SniCerts(HashMap<String, Arc<CertifiedKey>>);

impl SniCerts {
    pub(crate) fn insert(
        &mut self,
        names: impl IntoIterator<Item = String>,
        key: Arc<CertifiedKey>,
    ) {
        for n in names {
            self.0.insert(n.to_ascii_lowercase(), key.clone());
        }
    }
}

impl ResolvesServerCert for SniCerts {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        self.0
            .get(&hello.server_name()?.to_ascii_lowercase())
            .cloned()
    }
}

/// What serves one host name.
#[derive(Clone)]
pub(crate) struct HostService {
    pub(crate) tls: Arc<ServerConfig>,
    pub(crate) router: Router,
    /// Whether the host also answers plain HTTP (Autodiscover, as the real one did).
    pub(crate) plain_http: bool,
    /// The SIP registrar of the director and the pools, on the same TLS port.
    pub(crate) registrar: Option<Arc<Registrar>>,
}

/// How a listener of a host speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Transport {
    /// HTTPS, with the host's certificate.
    Tls,
    /// Plain HTTP.
    Plain,
}

/// Accepts connections for `host` on `listener` until `stop`, serving each with its router
/// within the limits of [`crate::conn`], over TLS or plain. In a `reset` outage each connection
/// is reset as soon as it is accepted. `https_port` is where the host's HTTPS is, for the
/// addresses its documents give.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn serve_host(
    listener: TcpListener,
    service: HostService,
    transport: Transport,
    host: String,
    https_port: u16,
    permits: Arc<Semaphore>,
    stop: CancellationToken,
    tracker: TaskTracker,
    outages: Arc<Outages>,
) {
    let HostService {
        tls,
        router,
        registrar,
        ..
    } = service;
    let acceptor = TlsAcceptor::from(tls);
    let conn_stop = stop.clone();
    let name = host.clone();
    accept_loop(listener, &name, permits, stop, move |(tcp, peer), permit| {
        if outages.resets(&host) {
            // Close with a reset: the client sees "connection reset".
            let _ = tcp.set_zero_linger();
            return;
        }
        let (acceptor, router, host, stop, registrar) = (
            acceptor.clone(),
            router.clone(),
            host.clone(),
            conn_stop.clone(),
            registrar.clone(),
        );
        if transport == Transport::Plain {
            let info = ConnInfo { host, https_port };
            tracker.spawn(async move {
                let _permit = permit;
                serve_http(tcp, router, Some(info), LIMITS, stop).await;
            });
            return;
        }
        tracker.spawn(async move {
            let _permit = permit;
            let tls = match tokio::time::timeout(LIMITS.handshake, acceptor.accept(tcp)).await {
                Ok(Ok(tls)) => tls,
                Ok(Err(e)) => {
                    tracing::debug!(%host, %peer, "TLS handshake failed: {e}");
                    return;
                }
                Err(_) => {
                    tracing::debug!(%host, %peer, "TLS handshake not done within {}s", LIMITS.handshake.as_secs());
                    return;
                }
            };
            let info = ConnInfo { host, https_port };
            let Some(registrar) = registrar else {
                serve_http(tls, router, Some(info), LIMITS, stop).await;
                return;
            };
            // SIP and HTTPS share the port, as on Lync Online's 443: the first line tells.
            let mut tls = tls;
            let began = tokio::time::Instant::now();
            match first_line(&mut tls, 4096, LIMITS.header).await {
                Ok((true, read)) => {
                    serve_sip(tls, (read, began), registrar, info, LIMITS, stop).await;
                }
                Ok((false, read)) => {
                    serve_http(Prefixed::new(read, tls), router, Some(info), LIMITS, stop).await;
                }
                Err(e) => tracing::debug!(%peer, "connection failed before its first line: {e}"),
            }
        });
    })
    .await;
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
