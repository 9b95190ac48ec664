//! The admin API's JSON documents (loopback only): how to reach the service, its clock, its
//! users, its journal, and the server-side faults and operations an operator puts in force.
//! Apart from the Lync protocol's messages, which are the other modules of this crate.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};

use lyncsim_domain::{Build, Product};
use serde::{Deserialize, Serialize};

/// The trusted time source (`GET /time` on the admin API).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimeResponse {
    /// The service's time, Unix seconds.
    pub unix: i64,
    /// The same, Unix milliseconds.
    pub unix_ms: i64,
    /// The same, RFC 3339.
    pub rfc3339: String,
}

/// The ready file and the line `lyncsim serve` prints: how to reach the service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceInfo {
    /// The admin API's base URL (`http://127.x.y.z:port`).
    pub admin_url: String,
    /// The DNS server, UDP and TCP.
    pub dns_addr: SocketAddr,
    /// The HTTPS port every host listens on.
    pub https_port: u16,
    /// Autodiscover's plain-HTTP port (`http://lyncdiscover.<tenant>`); 0 in a document from
    /// before it existed.
    #[serde(default)]
    pub http_port: u16,
    /// The tenant's domain (contoso.com).
    pub tenant: String,
    /// Each host name and its current address.
    pub hosts: BTreeMap<String, IpAddr>,
}

/// The service clock (`GET`/`PUT /clock`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClockSettings {
    /// Seconds added to the system clock.
    pub offset_secs: i64,
    /// How far apart two clocks may be, in seconds.
    pub tolerance_secs: i64,
}

/// A change to the service clock; fields left out stay as they are.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClockUpdate {
    /// New offset in seconds.
    #[serde(default)]
    pub offset_secs: Option<i64>,
    /// New tolerance in seconds.
    #[serde(default)]
    pub tolerance_secs: Option<i64>,
}

/// A user of the tenant as the admin API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserView {
    /// Sign-in address.
    pub address: String,
    /// Home pool host name.
    pub home_pool: String,
}

/// `POST /users`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewUser {
    /// Sign-in address (`user@tenant`).
    pub address: String,
    /// Password.
    pub password: String,
    /// Home pool: `pool-a` or `pool-b` (short or full host name); pool-a when left out.
    #[serde(default)]
    pub home_pool: Option<String>,
}

/// What the service did with one request, as its journal says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JournalOutcome {
    /// Served.
    Ok,
    /// Refused, with a reason.
    Rejected,
}

/// One line of the journal (`GET /journal`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JournalEntry {
    /// Service time, RFC 3339.
    pub time: String,
    /// The host name that was addressed.
    pub host: String,
    /// The endpoint (`GetAndPublishCert`, `token`, `register`, `tls`, …).
    pub endpoint: String,
    /// The user, where known.
    pub user: Option<String>,
    /// Served or refused.
    pub outcome: JournalOutcome,
    /// Why, for a person.
    pub reason: String,
}

/// How a host behaves during an outage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum OutageMode {
    /// Nothing listens: connections are refused.
    #[serde(rename = "refuse")]
    Refuse,
    /// Connections are accepted and reset at once.
    #[serde(rename = "reset")]
    Reset,
    /// Every request gets 503 Service Unavailable.
    #[serde(rename = "503")]
    Status503,
    /// Every response stops half way through its body.
    #[serde(rename = "cut-off")]
    CutOff,
}

/// A server-side fault or operation (`POST /faults`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Fault {
    /// Raise the minimum client build of a product (to the latest build when left out).
    MinClientBuild {
        /// lync2010 or lync2013.
        product: Product,
        /// The new minimum.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        build: Option<Build>,
    },
    /// Raise the minimum Sign-In Assistant version (to the latest when left out).
    MinSignInAssistant {
        /// The new minimum.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        version: Option<Build>,
    },
    /// Replace the Communications Server CA with a new one.
    RotateCa,
    /// Move a user to another pool (the other pool when left out).
    MoveUser {
        /// The user.
        user: String,
        /// `pool-a`, `pool-b` or `pool-c`; by default the first pool of another deployment
        /// (pool-a and pool-c are one, pool-b another).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        to: Option<String>,
    },
    /// Give a host a new address in DNS; a pool's old address goes to the other pool.
    ChangeDns {
        /// The host name.
        host: String,
    },
    /// Change a user's password at the service.
    ChangePassword {
        /// The user.
        user: String,
        /// The new password.
        password: String,
    },
    /// Mark a directory account as corrupted: provisioning and registration fail for it.
    CorruptAccount {
        /// The user.
        user: String,
    },
    /// Hosts stop answering properly (all HTTPS hosts when `hosts` is empty).
    Outage {
        /// Host names.
        #[serde(default)]
        hosts: Vec<String>,
        /// How they fail.
        mode: OutageMode,
        /// Ends by itself after this many seconds; lasts until deleted when left out.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        duration_secs: Option<u64>,
    },
}

/// A fault in force (`GET /faults`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FaultRecord {
    /// Its id, for `DELETE /faults/{id}`.
    pub id: u64,
    /// What was asked.
    pub fault: Fault,
    /// When, service time, RFC 3339.
    pub applied: String,
    /// What it did, for a person.
    pub detail: String,
    /// Once removed: what undoing it changed, and which machines' state that invalidates (an
    /// undo is another server-side change).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub undone: Option<String>,
}
