//! The service's network at run time: which host listens on which address, the A records the
//! DNS server gives out, and the hosts that are in an outage. Faults change these; the
//! listeners, the DNS server and the outage middleware read them.

use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex};

use anyhow::Context;
use axum::Router;
use axum::body::Body;
use axum::extract::{Extension, Request, State as AxState};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use hickory_proto::rr::rdata::A;
use hickory_proto::rr::{LowerName, Name, RData, Record, RecordType, RrKey};
use hickory_server::store::in_memory::InMemoryZoneHandler;
use lyncsim_wire::{OutageMode, Outcome, Problem};
use rustls::ServerConfig;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::NetworkLayout;
use crate::dns::HOST_TTL_SECS;
use crate::endpoints::ApiError;
use crate::hosts::{ConnInfo, serve_tls};
use crate::state::State;

/// Which hosts are in an outage, and how.
#[derive(Debug, Default)]
pub(crate) struct Outages(Mutex<HashMap<String, OutageMode>>);

impl Outages {
    pub(crate) fn mode(&self, host: &str) -> Option<OutageMode> {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(host)
            .copied()
    }

    fn set(&self, host: &str, mode: Option<OutageMode>) {
        let mut map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        match mode {
            Some(m) => map.insert(host.to_owned(), m),
            None => map.remove(host),
        };
    }
}

/// What the outage middleware needs.
#[derive(Clone)]
pub(crate) struct OutageGuard {
    pub(crate) outages: Arc<Outages>,
    pub(crate) state: Arc<State>,
}

/// 503 for every request, or the real response cut off half way through its body.
pub(crate) async fn outage_middleware(
    AxState(guard): AxState<OutageGuard>,
    Extension(conn): Extension<ConnInfo>,
    req: Request,
    next: Next,
) -> Response {
    let endpoint = req
        .uri()
        .path()
        .rsplit('/')
        .next()
        .unwrap_or_default()
        .to_owned();
    match guard.outages.mode(&conn.host) {
        Some(OutageMode::Unavailable) => {
            guard.state.journal.record(
                &conn.host,
                &endpoint,
                None,
                Outcome::Rejected,
                "outage: 503",
            );
            ApiError(Problem::unavailable(format!(
                "{} is in an outage",
                conn.host
            )))
            .into_response()
        }
        Some(OutageMode::CutOff) => {
            let response = next.run(req).await;
            guard.state.journal.record(
                &conn.host,
                &endpoint,
                None,
                Outcome::Rejected,
                "outage: response cut off",
            );
            cut_off(response).await
        }
        _ => next.run(req).await,
    }
}

/// Sends the response's headers, with its full length, and half of its body; then the
/// connection breaks.
async fn cut_off(response: Response) -> Response {
    let (mut parts, body) = response.into_parts();
    let bytes = axum::body::to_bytes(body, 1 << 20)
        .await
        .unwrap_or_default();
    let half = bytes.slice(..bytes.len() / 2);
    parts
        .headers
        .insert(axum::http::header::CONTENT_LENGTH, bytes.len().into());
    let chunks: Vec<Result<axum::body::Bytes, std::io::Error>> = vec![
        Ok(half),
        Err(std::io::Error::new(
            std::io::ErrorKind::ConnectionAborted,
            "outage: cut off",
        )),
    ];
    Response::from_parts(parts, Body::from_stream(futures_util::stream::iter(chunks)))
}

struct Listening {
    host: String,
    stop: CancellationToken,
    /// The accept loop: it owns the socket, so the address is free once it has ended.
    task: tokio::task::JoinHandle<()>,
}

/// What serves one host name.
pub(crate) struct HostService {
    pub(crate) tls: Arc<ServerConfig>,
    pub(crate) router: Router,
}

pub(crate) struct Network {
    pub(crate) layout: NetworkLayout,
    services: HashMap<String, HostService>,
    listeners: Mutex<BTreeMap<IpAddr, Listening>>,
    addresses: Mutex<BTreeMap<String, IpAddr>>,
    zones: Vec<(String, Arc<InMemoryZoneHandler>)>,
    pub(crate) outages: Arc<Outages>,
    next_octet: AtomicU8,
    shutdown: CancellationToken,
    tracker: TaskTracker,
}

impl Network {
    pub(crate) fn new(
        layout: NetworkLayout,
        services: HashMap<String, HostService>,
        zones: Vec<(String, Arc<InMemoryZoneHandler>)>,
        outages: Arc<Outages>,
        shutdown: CancellationToken,
        tracker: TaskTracker,
    ) -> Network {
        Network {
            layout,
            services,
            listeners: Mutex::new(BTreeMap::new()),
            addresses: Mutex::new(BTreeMap::new()),
            zones,
            outages,
            next_octet: AtomicU8::new(30),
            shutdown,
            tracker,
        }
    }

