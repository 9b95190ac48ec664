//! Paths on the service's HTTPS hosts, shared by client and service so they cannot drift
//! apart.

/// The Autodiscover root resource on `lyncdiscover.<domain>` (also answered at `/`).
pub const AUTODISCOVER: &str = "/autodiscover/autodiscoverservice.svc/root";
/// The Autodiscover User resource.
pub const AUTODISCOVER_USER: &str = "/autodiscover/autodiscoverservice.svc/root/user";
/// Autodiscover's Domain resource ([MS-OCDISCWS] 3.1.5.4).
pub const AUTODISCOVER_DOMAIN: &str = "/autodiscover/autodiscoverservice.svc/root/domain";
/// The director on `sipdir.online.lync.com` (Lync 2010, found by SRV): until the SIP
/// registrar answers REGISTER with a 301, it names the home pool in the Autodiscover User
/// resource's form.
pub const DIRECTOR: &str = "/director";
/// The realm lookup on `login.microsoftonline.com`.
pub const REALM: &str = "/getuserrealm.srf";
/// The STS on `login.microsoftonline.com`.
pub const TOKEN: &str = "/RST2.srf";
pub use crate::pool::{CERT_PROV_PATH, CERT_PROV_PROOF_PATH, WEB_TICKET_PATH, WS_FED_BEARER_PATH};
