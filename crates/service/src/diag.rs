//! The `ms-diagnostics` error ids of the pools' and registrars' refusals. [`CLIENT_VERSION`]
//! is [MS-OCER]'s own (section 8.16); the 28000s are lyncsim's own numbering (README, "The
//! HTTPS hosts").

pub(crate) const MALFORMED: u32 = 28000;
pub(crate) const TOKEN_INVALID: u32 = 28001;
pub(crate) const TOKEN_TIME: u32 = 28002;
pub(crate) const CLAIM: u32 = 28003;
pub(crate) const AUDIENCE: u32 = 28004;
pub(crate) const TICKET_INVALID: u32 = 28010;
pub(crate) const TICKET_TIME: u32 = 28011;
pub(crate) const SIGNATURE: u32 = 28012;
pub(crate) const TIMESTAMP: u32 = 28013;
pub(crate) const NO_USER: u32 = 28020;
pub(crate) const ACCOUNT: u32 = 28021;
pub(crate) const NOT_HOMED: u32 = 28022;
pub(crate) const CSR: u32 = 28023;
pub(crate) const SUBJECT: u32 = 28024;
pub(crate) const OUTAGE: u32 = 28030;
/// [MS-OCER] 8.16, the protocol client version filter: "Invalid protocol client version."
pub(crate) const CLIENT_VERSION: u32 = 17002;
pub(crate) const CERTIFICATE: u32 = 28032;
pub(crate) const HANDSHAKE: u32 = 28033;
/// More certificates asked for by one user within a minute than provisioning issues.
pub(crate) const TOO_MANY: u32 = 28034;
