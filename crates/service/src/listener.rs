//! A host's listener: the TLS accept loop that hands each
//! connection to the host's router, or to its SIP registrar when the connection speaks SIP.

use std::sync::Arc;

use axum::Router;
use rustls::ServerConfig;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::capacity::{Admission, Capacity};
use crate::conn::{ConnInfo, LIMITS, Prefixed, accept_loop, first_line, refuse_busy, serve_http};
use crate::outage::Outages;
use crate::registrar::{Registrar, serve_sip};

/// A host's one server certificate, whatever name the client's SNI asked for: a server with
/// one certificate bound to its address and port, as Microsoft's were. A client that came by
/// another name (`lyncdiscover.<tenant>`, a CNAME to webdir) gets the host's certificate and
/// judges its names itself.
#[derive(Debug)]
pub(crate) struct OneCert(pub(crate) Arc<CertifiedKey>);

impl ResolvesServerCert for OneCert {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.0.clone())
    }
}

/// What serves one host name.
#[derive(Clone)]
pub(crate) struct HostService {
    pub(crate) tls: Arc<ServerConfig>,
    pub(crate) router: Router,
    /// What the host answers over plain HTTP, when it does (webdir: Autodiscover's root and
    /// Domain resource, as the real one did; [`crate::endpoints::plain_router`]).
    pub(crate) plain_router: Option<Router>,
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

/// One TLS connection: the handshake within its limit, then HTTPS, or SIP when the host has a
/// registrar and the first line says so; without a place (`admitted` is `None`), 503 in the
/// protocol the first line speaks.
async fn serve_tls(
    tcp: tokio::net::TcpStream,
    (peer, admitted): (std::net::SocketAddr, Option<Admission>),
    acceptor: TlsAcceptor,
    (router, registrar): (Router, Option<Arc<Registrar>>),
    info: ConnInfo,
    stop: CancellationToken,
) {
    let host = &info.host;
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
    let Some(_admission) = admitted else {
        let tag = registrar.is_some().then_some("busy");
        refuse_busy(tls, tag).await;
        return;
    };
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
    capacity: Capacity,
    stop: CancellationToken,
    tracker: TaskTracker,
    outages: Arc<Outages>,
) {
    let HostService {
        tls,
        router,
        registrar,
        plain_router,
    } = service;
    let router = match (transport, plain_router) {
        (Transport::Plain, Some(plain)) => plain,
        _ => router,
    };
    let acceptor = TlsAcceptor::from(tls);
    let conn_stop = stop.clone();
    let name = host.clone();
    accept_loop(
        listener,
        &name,
        capacity.held.clone(),
        stop,
        move |(tcp, peer), permit| {
            if outages.resets(&host) {
                // Close with a reset: the client sees "connection reset".
                let _ = tcp.set_zero_linger();
                return;
            }
            let (acceptor, router, stop, registrar, capacity) = (
                acceptor.clone(),
                router.clone(),
                conn_stop.clone(),
                registrar.clone(),
                capacity.clone(),
            );
            let info = ConnInfo {
                host: host.clone(),
                https_port,
                secure: transport == Transport::Tls,
            };
            tracker.spawn(async move {
                let _held = permit;
                let admitted = capacity.admit(peer.ip()).await;
                match (transport, admitted) {
                    (Transport::Plain, Some(_admission)) => {
                        serve_http(tcp, router, Some(info), LIMITS, stop).await;
                    }
                    (Transport::Plain, None) => refuse_busy(tcp, None).await,
                    (Transport::Tls, admitted) => {
                        let routes = (router, registrar);
                        serve_tls(tcp, (peer, admitted), acceptor, routes, info, stop).await;
                    }
                }
            });
        },
    )
    .await;
}
