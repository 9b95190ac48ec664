//! The service's network at run time: which host listens on which address and the A records
//! the DNS server gives out. Faults change these (and the outage table of [`crate::outage`]);
//! the listeners and the DNS server read them.

use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};

use anyhow::Context;
use hickory_proto::rr::rdata::A;
use hickory_proto::rr::{LowerName, Name, RData, Record, RecordType, RrKey};
use hickory_server::store::in_memory::InMemoryZoneHandler;
use lyncsim_wire::admin::OutageMode;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::NetworkLayout;
use crate::capacity::Capacity;
use crate::conn::MAX_HOST_CONNECTIONS;
use crate::dns::HOST_TTL_SECS;
use crate::listener::{HostService, Transport, serve_host};
use crate::outage::Outages;

/// The first address of the /24 that no host has at start (hosts use .10 to .22).
const FIRST_SPARE_OCTET: u8 = 30;

struct Listening {
    host: String,
    stop: CancellationToken,
    /// The accept loops (HTTPS, and plain HTTP where the host has it): each owns its socket,
    /// so the address is free once they have ended.
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

pub(crate) struct Network {
    pub(crate) layout: NetworkLayout,
    services: HashMap<String, HostService>,
    listeners: Mutex<BTreeMap<IpAddr, Listening>>,
    addresses: Mutex<BTreeMap<String, IpAddr>>,
    zones: Vec<(String, Arc<InMemoryZoneHandler>)>,
    pub(crate) outages: Arc<Outages>,
    /// The open connections of every host, together.
    capacity: Capacity,
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
            capacity: Capacity::new(MAX_HOST_CONNECTIONS),
            shutdown,
            tracker,
        }
    }

    /// Serves `host` on listeners already bound at `ip`: HTTPS, and plain HTTP when given.
    pub(crate) fn serve(
        &self,
        ip: IpAddr,
        host: &str,
        https: TcpListener,
        plain: Option<TcpListener>,
    ) -> anyhow::Result<()> {
        let service = self
            .services
            .get(host)
            .with_context(|| format!("no such host {host}"))?;
        let stop = self.shutdown.child_token();
        let mut tasks = Vec::new();
        for (listener, transport) in
            std::iter::once((https, Transport::Tls)).chain(plain.map(|p| (p, Transport::Plain)))
        {
            tasks.push(self.tracker.spawn(serve_host(
                listener,
                service.clone(),
                transport,
                host.to_owned(),
                self.layout.https_port,
                self.capacity.clone(),
                stop.clone(),
                self.tracker.clone(),
                self.outages.clone(),
            )));
        }
        let mut listeners = self.listeners.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(old) = listeners.insert(
            ip,
            Listening {
                host: host.to_owned(),
                stop,
                tasks,
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

    /// Binds `ip` on the HTTPS port (and the plain-HTTP port, for a host that has it) and
    /// serves `host` there.
    pub(crate) async fn listen(&self, ip: IpAddr, host: &str) -> anyhow::Result<()> {
        let https = bind_again(SocketAddr::new(ip, self.layout.https_port), host).await?;
        let plain = match self.services.get(host) {
            Some(s) if s.plain_router.is_some() => {
                Some(bind_again(SocketAddr::new(ip, self.layout.http_port), host).await?)
            }
            _ => None,
        };
        self.serve(ip, host, https, plain)
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
            for task in old.tasks {
                let _ = task.await;
            }
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

    /// The lowest address of the service's /24, from `.30` up, that nothing listens on and no
    /// DNS record names: addresses freed by undone faults are used again, so any number of
    /// changes and undos can follow one another.
    pub(crate) fn fresh_address(&self) -> anyhow::Result<IpAddr> {
        let listeners = self.listeners.lock().unwrap_or_else(|p| p.into_inner());
        let addresses = self.addresses.lock().unwrap_or_else(|p| p.into_inner());
        (FIRST_SPARE_OCTET..=254)
            .map(|octet| self.layout.ip(octet))
            .find(|ip| !listeners.contains_key(ip) && !addresses.values().any(|a| a == ip))
            .with_context(|| {
                format!(
                    "every address of the service's /24 from .{FIRST_SPARE_OCTET} to .254 is in use; remove a change-dns fault first"
                )
            })
    }

    /// Points `host`'s A record at `ip`.
    pub(crate) async fn set_address(&self, host: &str, ip: IpAddr) -> anyhow::Result<()> {
        let IpAddr::V4(v4) = ip else {
            anyhow::bail!("{ip} is not IPv4")
        };
        let mut name = Name::from_ascii(host)?;
        name.set_fqdn(true);
        let zone = crate::dns::zone_for(&self.zones, host)
            .cloned()
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

/// Binds `addr` for `host`. An address that was closed a moment ago can still be held by the
/// kernel for a little while (seen rarely, under load, when a pool's address is handed back and
/// forth), so "in use" is tried again for up to a second before it is an error.
async fn bind_again(addr: SocketAddr, host: &str) -> anyhow::Result<TcpListener> {
    let mut attempts = 0;
    let listener = loop {
        match TcpListener::bind(addr).await {
            Ok(listener) => break listener,
            Err(e) if e.kind() == std::io::ErrorKind::AddrInUse && attempts < 40 => {
                attempts += 1;
                tokio::time::sleep(std::time::Duration::from_millis(25)).await;
            }
            Err(e) => {
                return Err(e).with_context(|| format!("binding {addr} for {host}"));
            }
        }
    };
    if attempts > 0 {
        tracing::info!(%addr, host, "bound after {attempts} retries: the address was still in use");
    }
    Ok(listener)
}
