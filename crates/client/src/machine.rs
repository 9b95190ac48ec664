//! `machine.toml`: the emulated machine's settings (product, build, Sign-In Assistant, OS,
//! clock offset, Windows account, DNS server, HTTPS and HTTP ports, trusted roots).

use std::net::SocketAddr;
use std::time::{SystemTime, UNIX_EPOCH};

use lyncsim_domain::{Build, Os, Product};
use serde::{Deserialize, Serialize};

/// How the machine reaches the service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetworkSettings {
    /// The DNS server the machine's resolver asks (ip:port, UDP).
    pub dns_server: SocketAddr,
    /// The port HTTPS connections go to (443 on a real machine).
    pub https_port: u16,
    /// The port plain HTTP goes to (80 on a real machine): Autodiscover's fallback when its
    /// HTTPS attempt fails. 0 (a profile from before it existed): no fallback.
    #[serde(default)]
    pub http_port: u16,
    /// The trusted time source that sync-time uses (the service's `/time`).
    pub time_source: String,
}

/// The emulated machine.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MachineSettings {
    /// lync2010 or lync2013.
    pub product: Product,
    /// The installed client build.
    pub build: Build,
    /// The Sign-In Assistant version (Lync 2010 only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sign_in_assistant: Option<Build>,
    /// xp, vista, win7 or win8.
    pub os: Os,
    /// Seconds the machine's clock is ahead of the system clock (negative: behind).
    #[serde(default)]
    pub clock_offset_secs: i64,
    /// The Windows account name.
    pub windows_user: String,
    /// The Windows password: what the data protection key is derived from.
    pub windows_password: String,
    /// The Windows account's SID.
    pub sid: String,
    /// The machine GUID (key container names end with it).
    pub machine_guid: String,
    /// How to reach the service.
    pub network: NetworkSettings,
    /// Trusted root certificates, PEM.
    pub trusted_roots: Vec<String>,
}

impl MachineSettings {
    /// The machine's clock: the system clock (which `faketime` changes) plus the offset.
    pub fn now(&self) -> i64 {
        self.now_ms().div_euclid(1000)
    }

    /// The machine's clock in milliseconds.
    pub fn now_ms(&self) -> i64 {
        let system = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0);
        system.saturating_add(self.clock_offset_secs.saturating_mul(1000))
    }
}
