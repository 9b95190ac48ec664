//! `lyncsim serve` (the release binary) as a child process of a benchmark, and its resident
//! memory.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use lyncsim_wire::admin::ServiceInfo;

/// The service as a child process, killed when dropped.
pub(crate) struct Serve(Child);

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Serve {
    /// Starts `lyncsim serve` with its ready file in `dir` and waits for it.
    pub(crate) fn start(dir: &Path) -> (Serve, ServiceInfo) {
        let ready = dir.join("ready.json");
        let child = Command::new(env!("CARGO_BIN_EXE_lyncsim"))
            .args(["serve", "--ready-file"])
            .arg(&ready)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .spawn()
            .expect("lyncsim serve starts");
        let serve = Serve(child);
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(info) = std::fs::read_to_string(&ready)
                .ok()
                .and_then(|t| serde_json::from_str(&t).ok())
            {
                return (serve, info);
            }
            assert!(Instant::now() < deadline, "lyncsim serve did not get ready");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Its process id.
    pub(crate) fn pid(&self) -> u32 {
        self.0.id()
    }
}

/// The resident memory of process `pid`, MiB.
pub(crate) fn rss_mib(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kib| kib.parse::<f64>().ok())
        .unwrap_or(0.0)
        / 1024.0
}