    /// Serves `host` on a listener already bound at `ip`.
    pub(crate) fn serve(
        &self,
        ip: IpAddr,
        host: &str,
        listener: TcpListener,
    ) -> anyhow::Result<()> {
        let service = self
            .services
            .get(host)
            .with_context(|| format!("no such host {host}"))?;
        let stop = self.shutdown.child_token();
        let task = self.tracker.spawn(serve_tls(
            listener,
            service.tls.clone(),
            service.router.clone(),
            host.to_owned(),
            stop.clone(),
            self.tracker.clone(),
            self.outages.clone(),
        ));
        let mut listeners = self.listeners.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(old) = listeners.insert(
            ip,
            Listening {
                host: host.to_owned(),
                stop,
                task,
            },
        ) {
            old.stop.cancel();
        }
        self.addresses
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(host.to_owned())
            .or_insert(ip);
        Ok(())
    }

    /// Binds `ip` on the HTTPS port and serves `host` there.
    pub(crate) async fn listen(&self, ip: IpAddr, host: &str) -> anyhow::Result<()> {
        let listener = TcpListener::bind(SocketAddr::new(ip, self.layout.https_port))
            .await
            .with_context(|| format!("binding {ip}:{} for {host}", self.layout.https_port))?;
        self.serve(ip, host, listener)
    }

    /// Stops listening on `ip` and returns once the socket is closed: connections there are
    /// refused from now on, and the address can be bound again.
    pub(crate) async fn close(&self, ip: IpAddr) {
        let old = self
            .listeners
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&ip);
        if let Some(old) = old {
            old.stop.cancel();
            let _ = old.task.await;
        }
    }

    /// The address DNS gives for `host`.
    pub(crate) fn address(&self, host: &str) -> Option<IpAddr> {
        self.addresses
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(host)
            .copied()
    }

    /// Every HTTPS host name.
    pub(crate) fn hosts(&self) -> Vec<String> {
        let mut hosts: Vec<String> = self.services.keys().cloned().collect();
        hosts.sort();
        hosts
    }

    /// The addresses at which `host` is served now.
    pub(crate) fn served_at(&self, host: &str) -> Vec<IpAddr> {
        self.listeners
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .filter(|(_, l)| l.host == host)
            .map(|(ip, _)| *ip)
            .collect()
    }

    /// Runs a task that the service's shutdown waits for.
    pub(crate) fn spawn(&self, task: impl std::future::Future<Output = ()> + Send + 'static) {
        self.tracker.spawn(task);
    }

    /// An address of the service's /24 that no host uses yet.
    pub(crate) fn fresh_address(&self) -> IpAddr {
        self.layout
            .ip(self.next_octet.fetch_add(1, Ordering::Relaxed))
    }

    /// Points `host`'s A record at `ip`.
    pub(crate) async fn set_address(&self, host: &str, ip: IpAddr) -> anyhow::Result<()> {
        let IpAddr::V4(v4) = ip else {
            anyhow::bail!("{ip} is not IPv4")
        };
        let mut name = Name::from_ascii(host)?;
        name.set_fqdn(true);
        let zone = self
            .zones
            .iter()
            .filter(|(origin, _)| host.ends_with(origin.as_str()))
            .max_by_key(|(origin, _)| origin.len())
            .map(|(_, z)| z.clone())
            .with_context(|| format!("{host} is in no zone"))?;
        zone.records_mut()
            .await
            .remove(&RrKey::new(LowerName::from(name.clone()), RecordType::A));
        let serial = zone.serial().await + 1;
        zone.upsert(
            Record::from_rdata(name, HOST_TTL_SECS, RData::A(A(v4))),
            serial,
        )
        .await;
        self.addresses
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(host.to_owned(), ip);
        Ok(())
    }

    /// Puts `host` in an outage, or ends it (`None`). Refusal closes its listeners; the end of
    /// a refusal opens them again at its address.
    pub(crate) async fn set_outage(
        &self,
        host: &str,
        mode: Option<OutageMode>,
    ) -> anyhow::Result<()> {
        let before = self.outages.mode(host);
        self.outages.set(host, mode);
        if mode == Some(OutageMode::Refuse) {
            for ip in self.served_at(host) {
                self.close(ip).await;
            }
        } else if before == Some(OutageMode::Refuse)
            && let Some(ip) = self.address(host)
        {
            self.listen(ip, host).await?;
        }
        Ok(())
    }
}
