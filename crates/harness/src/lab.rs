//! A service and the machines that talk to it, for tests in the style of wiremock: start one,
//! make machines, cause trouble, sign in, assert; dropping the lab stops the service and
//! removes every profile.
//!
//! ```no_run
//! # async fn demo() -> anyhow::Result<()> {
//! use lyncsim_harness::{Cause, ErrorId, Lab, Os, Product, Remedy};
//!
//! let lab = Lab::start().await?;
//! let mut pc = lab.machine(Product::Lync2010, Os::Xp).await?;
//! pc.sign_in("alice@contoso.com").await?.assert_signed_in();
//! lab.cause(&mut pc, "alice@contoso.com", Cause::OutdatedSia).await?;
//! pc.sign_in("alice@contoso.com").await?.assert_shows(ErrorId::ECert);
//! pc.fix(Remedy::DesktopSetup).await?;
//! pc.sign_in("alice@contoso.com").await?.assert_signed_in();
//! # Ok(()) }
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use anyhow::{Context, bail};
use lyncsim_client::{AdminClient, InitOptions, Profile, SignInRequest};
use lyncsim_domain::{Build, Cause, ErrorId, Os, Product, Remedy};
use lyncsim_service::{RunningService, Service, ServiceConfig, Tenant};
use lyncsim_wire::{Fault, FaultRecord, JournalEntry, NewUser, ServiceInfo, UserView};

use crate::causes::{self, CauseSpec};

/// The passwords users have now, as the lab knows them (it changes them itself).
pub(crate) type Passwords = Arc<Mutex<BTreeMap<String, String>>>;

/// One service instance (its own CAs, addresses and ports, or a running `lyncsim serve`) and a
/// temporary folder for the profiles of its machines. Everything the lab started goes away
/// when it is dropped, except what [`Lab::in_dir`] was told to keep.
pub struct Lab {
    /// The embedded service, held to be stopped when the lab is dropped; `None` for a lab on
    /// a service that runs elsewhere.
    _service: Option<RunningService>,
    info: ServiceInfo,
    admin: AdminClient,
    root_pem: String,
    passwords: Passwords,
    dir: LabDir,
    machines: AtomicUsize,
}

/// Where a lab keeps its machines: a temporary folder removed with the lab, or a folder of the
/// caller's that outlives it.
enum LabDir {
    Temp(tempfile::TempDir),
    Kept(PathBuf),
}

impl LabDir {
    fn path(&self) -> &Path {
        match self {
            LabDir::Temp(t) => t.path(),
            LabDir::Kept(p) => p,
        }
    }
}

impl Lab {
    /// Starts a service with the built-in tenant (contoso.com: alice, bob, carol).
    pub async fn start() -> anyhow::Result<Lab> {
        Lab::with_config(ServiceConfig::default()).await
    }

    /// Starts a service with a configuration of your own.
    pub async fn with_config(config: ServiceConfig) -> anyhow::Result<Lab> {
        Lab::started(config, None).await
    }

    /// Starts a service with `config` whose machines live in `dir`, which outlives the lab:
    /// with a `state_dir` in the configuration, a lab made again on the same folders finds the
    /// same service (its CAs, users and addresses) and, with [`Lab::open_machine`], the same
    /// machines.
    pub async fn in_dir(config: ServiceConfig, dir: &Path) -> anyhow::Result<Lab> {
        std::fs::create_dir_all(dir).with_context(|| format!("making {}", dir.display()))?;
        Lab::started(config, Some(dir.to_owned())).await
    }

    /// Starts the service of `config`, knowing its tenant's passwords; machines in `kept`, or
    /// in a temporary folder.
    async fn started(config: ServiceConfig, kept: Option<PathBuf>) -> anyhow::Result<Lab> {
        let passwords = config
            .tenant
            .users
            .iter()
            .map(|u| (u.address.to_ascii_lowercase(), u.password.clone()))
            .collect();
        let service = Service::start(config).await?;
        let info = service.info().clone();
        Lab::on(Some(service), info, passwords, kept).await
    }

    /// Stops the lab's service and waits until it no longer listens (dropping the lab stops
    /// it too, without waiting).
    pub async fn shutdown(mut self) {
        self.stop_service().await;
    }

    /// Stops the lab's service and waits until it no longer listens; the machines stay, to
    /// see what a client does when the service is gone.
    pub async fn stop_service(&mut self) {
        if let Some(service) = self._service.take() {
            service.shutdown().await;
        }
    }

    /// A machine made earlier in this lab's folder (see [`Lab::in_dir`]).
    pub fn open_machine(&self, dir: &Path) -> anyhow::Result<Machine> {
        Ok(Machine {
            profile: Profile::open(dir)?,
            passwords: self.passwords.clone(),
        })
    }

    /// Every user's password as the lab knows it now.
    pub fn passwords(&self) -> BTreeMap<String, String> {
        lock(&self.passwords).clone()
    }

    /// Tells the lab a user's password (one changed before the lab was made again).
    pub fn know_password(&self, user: &str, password: &str) {
        lock(&self.passwords).insert(user.to_ascii_lowercase(), password.to_owned());
    }

