//! Everything the service knows, in one place: the CAs, the STS key, the users, the issued
//! certificates and the journal. With a state directory, each change is written atomically
//! (a temporary file, synced, renamed over the old one, the folder synced) before it is
//! acknowledged, so that a restart, or `kill -9`, loses nothing acknowledged.
//!
//! A state folder is either new (none of its files: it is initialised) or whole (all of them,
//! each key the key of its certificate); anything between stops the service with an error
//! naming the file, rather than quietly making a new CA or an empty tenant. Every file is read
//! and checked at start (each CA certificate strictly, with its own signature), and every file
//! names the service it belongs to ([`ServiceId`]): a file of another service's folder put in
//! this one is refused by name. A change is in memory only once it is on disk: a write that
//! fails leaves the service as it was.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};

use anyhow::Context;
use lyncsim_domain::{Build, Product};
use lyncsim_pki::{Authority, AuthorityKind};
use lyncsim_wire::admin::UserView;
use serde::{Deserialize, Serialize};

use crate::NetworkLayout;
use crate::clock::ServiceClock;
use crate::config::{ServiceConfig, TenantUser};
use crate::journal::Journal;
use crate::tokens::StsKey;

/// The service a state folder belongs to: made with the folder, and carried by every file of
/// it (a JSON file's `service` field, a line before a PEM block, the first line of the issued
/// certificates), so that one service's file put in another's folder is found at start.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub(crate) struct ServiceId(String);

impl ServiceId {
    fn new() -> ServiceId {
        ServiceId(lyncsim_wire::random_guid())
    }
}

impl std::fmt::Display for ServiceId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// What starts the line that names a PEM file's service. RFC 7468 section 2 lets text stand
/// before a PEM block ("parsers MUST NOT malfunction when processing such data"); lyncsim
/// takes the line off before any parser sees the block.
const PEM_OWNER: &str = "lyncsim-service: ";

/// `pem` with the line that names `id` before it.
fn owned_pem(id: &ServiceId, pem: &str) -> String {
    format!("{PEM_OWNER}{id}\n{pem}")
}

/// The service a PEM file names (if it names one), and the PEM after that line.
fn pem_owner(text: &str) -> (Option<ServiceId>, &str) {
    match text
        .strip_prefix(PEM_OWNER)
        .and_then(|rest| rest.split_once('\n'))
    {
        Some((id, pem)) => (Some(ServiceId(id.trim().to_owned())), pem),
        None => (None, text),
    }
}

/// A JSON file of the folder: what it holds, and the service it belongs to (absent in a
/// folder of a lyncsim from before services named themselves).
#[derive(Debug, Serialize, Deserialize)]
struct Owned<T> {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    service: Option<ServiceId>,
    #[serde(flatten)]
    body: T,
}

/// The users' file's body.
#[derive(Debug, Serialize, Deserialize)]
struct Users {
    users: Vec<UserRecord>,
}

/// The first line of the issued certificates' file.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct IssuedHeader {
    service: ServiceId,
}

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

