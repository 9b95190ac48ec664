//! Server-side faults and operations: each one changes the service for real (its policy, its
//! CA, a user, a DNS record, its listeners) and remembers how to undo exactly that change.

use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use lyncsim_domain::{Build, Product, Release};
use lyncsim_pki::Authority;
use lyncsim_wire::Problem;
use lyncsim_wire::admin::{Fault, FaultRecord, OutageMode};
use tokio_util::sync::CancellationToken;

use crate::clock::rfc3339;
use crate::network::Network;
use crate::pools::{POOLS, other_pool, pool_fqdn, pool_name};
use crate::state::{Policy, State};

/// The longest outage with a duration: a week.
const MAX_OUTAGE_SECS: u64 = 7 * 24 * 3600;

enum Undo {
    Policy(Policy),
    Ca(Arc<Authority>),
    HomePool {
        user: String,
        pool: String,
    },
    Password {
        user: String,
        password: String,
    },
    Corrupt {
        user: String,
        was: bool,
    },
    Dns {
        host: String,
        old_ip: IpAddr,
        new_ip: IpAddr,
    },
    Outage {
        hosts: Vec<String>,
    },
}

struct Active {
    record: FaultRecord,
    undo: Undo,
}

/// The faults in force, and the service they change (its state, its network).
pub(crate) struct Faults {
    pub(crate) state: Arc<State>,
    pub(crate) network: Arc<Network>,
    next_id: AtomicU64,
    active: tokio::sync::Mutex<Vec<Active>>,
    shutdown: CancellationToken,
}

fn internal(e: anyhow::Error) -> Problem {
    Problem::internal(format!("{e:#}"))
}

/// What undoing a fault changes at the service, and so which machines it breaks again: an
/// undo is a server-side change like any other, and the real service would do the same.
fn undo_note(undo: &Undo) -> String {
    match undo {
        Undo::Policy(_) => "the STS accepts the versions it accepted before; no machine's state is invalidated".into(),
        Undo::Ca(_) => "the Communications Server CA of before is back: certificates issued since the rotation are no longer trusted, so machines that got one (after delete-cert or fixit) fail with E_CERT until it is deleted again".into(),
        Undo::HomePool { user, pool } => format!(
            "sip:{user} is homed on {} again: machines whose endpoint cache names the other pool (they signed in since the move) fail with E_CERT until the cache is deleted",
            pool_fqdn(pool)
        ),
        Undo::Password { user, .. } => format!(
            "the old password of sip:{user} is back: machines that saved the new one hold stale credentials (E_CERT) until they are removed"
        ),
        Undo::Corrupt { user, .. } => format!(
            "the directory account of sip:{user} is as it was; no machine's state is invalidated"
        ),
        Undo::Dns { host, old_ip, new_ip } => format!(
            "{host} is at {old_ip} again and nothing answers at {new_ip}: machines that resolved {host} since the change keep {new_ip} in their DNS cache for up to {}s and cannot reach it (E_UNREACHABLE) until it expires or is flushed; Lync 2010 on them then damages its certificate and credential (post-outage)",
            crate::dns::HOST_TTL_SECS
        ),
        Undo::Outage { hosts } => format!(
            "the outage of {} is over; Lync 2010 machines that tried to sign in during it may hold a damaged certificate and credential (post-outage); Lync 2013 recovers by itself",
            hosts.join(", ")
        ),
    }
}

impl Faults {
    pub(crate) fn new(
        state: Arc<State>,
        network: Arc<Network>,
        shutdown: CancellationToken,
    ) -> Faults {
        Faults {
            state,
            network,
            next_id: AtomicU64::new(1),
            active: tokio::sync::Mutex::new(Vec::new()),
            shutdown,
        }
    }

    pub(crate) async fn list(&self) -> Vec<FaultRecord> {
        self.active
            .lock()
            .await
            .iter()
            .map(|a| a.record.clone())
            .collect()
    }

    fn known_user(&self, user: &str) -> Result<String, Problem> {
        self.state
            .user(user)
            .map(|u| u.address)
            .ok_or_else(|| Problem::not_found(format!("no user {user} in this tenant")))
    }

    fn known_host(&self, host: &str) -> Result<String, Problem> {
        let host = host.to_ascii_lowercase();
        if self.network.address(&host).is_some() {
            return Ok(host);
        }
        Err(Problem::not_found(format!(
            "no host {host}; the hosts are {}",
            self.network.hosts().join(", ")
        )))
    }

