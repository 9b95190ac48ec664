//! Starting and stopping a service instance: binding every socket on loopback, building the
//! TLS identities and the DNS catalog, and spawning the tasks that serve them.

use std::collections::{BTreeMap, HashMap};
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use lyncsim_wire::admin::ServiceInfo;
use rustls::ServerConfig;
use rustls::crypto::CryptoProvider;
use rustls::sign::CertifiedKey;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::net::{TcpListener, UdpSocket};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::admin::Admin;
use crate::clock::ServiceClock;
use crate::conn::{MAX_ADMIN_CONNECTIONS, serve_plain};
use crate::dns::HostRecord;
use crate::faults::Faults;
use crate::hosts::{HostDef, Role, host_defs};
use crate::listener::{HostService, OneCert};
use crate::network::Network;
use crate::outage::{OutageGuard, Outages};
use crate::registrar::Registrar;
use crate::state::State;
use crate::{NetworkLayout, ServiceConfig};

/// How many times a free port or subnet is looked for before giving up.
const BIND_ATTEMPTS: usize = 16;

/// The mock service. Start it with [`Service::start`].
#[derive(Debug)]
pub struct Service;

/// A running service. Dropping it stops the service; [`RunningService::shutdown`] also waits
/// for every connection to drain.
#[derive(Debug)]
pub struct RunningService {
    info: ServiceInfo,
    shutdown: CancellationToken,
    tracker: TaskTracker,
}

struct Bound {
    layout: NetworkLayout,
    /// Each host's HTTPS listener, and its plain-HTTP one (Autodiscover's host).
    https: Vec<(HostDef, TcpListener, Option<TcpListener>)>,
    dns_udp: UdpSocket,
    dns_tcp: TcpListener,
    admin: TcpListener,
}

/// A socket that could not be bound: which, where, and whether another try elsewhere could
/// succeed (its port, or its address, was lyncsim's own choice).
#[derive(Debug)]
struct BindError {
    what: String,
    addr: SocketAddr,
    error: io::Error,
    chosen: bool,
}

impl std::fmt::Display for BindError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let hint = if self.error.kind() == io::ErrorKind::AddrInUse {
            ": another program listens there; stop it, or choose another port"
        } else {
            ""
        };
        write!(
            f,
            "cannot listen on {} for {}: {}{hint}",
            self.addr, self.what, self.error
        )
    }
}

impl std::error::Error for BindError {}

/// Binds every host on `layout.https_port` (a free one when 0), the DNS server on UDP and TCP
/// on one port, and the admin API. `fixed_subnet` says whether the subnet was given.
async fn bind(
    domain: &str,
    mut layout: NetworkLayout,
    fixed_subnet: bool,
) -> Result<Bound, BindError> {
    let wanted = layout;
    let fail = |what: &str, addr: SocketAddr, chosen: bool| {
        let what = what.to_owned();
        move |error: io::Error| BindError {
            what,
            addr,
            error,
            chosen,
        }
    };
    let hosts = host_defs(domain, &layout);
    let mut https = Vec::new();
    for host in hosts {
        let addr = SocketAddr::new(host.ip, layout.https_port);
        // A host's address is lyncsim's choice unless the subnet was given; the port, unless
        // it was given.
        let chosen = !fixed_subnet || wanted.https_port == 0;
        let listener = TcpListener::bind(addr)
            .await
            .map_err(fail(&host.fqdn, addr, chosen))?;
        layout.https_port = listener
            .local_addr()
            .map_err(fail(&host.fqdn, addr, chosen))?
            .port();
        let plain = if host.role == Role::Webdir {
            let addr = SocketAddr::new(host.ip, layout.http_port);
            let chosen = !fixed_subnet || wanted.http_port == 0;
            let what = format!("{} (plain HTTP)", host.fqdn);
            let plain = TcpListener::bind(addr)
                .await
                .map_err(fail(&what, addr, chosen))?;
            layout.http_port = plain
                .local_addr()
                .map_err(fail(&what, addr, chosen))?
                .port();
            Some(plain)
        } else {
            None
        };
        https.push((host, listener, plain));
    }
    let dns = layout.dns_addr();
    let dns_udp =
        UdpSocket::bind(dns)
            .await
            .map_err(fail("DNS (UDP)", dns, wanted.dns_port == 0))?;
    layout.dns_port = dns_udp
        .local_addr()
        .map_err(fail("DNS (UDP)", dns, false))?
        .port();
    let dns = layout.dns_addr();
    let dns_tcp =
        TcpListener::bind(dns)
            .await
            .map_err(fail("DNS (TCP)", dns, wanted.dns_port == 0))?;
    let admin_addr = layout.admin_addr();
    let admin = TcpListener::bind(admin_addr).await.map_err(fail(
        "the admin API",
        admin_addr,
        wanted.admin_port == 0,
    ))?;
    layout.admin_port = admin
        .local_addr()
        .map_err(fail("the admin API", admin_addr, false))?
        .port();
    Ok(Bound {
        layout,
        https,
        dns_udp,
        dns_tcp,
        admin,
    })
}

