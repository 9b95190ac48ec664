//! The machine's Internet Time: the time the trusted time source gives (`GET` on the address
//! in `machine.toml`, plain HTTP, as the service's `/time` answers), which "sync with a
//! trusted time source" sets the clock to. Spoken through the client's own HTTP stack.

use std::net::IpAddr;

use lyncsim_wire::admin::TimeResponse;

use crate::https::{Call, Https, Target};

/// What the time source at `url` (`http://127.0.0.1:PORT/time`) says the time is.
pub(crate) async fn fetch(url: &str) -> anyhow::Result<TimeResponse> {
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| anyhow::anyhow!("{url}: a time source is plain http://"))?;
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let path = if path.is_empty() { "/" } else { path };
    let (host, port) = match authority.rsplit_once(':') {
        Some((host, port)) => (
            host,
            port.parse()
                .map_err(|_| anyhow::anyhow!("{url}: {port:?} is not a port"))?,
        ),
        None => (authority, 80),
    };
    let ip: IpAddr = host
        .parse()
        .map_err(|_| anyhow::anyhow!("{url}: the time source is named by its address"))?;
    // The Windows Time service has no TLS to set up and no agent to name.
    let https =
        Https::new(&[], "Microsoft-Windows-TimeService".into()).map_err(|e| anyhow::anyhow!(e))?;
    let reply = https
        .request(&Target::plain(host, ip, port), Call::get(path))
        .await
        .map_err(|e| anyhow::anyhow!("{url}: {}", e.describe()))?;
    serde_json::from_slice(&reply.body)
        .map_err(|e| anyhow::anyhow!("{url} is not a time source ({e})"))
}
