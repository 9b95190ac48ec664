//! Everything the service knows, in one place: the CAs, the STS key, the users, the issued
//! certificates and the journal. With a state directory, each change is written atomically
//! (a temporary file, synced, renamed over the old one, the folder synced) before it is
//! acknowledged, so that a restart, or `kill -9`, loses nothing acknowledged.
//!
//! A state folder is either new (none of its files: it is initialised) or whole (all of them,
//! each key the key of its certificate); anything between stops the service with an error
//! naming the file, rather than quietly making a new CA or an empty tenant.

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

/// A personal certificate the service issued, as it is kept in memory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct IssuedRecord {
    pub(crate) user: String,
    pub(crate) serial: String,
    pub(crate) thumbprint: String,
    pub(crate) not_before: i64,
    pub(crate) not_after: i64,
}

/// A line of the issued certificates' file: the record and the certificate itself (which
/// only the file keeps: 50,000 of them would be 80 MB of memory).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct IssuedLine {
    #[serde(flatten)]
    pub(crate) record: IssuedRecord,
    pub(crate) pem: String,
}

/// The state directory's files.
#[derive(Debug, Clone)]
pub(crate) struct StateDir(PathBuf);

/// The start of every temporary file the service writes: one left by a killed write is
/// recognised, and removed, at the next start.
const TMP_PREFIX: &str = ".lyncsim-tmp-";

impl StateDir {
    /// Opens (making it if need be) a state folder, removing temporary files that a killed
    /// write left behind.
    pub(crate) fn open(path: PathBuf) -> anyhow::Result<StateDir> {
        std::fs::create_dir_all(&path)
            .with_context(|| format!("creating the state folder {}", path.display()))?;
        let dir = StateDir(path);
        for folder in [dir.0.clone(), dir.path("ca")] {
            let Ok(entries) = std::fs::read_dir(&folder) else {
                continue;
            };
            for entry in entries.flatten() {
                let name = entry.file_name();
                let name = name.to_string_lossy();
                // `.tmp` and six characters: what tempfile named them before TMP_PREFIX.
                let legacy = name.starts_with(".tmp") && name.len() == 10;
                if name.starts_with(TMP_PREFIX) || legacy {
                    let _ = std::fs::remove_file(entry.path());
                }
            }
        }
        Ok(dir)
    }

