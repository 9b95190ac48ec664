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
//!
//! Every file ends in a checksum of what stands before it (each line of the issued
//! certificates carries its own), so that damage that still parses (a digit changed in the
//! policy, a byte of a PEM) stops the start naming the file. A CA is one file, its
//! certificate and key together, so that a rotation is one rename: a kill leaves the old CA
//! or the new one, never a certificate with another's key. A new folder is marked while its
//! first start writes it ([`INITIALISING`]); a start killed before it finished (nothing of it
//! ever acknowledged) is begun again at the next.

use std::collections::{BTreeMap, HashMap, VecDeque};
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

    /// What `name` holds before its checksum line, checked ([`unsealed`]); `None` when there
    /// is no such file.
    pub(crate) fn read(&self, name: &str) -> anyhow::Result<Option<String>> {
        match self.read_raw(name)? {
            Some(text) => unsealed(&self.path(name), text).map(Some),
            None => Ok(None),
        }
    }

    /// What `name` holds, as it is (the issued certificates, whose lines carry their own
    /// checksums).
    fn read_raw(&self, name: &str) -> anyhow::Result<Option<String>> {
        match std::fs::read_to_string(self.path(name)) {
            Ok(text) => Ok(Some(text)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e).with_context(|| format!("reading {}", self.path(name).display())),
        }
    }

    /// Writes `contents` to `name` atomically, with its checksum line after it.
    pub(crate) fn write(&self, name: &str, contents: &[u8]) -> anyhow::Result<()> {
        self.write_raw(name, &sealed(contents))
    }

    /// Writes `contents` to `name` atomically, as they are.
    fn write_raw(&self, name: &str, contents: &[u8]) -> anyhow::Result<()> {
        let path = self.path(name);
        lyncsim_durable::write_atomically(&path, contents)
            .with_context(|| format!("writing {}", path.display()))
    }

    /// Removes `name` if it is there, and syncs the folder, so that the removal outlives a
    /// crash.
    fn remove(&self, name: &str) -> anyhow::Result<()> {
        let path = self.path(name);
        match std::fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e).with_context(|| format!("removing {}", path.display())),
        }
        let folder = path.parent().unwrap_or(&self.0);
        std::fs::File::open(folder)
            .and_then(|f| f.sync_all())
            .with_context(|| format!("syncing {}", folder.display()))
    }
}

/// The line that ends every file lyncsim writes whole to a state folder: the SHA-256 of all
/// that stands before it, in hexadecimal.
const CHECKSUM: &str = "lyncsim-sha256: ";

fn sha256_hex(bytes: &[u8]) -> String {
    aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, bytes)
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// `contents`, ending in a line break, then the checksum line.
fn sealed(contents: &[u8]) -> Vec<u8> {
    let mut out = contents.to_vec();
    if !out.ends_with(b"\n") {
        out.push(b'\n');
    }
    let sum = sha256_hex(&out);
    out.extend_from_slice(format!("{CHECKSUM}{sum}\n").as_bytes());
    out
}

/// What `text` (the file at `path`) holds before its checksum line, once the checksum is
/// found to match; a file without one was written by an earlier lyncsim and is taken as it
/// is.
fn unsealed(path: &std::path::Path, text: String) -> anyhow::Result<String> {
    let body_end = text.trim_end_matches('\n').rfind('\n').map_or(0, |i| i + 1);
    let Some(sum) = text[body_end..].strip_prefix(CHECKSUM) else {
        return Ok(text);
    };
    let body = &text[..body_end];
    if sha256_hex(body.as_bytes()) != sum.trim() {
        anyhow::bail!(
            "{} does not match its checksum: it was changed or damaged after lyncsim wrote it. Restore it from a backup, or give --state-dir an empty folder to start a new service",
            path.display()
        );
    }
    Ok(body.to_owned())
}

/// A line of the issued certificates' file: its JSON, a tab, and the first 16 hexadecimal
/// digits of the JSON's SHA-256 (JSON escapes a tab inside a string, so the last tab is the
/// separator).
fn issued_line(json: &[u8]) -> Vec<u8> {
    let mut line = json.to_vec();
    line.push(b'\t');
    line.extend_from_slice(&sha256_hex(json).as_bytes()[..16]);
    line.push(b'\n');
    line
}

