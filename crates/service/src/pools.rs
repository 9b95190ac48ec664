//! The front-end pools a user can be homed on, and their names: a leaf that the directory,
//! the faults and the hosts all read.

use anyhow::bail;

/// The pools a user can be homed on.
pub(crate) const POOLS: [&str; 2] = ["pool-a", "pool-b"];

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

/// The other pool: where a user moves when no pool is named.
pub(crate) fn other_pool(short: &str) -> &'static str {
    POOLS
        .iter()
        .find(|p| **p != short)
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
        assert_eq!(other_pool("pool-a"), "pool-b");
        assert_eq!(other_pool("pool-b"), "pool-a");
    }
}