    /// Applies a fault; it stays in force until removed (or until its duration ends).
    pub(crate) async fn apply(self: &Arc<Self>, fault: Fault) -> Result<FaultRecord, Problem> {
        let mut active = self.active.lock().await;
        let (detail, undo) = self.make(&fault).await?;
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let record = FaultRecord {
            id,
            fault: fault.clone(),
            applied: rfc3339(self.state.clock.now()),
            detail,
            undone: None,
        };
        self.state.journal.record(
            "admin",
            "faults",
            None,
            lyncsim_wire::admin::JournalOutcome::Ok,
            format!("fault {id}: {}", record.detail),
        );
        active.push(Active {
            record: record.clone(),
            undo,
        });
        drop(active);
        if let Fault::Outage {
            duration_secs: Some(secs),
            ..
        } = fault
        {
            let faults = self.clone();
            let stop = self.shutdown.clone();
            self.network.spawn(async move {
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_secs(secs)) => { let _ = faults.remove(id).await; }
                    _ = stop.cancelled() => {}
                }
            });
        }
        Ok(record)
    }

    /// Makes the change a fault stands for; what it did, and what undoes exactly that.
    async fn make(&self, fault: &Fault) -> Result<(String, Undo), Problem> {
        match fault {
            Fault::MinClientBuild { product, build } => self.min_client_build(*product, build),
            Fault::MinSignInAssistant { version } => self.min_sign_in_assistant(version),
            Fault::RotateCa => self.rotate_ca(),
            Fault::MoveUser { user, to } => self.move_user(user, to.as_deref()),
            Fault::ChangePassword { user, password } => self.change_password(user, password),
            Fault::CorruptAccount { user } => self.corrupt_account(user),
            Fault::ChangeDns { host } => self.change_dns(host).await,
            Fault::Outage {
                hosts,
                mode,
                duration_secs,
            } => self.outage(hosts, *mode, *duration_secs).await,
        }
    }

    /// The STS accepts `product` only from `build` (the latest when `None`).
    fn min_client_build(
        &self,
        product: Product,
        build: &Option<Build>,
    ) -> Result<(String, Undo), Problem> {
        let min = build
            .clone()
            .unwrap_or_else(|| product.build(Release::Latest));
        let before = self
            .state
            .update_policy(|p| {
                p.min_build.insert(product, min.clone());
            })
            .map_err(internal)?;
        Ok((
            format!("the STS now accepts {product} from build {min}"),
            Undo::Policy(before),
        ))
    }

    /// The STS accepts the Sign-In Assistant only from `version` (the latest when `None`).
    fn min_sign_in_assistant(&self, version: &Option<Build>) -> Result<(String, Undo), Problem> {
        let min = version
            .clone()
            .unwrap_or_else(|| lyncsim_domain::sign_in_assistant(Release::Latest));
        let before = self
            .state
            .update_policy(|p| p.min_sign_in_assistant = min.clone())
            .map_err(internal)?;
        Ok((
            format!("the STS now accepts the Sign-In Assistant from version {min}"),
            Undo::Policy(before),
        ))
    }

    /// A new Communications Server CA: certificates the old one issued are no longer trusted.
    fn rotate_ca(&self) -> Result<(String, Undo), Problem> {
        let before = self
            .state
            .rotate_communications_server()
            .map_err(internal)?;
        Ok((
            "the Communications Server CA was replaced; certificates it issued before are no longer trusted".into(),
            Undo::Ca(before),
        ))
    }

    /// `user` homed on another pool (`to`, or the other one).
    fn move_user(&self, user: &str, to: Option<&str>) -> Result<(String, Undo), Problem> {
        let user = self.known_user(user)?;
        let current = self
            .state
            .user(&user)
            .map(|u| u.home_pool)
            .unwrap_or_default();
        let to = match to {
            Some(p) => pool_name(p).map_err(|e| Problem::bad_request(e.to_string()))?,
            None => other_pool(&current),
        };
        self.state
            .update_user(&user, |u| u.home_pool = to.to_owned())
            .map_err(internal)?;
        Ok((
            format!(
                "sip:{user} moved from {} to {}",
                pool_fqdn(&current),
                pool_fqdn(to)
            ),
            Undo::HomePool {
                user,
                pool: current,
            },
        ))
    }

    /// `user`'s password changed at the service.
    fn change_password(&self, user: &str, password: &str) -> Result<(String, Undo), Problem> {
        let user = self.known_user(user)?;
        crate::config::check_password(password)
            .map_err(|e| Problem::bad_request(format!("the new password: {e}")))?;
        let before = self
            .state
            .update_user(&user, |u| u.password = password.to_owned())
            .map_err(internal)?;
        let old = before.map(|b| b.password).unwrap_or_default();
        Ok((
            format!("the password of sip:{user} was changed at the service"),
            Undo::Password {
                user,
                password: old,
            },
        ))
    }

    /// `user`'s directory account damaged: provisioning and registration fail for them.
    fn corrupt_account(&self, user: &str) -> Result<(String, Undo), Problem> {
        let user = self.known_user(user)?;
        let before = self
            .state
            .update_user(&user, |u| u.corrupt = true)
            .map_err(internal)?;
        let was = before.map(|b| b.corrupt).unwrap_or(false);
        Ok((
            format!("the directory account of sip:{user} is now corrupted"),
            Undo::Corrupt { user, was },
        ))
    }

    /// `host` at a new address in DNS; a pool's old address goes to the other pool.
    async fn change_dns(&self, host: &str) -> Result<(String, Undo), Problem> {
        let host = self.known_host(host)?;
        let old_ip = self
            .network
            .address(&host)
            .ok_or_else(|| Problem::not_found(host.clone()))?;
        let new_ip = self
            .network
            .fresh_address()
            .map_err(|e| Problem::conflict(format!("{e:#}")))?;
        self.network.listen(new_ip, &host).await.map_err(internal)?;
        self.network
            .set_address(&host, new_ip)
            .await
            .map_err(internal)?;
        self.network.close(old_ip).await;
        // A pool's old address is handed to the other pool, as a data centre reuses
        // addresses; any other host's old address is left with nothing listening.
        let taker = POOLS
            .iter()
            .find(|p| pool_fqdn(p) == host)
            .map(|p| pool_fqdn(other_pool(p)));
        let after = match &taker {
            Some(other) => {
                self.network.listen(old_ip, other).await.map_err(internal)?;
                format!("now serves {other}")
            }
            None => "has nothing listening".into(),
        };
        Ok((
            format!(
                "{host} moved from {old_ip} to {new_ip} in DNS (TTL {}s); {old_ip} {after}",
                crate::dns::HOST_TTL_SECS
            ),
            Undo::Dns {
                host,
                old_ip,
                new_ip,
            },
        ))
    }

    /// `hosts` (every HTTPS host when empty) failing in `mode`, for `duration_secs` or until
    /// the fault is deleted.
    async fn outage(
        &self,
        hosts: &[String],
        mode: OutageMode,
        duration_secs: Option<u64>,
    ) -> Result<(String, Undo), Problem> {
        if let Some(secs) = duration_secs
            && !(1..=MAX_OUTAGE_SECS).contains(&secs)
        {
            return Err(Problem::bad_request(format!(
                "duration_secs {secs} is out of range: from 1 to {MAX_OUTAGE_SECS} (a week); leave it out for an outage until deleted"
            )));
        }
        let hosts = if hosts.is_empty() {
            self.network.hosts()
        } else {
            hosts
                .iter()
                .map(|h| self.known_host(h))
                .collect::<Result<Vec<_>, _>>()?
        };
        for h in &hosts {
            self.network
                .set_outage(h, Some(mode))
                .await
                .map_err(internal)?;
        }
        let how = match mode {
            OutageMode::Refuse => "refuse connections",
            OutageMode::Reset => "reset connections",
            OutageMode::Status503 => "answer 503",
            OutageMode::CutOff => "cut responses off half way",
        };
        let until = duration_secs
            .map(|s| format!("for {s}s"))
            .unwrap_or_else(|| "until deleted".into());
        Ok((
            format!("outage: {} {how}, {until}", hosts.join(", ")),
            Undo::Outage { hosts },
        ))
    }

    /// Removes a fault, undoing its change; the record says what the undo changed.
    pub(crate) async fn remove(&self, id: u64) -> Result<FaultRecord, Problem> {
        let mut active = self.active.lock().await;
        let at = active
            .iter()
            .position(|a| a.record.id == id)
            .ok_or_else(|| Problem::not_found(format!("no fault {id}")))?;
        let removed = active.remove(at);
        let mut record = removed.record;
        record.undone = Some(undo_note(&removed.undo));
        self.undo(removed.undo).await.map_err(internal)?;
        self.state.journal.record(
            "admin",
            "faults",
            None,
            lyncsim_wire::admin::JournalOutcome::Ok,
            format!("fault {id} removed"),
        );
        Ok(record)
    }

    /// Removes every fault, newest first; returns them, each with what its undo changed.
    pub(crate) async fn clear(&self) -> Result<Vec<FaultRecord>, Problem> {
        let ids: Vec<u64> = self
            .active
            .lock()
            .await
            .iter()
            .rev()
            .map(|a| a.record.id)
            .collect();
        let mut removed = Vec::new();
        for id in ids {
            removed.push(self.remove(id).await?);
        }
        Ok(removed)
    }

    async fn undo(&self, undo: Undo) -> anyhow::Result<()> {
        let state = &self.state;
        match undo {
            Undo::Policy(p) => {
                state.update_policy(|now| *now = p)?;
            }
            Undo::Ca(ca) => {
                state.set_communications_server(ca)?;
            }
            Undo::HomePool { user, pool } => {
                state.update_user(&user, |u| u.home_pool = pool)?;
            }
            Undo::Password { user, password } => {
                state.update_user(&user, |u| u.password = password)?;
            }
            Undo::Corrupt { user, was } => {
                state.update_user(&user, |u| u.corrupt = was)?;
            }
            Undo::Dns {
                host,
                old_ip,
                new_ip,
            } => {
                self.network.close(new_ip).await;
                self.network.close(old_ip).await;
                self.network.listen(old_ip, &host).await?;
                self.network.set_address(&host, old_ip).await?;
            }
            Undo::Outage { hosts } => {
                for h in hosts {
                    self.network.set_outage(&h, None).await?;
                }
            }
        }
        Ok(())
    }
}
