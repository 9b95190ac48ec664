//! A profile folder: making one (`client init`) and opening one.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use lyncsim_domain::{Build, Os, Product, Release};
use lyncsim_durable::write_atomically;
use lyncsim_wire::admin::ServiceInfo;
use lyncsim_wire::random_guid;

use crate::dpapi::MasterKey;
use crate::layout::Layout;
use crate::machine::{MachineSettings, NetworkSettings};

/// What `client init` needs.
#[derive(Debug, Clone)]
pub struct InitOptions {
    /// lync2010 or lync2013.
    pub product: Product,
    /// The OS whose layout to use.
    pub os: Os,
    /// The client build; the product's current build when `None`.
    pub build: Option<Build>,
    /// The service to trust and whose DNS to use.
    pub service: ServiceInfo,
    /// The service's public root, PEM.
    pub root_pem: String,
    /// The Windows account name.
    pub windows_user: String,
    /// The Windows password.
    pub windows_password: String,
}

/// One emulated machine and user.
///
/// What the machine's files hold is read afresh: certificates, credentials, caches at each
/// use, and `machine.toml` (the clock, the build, the Windows password...) again whenever it
/// changed on disk since it was last read, at the start of every sign-in, cause and remedy
/// ([`Profile::reload`]), so that a fix script's edit takes effect as it would on Windows.
#[derive(Debug, Clone)]
pub struct Profile {
    layout: Layout,
    machine: std::sync::Arc<std::sync::RwLock<Settings>>,
    /// The data protection key, once derived, with the password and SID it came from: Windows
    /// keeps it for the logon session instead of running PBKDF2 for every secret.
    master: std::sync::Arc<std::sync::Mutex<Option<DerivedKey>>>,
}

/// A data protection key and the Windows password and SID it was derived from.
type DerivedKey = (String, String, std::sync::Arc<MasterKey>);

/// `machine.toml` as last read, and the file's modification time and length then.
#[derive(Debug)]
struct Settings {
    current: std::sync::Arc<MachineSettings>,
    stamp: Option<(std::time::SystemTime, u64)>,
}

/// When `path` was last changed, and its length.
fn stamp_of(path: &Path) -> Option<(std::time::SystemTime, u64)> {
    let meta = std::fs::metadata(path).ok()?;
    Some((meta.modified().ok()?, meta.len()))
}

/// Reads and checks a `machine.toml`.
fn read_settings(file: &Path) -> anyhow::Result<MachineSettings> {
    let text =
        std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
    let machine: MachineSettings =
        toml::from_str(&text).with_context(|| format!("reading {}", file.display()))?;
    lyncsim_domain::check_clock_offset(machine.clock_offset_secs)
        .map_err(|e| anyhow::anyhow!("reading {}: clock_offset_secs: {e}", file.display()))?;
    Ok(machine)
}

fn random_sid() -> String {
    let [a, b, c]: [u32; 3] = rand::random();
    format!("S-1-5-21-{a}-{b}-{c}-1001")
}

impl Profile {
    /// Refuses a product on an OS it does not install on, as its setup would.
    pub fn check_supported(product: Product, os: Os) -> anyhow::Result<()> {
        if !product.runs_on(os) {
            bail!(
                "{} does not run on {} (Office 2013 needs Windows 7 or later): use --product lync2010 on XP and Vista.",
                product.display_name(),
                os.display_name()
            );
        }
        Ok(())
    }

    /// Makes a new profile at `dir`, which must not hold one already.
    pub fn init(dir: &Path, opts: InitOptions) -> anyhow::Result<Profile> {
        Profile::check_supported(opts.product, opts.os)?;
        if dir.join("machine.toml").exists() {
            bail!(
                "{} already holds a profile (machine.toml exists); choose an empty folder",
                dir.display()
            );
        }
        if opts.windows_user.is_empty() || opts.windows_user.contains(['/', '\\']) {
            bail!(
                "Windows user name {:?} is not a valid account name",
                opts.windows_user
            );
        }
        let machine = MachineSettings {
            product: opts.product,
            build: opts
                .build
                .unwrap_or_else(|| opts.product.build(Release::Installed)),
            sign_in_assistant: opts
                .product
                .uses_sign_in_assistant()
                .then(|| lyncsim_domain::sign_in_assistant(Release::Installed)),
            os: opts.os,
            clock_offset_secs: 0,
            windows_user: opts.windows_user,
            windows_password: opts.windows_password,
            sid: random_sid(),
            machine_guid: random_guid(),
            network: NetworkSettings {
                dns_server: opts.service.dns_addr,
                https_port: opts.service.https_port,
                http_port: opts.service.http_port,
                time_source: format!("{}/time", opts.service.admin_url),
            },
            trusted_roots: vec![opts.root_pem],
        };
        let profile = Profile::from_machine(dir, machine);
        for folder in [
            profile.layout.product_dir(),
            profile.layout.cert_store(),
            profile.layout.rsa_dir(),
            profile.layout.credentials_dir(),
        ] {
            std::fs::create_dir_all(&folder)
                .with_context(|| format!("creating {}", folder.display()))?;
        }
        profile.save_machine()?;
        Ok(profile)
    }