    /// A lab on a service that runs elsewhere (`lyncsim serve`), by its admin API's URL. The
    /// lab knows the passwords of the users it adds ([`Lab::add_user`]), not of the others.
    pub async fn connect(admin_url: &str) -> anyhow::Result<Lab> {
        let info = AdminClient::new(admin_url)?.info().await?;
        Lab::on(None, info, BTreeMap::new(), None).await
    }

    /// A lab on the service `info` describes (which `service` is, when the lab runs it).
    async fn on(
        service: Option<RunningService>,
        info: ServiceInfo,
        passwords: BTreeMap<String, String>,
        kept: Option<PathBuf>,
    ) -> anyhow::Result<Lab> {
        let admin = AdminClient::new(&info.admin_url)?;
        let root_pem = admin
            .root_pem()
            .await
            .context("fetching the service's public root")?;
        Ok(Lab {
            root_pem,
            admin,
            info,
            _service: service,
            passwords: Arc::new(Mutex::new(passwords)),
            dir: match kept {
                Some(dir) => LabDir::Kept(dir),
                None => LabDir::Temp(tempfile::Builder::new().prefix("lyncsim-lab-").tempdir()?),
            },
            machines: AtomicUsize::new(0),
        })
    }

    /// Adds a user to the tenant through the admin API; the lab remembers the password.
    pub async fn add_user(&self, user: &NewUser) -> anyhow::Result<UserView> {
        let view = self.admin.add_user(user).await?;
        lock(&self.passwords).insert(user.address.to_ascii_lowercase(), user.password.clone());
        Ok(view)
    }

    /// The built-in tenant's password of `user`, before any change.
    pub fn tenant_password(user: &str) -> Option<String> {
        Tenant::contoso()
            .users
            .into_iter()
            .find(|u| u.address.eq_ignore_ascii_case(user))
            .map(|u| u.password)
    }

    /// What the service's ready file holds: admin URL, DNS address, HTTPS port.
    pub fn info(&self) -> &ServiceInfo {
        &self.info
    }

    /// The service's public root (PEM), which the lab's machines trust.
    pub fn root_pem(&self) -> &str {
        &self.root_pem
    }

    /// The admin API's base URL.
    pub fn admin_url(&self) -> &str {
        &self.info.admin_url
    }

    /// The folder the lab's profiles live in.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The password `user` has at the service now.
    pub fn password(&self, user: &str) -> Option<String> {
        lock(&self.passwords)
            .get(&user.to_ascii_lowercase())
            .cloned()
    }

    /// A new machine with the product's installed build.
    pub async fn machine(&self, product: Product, os: Os) -> anyhow::Result<Machine> {
        self.machine_with(product, os, None, None).await
    }

    /// A new machine with a given client build and Sign-In Assistant version.
    pub async fn machine_with(
        &self,
        product: Product,
        os: Os,
        build: Option<Build>,
        sign_in_assistant: Option<Build>,
    ) -> anyhow::Result<Machine> {
        let n = self.machines.fetch_add(1, Ordering::Relaxed);
        let dir = self.dir.path().join(format!("machine-{n}"));
        if dir.exists() {
            bail!(
                "{} exists already: a lab made again on its folder opens its machines with open_machine",
                dir.display()
            );
        }
        let mut profile = Profile::init(
            &dir,
            InitOptions {
                product,
                os,
                build,
                service: self.info().clone(),
                root_pem: self.root_pem.clone(),
                windows_user: "jdoe".into(),
                windows_password: "Winter2011!".into(),
            },
        )?;
        if let Some(version) = sign_in_assistant {
            if !product.uses_sign_in_assistant() {
                bail!(
                    "{} does not use the Sign-In Assistant",
                    product.display_name()
                );
            }
            profile.update_machine(|m| m.sign_in_assistant = Some(version))?;
        }
        Ok(Machine {
            profile,
            passwords: self.passwords.clone(),
        })
    }

    /// The service's admin API.
    pub fn admin(&self) -> &AdminClient {
        &self.admin
    }

    /// Puts a server fault in force through the admin API.
    pub async fn fault(&self, fault: &Fault) -> anyhow::Result<FaultRecord> {
        let record = self
            .admin
            .add_fault(fault)
            .await
            .context("the service refused the fault")?;
        if let Fault::ChangePassword { user, password } = fault {
            lock(&self.passwords).insert(user.to_ascii_lowercase(), password.clone());
        }
        Ok(record)
    }

    /// Removes every server fault, undoing each (an outage ends).
    pub async fn clear_faults(&self) -> anyhow::Result<()> {
        self.admin
            .clear_faults()
            .await
            .context("the service did not clear its faults")?;
        Ok(())
    }

    /// Makes a cause of KB 2604176 for `user` on `machine`, the way it happens for real: a
    /// server-side operation through the admin API, or a change to the machine.
    pub async fn cause(
        &self,
        machine: &mut Machine,
        user: &str,
        cause: impl Into<CauseSpec>,
    ) -> anyhow::Result<String> {
        causes::make(self, machine, user, &cause.into()).await
    }