/// The JSON of a line of the issued certificates' file, its checksum checked when it has one
/// (an earlier lyncsim wrote none).
fn issued_json(line: &str) -> Result<&str, &'static str> {
    match line.rsplit_once('\t') {
        Some((json, sum)) if sha256_hex(json.as_bytes()).get(..16) == Some(sum.trim()) => Ok(json),
        Some(_) => {
            Err("it does not match its checksum: it was changed or damaged after lyncsim wrote it")
        }
        None => Ok(line),
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
    /// How many generations of the Communications Server CA this service has made, across
    /// restarts (kept in the CA's file).
    cs_generations: std::sync::atomic::AtomicU32,
    /// When certificates were issued to each user within the last minute, by the service
    /// clock (milliseconds): at most [`MAX_ISSUED_PER_MINUTE`] each.
    issuance: Mutex<HashMap<String, VecDeque<i64>>>,
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
/// The public root: its certificate and key in one file.
const ROOT_CA: &str = "ca/root.pem";
/// The Communications Server CA: its certificate and key in one file, after the number of
/// generations this service has made ([`GENERATIONS`]).
const CS_CA: &str = "ca/communications-server.pem";
/// The line of a CA's file that says how many generations of it the service has made, so that
/// a rotation after a restart is numbered after every one before it.
const GENERATIONS: &str = "lyncsim-ca-generations: ";
/// There while the first start of a new folder writes it, removed once every file is there.
pub(crate) const INITIALISING: &str = "initialising";

/// Every file of a whole state folder (besides the network, which a folder new at this start
/// does not have yet).
const STATE_FILES: [&str; 6] = [ROOT_CA, CS_CA, STS_KEY, USERS, ISSUED, POLICY];

/// How many certificates certificate provisioning issues to one user within a minute (by the
/// service clock). No source gives the real service's bound; this one is lyncsim's own: far
/// above what any client, the suite or the console asks for, and it keeps a client in a loop
/// from growing the issued certificates without end.
pub(crate) const MAX_ISSUED_PER_MINUTE: usize = 120;

/// The file of the CA `stem`.
fn ca_name(stem: &str) -> String {
    format!("ca/{stem}.pem")
}

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

/// Reads the CA `stem` from its one file: the line naming the service, the number of
/// generations made, the certificate and its key. Returns the CA and how many generations of
/// it the service has made (at least the CA's own).
fn load_authority(
    dir: &StateDir,
    kind: AuthorityKind,
    stem: &str,
    owners: &mut Owners,
) -> anyhow::Result<(Authority, u32)> {
    let name = ca_name(stem);
    let path = dir.path(&name);
    let text = read_text(dir, &name)?;
    let (owner, rest) = pem_owner(&text);
    owners.push((name.clone(), owner));
    let (generations, pem) = match rest
        .strip_prefix(GENERATIONS)
        .and_then(|r| r.split_once('\n'))
    {
        Some((n, pem)) => {
            let n: u32 = n
                .trim()
                .parse()
                .with_context(|| format!("reading {}: {GENERATIONS}{n}", path.display()))?;
            (n, pem)
        }
        None => (0, rest),
    };
    let at = pem
        .find("-----BEGIN PRIVATE KEY-----")
        .with_context(|| format!("{} holds no private key", path.display()))?;
    let ca = Authority::from_pem(kind, &pem[..at], &pem[at..])
        .with_context(|| format!("loading the CA from {}", path.display()))?;
    let made = generations.max(ca.generation().unwrap_or(1));
    Ok((ca, made))
}

/// A CA's file: its certificate and key together, so that one rename replaces both.
fn ca_file(id: Option<&ServiceId>, ca: &Authority, generations: u32) -> String {
    let body = format!(
        "{GENERATIONS}{generations}\n{}{}",
        ca.cert_pem(),
        ca.key_pem()
    );
    match id {
        Some(id) => owned_pem(id, &body),
        None => body,
    }
}

fn save_authority(
    dir: &StateDir,
    id: &ServiceId,
    stem: &str,
    (ca, generations): (&Authority, u32),
) -> anyhow::Result<()> {
    dir.write(
        &ca_name(stem),
        ca_file(Some(id), ca, generations).as_bytes(),
    )
}

/// Moves each CA that an earlier lyncsim kept in two files (`ca/<stem>.crt.pem` and
/// `.key.pem`, which a kill between their renames could leave mismatched) into its one file,
/// once. When the one file is there already (a kill after it was written), the two are only
/// removed. A CA of which one of the two is missing is left for [`is_new`] to report.
fn migrate_ca_pairs(dir: &StateDir) -> anyhow::Result<()> {
    for (kind, stem) in [
        (AuthorityKind::PublicRoot, ROOT_STEM),
        (AuthorityKind::CommunicationsServer, CS_STEM),
    ] {
        let (cert_name, key_name) = (format!("ca/{stem}.crt.pem"), format!("ca/{stem}.key.pem"));
        let (cert_there, key_there) = (dir.exists(&cert_name), dir.exists(&key_name));
        if !dir.exists(&ca_name(stem)) {
            if !(cert_there && key_there) {
                continue;
            }
            let (cert_text, key_text) = (read_text(dir, &cert_name)?, read_text(dir, &key_name)?);
            let ((cert_owner, cert), (key_owner, key)) =
                (pem_owner(&cert_text), pem_owner(&key_text));
            if cert_owner != key_owner {
                anyhow::bail!(
                    "{} and {} name different services: restore this folder's own",
                    dir.path(&cert_name).display(),
                    dir.path(&key_name).display()
                );
            }
            let ca = Authority::from_pem(kind, cert, key).with_context(|| {
                format!(
                    "loading the CA from {} and {}",
                    dir.path(&cert_name).display(),
                    dir.path(&key_name).display()
                )
            })?;
            let generations = ca.generation().unwrap_or(1);
            let file = ca_file(cert_owner.as_ref(), &ca, generations);
            dir.write(&ca_name(stem), file.as_bytes())?;
        }
        dir.remove(&cert_name)?;
        dir.remove(&key_name)?;
    }
    Ok(())
}

/// A folder whose first start was killed before it finished writing it: nothing of it was
/// ever acknowledged (the service serves only once its state is open), so its files are
/// removed and the start begins again.
fn discard_unfinished_start(dir: &StateDir) -> anyhow::Result<()> {
    if !dir.exists(INITIALISING) {
        return Ok(());
    }
    tracing::warn!(
        "the state folder {} was being made when its first start stopped; making it again",
        dir.0.display()
    );
    for name in STATE_FILES.iter().chain([&NETWORK]) {
        dir.remove(name)?;
    }
    dir.remove(INITIALISING)
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
        .find(|(name, _)| name == ROOT_CA)
        .and_then(|(_, owner)| owner.clone());
    let Some(id) = root else {
        if let Some((name, Some(other))) = owners.iter().find(|(_, owner)| owner.is_some()) {
            anyhow::bail!(
                "{} names no service, though {} belongs to service {other}: the folder mixes files of different services; restore its own root certificate, or give --state-dir an empty folder to start a new service",
                dir.path(ROOT_CA).display(),
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
                dir.path(ROOT_CA).display()
            ),
            None => anyhow::bail!(
                "{} names no service, though this folder belongs to service {id} (named by {}): restore this folder's own file",
                dir.path(name).display(),
                dir.path(ROOT_CA).display()
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
/// it is cut off the file. Any other line that does not read, or does not match its checksum,
/// stops the start, naming the file and the line. The file is compacted: a certificate that
/// expired (by `now`, beyond the `tolerance`, both seconds) can sign nobody in any more, and
/// its line is dropped, the file rewritten atomically without it.
fn load_issued(
    dir: &StateDir,
    owners: &mut Owners,
    (now, tolerance): (i64, i64),
) -> anyhow::Result<Vec<IssuedRecord>> {
    let path = dir.path(ISSUED);
    let text = dir
        .read_raw(ISSUED)?
        .with_context(|| format!("{} is missing", path.display()))?;
    let complete = text.rfind('\n').map_or(0, |i| i + 1);
    // The JSON of the lines kept, borrowed: the file is written again only when a line goes.
    let (mut records, mut kept, mut expired) = (Vec::new(), Vec::<&str>::new(), 0usize);
    let mut owner = None;
    for (n, line) in text[..complete].lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let json = issued_json(line)
            .map_err(|why| anyhow::anyhow!("reading {} line {}: {why}", path.display(), n + 1))?;
        if n == 0
            && let Ok(header) = serde_json::from_str::<IssuedHeader>(json)
        {
            owner = Some(header.service);
            kept.push(json);
            continue;
        }
        let read: IssuedLine = serde_json::from_str(json)
            .with_context(|| format!("reading {} line {}", path.display(), n + 1))?;
        if read.record.not_after.saturating_add(tolerance) < now {
            expired += 1;
            continue;
        }
        kept.push(json);
        records.push(read.record);
    }
    owners.push((ISSUED.to_owned(), owner));
    if expired > 0 {
        tracing::info!(
            "{}: compacted, {expired} expired certificates dropped",
            path.display()
        );
        let lines: Vec<u8> = kept
            .iter()
            .flat_map(|json| issued_line(json.as_bytes()))
            .collect();
        dir.write_raw(ISSUED, &lines)?;
    } else if complete < text.len() {
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
    let json = serde_json::to_vec(&IssuedHeader {
        service: id.clone(),
    })?;
    Ok(issued_line(&json))
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
        lines.extend(issued_line(&serde_json::to_vec(line)?));
    }
    dir.write_raw(ISSUED, &lines)?;
    std::fs::remove_file(dir.path(ISSUED_ARRAY))
        .with_context(|| format!("removing {}", dir.path(ISSUED_ARRAY).display()))
}

/// What a state folder holds, or a new service's state.
struct Loaded {
    public_root: Authority,
    cs: Authority,
    /// How many generations of the Communications Server CA the service has made.
    cs_generations: u32,
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
            cs_generations: 1,
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
    fn load(dir: &StateDir, clock: &ServiceClock) -> anyhow::Result<Loaded> {
        let mut owners = Owners::new();
        let (public_root, _) =
            load_authority(dir, AuthorityKind::PublicRoot, ROOT_STEM, &mut owners)?;
        let (cs, cs_generations) = load_authority(
            dir,
            AuthorityKind::CommunicationsServer,
            CS_STEM,
            &mut owners,
        )?;
        let sts_key = load_sts_key(dir, &mut owners)?;
        let users = load_users(dir, &mut owners)?;
        let issued = load_issued(dir, &mut owners, (clock.now(), clock.tolerance()))?;
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
            cs_generations,
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
        for line in issued.lines().filter(|l| !l.trim().is_empty()) {
            rewritten.extend(issued_line(line.as_bytes()));
        }
        dir.write_raw(ISSUED, &rewritten)?;
        self.save(dir)?;
        if dir.exists(STS_KEY_DER) {
            std::fs::remove_file(dir.path(STS_KEY_DER))
                .with_context(|| format!("removing {}", dir.path(STS_KEY_DER).display()))?;
        }
        Ok(())
    }

    /// Writes the state (a new service's, or one adopted), the issued certificates' file
    /// only where there is none; the user list last.
    fn save(&self, dir: &StateDir) -> anyhow::Result<()> {
        save_authority(dir, &self.id, ROOT_STEM, (&self.public_root, 1))?;
        save_authority(dir, &self.id, CS_STEM, (&self.cs, self.cs_generations))?;
        save_sts_key(dir, &self.id, &self.sts_key)?;
        if !dir.exists(ISSUED) {
            dir.write_raw(ISSUED, &issued_header(&self.id)?)?;
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
            discard_unfinished_start(dir)?;
            migrate_ca_pairs(dir)?;
            migrate_issued(dir)?;
        }
        let (loaded, fresh) = match &dir {
            Some(dir) if !is_new(dir)? => (Loaded::load(dir, &clock)?, false),
            Some(dir) => {
                let loaded = Loaded::new(config, now)?;
                // Marked until every file is there: a start killed on the way is begun again.
                dir.write(INITIALISING, loaded.id.to_string().as_bytes())?;
                loaded.save(dir)?;
                dir.remove(INITIALISING)?;
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
            cs_generations: std::sync::atomic::AtomicU32::new(loaded.cs_generations),
            issuance: Mutex::new(HashMap::new()),
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

    /// Makes the next generation of the Communications Server CA and puts it in force,
    /// returning the one it replaces.
    pub(crate) fn rotate_communications_server(&self) -> anyhow::Result<Arc<Authority>> {
        let generation = self
            .cs_generations
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst)
            + 1;
        let ca = Authority::generate(
            AuthorityKind::CommunicationsServer,
            self.clock.now(),
            generation,
        )?;
        self.set_communications_server(Arc::new(ca))
    }

    /// Replaces the Communications Server CA (its one file first, under the lock, so that the
    /// file and memory change in the same order), returning the one it replaces.
    pub(crate) fn set_communications_server(
        &self,
        ca: Arc<Authority>,
    ) -> anyhow::Result<Arc<Authority>> {
        let mut current = self
            .communications_server
            .write()
            .unwrap_or_else(|p| p.into_inner());
        if let Some(dir) = &self.dir {
            let generations = self
                .cs_generations
                .load(std::sync::atomic::Ordering::SeqCst);
            save_authority(dir, &self.id, CS_STEM, (&ca, generations))?;
        }
        Ok(std::mem::replace(&mut *current, ca))
    }

    /// Takes a place for one more certificate for `user` at `now_ms`, or says in how many
    /// seconds one frees: at most [`MAX_ISSUED_PER_MINUTE`] within any minute.
    pub(crate) fn reserve_issuance(&self, user: &str, now_ms: i64) -> Result<(), i64> {
        const MINUTE_MS: i64 = 60_000;
        let mut issuance = self.issuance.lock().unwrap_or_else(|p| p.into_inner());
        let times = issuance.entry(user.to_ascii_lowercase()).or_default();
        while times.front().is_some_and(|t| now_ms - t >= MINUTE_MS) {
            times.pop_front();
        }
        if times.len() >= MAX_ISSUED_PER_MINUTE {
            let oldest = times.front().copied().unwrap_or(now_ms);
            return Err((oldest + MINUTE_MS - now_ms + 999) / 1000);
        }
        times.push_back(now_ms);
        Ok(())
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
            let bytes = issued_line(&serde_json::to_vec(&line)?);
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
            let named = mixed.join(name);
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
        // As an earlier version wrote it: no names, no checksums, bare lists, the key as DER,
        // each CA in two files.
        for name in STATE_FILES {
            let text = std::fs::read_to_string(dir.join(name)).unwrap();
            let text = unsealed(&dir.join(name), text).unwrap();
            let (_, rest) = pem_owner(&text);
            std::fs::write(dir.join(name), rest).unwrap();
        }
        for stem in [ROOT_STEM, CS_STEM] {
            let text = std::fs::read_to_string(dir.join(ca_name(stem))).unwrap();
            let (_, pem) = text.split_once('\n').unwrap();
            let at = pem.find("-----BEGIN PRIVATE KEY-----").unwrap();
            std::fs::write(dir.join(format!("ca/{stem}.crt.pem")), &pem[..at]).unwrap();
            std::fs::write(dir.join(format!("ca/{stem}.key.pem")), &pem[at..]).unwrap();
            std::fs::remove_file(dir.join(ca_name(stem))).unwrap();
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
        assert!(!dir.join("ca/root.key.pem").exists());
        assert!(!dir.join("ca/communications-server.crt.pem").exists());
        for name in STATE_FILES {
            let text = std::fs::read_to_string(dir.join(name)).unwrap();
            assert!(text.contains(&id), "{name} was not rewritten: {text}");
        }
        assert!(open(&dir).is_ok(), "and it opens again as it is");
    }

    #[test]
    fn damage_that_still_parses_is_found_by_the_checksum() {
        let tmp = tempfile::tempdir().unwrap();
        let whole = tmp.path().join("whole");
        let state = open(&whole).unwrap();
        state.add_user(dave()).unwrap();
        drop(state);
        // A digit of the policy's build, and one base64 letter of the CA's key: each still
        // parses as what it was, and each is refused, naming the file.
        for (name, from, to) in [
            (POLICY, "4.0.", "5.0."),
            (CS_CA, "MII", "MIJ"),
            (USERS, "dave", "dove"),
        ] {
            let damaged = tmp
                .path()
                .join(format!("damaged-{}", name.replace('/', "-")));
            copy(&whole, &damaged);
            let text = std::fs::read_to_string(damaged.join(name)).unwrap();
            assert!(text.contains(from), "{name}: {text}");
            std::fs::write(damaged.join(name), text.replacen(from, to, 1)).unwrap();
            let err = format!("{:#}", open(&damaged).err().expect("refused"));
            assert!(
                err.contains(&damaged.join(name).display().to_string())
                    && err.contains("does not match its checksum"),
                "{name}: {err}"
            );
        }
    }

    #[test]
    fn a_first_start_killed_on_the_way_is_begun_again() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("state");
        let state = open(&dir).unwrap();
        assert!(!dir.join(INITIALISING).exists());
        drop(state);
        // As a kill leaves it: the mark, and some of the files.
        std::fs::write(dir.join(INITIALISING), "x").unwrap();
        for name in [USERS, POLICY, ISSUED] {
            std::fs::remove_file(dir.join(name)).unwrap();
        }
        let again = open(&dir).expect("starts");
        assert!(again.fresh);
        assert!(!dir.join(INITIALISING).exists());
        drop(again);
        assert!(!open(&dir).unwrap().fresh, "and is whole from then on");
    }

    #[test]
    fn a_rotation_is_one_file_and_its_generations_count_across_restarts() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("state");
        let state = open(&dir).unwrap();
        state.rotate_communications_server().unwrap();
        assert_eq!(state.communications_server().generation(), Some(2));
        drop(state);
        let state = open(&dir).unwrap();
        assert_eq!(state.communications_server().generation(), Some(2));
        let second = state.rotate_communications_server().unwrap();
        // Undone: the CA of generation 2 back, and the next is still numbered after 3.
        state.set_communications_server(second).unwrap();
        drop(state);
        let state = open(&dir).unwrap();
        assert_eq!(state.communications_server().generation(), Some(2));
        state.rotate_communications_server().unwrap();
        assert_eq!(state.communications_server().generation(), Some(4));
        let files: Vec<String> = std::fs::read_dir(dir.join("ca"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(files.len(), 2, "{files:?}");
    }

    #[test]
    fn expired_certificates_are_compacted_away_at_start() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("state");
        let state = open(&dir).unwrap();
        let now = state.clock.now();
        for (serial, not_after) in [("01", now - 301), ("02", now - 299), ("03", now + 3600)] {
            state
                .record_issued(IssuedLine {
                    record: IssuedRecord {
                        user: "alice@contoso.com".into(),
                        serial: serial.into(),
                        thumbprint: serial.into(),
                        not_before: now - 7200,
                        not_after,
                    },
                    pem: "x".into(),
                })
                .unwrap();
        }
        drop(state);
        let state = open(&dir).unwrap();
        let kept: Vec<String> = state.issued().into_iter().map(|r| r.serial).collect();
        assert_eq!(kept, ["02", "03"], "expired beyond the tolerance: dropped");
        let text = std::fs::read_to_string(dir.join(ISSUED)).unwrap();
        assert_eq!(text.lines().count(), 3, "the header and two: {text}");
        // A line changed by hand is found by its own checksum.
        std::fs::write(dir.join(ISSUED), text.replacen("\"03\"", "\"04\"", 1)).unwrap();
        drop(state);
        let err = format!("{:#}", open(&dir).err().expect("refused"));
        assert!(err.contains("line 3") && err.contains("checksum"), "{err}");
    }

    #[test]
    fn issuance_to_one_user_is_bounded_per_minute() {
        let tmp = tempfile::tempdir().unwrap();
        let state = open(&tmp.path().join("state")).unwrap();
        let t = 1_700_000_000_000;
        for i in 0..MAX_ISSUED_PER_MINUTE as i64 {
            state.reserve_issuance("alice@contoso.com", t + i).unwrap();
        }
        assert_eq!(
            state.reserve_issuance("Alice@contoso.com", t + 1_000),
            Err(59)
        );
        state
            .reserve_issuance("bob@contoso.com", t + 1_000)
            .expect("another user has places of their own");
        state
            .reserve_issuance("alice@contoso.com", t + 60_000)
            .expect("a minute on, a place is free");
    }
}
