//! The machine's resolver: the DNS Client cache first (records live until their TTL runs out
//! by the machine's clock), then the DNS server, with hickory. CNAMEs are followed.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::str::FromStr;
use std::time::Duration;

use hickory_net::NetError;
use hickory_net::client::{Client, ClientHandle};
use hickory_net::runtime::TokioRuntimeProvider;
use hickory_net::udp::UdpClientStream;
use hickory_proto::rr::{DNSClass, Name, RData, RecordType};
use serde::{Deserialize, Serialize};

use crate::layout::Layout;
use lyncsim_durable::write_atomically;

/// How long each try of a query waits for its answer, as the Windows DNS client waits: 1 s,
/// then 2 s, then 4 s, before it gives up on the server.
const QUERY_TIMEOUTS: [Duration; 3] = [
    Duration::from_secs(1),
    Duration::from_secs(2),
    Duration::from_secs(4),
];
/// Longest CNAME chain followed.
const MAX_CHAIN: usize = 8;

/// One record in the DNS Client cache.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CachedRecord {
    /// The owner name, lower case, without the final dot.
    pub name: String,
    /// `A`, `CNAME` or `SRV`.
    #[serde(rename = "type")]
    pub rtype: String,
    /// The data: an address, a name, or `priority weight port target` for SRV.
    pub data: String,
    /// The TTL the server gave.
    pub ttl: u32,
    /// When it expires, Unix seconds by the machine's clock.
    pub expires: i64,
}

/// Why a name did not resolve.
#[derive(Debug, Clone, thiserror::Error)]
pub(crate) enum ResolveError {
    #[error("DNS name {0} does not exist")]
    NoRecord(String),
    #[error("the DNS server {server} did not answer for {name}: {detail}")]
    Server {
        server: SocketAddr,
        name: String,
        detail: String,
    },
    #[error("CNAME chain for {0} is too long")]
    Loop(String),
}

/// Where an answer came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Source {
    Cache,
    Server,
}

impl Source {
    pub(crate) fn describe(self) -> &'static str {
        match self {
            Source::Cache => "from the DNS client cache",
            Source::Server => "from the DNS server",
        }
    }
}

/// A resolver over one profile's cache.
pub(crate) struct Resolver {
    server: SocketAddr,
    now: i64,
    cache: Vec<CachedRecord>,
    /// The cache differs from the file: a record ran out or a new one came.
    changed: bool,
}

fn normalise(name: &str) -> String {
    name.trim_end_matches('.').to_ascii_lowercase()
}

/// Reads the cache, without the records whose TTL has run out at `now`.
pub(crate) fn read_cache(layout: &Layout, now: i64) -> Vec<CachedRecord> {
    read_cache_changed(layout, now).0
}

/// The cache at `now`, and whether that differs from the file.
fn read_cache_changed(layout: &Layout, now: i64) -> (Vec<CachedRecord>, bool) {
    let Ok(bytes) = std::fs::read(layout.dns_cache()) else {
        return (Vec::new(), false);
    };
    let Ok(records) = serde_json::from_slice::<Vec<CachedRecord>>(&bytes) else {
        return (Vec::new(), true);
    };
    let read = records.len();
    let live: Vec<CachedRecord> = records.into_iter().filter(|r| r.expires > now).collect();
    let changed = live.len() != read;
    (live, changed)
}