    /// The requests the service saw.
    pub async fn journal(&self) -> anyhow::Result<Vec<JournalEntry>> {
        self.admin.journal().await
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// One emulated machine (a profile folder) of a lab.
pub struct Machine {
    profile: Profile,
    passwords: Passwords,
}

impl Machine {
    /// The profile folder.
    pub fn dir(&self) -> &Path {
        self.profile.dir()
    }

    /// The profile, for a look at its certificates, credentials, DNS cache or trace.
    pub fn profile(&self) -> &Profile {
        &self.profile
    }

    /// The profile, to change it.
    pub fn profile_mut(&mut self) -> &mut Profile {
        &mut self.profile
    }

    /// Signs `user` in as a person would: with the saved password when one is saved (even
    /// one that cannot be read any more), else typing the password the user has now and
    /// ticking "Save my password".
    pub async fn sign_in(&self, user: &str) -> anyhow::Result<SignIn> {
        let typed = lock(&self.passwords)
            .get(&user.to_ascii_lowercase())
            .cloned()
            .with_context(|| format!("{user} is not a user of this lab's tenant"))?;
        sign_in_as_user_would(&self.profile, user, Some(&typed)).await
    }

    /// Signs `user` in typing `password`, without saving it.
    pub async fn sign_in_with(&self, user: &str, password: &str) -> anyhow::Result<SignIn> {
        let req = SignInRequest {
            user: user.into(),
            password: Some(password.into()),
            save_password: false,
        };
        Ok(SignIn(lyncsim_client::sign_in(&self.profile, &req).await?))
    }

    /// Applies a KB 2604176 remedy; returns what it did.
    pub async fn fix(&mut self, remedy: Remedy) -> anyhow::Result<String> {
        self.profile.apply_remedy(remedy).await
    }

    /// A copy of this machine, as it is now, in a sibling folder named `name`: to try
    /// something on the copy and keep the original as it was.
    pub fn copy(&self, name: &str) -> anyhow::Result<Machine> {
        let to = self
            .dir()
            .parent()
            .context("a profile folder has a parent")?
            .join(name);
        if to.exists() {
            bail!(
                "{} exists already: give the copy another name",
                to.display()
            );
        }
        copy_dir(self.dir(), &to)
            .with_context(|| format!("copying {} to {}", self.dir().display(), to.display()))?;
        Ok(Machine {
            profile: Profile::open(&to)?,
            passwords: self.passwords.clone(),
        })
    }
}

/// Signs `user` in on `profile` with the saved password if one is saved (readable or not),
/// else typing `typed` and saving it.
pub(crate) async fn sign_in_as_user_would(
    profile: &Profile,
    user: &str,
    typed: Option<&str>,
) -> anyhow::Result<SignIn> {
    let prefix = format!("Microsoft_OC1:uri={}:", user.to_ascii_lowercase());
    // A credential file that cannot be read any more counts as saved: the client will try it.
    let saved = profile
        .credentials()?
        .iter()
        .any(|c| c.as_ref().map_or(true, |c| c.target.starts_with(&prefix)));
    let req = SignInRequest {
        user: user.into(),
        password: if saved {
            None
        } else {
            typed.map(str::to_owned)
        },
        save_password: !saved,
    };
    Ok(SignIn(lyncsim_client::sign_in(profile, &req).await?))
}

fn copy_dir(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let target: PathBuf = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_dir(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), &target)?;
        }
    }
    Ok(())
}

/// The outcome of one sign-in, with assertions that say what happened when they fail.
#[derive(Debug, Clone)]
pub struct SignIn(pub lyncsim_client::Outcome);

impl SignIn {
    /// Panics unless sign-in succeeded.
    #[track_caller]
    pub fn assert_signed_in(&self) -> &lyncsim_client::SignedIn {
        match &self.0 {
            Ok(done) => done,
            Err(f) => panic!(
                "expected to sign in, but saw {}: {} (reason: {})",
                f.error,
                f.text(),
                f.reason
            ),
        }
    }

    /// Panics unless sign-in failed showing `error`.
    #[track_caller]
    pub fn assert_shows(&self, error: ErrorId) -> &lyncsim_client::SignInFailure {
        match &self.0 {
            Ok(done) => panic!("expected {error}, but {} signed in", done.user),
            Err(f) if f.error != error => panic!(
                "expected {error}, but saw {}: {} (reason: {})",
                f.error,
                f.text(),
                f.reason
            ),
            Err(f) => f,
        }
    }

    /// What the user saw: `None` when sign-in succeeded.
    pub fn error(&self) -> Option<ErrorId> {
        self.0.as_ref().err().map(|f| f.error)
    }

    /// Whether sign-in succeeded.
    pub fn signed_in(&self) -> bool {
        self.0.is_ok()
    }
}

impl From<Cause> for CauseSpec {
    fn from(cause: Cause) -> CauseSpec {
        CauseSpec::new(cause)
    }
}
