//! Everything the service knows, in one place: the CAs, the STS key, the users, the issued
//! certificates and the journal. With a state directory, each change is written atomically
//! (a temporary file renamed over the old one) so that a restart, or a crash, loses nothing.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};

use anyhow::Context;
use lyncsim_domain::{Build, Product};
use lyncsim_pki::{Authority, AuthorityKind};
use lyncsim_wire::UserView;
use serde::{Deserialize, Serialize};

use crate::clock::ServiceClock;
use crate::config::{ServiceConfig, TenantUser};
use crate::journal::Journal;
use crate::tokens::StsKey;

/// A user as the directory holds them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct UserRecord {
    pub(crate) address: String,
    pub(crate) password: String,
    /// Short pool name: `pool-a` or `pool-b`.
    pub(crate) home_pool: String,
    /// The directory account's Lync attributes are damaged.
    #[serde(default)]
    pub(crate) corrupt: bool,
}

impl From<&TenantUser> for UserRecord {
    fn from(u: &TenantUser) -> Self {
        UserRecord {
            address: u.address.clone(),
            password: u.password.clone(),
            home_pool: u.home_pool.clone(),
            corrupt: false,
        }
    }
}

/// A personal certificate the service issued.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct IssuedRecord {
    pub(crate) user: String,
    pub(crate) serial: String,
    pub(crate) thumbprint: String,
    pub(crate) not_before: i64,
    pub(crate) not_after: i64,
    pub(crate) pem: String,
}

/// The state directory's files.
#[derive(Debug, Clone)]
pub(crate) struct StateDir(PathBuf);

impl StateDir {
    fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }

    pub(crate) fn read(&self, name: &str) -> anyhow::Result<Option<String>> {
        match std::fs::read_to_string(self.path(name)) {
            Ok(text) => Ok(Some(text)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e).with_context(|| format!("reading {}", self.path(name).display())),
        }
    }

    /// Writes `contents` to `name` atomically.
    pub(crate) fn write(&self, name: &str, contents: &[u8]) -> anyhow::Result<()> {
        write_atomically(&self.path(name), contents)
    }
}

/// Writes a file so that readers see the old or the new contents, never a mix.
pub(crate) fn write_atomically(path: &Path, contents: &[u8]) -> anyhow::Result<()> {
    use std::io::Write;
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut tmp = tempfile::NamedTempFile::new_in(dir)
        .with_context(|| format!("writing in {}", dir.display()))?;
    tmp.write_all(contents)?;
    tmp.as_file().sync_all()?;
    tmp.persist(path)
        .with_context(|| format!("replacing {}", path.display()))?;
    Ok(())
}

/// What the service accepts: the minimum client builds and Sign-In Assistant version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Policy {
    pub(crate) min_build: BTreeMap<Product, Build>,
    pub(crate) min_sign_in_assistant: Build,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            min_build: Product::ALL
                .iter()
                .map(|p| (*p, p.default_minimum_build()))
                .collect(),
            min_sign_in_assistant: lyncsim_domain::default_minimum_sign_in_assistant(),
        }
    }
}

pub(crate) struct State {
    pub(crate) clock: ServiceClock,
    pub(crate) domain: String,
    pub(crate) personal_validity_secs: i64,
    pub(crate) journal: Journal,
    pub(crate) public_root: Authority,
    communications_server: RwLock<Arc<Authority>>,
    pub(crate) sts_key: StsKey,
    users: RwLock<BTreeMap<String, UserRecord>>,
    issued: Mutex<Vec<IssuedRecord>>,
    policy: RwLock<Policy>,
    dir: Option<StateDir>,
}

const USERS: &str = "users.json";
const ISSUED: &str = "issued-certificates.json";
const POLICY: &str = "policy.json";
const CS_STEM: &str = "communications-server";

fn load_authority(
    dir: Option<&StateDir>,
    kind: AuthorityKind,
    stem: &str,
    now: i64,
) -> anyhow::Result<Authority> {
    let (cert_name, key_name) = (format!("ca/{stem}.crt.pem"), format!("ca/{stem}.key.pem"));
    if let Some(dir) = dir
        && let (Some(cert), Some(key)) = (dir.read(&cert_name)?, dir.read(&key_name)?)
    {
        return Authority::from_pem(kind, &cert, &key)
            .with_context(|| format!("loading CA {stem}"));
    }
    let ca = Authority::generate(kind, now, 1)?;
    if let Some(dir) = dir {
        dir.write(&key_name, ca.key_pem().as_bytes())?;
        dir.write(&cert_name, ca.cert_pem().as_bytes())?;
    }
    Ok(ca)
}