/// `ipconfig /flushdns`.
pub(crate) fn flush(layout: &Layout) -> std::io::Result<()> {
    match std::fs::remove_file(layout.dns_cache()) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// What the DNS server at `server` answers for `name`'s address, as `nslookup` asks it: the
/// machine's resolver cache is neither read nor written. The records of the answer (the
/// CNAMEs followed, then the A record), as owner, type and data.
pub(crate) async fn ask_server(
    server: SocketAddr,
    name: &str,
) -> Result<Vec<(String, String, String)>, ResolveError> {
    let mut scratch = Resolver {
        server,
        now: 0,
        cache: Vec::new(),
        changed: false,
    };
    scratch.query(&normalise(name), RecordType::A).await?;
    Ok(scratch
        .cache
        .into_iter()
        .map(|r| (r.name, r.rtype, r.data))
        .collect())
}

impl Resolver {
    pub(crate) fn new(layout: &Layout, server: SocketAddr, now: i64) -> Resolver {
        let (cache, changed) = read_cache_changed(layout, now);
        Resolver {
            server,
            now,
            cache,
            changed,
        }
    }

    /// Writes the cache back, if it changed.
    pub(crate) fn save(&self, layout: &Layout) -> std::io::Result<()> {
        if !self.changed {
            return Ok(());
        }
        let json = serde_json::to_vec_pretty(&self.cache).map_err(std::io::Error::other)?;
        write_atomically(&layout.dns_cache(), &json)
    }

    fn cached(&self, name: &str, rtype: &str) -> Option<&CachedRecord> {
        self.cache
            .iter()
            .find(|r| r.name == name && r.rtype == rtype)
    }

    /// The IPv4 address of `name`.
    pub(crate) async fn resolve_a(&mut self, name: &str) -> Result<(IpAddr, Source), ResolveError> {
        let mut current = normalise(name);
        let mut source = Source::Cache;
        let mut asked = false;
        for _ in 0..MAX_CHAIN {
            if let Some(r) = self.cached(&current, "A") {
                let ip = Ipv4Addr::from_str(&r.data)
                    .map_err(|_| ResolveError::NoRecord(current.clone()))?;
                return Ok((IpAddr::V4(ip), source));
            }
            if let Some(r) = self.cached(&current, "CNAME") {
                current = r.data.clone();
                asked = false;
                continue;
            }
            if asked {
                return Err(ResolveError::NoRecord(current));
            }
            self.query(&current, RecordType::A).await?;
            source = Source::Server;
            asked = true;
        }
        Err(ResolveError::Loop(name.to_owned()))
    }

    /// The target and port of the SRV record `name`.
    pub(crate) async fn resolve_srv(
        &mut self,
        name: &str,
    ) -> Result<(String, u16, Source), ResolveError> {
        let name = normalise(name);
        let mut source = Source::Cache;
        if self.cached(&name, "SRV").is_none() {
            self.query(&name, RecordType::SRV).await?;
            source = Source::Server;
        }
        let r = self
            .cached(&name, "SRV")
            .ok_or_else(|| ResolveError::NoRecord(name.clone()))?;
        let parts: Vec<&str> = r.data.split_whitespace().collect();
        match parts.as_slice() {
            [_, _, port, target] => Ok((
                target.to_string(),
                port.parse()
                    .map_err(|_| ResolveError::NoRecord(name.clone()))?,
                source,
            )),
            _ => Err(ResolveError::NoRecord(name)),
        }
    }

    async fn query(&mut self, name: &str, rtype: RecordType) -> Result<(), ResolveError> {
        let server_err = |detail: String| ResolveError::Server {
            server: self.server,
            name: name.to_owned(),
            detail,
        };
        let fqdn = Name::from_ascii(format!("{name}.")).map_err(|e| server_err(e.to_string()))?;
        let mut answer = Err(NetError::Timeout);
        for timeout in QUERY_TIMEOUTS {
            let stream = UdpClientStream::builder(self.server, TokioRuntimeProvider::default())
                .with_timeout(Some(timeout))
                .build();
            let (mut client, background) = Client::<TokioRuntimeProvider>::from_sender(stream);
            let background = tokio::spawn(background);
            answer = client.query(fqdn.clone(), DNSClass::IN, rtype).await;
            background.abort();
            // Only a try that got no answer at all is made again.
            if !matches!(answer, Err(NetError::Timeout)) {
                break;
            }
        }
        let response = match answer {
            Ok(r) => r,
            Err(e) if e.is_no_records_found() => {
                return Err(ResolveError::NoRecord(name.to_owned()));
            }
            Err(e) => return Err(server_err(e.to_string())),
        };
        let mut found = false;
        for record in &response.answers {
            let (rtype, data) = match &record.data {
                RData::A(a) => ("A", a.0.to_string()),
                RData::CNAME(c) => ("CNAME", normalise(&c.0.to_ascii())),
                RData::SRV(s) => (
                    "SRV",
                    format!(
                        "{} {} {} {}",
                        s.priority,
                        s.weight,
                        s.port,
                        normalise(&s.target.to_ascii())
                    ),
                ),
                _ => continue,
            };
            let owner = normalise(&record.name.to_ascii());
            self.cache
                .retain(|r| !(r.name == owner && r.rtype == rtype));
            self.changed = true;
            self.cache.push(CachedRecord {
                name: owner,
                rtype: rtype.to_owned(),
                data,
                ttl: record.ttl,
                expires: self.now + i64::from(record.ttl),
            });
            found = true;
        }
        if found {
            Ok(())
        } else {
            Err(ResolveError::NoRecord(name.to_owned()))
        }
    }
}
