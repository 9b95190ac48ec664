//! `EndpointConfiguration.cache`: where the client last signed in, so that the next sign-in
//! registers there first (Lync 2010 without asking SRV and the director).

use serde::{Deserialize, Serialize};

use crate::layout::Layout;
use lyncsim_durable::write_atomically;

/// What the endpoint cache remembers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct EndpointCache {
    pub(crate) user: String,
    /// The home pool's host name: GetAndPublishCert and the registrar live there.
    pub(crate) home_pool: String,
    /// When it was written (machine clock, RFC 3339).
    pub(crate) written: String,
}

/// The cache of `address`; a missing or unreadable file is no cache, as for the real client.
pub(crate) fn read(layout: &Layout, address: &str) -> Option<EndpointCache> {
    let text = std::fs::read_to_string(layout.endpoint_cache(address)).ok()?;
    toml::from_str(&text).ok()
}

pub(crate) fn write(layout: &Layout, cache: &EndpointCache) -> std::io::Result<()> {
    let text = toml::to_string_pretty(cache).map_err(std::io::Error::other)?;
    write_atomically(&layout.endpoint_cache(&cache.user), text.as_bytes())
}
