//! The HTTPS hosts: which names exist, where they listen, and the TLS accept loop that hands
//! each request to the host's router with what the handshake learned (the client certificate).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::bail;
use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use rustls::ServerConfig;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls_pki_types::CertificateDer;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::ServiceExt;

use crate::NetworkLayout;

/// The pools a user can be homed on.
pub(crate) const POOLS: [&str; 2] = ["pool-a", "pool-b"];

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

/// The full host name of a pool given as `pool-a` or `pool-a.online.lync.com`.
pub(crate) fn pool_fqdn(short: &str) -> String {
    format!(
        "{}.online.lync.com",
        short.trim_end_matches(".online.lync.com")
    )
}

/// The short name of a pool (`pool-a`), or an error naming the pools that exist.
pub(crate) fn pool_name(given: &str) -> anyhow::Result<&'static str> {
    let short = given
        .trim_end_matches(".online.lync.com")
        .to_ascii_lowercase();
    match POOLS.iter().find(|p| **p == short) {
        Some(p) => Ok(p),
        None => bail!("unknown pool {given:?}; the pools are {}", POOLS.join(", ")),
    }
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

/// What a request's connection knows about its peer.
#[derive(Debug, Clone)]
pub(crate) struct ConnInfo {
    /// The host name whose listener accepted the connection.
    pub(crate) host: String,
    /// The client certificate that the TLS handshake verified, if one was sent.
    pub(crate) peer_cert: Option<CertificateDer<'static>>,
}

/// How long a TLS handshake may take before the connection is dropped.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Accepts TLS connections on `listener` until `shutdown`, serving each with `router`.
pub(crate) async fn serve_tls(
    listener: TcpListener,
    tls: Arc<ServerConfig>,
    router: Router,
    host: String,
    shutdown: CancellationToken,
    tracker: TaskTracker,
    outages: Arc<crate::network::Outages>,
) {
    let acceptor = TlsAcceptor::from(tls);
    loop {
        let (tcp, peer) = tokio::select! {
            _ = shutdown.cancelled() => return,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    tracing::warn!(%host, "accept failed: {e}");
                    continue;
                }
            },
        };
        if outages.mode(&host) == Some(lyncsim_wire::OutageMode::Reset) {
            // Accept, then close with a reset: the client sees "connection reset".
            let _ = tcp.set_zero_linger();
            drop(tcp);
            continue;
        }
        let (acceptor, router, host, shutdown) = (
            acceptor.clone(),
            router.clone(),
            host.clone(),
            shutdown.clone(),
        );
        tracker.spawn(async move {
            let tls = match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                Ok(Ok(tls)) => tls,
                Ok(Err(e)) => {
                    tracing::debug!(%host, %peer, "TLS handshake failed: {e}");
                    return;
                }
                Err(_) => return,
            };
            let info = ConnInfo {
                host,
                peer_cert: tls
                    .get_ref()
                    .1
                    .peer_certificates()
                    .and_then(|c| c.first())
                    .map(|c| c.clone().into_owned()),
            };
            let service = router.map_request(move |mut req: hyper::Request<Incoming>| {
                req.extensions_mut().insert(info.clone());
                req
            });
            let conn = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(tls), TowerToHyperService::new(service));
            tokio::pin!(conn);
            tokio::select! {
                _ = conn.as_mut() => {}
                _ = shutdown.cancelled() => {
                    conn.as_mut().graceful_shutdown();
                    let _ = tokio::time::timeout(Duration::from_secs(5), conn).await;
                }
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pools_are_named_short_or_long() {
        assert_eq!(pool_name("pool-b").unwrap(), "pool-b");
        assert_eq!(pool_name("POOL-A.online.lync.com").unwrap(), "pool-a");
        assert!(
            pool_name("pool-c")
                .unwrap_err()
                .to_string()
                .contains("pool-a, pool-b")
        );
        assert_eq!(pool_fqdn("pool-a"), "pool-a.online.lync.com");
        assert_eq!(
            pool_fqdn("pool-a.online.lync.com"),
            "pool-a.online.lync.com"
        );
    }

    #[test]
    fn every_host_has_its_own_address() {
        let layout = NetworkLayout {
            subnet: [127, 9, 9],
            https_port: 1,
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
