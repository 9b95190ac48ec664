//! The mock Lync Online / Azure AD service.
//!
//! One [`Service`] hosts everything a Lync client talks to, each host name on its own loopback
//! address and all on one HTTPS port: Autodiscover (`lyncdiscover.<tenant>` →
//! `webdir.online.lync.com`), the STS (`login.microsoftonline.com`), the director
//! (`sipdir.online.lync.com`, found by SRV) and two front-end pools with certificate
//! provisioning and a SIP registrar that checks personal certificates in TLS-DSK. A real DNS
//! server (hickory) answers for all of them. The admin API, on its own port, shows the journal,
//! the users, the clock and the CA certificates.
//!
//! **Invariants:** every socket this crate opens is on 127.0.0.0/8 ([`net::require_loopback`]);
//! the service's notion of "now" comes only from [`clock::ServiceClock`]; bad input gets a 4xx
//! problem document and never stops the service.
#![warn(missing_docs)]

mod admin;
mod audience;
mod capacity;
pub mod clock;
pub mod config;
mod conn;
mod diag;
mod directory;
mod dns;
mod endpoints;
mod faults;
mod hosts;
mod journal;
mod listener;
mod net;
mod network;
mod outage;
mod pools;
mod problem;
mod registrar;
mod service;
mod sip_conn;
mod state;
mod tokens;

pub use config::{AdminToken, CaPem, ServiceConfig, Tenant, TenantUser};
pub use net::{NetworkLayout, require_loopback};
pub use service::{RunningService, Service};