impl State {
    pub(crate) fn open(config: &ServiceConfig, clock: ServiceClock) -> anyhow::Result<State> {
        let dir = config.state_dir.clone().map(StateDir);
        let now = clock.now();
        let public_root = load_authority(dir.as_ref(), AuthorityKind::PublicRoot, "root", now)?;
        let cs = load_authority(
            dir.as_ref(),
            AuthorityKind::CommunicationsServer,
            CS_STEM,
            now,
        )?;
        let sts_key = match dir
            .as_ref()
            .map(|d| std::fs::read(d.path("sts-signing-key.pk8")))
        {
            Some(Ok(bytes)) => StsKey::from_pkcs8(&bytes)?,
            _ => {
                let key = StsKey::generate()?;
                if let Some(d) = &dir {
                    d.write("sts-signing-key.pk8", key.pkcs8())?;
                }
                key
            }
        };
        let users: BTreeMap<String, UserRecord> =
            match dir.as_ref().map(|d| d.read(USERS)).transpose()?.flatten() {
                Some(text) => {
                    serde_json::from_str::<Vec<UserRecord>>(&text).context("reading users.json")?
                }
                None => config.tenant.users.iter().map(UserRecord::from).collect(),
            }
            .into_iter()
            .map(|u| (u.address.to_ascii_lowercase(), u))
            .collect();
        let issued = match dir.as_ref().map(|d| d.read(ISSUED)).transpose()?.flatten() {
            Some(text) => {
                serde_json::from_str(&text).context("reading issued-certificates.json")?
            }
            None => Vec::new(),
        };
        let policy = match dir.as_ref().map(|d| d.read(POLICY)).transpose()?.flatten() {
            Some(text) => serde_json::from_str(&text).context("reading policy.json")?,
            None => Policy::default(),
        };
        let state = State {
            journal: Journal::new(clock.clone()),
            clock,
            domain: config.tenant.domain.to_ascii_lowercase(),
            personal_validity_secs: config.personal_validity_secs,
            public_root,
            communications_server: RwLock::new(Arc::new(cs)),
            sts_key,
            users: RwLock::new(users),
            issued: Mutex::new(issued),
            policy: RwLock::new(policy),
            dir,
        };
        state.save_users()?;
        Ok(state)
    }

    /// The current Communications Server CA.
    pub(crate) fn communications_server(&self) -> Arc<Authority> {
        self.communications_server
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Replaces the Communications Server CA (and its files), returning the one it replaces.
    pub(crate) fn set_communications_server(
        &self,
        ca: Arc<Authority>,
    ) -> anyhow::Result<Arc<Authority>> {
        if let Some(dir) = &self.dir {
            dir.write(&format!("ca/{CS_STEM}.key.pem"), ca.key_pem().as_bytes())?;
            dir.write(&format!("ca/{CS_STEM}.crt.pem"), ca.cert_pem().as_bytes())?;
        }
        let mut current = self
            .communications_server
            .write()
            .unwrap_or_else(|p| p.into_inner());
        Ok(std::mem::replace(&mut *current, ca))
    }

    pub(crate) fn policy(&self) -> Policy {
        self.policy
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Changes the policy; returns the one before.
    pub(crate) fn update_policy(&self, change: impl FnOnce(&mut Policy)) -> anyhow::Result<Policy> {
        let (before, after) = {
            let mut policy = self.policy.write().unwrap_or_else(|p| p.into_inner());
            let before = policy.clone();
            change(&mut policy);
            (before, policy.clone())
        };
        if let Some(dir) = &self.dir {
            dir.write(POLICY, &serde_json::to_vec_pretty(&after)?)?;
        }
        Ok(before)
    }

    /// Changes a user; returns the record before, or `None` when there is no such user.
    pub(crate) fn update_user(
        &self,
        address: &str,
        change: impl FnOnce(&mut UserRecord),
    ) -> anyhow::Result<Option<UserRecord>> {
        let before = {
            let mut users = self.users.write().unwrap_or_else(|p| p.into_inner());
            let Some(user) = users.get_mut(&address.to_ascii_lowercase()) else {
                return Ok(None);
            };
            let before = user.clone();
            change(user);
            before
        };
        self.save_users()?;
        Ok(Some(before))
    }

    pub(crate) fn user(&self, address: &str) -> Option<UserRecord> {
        self.users
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(&address.to_ascii_lowercase())
            .cloned()
    }

    pub(crate) fn users(&self) -> Vec<UserView> {
        self.users
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .map(|u| UserView {
                address: u.address.clone(),
                home_pool: crate::hosts::pool_fqdn(&u.home_pool),
            })
            .collect()
    }

    /// Adds a user; refuses one that exists.
    pub(crate) fn add_user(&self, user: UserRecord) -> anyhow::Result<bool> {
        {
            let mut users = self.users.write().unwrap_or_else(|p| p.into_inner());
            let key = user.address.to_ascii_lowercase();
            if users.contains_key(&key) {
                return Ok(false);
            }
            users.insert(key, user);
        }
        self.save_users()?;
        Ok(true)
    }

    fn save_users(&self) -> anyhow::Result<()> {
        let Some(dir) = &self.dir else { return Ok(()) };
        let users: Vec<UserRecord> = self
            .users
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .cloned()
            .collect();
        dir.write(USERS, &serde_json::to_vec_pretty(&users)?)
    }

    pub(crate) fn record_issued(&self, record: IssuedRecord) -> anyhow::Result<()> {
        let mut issued = self.issued.lock().unwrap_or_else(|p| p.into_inner());
        issued.push(record);
        if let Some(dir) = &self.dir {
            dir.write(ISSUED, &serde_json::to_vec_pretty(&*issued)?)?;
        }
        Ok(())
    }

    pub(crate) fn issued(&self) -> Vec<IssuedRecord> {
        self.issued
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    pub(crate) fn state_dir(&self) -> Option<&StateDir> {
        self.dir.as_ref()
    }
}