/// Binds, trying again on another subnet or port when one of lyncsim's own choices was taken;
/// an address and port that were given are tried once, and the error names them.
async fn bind_with_retries(
    domain: &str,
    wanted: NetworkLayout,
    fixed_subnet: bool,
) -> anyhow::Result<Bound> {
    let mut layout = wanted;
    let mut attempt = 1;
    loop {
        layout.check()?;
        match bind(domain, layout, fixed_subnet).await {
            Ok(bound) => return Ok(bound),
            Err(e)
                if e.chosen
                    && attempt < BIND_ATTEMPTS
                    && matches!(
                        e.error.kind(),
                        io::ErrorKind::AddrInUse | io::ErrorKind::AddrNotAvailable
                    ) =>
            {
                attempt += 1;
                if !fixed_subnet {
                    layout.subnet = NetworkLayout::random().subnet;
                }
            }
            Err(e) if e.chosen => {
                return Err(anyhow::Error::new(e).context(format!(
                    "no free addresses on {}.0/24 after {attempt} attempts",
                    subnet_text(&layout)
                )));
            }
            Err(e) => return Err(e.into()),
        }
    }
}

fn subnet_text(layout: &NetworkLayout) -> String {
    let [a, b, c] = layout.subnet;
    format!("{a}.{b}.{c}")
}

fn certified_key(
    provider: &CryptoProvider,
    cert: Vec<u8>,
    key: Vec<u8>,
) -> anyhow::Result<Arc<CertifiedKey>> {
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key));
    Ok(Arc::new(CertifiedKey::from_der(
        vec![CertificateDer::from(cert)],
        key,
        provider,
    )?))
}

impl Service {
    /// Starts a service: every host accepts connections when this returns.
    pub async fn start(config: ServiceConfig) -> anyhow::Result<RunningService> {
        check_config(&config)?;
        let clock = ServiceClock::new(0, config.tolerance_secs);
        let state = Arc::new(State::open(&config, clock)?);
        let bound = bind_configured(&state, &config).await?;
        let layout = bound.layout;
        state.save_network(&layout)?;
        let tasks = Tasks {
            shutdown: CancellationToken::new(),
            tracker: TaskTracker::new(),
        };
        let outages = Arc::new(Outages::default());
        let hosts = Hosts::build(&state, &bound.https, &outages)?;
        let (catalog, zones) =
            crate::dns::catalog(&state.domain, &hosts.records, layout.https_port)?;
        let network = Arc::new(Network::new(
            layout,
            hosts.services,
            zones.clone(),
            outages,
            tasks.shutdown.clone(),
            tasks.tracker.clone(),
        ));
        for (host, listener, plain) in bound.https {
            network.serve(host.ip, &host.fqdn, listener, plain)?;
        }
        serve_dns(
            crate::dns::Resolving::new(catalog, zones),
            bound.dns_udp,
            bound.dns_tcp,
            &tasks,
        );
        let info = ServiceInfo {
            admin_url: format!("http://{}", bound.admin.local_addr()?),
            dns_addr: layout.dns_addr(),
            https_port: layout.https_port,
            http_port: layout.http_port,
            tenant: state.domain.clone(),
            hosts: hosts.addresses,
        };
        let faults = Arc::new(Faults::new(state, network, tasks.shutdown.clone()));
        serve_admin(
            bound.admin,
            faults,
            (
                &info,
                config.admin_token.as_ref().map(|t| t.expose().to_owned()),
            ),
            &tasks,
        );
        tasks.tracker.close();
        tracing::info!(admin = %info.admin_url, dns = %info.dns_addr, https_port = info.https_port, "service ready");
        Ok(RunningService {
            info,
            shutdown: tasks.shutdown,
            tracker: tasks.tracker,
        })
    }
}

