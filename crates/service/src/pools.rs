//! The front-end pools a user can be homed on, and their names: a leaf that the directory,
//! the faults and the hosts all read.

use anyhow::bail;

/// The pools a user can be homed on.
pub(crate) const POOLS: [&str; 3] = ["pool-a", "pool-b", "pool-c"];

/// The deployment a pool belongs to. The pools of one deployment share its directory, and a
/// pool answers a REGISTER of a user homed on another pool of its deployment with a redirect
/// to that pool, as a multi-pool Lync deployment's pools did (the Director only takes that
/// work off them: BlackBerry's "Updating the Connect and Presence services using Lync
/// Director"); a pool of another deployment knows nothing of the user. pool-a and pool-c are
/// one deployment, pool-b another: that Lync Online moved users between deployments, whose
/// old pool then could not send them on, is lyncsim's reading of KB 2604176's stale endpoint.
pub(crate) fn deployment(short: &str) -> u8 {
    if short == "pool-b" { 2 } else { 1 }
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

/// The first pool of another deployment: where a user moves when no pool is named, and who
/// takes over a pool's old address.
pub(crate) fn other_pool(short: &str) -> &'static str {
    POOLS
        .iter()
        .find(|p| deployment(p) != deployment(short))
        .copied()
        .unwrap_or(POOLS[0])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pools_are_named_short_or_long() {
        assert_eq!(pool_name("pool-b").unwrap(), "pool-b");
        assert_eq!(pool_name("POOL-A.online.lync.com").unwrap(), "pool-a");
        assert!(
            pool_name("pool-d")
                .unwrap_err()
                .to_string()
                .contains("pool-a, pool-b, pool-c")
        );
        assert_eq!(pool_fqdn("pool-a"), "pool-a.online.lync.com");
        assert_eq!(
            pool_fqdn("pool-a.online.lync.com"),
            "pool-a.online.lync.com"
        );
        assert_eq!(other_pool("pool-a"), "pool-b");
        assert_eq!(other_pool("pool-b"), "pool-a");
        assert_eq!(other_pool("pool-c"), "pool-b");
        assert_eq!(deployment("pool-a"), deployment("pool-c"));
    }
}