impl StateDir {
    /// Opens (making it if need be) a state folder, removing temporary files that a killed
    /// write left behind.
    pub(crate) fn open(path: PathBuf) -> anyhow::Result<StateDir> {
        std::fs::create_dir_all(&path)
            .with_context(|| format!("creating the state folder {}", path.display()))?;
        let dir = StateDir(path);
        for folder in [dir.0.clone(), dir.path("ca")] {
            lyncsim_durable::remove_leftovers(&folder)
                .with_context(|| format!("removing temporary files in {}", folder.display()))?;
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
        let path = self.path(name);
        lyncsim_durable::write_atomically(&path, contents)
            .with_context(|| format!("writing {}", path.display()))
    }
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
    /// Whether webdir's certificate also names `lyncdiscover.<domain>`
    /// ([`crate::Tenant::own_lyncdiscover_certificate`]).
    pub(crate) own_lyncdiscover_certificate: bool,
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
    /// The service the folder belongs to.
    id: ServiceId,
    /// The addresses and ports the folder holds from the last start.
    network: Option<NetworkLayout>,
}

const USERS: &str = "users.json";
/// One JSON object per line, appended and synced per certificate.
const ISSUED: &str = "issued-certificates.jsonl";
/// What the issued certificates' file was called when it was one JSON array, rewritten whole
/// for each certificate; a folder that has it is moved on to [`ISSUED`] at start.
const ISSUED_ARRAY: &str = "issued-certificates.json";
const POLICY: &str = "policy.json";
/// The STS's key, PKCS#8 in PEM under the line that names the service.
const STS_KEY: &str = "sts-signing-key.pem";
/// Where earlier versions kept the STS's key, as bare DER; moved to [`STS_KEY`] at start.
const STS_KEY_DER: &str = "sts-signing-key.pk8";
/// The addresses and ports, written at every start.
pub(crate) const NETWORK: &str = "network.json";
const ROOT_STEM: &str = "root";
const CS_STEM: &str = "communications-server";
const ROOT_CERT: &str = "ca/root.crt.pem";

/// Every file of a whole state folder (besides the network, which a folder new at this start
/// does not have yet).
const STATE_FILES: [&str; 8] = [
    ROOT_CERT,
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
    let (present, missing): (Vec<&str>, Vec<&str>) = STATE_FILES
        .iter()
        .partition(|name| dir.exists(name) || (**name == STS_KEY && dir.exists(STS_KEY_DER)));
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

/// Who each file of a folder says it belongs to, file by file.
type Owners = Vec<(String, Option<ServiceId>)>;

/// Reads a text file of the state folder, naming it when it is missing.
fn read_text(dir: &StateDir, name: &str) -> anyhow::Result<String> {
    dir.read(name)?
        .with_context(|| format!("{} is missing", dir.path(name).display()))
}

fn load_authority(
    dir: &StateDir,
    kind: AuthorityKind,
    stem: &str,
    owners: &mut Owners,
) -> anyhow::Result<Authority> {
    let (cert_name, key_name) = (format!("ca/{stem}.crt.pem"), format!("ca/{stem}.key.pem"));
    let (cert_text, key_text) = (read_text(dir, &cert_name)?, read_text(dir, &key_name)?);
    let (cert_owner, cert) = pem_owner(&cert_text);
    let (key_owner, key) = pem_owner(&key_text);
    owners.push((cert_name.clone(), cert_owner));
    owners.push((key_name.clone(), key_owner));
    Authority::from_pem(kind, cert, key).with_context(|| {
        format!(
            "loading the CA from {} and {}",
            dir.path(&cert_name).display(),
            dir.path(&key_name).display()
        )
    })
}

fn save_authority(
    dir: &StateDir,
    id: &ServiceId,
    stem: &str,
    ca: &Authority,
) -> anyhow::Result<()> {
    dir.write(
        &format!("ca/{stem}.key.pem"),
        owned_pem(id, &ca.key_pem()).as_bytes(),
    )?;
    dir.write(
        &format!("ca/{stem}.crt.pem"),
        owned_pem(id, &ca.cert_pem()).as_bytes(),
    )
}

/// Reads the STS's key: the PEM file, or the bare DER of an earlier version.
fn load_sts_key(dir: &StateDir, owners: &mut Owners) -> anyhow::Result<StsKey> {
    let (path, der, owner) = match dir.read(STS_KEY)? {
        Some(text) => {
            let (owner, pem) = pem_owner(&text);
            let der = lyncsim_pki::pem_decode("PRIVATE KEY", pem)
                .with_context(|| format!("reading {}", dir.path(STS_KEY).display()))?;
            (dir.path(STS_KEY), der, owner)
        }
        None => {
            let path = dir.path(STS_KEY_DER);
            let der =
                std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
            (path, der, None)
        }
    };
    owners.push((STS_KEY.to_owned(), owner));
    StsKey::from_pkcs8(&der).with_context(|| format!("reading {}", path.display()))
}

fn save_sts_key(dir: &StateDir, id: &ServiceId, key: &StsKey) -> anyhow::Result<()> {
    let pem = lyncsim_pki::pem_encode("PRIVATE KEY", key.pkcs8());
    dir.write(STS_KEY, owned_pem(id, &pem).as_bytes())
}

/// The users' file: `{"service": …, "users": […]}`, or the bare list of an earlier version.
fn load_users(dir: &StateDir, owners: &mut Owners) -> anyhow::Result<Vec<UserRecord>> {
    let path = dir.path(USERS);
    let value: serde_json::Value = load_json(dir, USERS)?;
    let file: Owned<Users> = if value.is_array() {
        Owned {
            service: None,
            body: Users {
                users: serde_json::from_value(value)
                    .with_context(|| format!("reading {}", path.display()))?,
            },
        }
    } else {
        serde_json::from_value(value).with_context(|| format!("reading {}", path.display()))?
    };
    owners.push((USERS.to_owned(), file.service));
    Ok(file.body.users)
}

fn users_json<'a>(
    id: &ServiceId,
    users: impl IntoIterator<Item = &'a UserRecord>,
) -> anyhow::Result<Vec<u8>> {
    let file = Owned {
        service: Some(id.clone()),
        body: Users {
            users: users.into_iter().cloned().collect(),
        },
    };
    Ok(serde_json::to_vec_pretty(&file)?)
}

fn policy_json(id: &ServiceId, policy: &Policy) -> anyhow::Result<Vec<u8>> {
    Ok(serde_json::to_vec_pretty(&Owned {
        service: Some(id.clone()),
        body: policy,
    })?)
}

/// The service of the folder: the one its root certificate names (the first file a folder
/// gets, and never rewritten), which every other file must name too. A folder in which no
/// file names one was written before services named themselves: `None`.
fn folder_owner(dir: &StateDir, owners: &Owners) -> anyhow::Result<Option<ServiceId>> {
    let root = owners
        .iter()
        .find(|(name, _)| name == ROOT_CERT)
        .and_then(|(_, owner)| owner.clone());
    let Some(id) = root else {
        if let Some((name, Some(other))) = owners.iter().find(|(_, owner)| owner.is_some()) {
            anyhow::bail!(
                "{} names no service, though {} belongs to service {other}: the folder mixes files of different services; restore its own root certificate, or give --state-dir an empty folder to start a new service",
                dir.path(ROOT_CERT).display(),
                dir.path(name).display()
            );
        }
        return Ok(None);
    };
    for (name, owner) in owners {
        match owner {
            Some(o) if *o == id => {}
            Some(other) => anyhow::bail!(
                "{} belongs to service {other}, not to this folder's service {id} (named by {}): it is a file of another service's state folder; restore this folder's own",
                dir.path(name).display(),
                dir.path(ROOT_CERT).display()
            ),
            None => anyhow::bail!(
                "{} names no service, though this folder belongs to service {id} (named by {}): restore this folder's own file",
                dir.path(name).display(),
                dir.path(ROOT_CERT).display()
            ),
        }
    }
    Ok(Some(id))
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
fn load_issued(dir: &StateDir, owners: &mut Owners) -> anyhow::Result<Vec<IssuedRecord>> {
    let path = dir.path(ISSUED);
    let text = read_text(dir, ISSUED)?;
    let complete = text.rfind('\n').map_or(0, |i| i + 1);
    let mut records = Vec::new();
    let mut owner = None;
    for (n, line) in text[..complete].lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        if n == 0
            && let Ok(header) = serde_json::from_str::<IssuedHeader>(line)
        {
            owner = Some(header.service);
            continue;
        }
        let read: IssuedLine = serde_json::from_str(line)
            .with_context(|| format!("reading {} line {}", path.display(), n + 1))?;
        records.push(read.record);
    }
    owners.push((ISSUED.to_owned(), owner));
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

/// The issued certificates' file's first line, naming the service.
fn issued_header(id: &ServiceId) -> anyhow::Result<Vec<u8>> {
    let mut out = serde_json::to_vec(&IssuedHeader {
        service: id.clone(),
    })?;
    out.push(b'\n');
    Ok(out)
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
    network: Option<NetworkLayout>,
    id: ServiceId,
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
            network: None,
            id: ServiceId::new(),
        })
    }

    /// Reads and checks every file of a whole folder; a folder of an earlier version, whose
    /// files name no service, is taken as this service's and rewritten naming it.
    fn load(dir: &StateDir) -> anyhow::Result<Loaded> {
        let mut owners = Owners::new();
        let public_root = load_authority(dir, AuthorityKind::PublicRoot, ROOT_STEM, &mut owners)?;
        let cs = load_authority(
            dir,
            AuthorityKind::CommunicationsServer,
            CS_STEM,
            &mut owners,
        )?;
        let sts_key = load_sts_key(dir, &mut owners)?;
        let users = load_users(dir, &mut owners)?;
        let issued = load_issued(dir, &mut owners)?;
        let policy: Owned<Policy> = load_json(dir, POLICY)?;
        owners.push((POLICY.to_owned(), policy.service));
        let network = match dir.read(NETWORK)? {
            Some(text) => {
                let file: Owned<NetworkLayout> = serde_json::from_str(&text)
                    .with_context(|| format!("reading {}", dir.path(NETWORK).display()))?;
                owners.push((NETWORK.to_owned(), file.service));
                Some(file.body)
            }
            None => None,
        };
        let mut loaded = Loaded {
            public_root,
            cs,
            sts_key,
            users,
            issued,
            policy: policy.body,
            network,
            id: ServiceId::new(),
        };
        match folder_owner(dir, &owners)? {
            Some(id) => loaded.id = id,
            None => loaded.adopt(dir)?,
        }
        Ok(loaded)
    }

    /// Rewrites a folder of an earlier version so that every file names this service.
    fn adopt(&self, dir: &StateDir) -> anyhow::Result<()> {
        tracing::warn!(
            "the state folder {} was written by an earlier lyncsim, whose files name no service: they are taken as this service's ({}) and rewritten naming it",
            dir.0.display(),
            self.id
        );
        let issued = read_text(dir, ISSUED)?;
        let mut rewritten = issued_header(&self.id)?;
        rewritten.extend_from_slice(issued.as_bytes());
        dir.write(ISSUED, &rewritten)?;
        self.save(dir)?;
        if dir.exists(STS_KEY_DER) {
            std::fs::remove_file(dir.path(STS_KEY_DER))
                .with_context(|| format!("removing {}", dir.path(STS_KEY_DER).display()))?;
        }
        Ok(())
    }

    /// Writes the state (a new service's, or one adopted), the issued certificates' file
    /// only where there is none; the user list last, so that a folder cut short by a crash
    /// here is found incomplete at the next start.
    fn save(&self, dir: &StateDir) -> anyhow::Result<()> {
        save_authority(dir, &self.id, ROOT_STEM, &self.public_root)?;
        save_authority(dir, &self.id, CS_STEM, &self.cs)?;
        save_sts_key(dir, &self.id, &self.sts_key)?;
        if !dir.exists(ISSUED) {
            dir.write(ISSUED, &issued_header(&self.id)?)?;
        }
        if let Some(network) = &self.network {
            dir.write(NETWORK, &network_json(&self.id, network)?)?;
        }
        dir.write(POLICY, &policy_json(&self.id, &self.policy)?)?;
        dir.write(USERS, &users_json(&self.id, &self.users)?)
    }
}