/// What a configuration must be before anything starts.
fn check_config(config: &ServiceConfig) -> anyhow::Result<()> {
    if config.personal_validity_secs < lyncsim_pki::MIN_PERSONAL_VALIDITY_SECS {
        bail!(
            "personal certificate validity {}s is below the minimum of 8 hours",
            config.personal_validity_secs
        );
    }
    lyncsim_domain::check_tolerance(config.tolerance_secs).map_err(anyhow::Error::msg)?;
    Ok(())
}

/// Binds every socket: on the configured network, or the one the state folder holds (a
/// restart comes back on the same addresses and ports, so that profiles made against it keep
/// working), or a random one. A folder that was whole but has lost its network would come
/// back on new addresses, which breaks every profile made against it: it is refused, like any
/// partial state.
async fn bind_configured(state: &State, config: &ServiceConfig) -> anyhow::Result<Bound> {
    let saved = state.saved_network();
    if let Some(dir) = state.state_dir()
        && saved.is_none()
        && !state.fresh
        && config.network.is_none()
    {
        bail!(
            "{} is missing from a state folder that holds everything else: restore it (the service's addresses and ports), or give --state-dir an empty folder to start a new service",
            dir.path(crate::state::NETWORK).display()
        );
    }
    let (wanted, fixed_subnet) = match (config.network, saved) {
        (Some(layout), _) => (layout, true),
        (None, Some(layout)) => (layout, true),
        (None, None) => (NetworkLayout::random(), false),
    };
    bind_with_retries(&state.domain, wanted, fixed_subnet).await
}

/// The service's tasks: stopped together, waited for together.
struct Tasks {
    shutdown: CancellationToken,
    tracker: TaskTracker,
}

/// What serves each HTTPS host, its DNS records, and the addresses the ready file lists.
struct Hosts {
    services: HashMap<String, HostService>,
    records: Vec<HostRecord>,
    addresses: BTreeMap<String, std::net::IpAddr>,
}

impl Hosts {
    /// Each host's TLS identity (its certificate from the public root, chosen by SNI), its
    /// router, and the registrar of the director and the pools.
    fn build(
        state: &Arc<State>,
        https: &[(HostDef, TcpListener, Option<TcpListener>)],
        outages: &Arc<Outages>,
    ) -> anyhow::Result<Hosts> {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let registrar_identity = registrar_identity(state, https)?;
        let guard = OutageGuard {
            outages: outages.clone(),
            state: state.clone(),
        };
        let mut hosts = Hosts {
            services: HashMap::new(),
            records: Vec::new(),
            addresses: BTreeMap::new(),
        };
        for (host, _, _) in https {
            hosts.addresses.insert(host.fqdn.clone(), host.ip);
            for alias in &host.aliases {
                hosts.addresses.insert(alias.clone(), host.ip);
            }
            hosts.records.push(HostRecord {
                fqdn: host.fqdn.clone(),
                ip: host.ip,
            });
            let cert = server_certificate(state, &provider, host)?;
            let mut tls = ServerConfig::builder_with_provider(provider.clone())
                .with_safe_default_protocol_versions()?
                .with_no_client_auth()
                .with_cert_resolver(Arc::new(OneCert(cert)));
            tls.alpn_protocols = vec![b"http/1.1".to_vec()];
            let registrar = matches!(host.role, Role::Director | Role::Pool(_)).then(|| {
                Arc::new(Registrar {
                    host: host.fqdn.clone(),
                    director: host.role == Role::Director,
                    identity: registrar_identity.clone(),
                    state: state.clone(),
                    outages: outages.clone(),
                })
            });
            let service = HostService {
                tls: Arc::new(tls),
                router: crate::endpoints::router(&host.role, state.clone(), guard.clone()),
                plain_router: (host.role == Role::Webdir)
                    .then(|| crate::endpoints::plain_router(state.clone(), guard.clone())),
                registrar,
            };
            hosts.services.insert(host.fqdn.clone(), service);
        }
        Ok(hosts)
    }
}

