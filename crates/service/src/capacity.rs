//! How many connections a listener group serves at once, and each peer's share of them.
//!
//! A group (the HTTPS hosts of one service; the admin API) serves at most `serving`
//! connections, and one peer address at most half of them, so that no one client can take
//! them all. A connection over either bound waits up to [`GRACE`] for a place (a sign-in's
//! connections are short, so a burst is served, not refused); if none frees, it is answered
//! 503 and closed, so that a client is told rather than left hanging. The accept loop holds
//! no more than `serving` plus a quarter of it in all (those waiting or being refused); past
//! that, new connections wait in the kernel's queue until one closes. The numbers are
//! lyncsim's own.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};

use crate::problem::problem_bytes;

/// How long a connection over a bound waits for a place before it is answered 503.
pub(crate) const GRACE: Duration = Duration::from_secs(2);

/// A listener group's places: those the accept loop may hold, and those being served.
#[derive(Debug, Clone)]
pub(crate) struct Capacity {
    /// Every connection the accept loop holds (served, waiting or being refused): the bound on
    /// the descriptors a group uses.
    pub(crate) held: Arc<Semaphore>,
    gate: Arc<Gate>,
}

#[derive(Debug)]
struct Gate {
    serving: Arc<Semaphore>,
    /// How many connections each peer address is served on now.
    peers: Mutex<HashMap<IpAddr, usize>>,
    share: usize,
    /// Told whenever a served connection ends.
    freed: Notify,
}

/// A connection's place among those served: it frees the place when dropped.
#[derive(Debug)]
pub(crate) struct Admission {
    permit: Option<OwnedSemaphorePermit>,
    gate: Arc<Gate>,
    peer: IpAddr,
}

impl Drop for Admission {
    fn drop(&mut self) {
        {
            let mut peers = self.gate.peers.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(n) = peers.get_mut(&self.peer) {
                *n -= 1;
                if *n == 0 {
                    peers.remove(&self.peer);
                }
            }
        }
        drop(self.permit.take());
        self.gate.freed.notify_waiters();
    }
}

impl Capacity {
    /// A group that serves `serving` connections at once, each peer at most half of them.
    pub(crate) fn new(serving: usize) -> Capacity {
        let serving = serving.max(2);
        Capacity {
            held: Arc::new(Semaphore::new(serving + serving / 4)),
            gate: Arc::new(Gate {
                serving: Arc::new(Semaphore::new(serving)),
                peers: Mutex::new(HashMap::new()),
                share: serving / 2,
                freed: Notify::new(),
            }),
        }
    }

    /// A place for a connection from `peer`, waiting up to [`GRACE`] for one; `None` when
    /// none freed in time (the connection is then to be answered 503).
    pub(crate) async fn admit(&self, peer: IpAddr) -> Option<Admission> {
        let deadline = tokio::time::Instant::now() + GRACE;
        loop {
            let freed = self.gate.freed.notified();
            tokio::pin!(freed);
            freed.as_mut().enable();
            if let Some(admission) = self.try_admit(peer) {
                return Some(admission);
            }
            if tokio::time::timeout_at(deadline, freed).await.is_err() {
                return None;
            }
        }
    }

    fn try_admit(&self, peer: IpAddr) -> Option<Admission> {
        let mut peers = self.gate.peers.lock().unwrap_or_else(|p| p.into_inner());
        let n = peers.entry(peer).or_default();
        if *n >= self.gate.share {
            return None;
        }
        let permit = self.gate.serving.clone().try_acquire_owned().ok()?;
        *n += 1;
        Some(Admission {
            permit: Some(permit),
            gate: self.gate.clone(),
            peer,
        })
    }
}

/// The answer to an HTTP connection that found no place: 503 with a problem document and
/// `Retry-After`, then the connection closes.
pub(crate) fn busy_http() -> Vec<u8> {
    problem_bytes(
        &lyncsim_wire::Problem::unavailable(
            "as many connections are open as this service serves at once (or as this client's share of them); try again shortly",
        ),
        &[("retry-after", GRACE.as_secs().to_string())],
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer(last: u8) -> IpAddr {
        IpAddr::from([127, 0, 0, last])
    }

    #[tokio::test(start_paused = true)]
    async fn a_peer_gets_half_and_waits_then_is_refused() {
        let capacity = Capacity::new(8);
        let mut held = Vec::new();
        for _ in 0..4 {
            held.push(capacity.admit(peer(1)).await.expect("within its share"));
        }
        let start = tokio::time::Instant::now();
        assert!(capacity.admit(peer(1)).await.is_none(), "over its share");
        assert_eq!(start.elapsed(), GRACE, "after waiting the grace");
        // Another peer is served at once, up to the rest.
        for _ in 0..4 {
            held.push(capacity.admit(peer(2)).await.expect("another peer's share"));
        }
        assert!(capacity.admit(peer(3)).await.is_none(), "every place taken");
    }

    #[tokio::test(start_paused = true)]
    async fn a_place_freed_within_the_grace_is_taken() {
        let capacity = Capacity::new(2);
        let first = capacity.admit(peer(1)).await.unwrap();
        let waiting = tokio::spawn({
            let capacity = capacity.clone();
            async move { capacity.admit(peer(1)).await.is_some() }
        });
        tokio::time::sleep(Duration::from_secs(1)).await;
        drop(first);
        assert!(waiting.await.unwrap(), "served once the first closed");
    }
}