fn network_json(id: &ServiceId, layout: &NetworkLayout) -> anyhow::Result<Vec<u8>> {
    Ok(serde_json::to_vec_pretty(&Owned {
        service: Some(id.clone()),
        body: layout,
    })?)
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
            own_lyncdiscover_certificate: config.tenant.own_lyncdiscover_certificate,
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
            id: loaded.id,
            network: loaded.network,
        })
    }

    /// The addresses and ports the state folder holds from the last start.
    pub(crate) fn saved_network(&self) -> Option<NetworkLayout> {
        self.network
    }

    /// Writes the addresses and ports this start bound (with a state folder).
    pub(crate) fn save_network(&self, layout: &NetworkLayout) -> anyhow::Result<()> {
        match &self.dir {
            Some(dir) => dir.write(NETWORK, &network_json(&self.id, layout)?),
            None => Ok(()),
        }
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
            save_authority(dir, &self.id, CS_STEM, &ca)?;
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

    /// Changes the policy; returns the one before. The new policy is written (under the
    /// lock, so two changes reach the disk in the order they were made) before it is in
    /// force: a write that fails changes nothing.
    pub(crate) fn update_policy(&self, change: impl FnOnce(&mut Policy)) -> anyhow::Result<Policy> {
        let mut policy = self.policy.write().unwrap_or_else(|p| p.into_inner());
        let mut next = policy.clone();
        change(&mut next);
        if let Some(dir) = &self.dir {
            dir.write(POLICY, &policy_json(&self.id, &next)?)?;
        }
        Ok(std::mem::replace(&mut *policy, next))
    }

    /// Changes a user; returns the record before, or `None` when there is no such user.
    pub(crate) fn update_user(
        &self,
        address: &str,
        change: impl FnOnce(&mut UserRecord),
    ) -> anyhow::Result<Option<UserRecord>> {
        self.change_users(|users| {
            let user = users.get_mut(&address.to_ascii_lowercase())?;
            let before = user.clone();
            change(user);
            Some(before)
        })
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
        self.change_users(|users| {
            let key = user.address.to_ascii_lowercase();
            if users.contains_key(&key) {
                return false;
            }
            users.insert(key, user);
            true
        })
    }

    /// Makes a change to the users, on disk first: with a state folder, the users as they
    /// will be are written (under `users_file`, so that snapshots reach the disk in the order
    /// they were made) and only then put in force, so a write that fails changes nothing.
    fn change_users<R>(
        &self,
        change: impl FnOnce(&mut BTreeMap<String, UserRecord>) -> R,
    ) -> anyhow::Result<R> {
        let Some(dir) = &self.dir else {
            let mut users = self.users.write().unwrap_or_else(|p| p.into_inner());
            return Ok(change(&mut users));
        };
        let _file = self.users_file.lock().unwrap_or_else(|p| p.into_inner());
        let mut next = self.users.read().unwrap_or_else(|p| p.into_inner()).clone();
        let result = change(&mut next);
        dir.write(USERS, &users_json(&self.id, next.values())?)?;
        *self.users.write().unwrap_or_else(|p| p.into_inner()) = next;
        Ok(result)
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

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    fn open(dir: &Path) -> anyhow::Result<State> {
        let config = ServiceConfig {
            state_dir: Some(dir.to_owned()),
            ..ServiceConfig::default()
        };
        State::open(&config, ServiceClock::new(0, 300))
    }

    fn dave() -> UserRecord {
        UserRecord {
            address: "dave@contoso.com".into(),
            password: "x".into(),
            home_pool: "pool-a".into(),
            corrupt: false,
        }
    }

    /// The folder made unwritable: a file where it was (root writes anywhere else).
    fn break_folder(dir: &Path) -> PathBuf {
        let kept = dir.with_extension("kept");
        std::fs::rename(dir, &kept).unwrap();
        std::fs::write(dir, "not a folder").unwrap();
        kept
    }

    fn mend_folder(dir: &Path, kept: &Path) {
        std::fs::remove_file(dir).unwrap();
        std::fs::rename(kept, dir).unwrap();
    }

    #[test]
    fn a_change_whose_write_fails_changes_nothing() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("state");
        let state = open(&dir).unwrap();
        let kept = break_folder(&dir);

        assert!(state.add_user(dave()).is_err());
        assert_eq!(
            state.user("dave@contoso.com"),
            None,
            "not on disk, not live"
        );
        assert!(
            state
                .update_user("alice@contoso.com", |u| u.corrupt = true)
                .is_err()
        );
        assert_eq!(
            state.user("alice@contoso.com").map(|u| u.corrupt),
            Some(false)
        );
        let before = state.policy();
        assert!(
            state
                .update_policy(|p| p.min_sign_in_assistant = "99.0".parse().unwrap())
                .is_err()
        );
        assert_eq!(state.policy(), before);

        // The disk back: the same change is new, not "exists", and survives a restart.
        mend_folder(&dir, &kept);
        assert!(state.add_user(dave()).unwrap());
        drop(state);
        assert!(open(&dir).unwrap().user("dave@contoso.com").is_some());
    }

    /// Copies a state folder's files (and its `ca/`).
    fn copy(from: &Path, to: &Path) {
        for sub in ["", "ca"] {
            std::fs::create_dir_all(to.join(sub)).unwrap();
            for entry in std::fs::read_dir(from.join(sub)).unwrap().flatten() {
                if entry.path().is_file() {
                    std::fs::copy(entry.path(), to.join(sub).join(entry.file_name())).unwrap();
                }
            }
        }
    }

    #[test]
    fn every_file_names_its_service_and_another_services_file_is_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let (one, two) = (tmp.path().join("one"), tmp.path().join("two"));
        let (a, b) = (open(&one).unwrap(), open(&two).unwrap());
        a.save_network(&NetworkLayout::random()).unwrap();
        b.save_network(&NetworkLayout::random()).unwrap();
        let id = a.id.to_string();
        drop((a, b));
        for name in STATE_FILES.iter().chain([&NETWORK]) {
            let text = std::fs::read_to_string(one.join(name)).unwrap();
            assert!(
                text.contains(&id),
                "{name} does not name its service: {text}"
            );
        }
        // Each file of the other service, put in this one's folder, is refused by name.
        for name in STATE_FILES.iter().chain([&NETWORK]) {
            let mixed = tmp.path().join(format!("mixed-{}", name.replace('/', "-")));
            copy(&one, &mixed);
            std::fs::copy(two.join(name), mixed.join(name)).unwrap();
            let err = format!("{:#}", open(&mixed).err().expect("refused"));
            let named = mixed.join(if *name == "ca/root.key.pem" {
                // The other root's key is refused first as not the certificate's key.
                "ca/root.key.pem"
            } else {
                name
            });
            assert!(
                err.contains(&named.display().to_string()),
                "{name}: the error does not name the file: {err}"
            );
        }
    }

    #[test]
    fn a_folder_of_an_earlier_version_is_taken_up_and_rewritten_naming_the_service() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("old");
        let state = open(&dir).unwrap();
        state.add_user(dave()).unwrap();
        drop(state);
        // As an earlier version wrote it: no names, bare lists, the key as DER.
        for name in STATE_FILES {
            let text = std::fs::read_to_string(dir.join(name)).unwrap();
            let (_, rest) = pem_owner(&text);
            std::fs::write(dir.join(name), rest).unwrap();
        }
        let sts = std::fs::read_to_string(dir.join(STS_KEY)).unwrap();
        let der = lyncsim_pki::pem_decode("PRIVATE KEY", &sts).unwrap();
        std::fs::remove_file(dir.join(STS_KEY)).unwrap();
        std::fs::write(dir.join(STS_KEY_DER), der).unwrap();
        let users: Owned<Users> =
            serde_json::from_slice(&std::fs::read(dir.join(USERS)).unwrap()).unwrap();
        std::fs::write(
            dir.join(USERS),
            serde_json::to_vec(&users.body.users).unwrap(),
        )
        .unwrap();
        let policy: Owned<Policy> =
            serde_json::from_slice(&std::fs::read(dir.join(POLICY)).unwrap()).unwrap();
        std::fs::write(dir.join(POLICY), serde_json::to_vec(&policy.body).unwrap()).unwrap();
        std::fs::write(dir.join(ISSUED), "").unwrap();

        let state = open(&dir).unwrap();
        assert!(state.user("dave@contoso.com").is_some());
        let id = state.id.to_string();
        drop(state);
        assert!(!dir.join(STS_KEY_DER).exists());
        for name in STATE_FILES {
            let text = std::fs::read_to_string(dir.join(name)).unwrap();
            assert!(text.contains(&id), "{name} was not rewritten: {text}");
        }
        assert!(open(&dir).is_ok(), "and it opens again as it is");
    }
}