/// A host's server certificate, from the public root: its name, and its DNS aliases only
/// where the tenant publishes a certificate of its own for them (Office 365's webdir
/// certificate did not name `lyncdiscover.<tenant>`).
fn server_certificate(
    state: &State,
    provider: &Arc<CryptoProvider>,
    host: &HostDef,
) -> anyhow::Result<Arc<CertifiedKey>> {
    let mut names = vec![host.fqdn.clone()];
    if state.own_lyncdiscover_certificate {
        names.extend(host.aliases.iter().cloned());
    }
    let id = state.public_root.issue_server(&names, state.clock.now())?;
    certified_key(provider, id.cert_der, id.key_pkcs8_der)
}

/// One RSA identity for the inner handshake of every registrar (director and pools).
fn registrar_identity(
    state: &State,
    https: &[(HostDef, TcpListener, Option<TcpListener>)],
) -> anyhow::Result<lyncsim_tlsdsk::Identity> {
    let names: Vec<String> = https
        .iter()
        .filter(|(h, _, _)| matches!(h.role, Role::Director | Role::Pool(_)))
        .map(|(h, _, _)| h.fqdn.clone())
        .collect();
    let issued = state
        .public_root
        .issue_registrar(&names, state.clock.now())?;
    lyncsim_tlsdsk::Identity::new(&issued.cert_der, &issued.key_pkcs8_der)
        .context("loading the registrars' TLS-DSK certificate into OpenSSL")
}

/// Serves DNS over UDP and TCP until the service stops.
fn serve_dns(resolver: crate::dns::Resolving, udp: UdpSocket, tcp: TcpListener, tasks: &Tasks) {
    let mut dns = hickory_server::Server::new(resolver);
    dns.register_socket(udp);
    dns.register_listener(tcp, Duration::from_secs(5), 64);
    let stop = tasks.shutdown.clone();
    tasks.tracker.spawn(async move {
        stop.cancelled().await;
        if let Err(e) = dns.shutdown_gracefully().await {
            tracing::warn!("DNS server stopped with an error: {e}");
        }
    });
}

/// Serves the admin API until the service stops.
fn serve_admin(
    listener: TcpListener,
    faults: Arc<Faults>,
    (info, token): (&ServiceInfo, Option<String>),
    tasks: &Tasks,
) {
    let admin = crate::admin::router(Admin {
        faults,
        info: info.clone(),
        token: token.map(Arc::from),
    });
    tasks.tracker.spawn(serve_plain(
        listener,
        admin,
        crate::capacity::Capacity::new(MAX_ADMIN_CONNECTIONS),
        tasks.shutdown.clone(),
        tasks.tracker.clone(),
    ));
}

impl RunningService {
    /// How to reach the service: what the ready file holds.
    pub fn info(&self) -> &ServiceInfo {
        &self.info
    }

    /// The admin API's base URL.
    pub fn admin_url(&self) -> &str {
        &self.info.admin_url
    }

    /// Stops accepting, lets open connections finish (up to a few seconds), and returns when
    /// every task has ended.
    pub async fn shutdown(self) {
        self.shutdown.cancel();
        self.tracker.wait().await;
    }
}

impl Drop for RunningService {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}