    pub(crate) fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }

    fn exists(&self, name: &str) -> bool {
        self.path(name).exists()
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

/// Writes a file so that readers see the old or the new contents, never a mix, and the new
/// contents survive a crash once this returns (the file and then its folder are synced).
pub(crate) fn write_atomically(path: &Path, contents: &[u8]) -> anyhow::Result<()> {
    use std::io::Write;
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut tmp = tempfile::Builder::new()
        .prefix(TMP_PREFIX)
        .tempfile_in(dir)
        .with_context(|| format!("writing in {}", dir.display()))?;
    tmp.write_all(contents)?;
    tmp.as_file().sync_all()?;
    tmp.persist(path)
        .with_context(|| format!("replacing {}", path.display()))?;
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .with_context(|| format!("syncing {}", dir.display()))?;
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
    /// The issued certificates' file, open for appending (with a state folder).
    issued_file: Mutex<Option<std::fs::File>>,
    policy: RwLock<Policy>,
    dir: Option<StateDir>,
    /// Held while a snapshot of the users is taken and written, so that snapshots reach the
    /// disk in the order they were taken: an older one is never renamed over a newer one.
    users_file: Mutex<()>,
    /// The folder was new at this start (so nothing else of it, such as the network, is
    /// expected to be there yet).
    pub(crate) fresh: bool,
}

const USERS: &str = "users.json";
/// One JSON object per line, appended and synced per certificate.
const ISSUED: &str = "issued-certificates.jsonl";
/// What the issued certificates' file was called when it was one JSON array, rewritten whole
/// for each certificate; a folder that has it is moved on to [`ISSUED`] at start.
const ISSUED_ARRAY: &str = "issued-certificates.json";
const POLICY: &str = "policy.json";
const STS_KEY: &str = "sts-signing-key.pk8";
const ROOT_STEM: &str = "root";
const CS_STEM: &str = "communications-server";

/// Every file of a whole state folder (besides the network, which [`crate::service`] keeps).
const STATE_FILES: [&str; 8] = [
    "ca/root.crt.pem",
    "ca/root.key.pem",
    "ca/communications-server.crt.pem",
    "ca/communications-server.key.pem",
    STS_KEY,
    USERS,
    ISSUED,
    POLICY,
];

/// What `--state-dir` holds: nothing yet, or all of it. Anything between is an error that
/// names what is missing.
fn is_new(dir: &StateDir) -> anyhow::Result<bool> {
    let (present, missing): (Vec<&str>, Vec<&str>) =
        STATE_FILES.iter().partition(|name| dir.exists(name));
    if present.is_empty() {
        return Ok(true);
    }
    if !missing.is_empty() {
        anyhow::bail!(
            "the state folder {} is incomplete: {} missing, though it holds {}. lyncsim does not replace part of a service's state (a new CA or an empty tenant would break every client): restore the missing files, or give --state-dir an empty folder to start a new service",
            dir.0.display(),
            missing
                .iter()
                .map(|m| dir.path(m).display().to_string())
                .collect::<Vec<_>>()
                .join(", "),
            present.join(", ")
        );
    }
    Ok(false)
}

fn load_authority(dir: &StateDir, kind: AuthorityKind, stem: &str) -> anyhow::Result<Authority> {
    let (cert_name, key_name) = (format!("ca/{stem}.crt.pem"), format!("ca/{stem}.key.pem"));
    let read = |name: &str| {
        dir.read(name)?
            .with_context(|| format!("{} is missing", dir.path(name).display()))
    };
    let (cert, key) = (read(&cert_name)?, read(&key_name)?);
    Authority::from_pem(kind, &cert, &key).with_context(|| {
        format!(
            "loading the CA from {} and {}",
            dir.path(&cert_name).display(),
            dir.path(&key_name).display()
        )
    })
}

fn save_authority(dir: &StateDir, stem: &str, ca: &Authority) -> anyhow::Result<()> {
    dir.write(&format!("ca/{stem}.key.pem"), ca.key_pem().as_bytes())?;
    dir.write(&format!("ca/{stem}.crt.pem"), ca.cert_pem().as_bytes())
}

/// Reads and parses a JSON file of the state folder, naming it in any error.
fn load_json<T: serde::de::DeserializeOwned>(dir: &StateDir, name: &str) -> anyhow::Result<T> {
    let path = dir.path(name);
    let text = dir
        .read(name)?
        .with_context(|| format!("{} is missing", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("reading {}", path.display()))
}

/// Reads the issued certificates' file. A last line without its newline is a write that a
/// kill cut short (the certificate was never handed out: the line is synced before it is):
/// it is cut off the file. Any other line that does not read stops the start, naming the
/// file and the line.
fn load_issued(dir: &StateDir) -> anyhow::Result<Vec<IssuedRecord>> {
    let path = dir.path(ISSUED);
    let text = dir
        .read(ISSUED)?
        .with_context(|| format!("{} is missing", path.display()))?;
    let complete = text.rfind('\n').map_or(0, |i| i + 1);
    let mut records = Vec::new();
    for (n, line) in text[..complete].lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let read: IssuedLine = serde_json::from_str(line)
            .with_context(|| format!("reading {} line {}", path.display(), n + 1))?;
        records.push(read.record);
    }
    if complete < text.len() {
        tracing::warn!(
            "{}: dropping a last line cut short by a kill ({} bytes)",
            path.display(),
            text.len() - complete
        );
        let file = std::fs::OpenOptions::new()
            .write(true)
            .open(&path)
            .with_context(|| format!("opening {}", path.display()))?;
        file.set_len(complete as u64)
            .and_then(|()| file.sync_all())
            .with_context(|| format!("truncating {}", path.display()))?;
    }
    Ok(records)
}

/// Moves a folder's issued certificates from the JSON array of earlier versions to the
/// JSON Lines file, once.
fn migrate_issued(dir: &StateDir) -> anyhow::Result<()> {
    if dir.exists(ISSUED) || !dir.exists(ISSUED_ARRAY) {
        return Ok(());
    }
    let old: Vec<IssuedLine> = load_json(dir, ISSUED_ARRAY)?;
    let mut lines = Vec::new();
    for line in &old {
        serde_json::to_writer(&mut lines, line)?;
        lines.push(b'\n');
    }
    dir.write(ISSUED, &lines)?;
    std::fs::remove_file(dir.path(ISSUED_ARRAY))
        .with_context(|| format!("removing {}", dir.path(ISSUED_ARRAY).display()))
}

/// What a state folder holds, or a new service's state.
struct Loaded {
    public_root: Authority,
    cs: Authority,
    sts_key: StsKey,
    users: Vec<UserRecord>,
    issued: Vec<IssuedRecord>,
    policy: Policy,
}

impl Loaded {
    fn new(config: &ServiceConfig, now: i64) -> anyhow::Result<Loaded> {
        Ok(Loaded {
            public_root: Authority::generate(AuthorityKind::PublicRoot, now, 1)?,
            cs: match &config.communications_server {
                Some(ca) => {
                    Authority::from_pem(AuthorityKind::CommunicationsServer, &ca.cert, &ca.key)
                        .context("the Communications Server CA of the configuration")?
                }
                None => Authority::generate(AuthorityKind::CommunicationsServer, now, 1)?,
            },
            sts_key: StsKey::generate()?,
            users: config.tenant.users.iter().map(UserRecord::from).collect(),
            issued: Vec::new(),
            policy: Policy::default(),
        })
    }

    fn load(dir: &StateDir) -> anyhow::Result<Loaded> {
        let sts_path = dir.path(STS_KEY);
        let sts_bytes =
            std::fs::read(&sts_path).with_context(|| format!("reading {}", sts_path.display()))?;
        Ok(Loaded {
            public_root: load_authority(dir, AuthorityKind::PublicRoot, ROOT_STEM)?,
            cs: load_authority(dir, AuthorityKind::CommunicationsServer, CS_STEM)?,
            sts_key: StsKey::from_pkcs8(&sts_bytes)
                .with_context(|| format!("reading {}", sts_path.display()))?,
            users: load_json(dir, USERS)?,
            issued: load_issued(dir)?,
            policy: load_json(dir, POLICY)?,
        })
    }

    /// Writes a new service's state; the user list last, so that a folder cut short by a
    /// crash here is found incomplete at the next start.
    fn save(&self, dir: &StateDir) -> anyhow::Result<()> {
        save_authority(dir, ROOT_STEM, &self.public_root)?;
        save_authority(dir, CS_STEM, &self.cs)?;
        dir.write(STS_KEY, self.sts_key.pkcs8())?;
        dir.write(ISSUED, b"")?;
        dir.write(POLICY, &serde_json::to_vec_pretty(&self.policy)?)?;
        dir.write(USERS, &serde_json::to_vec_pretty(&self.users)?)
    }
}

impl State {
    pub(crate) fn open(config: &ServiceConfig, clock: ServiceClock) -> anyhow::Result<State> {
        let dir = config.state_dir.clone().map(StateDir::open).transpose()?;
        let now = clock.now();
        if let Some(dir) = &dir {
            migrate_issued(dir)?;
        }
        let (loaded, fresh) = match &dir {
            Some(dir) if !is_new(dir)? => (Loaded::load(dir)?, false),
            Some(dir) => {
                let loaded = Loaded::new(config, now)?;
                loaded.save(dir)?;
                (loaded, true)
            }
            None => (Loaded::new(config, now)?, true),
        };
        let users = loaded
            .users
            .into_iter()
            .map(|u| (u.address.to_ascii_lowercase(), u))
            .collect();
        Ok(State {
            journal: Journal::new(clock.clone()),
            clock,
            domain: config.tenant.domain.to_ascii_lowercase(),
            personal_validity_secs: config.personal_validity_secs,
            public_root: loaded.public_root,
            communications_server: RwLock::new(Arc::new(loaded.cs)),
            sts_key: loaded.sts_key,
            users: RwLock::new(users),
            issued: Mutex::new(loaded.issued),
            issued_file: Mutex::new(None),
            policy: RwLock::new(loaded.policy),
            dir,
            users_file: Mutex::new(()),
            fresh,
        })
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
            save_authority(dir, CS_STEM, &ca)?;
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

    /// Changes the policy; returns the one before. The file is written under the lock, so
    /// two changes reach the disk in the order they were made.
    pub(crate) fn update_policy(&self, change: impl FnOnce(&mut Policy)) -> anyhow::Result<Policy> {
        let mut policy = self.policy.write().unwrap_or_else(|p| p.into_inner());
        let before = policy.clone();
        change(&mut policy);
        if let Some(dir) = &self.dir {
            dir.write(POLICY, &serde_json::to_vec_pretty(&*policy)?)?;
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
                home_pool: crate::pools::pool_fqdn(&u.home_pool),
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

    /// Writes the users as they are now. The snapshot is taken under `users_file`, so every
    /// snapshot written after a change includes it, and the last one written is the newest.
    fn save_users(&self) -> anyhow::Result<()> {
        let Some(dir) = &self.dir else { return Ok(()) };
        let _file = self.users_file.lock().unwrap_or_else(|p| p.into_inner());
        let users: Vec<UserRecord> = self
            .users
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .cloned()
            .collect();
        dir.write(USERS, &serde_json::to_vec_pretty(&users)?)
    }

    /// Records a certificate issued: appended to the file and synced before it is kept in
    /// memory (and so before it is handed out).
    pub(crate) fn record_issued(&self, line: IssuedLine) -> anyhow::Result<()> {
        if let Some(dir) = &self.dir {
            use std::io::Write;
            let mut bytes = serde_json::to_vec(&line)?;
            bytes.push(b'\n');
            let path = dir.path(ISSUED);
            let mut file = self.issued_file.lock().unwrap_or_else(|p| p.into_inner());
            if file.is_none() {
                *file = Some(
                    std::fs::OpenOptions::new()
                        .append(true)
                        .open(&path)
                        .with_context(|| format!("opening {}", path.display()))?,
                );
            }
            if let Some(f) = file.as_mut() {
                f.write_all(&bytes)
                    .and_then(|()| f.sync_data())
                    .with_context(|| format!("appending to {}", path.display()))?;
            }
        }
        self.issued
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(line.record);
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
