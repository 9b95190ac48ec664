//! What crosses the wire between a client and the mock service: the real protocol's messages
//! (Autodiscover, the STS, the web ticket service, GetAndPublishCert: XML, typed here, read with
//! roxmltree and written escaped) and the admin API's JSON documents.
//!
//! This crate is the one place that knows each message's XML: the service's handlers and the
//! client's stages work on the types. Paths are constants here so that client and service
//! cannot drift apart. An HTTP-level refusal (no such path, too large, too slow) is one
//! [`Problem`] document; a refusal of the protocol is the SOAP fault the real service sent.
#![warn(missing_docs)]

pub mod agent;
pub mod autodiscover;
pub mod fault;
pub mod pool;
pub mod sip;
pub mod sts;
pub mod wsse;
pub mod xml;

/// A random identifier in the form of a GUID (`4b1f…-…`), as the messages carry them
/// (`AssertionID`, `RequestID`, `DeviceId`, `Context`).
pub fn random_guid() -> String {
    let mut b = [0u8; 16];
    // The system's randomness; should it ever fail, the identifier is still well-formed.
    let _ = aws_lc_rs::rand::fill(&mut b);
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// A message that is not what the protocol says.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    /// Not well-formed, or a value of the wrong form.
    #[error("{0}")]
    Malformed(String),
    /// An element or attribute the message must have.
    #[error("the message has no {0}")]
    Missing(String),
    /// An element the message may carry once, found twice (two `wsse:Security` headers, two
    /// passwords, two timestamps): refused, never resolved by taking the first.
    #[error("the message has more than one {0}")]
    Duplicate(String),
    /// A SOAP header block marked `mustUnderstand` that the receiver does not understand
    /// (SOAP 1.1 section 4.2.3, SOAP 1.2 part 1 section 5.2.3).
    #[error("the header block {0} is marked mustUnderstand and is not understood")]
    NotUnderstood(String),
}

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};

use lyncsim_domain::{Build, Product};
use serde::{Deserialize, Serialize};

/// Paths on the service's HTTPS hosts.
pub mod paths {
    /// The Autodiscover root resource on `lyncdiscover.<domain>` (also answered at `/`).
    pub const AUTODISCOVER: &str = "/autodiscover/autodiscoverservice.svc/root";
    /// The Autodiscover User resource.
    pub const AUTODISCOVER_USER: &str = "/autodiscover/autodiscoverservice.svc/root/user";
    /// The director on `sipdir.online.lync.com` (Lync 2010, found by SRV): until the SIP
    /// registrar answers REGISTER with a 301, it names the home pool in the Autodiscover User
    /// resource's form.
    pub const DIRECTOR: &str = "/director";
    /// The realm lookup on `login.microsoftonline.com`.
    pub const REALM: &str = "/getuserrealm.srf";
    /// The STS on `login.microsoftonline.com`.
    pub const TOKEN: &str = "/RST2.srf";
    pub use crate::pool::{
        CERT_PROV_PATH, CERT_PROV_PROOF_PATH, WEB_TICKET_PATH, WS_FED_BEARER_PATH,
    };
}

/// An RFC 7807 problem document: the one error body every endpoint uses.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Problem {
    /// A URN naming the kind of problem (`urn:lyncsim:problem:bad-request`).
    #[serde(rename = "type")]
    pub kind: String,
    /// A short, fixed summary of the kind.
    pub title: String,
    /// The HTTP status.
    pub status: u16,
    /// What exactly was wrong, for a person.
    pub detail: String,
}

impl Problem {
    fn new(kind: &str, title: &str, status: u16, detail: impl Into<String>) -> Self {
        Problem {
            kind: format!("urn:lyncsim:problem:{kind}"),
            title: title.to_owned(),
            status,
            detail: detail.into(),
        }
    }

    /// 400: the request could not be understood.
    pub fn bad_request(detail: impl Into<String>) -> Self {
        Self::new("bad-request", "Bad request", 400, detail)
    }
    /// 401: the credentials or token were not accepted.
    pub fn unauthorized(detail: impl Into<String>) -> Self {
        Self::new("unauthorized", "Unauthorized", 401, detail)
    }
    /// 403: understood and refused.
    pub fn forbidden(detail: impl Into<String>) -> Self {
        Self::new("forbidden", "Forbidden", 403, detail)
    }
    /// 404: no such user or resource.
    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new("not-found", "Not found", 404, detail)
    }
    /// 405: the path does not take this method.
    pub fn method_not_allowed(detail: impl Into<String>) -> Self {
        Self::new("method-not-allowed", "Method not allowed", 405, detail)
    }
    /// 408: the request did not arrive in time.
    pub fn request_timeout(detail: impl Into<String>) -> Self {
        Self::new("request-timeout", "Request timeout", 408, detail)
    }
    /// 413: the body is larger than the endpoint takes.
    pub fn too_large(detail: impl Into<String>) -> Self {
        Self::new("too-large", "Content too large", 413, detail)
    }
    /// 414: the request target is longer than the service reads.
    pub fn uri_too_long(detail: impl Into<String>) -> Self {
        Self::new("uri-too-long", "URI too long", 414, detail)
    }
    /// 431: the request's header is larger than the service reads.
    pub fn headers_too_large(detail: impl Into<String>) -> Self {
        Self::new(
            "headers-too-large",
            "Request header fields too large",
            431,
            detail,
        )
    }
    /// 409: the request conflicts with the current state.
    pub fn conflict(detail: impl Into<String>) -> Self {
        Self::new("conflict", "Conflict", 409, detail)
    }
    /// 500: the service failed; it keeps serving.
    pub fn internal(detail: impl Into<String>) -> Self {
        Self::new("internal", "Internal error", 500, detail)
    }
    /// 503: the service is not available.
    pub fn unavailable(detail: impl Into<String>) -> Self {
        Self::new("unavailable", "Service unavailable", 503, detail)
    }
}

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

/// What the service did with one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
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
    pub outcome: Outcome,
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
    Unavailable,
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
        /// `pool-a` or `pool-b`.
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
