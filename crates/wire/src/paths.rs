//! Paths on the service's HTTPS hosts, shared by client and service so they cannot drift
//! apart.

/// The Autodiscover root resource on `lyncdiscover.<domain>` (also answered at `/`).
pub const AUTODISCOVER: &str = "/autodiscover/autodiscoverservice.svc/root";
/// The Autodiscover User resource.
pub const AUTODISCOVER_USER: &str = "/autodiscover/autodiscoverservice.svc/root/user";
/// Autodiscover's Domain resource ([MS-OCDISCWS] 3.1.5.4).
pub const AUTODISCOVER_DOMAIN: &str = "/autodiscover/autodiscoverservice.svc/root/domain";
/// The realm lookup on `login.microsoftonline.com`.
pub const REALM: &str = "/getuserrealm.srf";
/// The STS on `login.microsoftonline.com`.
pub const TOKEN: &str = "/RST2.srf";
pub use crate::pool::{CERT_PROV_PATH, CERT_PROV_PROOF_PATH, WEB_TICKET_PATH, WS_FED_BEARER_PATH};