    /// Opens the profile at `dir`.
    pub fn open(dir: &Path) -> anyhow::Result<Profile> {
        let file = dir.join("machine.toml");
        if !file.exists() {
            bail!(
                "{} is not a lyncsim profile (no machine.toml); make one with `lyncsim client init`",
                dir.display()
            );
        }
        let profile = Profile::from_machine(dir, read_settings(&file)?);
        profile.lock_settings().stamp = stamp_of(&file);
        Ok(profile)
    }

    /// Reads `machine.toml` again if it changed on disk since it was last read (a script or
    /// a person edited it). What makes the machine this machine (its OS, product, Windows
    /// user and SID, which lay out its folders) cannot change: such an edit is refused.
    pub fn reload(&self) -> anyhow::Result<()> {
        let file = self.layout.machine_file();
        let stamp = stamp_of(&file);
        if stamp.is_some() && stamp == self.lock_settings().stamp {
            return Ok(());
        }
        let fresh = read_settings(&file)?;
        let mut settings = self.lock_settings();
        let now = &settings.current;
        if (fresh.os, fresh.product, &fresh.windows_user, &fresh.sid)
            != (now.os, now.product, &now.windows_user, &now.sid)
        {
            bail!(
                "{} changed the OS, product, Windows user or SID of an existing machine: make a new machine with `lyncsim client init` instead",
                file.display()
            );
        }
        *settings = Settings {
            current: std::sync::Arc::new(fresh),
            stamp,
        };
        Ok(())
    }

    fn lock_settings(&self) -> std::sync::RwLockWriteGuard<'_, Settings> {
        self.machine.write().unwrap_or_else(|p| p.into_inner())
    }

    fn from_machine(dir: &Path, machine: MachineSettings) -> Profile {
        let layout = Layout::new(
            dir,
            machine.os,
            machine.product,
            &machine.windows_user,
            &machine.sid,
        );
        Profile {
            layout,
            machine: std::sync::Arc::new(std::sync::RwLock::new(Settings {
                current: std::sync::Arc::new(machine),
                stamp: None,
            })),
            master: Default::default(),
        }
    }

    /// The profile folder.
    pub fn dir(&self) -> &Path {
        self.layout.root()
    }

    /// Where things are.
    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    /// The machine's settings, as `machine.toml` held them when last read.
    pub fn machine(&self) -> std::sync::Arc<MachineSettings> {
        self.machine
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .current
            .clone()
    }

    /// Changes the machine's settings (read afresh first) and writes `machine.toml`.
    pub fn update_machine(
        &mut self,
        change: impl FnOnce(&mut MachineSettings),
    ) -> anyhow::Result<()> {
        self.reload()?;
        let mut next = (*self.machine()).clone();
        change(&mut next);
        self.lock_settings().current = std::sync::Arc::new(next);
        self.save_machine()
    }

    fn save_machine(&self) -> anyhow::Result<()> {
        let file = self.layout.machine_file();
        let text = format!(
            "# An emulated Windows machine of lyncsim. `lyncsim break` and `lyncsim fix` change it;\n# editing it by hand works too.\n{}",
            toml::to_string_pretty(&*self.machine())?
        );
        write_atomically(&file, text.as_bytes())
            .with_context(|| format!("writing {}", file.display()))?;
        self.lock_settings().stamp = stamp_of(&file);
        Ok(())
    }

    /// The data protection key of the Windows user, from the current Windows password.
    pub(crate) fn master_key(&self) -> std::sync::Arc<MasterKey> {
        let machine = self.machine();
        let (password, sid) = (&machine.windows_password, &machine.sid);
        let mut slot = self.master.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((p, s, key)) = slot.as_ref()
            && p == password
            && s == sid
        {
            return key.clone();
        }
        let key = std::sync::Arc::new(MasterKey::derive(password, sid));
        *slot = Some((password.clone(), sid.clone(), key.clone()));
        key
    }

    /// The personal certificate store, in certmgr's order (by Issued By).
    pub fn certificates(&self) -> std::io::Result<Vec<crate::StoredCert>> {
        crate::certstore::list(&self.layout)
    }

    /// Credential Manager's generic credentials; an unreadable file is listed as its path and
    /// the reason.
    pub fn credentials(
        &self,
    ) -> std::io::Result<Vec<Result<crate::Credential, (PathBuf, String)>>> {
        Ok(crate::credman::list(&self.layout)?
            .into_iter()
            .map(|c| c.map_err(|u| (u.path, u.reason)))
            .collect())
    }

    /// The DNS client cache as `ipconfig /displaydns` shows it (expired records left out).
    pub fn dns_cache(&self) -> Vec<crate::CachedRecord> {
        crate::resolver::read_cache(&self.layout, self.machine().now())
    }

    /// `ipconfig /flushdns`.
    pub fn flush_dns(&self) -> std::io::Result<()> {
        crate::resolver::flush(&self.layout)
    }

    /// The trace log's path.
    pub fn trace_file(&self) -> PathBuf {
        self.layout.trace_file()
    }
}
