//! A service and the machines that talk to it, for tests in the style of wiremock: start one,
//! make machines, cause trouble, sign in, assert; dropping the lab stops the service and
//! removes every profile.
//!
//! ```no_run
//! # async fn demo() -> anyhow::Result<()> {
//! use lyncsim_lab::{Cause, ErrorId, Lab, Os, Product, Remedy};
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

use anyhow::{Context, bail};
use lyncsim_client::{InitOptions, Profile};
use lyncsim_domain::{Build, Os, Product};
use lyncsim_service::{RunningService, Service, ServiceConfig, Tenant};
use lyncsim_wire::admin::{Fault, FaultRecord, JournalEntry, NewUser, ServiceInfo, UserView};

use crate::admin::AdminClient;
use crate::causes::{self, CauseSpec};
use crate::machine::Machine;
use crate::operator::Operator;
use crate::passwords::Passwords;

/// One service instance (its own CAs, addresses and ports, or a running `lyncsim serve`) and a
/// temporary folder for the profiles of its machines. Everything the lab started goes away
/// when it is dropped, except what [`Lab::in_dir`] was told to keep.
pub struct Lab {
    /// The embedded service, held to be stopped when the lab is dropped; `None` for a lab on
    /// a service that runs elsewhere.
    _service: Option<RunningService>,
    info: ServiceInfo,
    operator: Operator,
    root_pem: String,
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
            passwords: self.operator.passwords.clone(),
        })
    }

    /// Every user's password as the lab knows it now.
    pub fn passwords(&self) -> BTreeMap<String, String> {
        self.operator.passwords.all()
    }

    /// Tells the lab a user's password (one changed before the lab was made again).
    pub fn know_password(&self, user: &str, password: &str) {
        self.operator.passwords.set(user, password);
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
            operator: Operator {
                admin,
                passwords: Passwords::new(passwords),
            },
            info,
            _service: service,
            dir: match kept {
                Some(dir) => LabDir::Kept(dir),
                None => LabDir::Temp(tempfile::Builder::new().prefix("lyncsim-lab-").tempdir()?),
            },
            machines: AtomicUsize::new(0),
        })
    }

    /// Adds a user to the tenant through the admin API; the lab remembers the password.
    pub async fn add_user(&self, user: &NewUser) -> anyhow::Result<UserView> {
        let view = self.operator.admin.add_user(user).await?;
        self.operator.passwords.set(&user.address, &user.password);
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
        self.operator.passwords.get(user)
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
            passwords: self.operator.passwords.clone(),
        })
    }

    /// The service's admin API.
    pub fn admin(&self) -> &AdminClient {
        &self.operator.admin
    }

    /// Puts a server fault in force through the admin API (a new password is the one the
    /// lab's machines type from then on).
    pub async fn fault(&self, fault: &Fault) -> anyhow::Result<FaultRecord> {
        self.operator.fault(fault).await
    }

    /// Removes every server fault, undoing each (an outage ends).
    pub async fn clear_faults(&self) -> anyhow::Result<()> {
        self.operator.clear_faults().await
    }

    /// Makes a cause of KB 2604176 for `user` on `machine`, the way it happens for real: a
    /// server-side operation through the admin API, or a change to the machine.
    pub async fn cause(
        &self,
        machine: &mut Machine,
        user: &str,
        cause: impl Into<CauseSpec>,
    ) -> anyhow::Result<String> {
        causes::make(&self.operator, machine, user, &cause.into()).await
    }

    /// The requests the service saw.
    pub async fn journal(&self) -> anyhow::Result<Vec<JournalEntry>> {
        self.operator.admin.journal().await
    }
}
