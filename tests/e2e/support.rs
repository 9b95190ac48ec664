//! Starting a world (a service and profiles in a temporary folder) and driving the binary.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use lyncsim_client::{InitOptions, Profile, SignInOutcome, SignInRequest};
use lyncsim_domain::{Os, Product};
use lyncsim_lab::Lab;
use lyncsim_wire::admin::{JournalEntry, ServiceInfo};

/// The password of a user of the built-in tenant.
pub fn password(user: &str) -> String {
    lyncsim_lab::Lab::tenant_password(user).expect("a tenant user")
}

/// A service and a folder for profiles ([`Lab`], the same as users of the library get);
/// both go away when dropped.
pub struct World {
    pub lab: Lab,
}

impl World {
    pub async fn start() -> World {
        World {
            lab: Lab::start().await.expect("service starts"),
        }
    }

    /// A world whose service has `config`.
    pub async fn with_config(config: lyncsim_service::ServiceConfig) -> World {
        World {
            lab: Lab::with_config(config).await.expect("service starts"),
        }
    }

    pub fn info(&self) -> &ServiceInfo {
        self.lab.info()
    }

    pub fn admin_url(&self) -> &str {
        self.lab.admin_url()
    }

    /// The folder profiles are made in.
    pub fn dir(&self) -> &Path {
        self.lab.dir()
    }

    /// The service's public root (PEM).
    pub fn root_pem(&self) -> &str {
        self.lab.root_pem()
    }

    /// A machine in the folder `name` (as `lyncsim client init` makes one).
    pub fn profile(&self, name: &str, product: Product, os: Os) -> Profile {
        Profile::init(
            &self.dir().join(name),
            InitOptions {
                product,
                os,
                build: None,
                service: self.info().clone(),
                root_pem: self.root_pem().to_owned(),
                windows_user: "jdoe".into(),
                windows_password: "Winter2011!".into(),
            },
        )
        .expect("profile")
    }

    pub async fn journal(&self) -> Vec<JournalEntry> {
        self.lab.journal().await.expect("the journal")
    }

    /// How many certificates the service issued to `user`, by the journal.
    pub async fn issuances(&self, user: &str) -> usize {
        self.journal()
            .await
            .iter()
            .filter(|e| {
                e.endpoint == "GetAndPublishCert"
                    && e.user.as_deref() == Some(user)
                    && e.reason.starts_with("issued")
            })
            .count()
    }
}

pub async fn admin_get(admin_url: &str, path: &str) -> Vec<u8> {
    lyncsim_lab::fetch_plain(&format!("{admin_url}{path}"))
        .await
        .expect("admin API answers")
}

/// Signs `user` in on `profile` with the tenant password.
pub async fn sign_in(profile: &Profile, user: &str) -> SignInOutcome {
    let req = SignInRequest {
        user: user.into(),
        password: Some(password(user)),
        save_password: false,
    };
    lyncsim_client::sign_in(profile, &req)
        .await
        .expect("sign-in runs")
}

/// Runs the real binary to completion.
pub fn lyncsim(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_lyncsim"))
        .args(args)
        .output()
        .expect("lyncsim runs")
}

/// `lyncsim client init` of a machine, which must succeed.
pub fn init_profile(profile: &str, product: &str, os: &str, admin_url: &str) {
    let out = lyncsim(&[
        "client",
        "init",
        "--profile",
        profile,
        "--product",
        product,
        "--os",
        os,
        "--service",
        admin_url,
    ]);
    assert!(out.status.success(), "client init: {}", stderr(&out));
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// `lyncsim serve` as a child process; killed when dropped.
pub struct Serve {
    child: Child,
    pub info: ServiceInfo,
}

impl Serve {
    pub fn start(state_dir: &Path, ready_file: &Path) -> Serve {
        Serve::start_with(state_dir, ready_file, &[])
    }

    /// [`Serve::start`] with these environment variables.
    pub fn start_with(state_dir: &Path, ready_file: &Path, env: &[(&str, &str)]) -> Serve {
        let _ = std::fs::remove_file(ready_file);
        let child = Command::new(env!("CARGO_BIN_EXE_lyncsim"))
            .args(["serve", "--state-dir"])
            .arg(state_dir)
            .arg("--ready-file")
            .arg(ready_file)
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("serve starts");
        let mut serve = Serve {
            child,
            info: placeholder_info(),
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(text) = std::fs::read_to_string(ready_file)
                && let Ok(info) = serde_json::from_str(&text)
            {
                serve.info = info;
                return serve;
            }
            if let Ok(Some(status)) = serve.child.try_wait() {
                panic!("lyncsim serve exited early: {status}");
            }
            assert!(
                Instant::now() < deadline,
                "lyncsim serve did not write its ready file"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Kills the process with SIGKILL (`kill -9`) and waits for it.
    pub fn kill(&mut self) {
        self.child.kill().expect("SIGKILL");
        let status = self.child.wait().unwrap();
        assert_eq!(
            std::os::unix::process::ExitStatusExt::signal(&status),
            Some(9),
            "{status}"
        );
    }

    /// Whether the process is still running.
    pub fn alive(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }

    /// Sends SIGTERM and waits for a clean exit.
    pub fn stop(mut self) {
        let pid = self.child.id().to_string();
        let status = Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill runs");
        assert!(status.success());
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                assert!(status.success(), "serve stopped with {status}");
                return;
            }
            assert!(Instant::now() < deadline, "serve did not stop on SIGTERM");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn placeholder_info() -> ServiceInfo {
    ServiceInfo {
        admin_url: String::new(),
        dns_addr: "127.0.0.1:0".parse().unwrap(),
        https_port: 0,
        http_port: 0,
        tenant: String::new(),
        hosts: Default::default(),
    }
}

/// A file in the profile, found by name anywhere below it.
pub fn find_file(root: &Path, name_part: &str) -> Option<PathBuf> {
    for entry in std::fs::read_dir(root).ok()? {
        let path = entry.ok()?.path();
        if path.is_dir() {
            if let Some(found) = find_file(&path, name_part) {
                return Some(found);
            }
        } else if path.file_name()?.to_string_lossy().contains(name_part) {
            return Some(path);
        }
    }
    None
}

/// Copies a folder and everything below it.
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap().flatten() {
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// A TLS client that trusts the service's public root (and nothing else).
pub fn tls_connector(root_pem: &str) -> tokio_rustls::TlsConnector {
    let mut roots = rustls::RootCertStore::empty();
    let der = lyncsim_pki::pem_decode("CERTIFICATE", root_pem).unwrap();
    roots.add(der.into()).unwrap();
    let config = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    tokio_rustls::TlsConnector::from(std::sync::Arc::new(config))
}
