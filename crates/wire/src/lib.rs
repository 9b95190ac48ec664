//! What crosses the wire between a client and the mock service: the real protocol's messages
//! (Autodiscover, the STS, the web ticket service, GetAndPublishCert: XML, typed here, read with
//! roxmltree and written escaped; SIP), and apart from them, in [`admin`], the admin API's JSON
//! documents.
//!
//! This crate is the one place that knows each message's XML: the service's handlers and the
//! client's stages work on the types. Paths are constants here so that client and service
//! cannot drift apart. An HTTP-level refusal (no such path, too large, too slow) is one
//! [`Problem`] document; a refusal of the protocol is the SOAP fault the real service sent
//! ([`soap`]).
#![warn(missing_docs)]

pub mod admin;
pub mod agent;
pub mod autodiscover;
pub mod paths;
pub mod pool;
mod problem;
pub mod sip;
pub mod soap;
pub mod sts;
pub mod wsse;
pub mod xml;

pub use problem::Problem;

/// A message of the protocol as it is written: every message type the client or the
/// service sends implements it, so that writing one is one convention.
pub trait ToXml {
    /// The whole document (or, for an element carried inside another message, the element).
    fn to_xml(&self) -> String;
}

/// A message of the protocol as it is read: every message type the client or the service
/// receives implements it. Reading refuses what is not the message (see [`WireError`]).
pub trait FromXml: Sized {
    /// Reads the message from its text.
    fn from_xml(text: &str) -> Result<Self, WireError>;
}

/// The port of an HTTP authority (`host[:port]`, a `Host` header or an origin's) whose host is
/// a loopback address (`127.0.0.0/8`, `[::1]`) or `localhost`: `Some(None)` when it gives no
/// port; `None` when the host is another, or a port is given that is not a number.
pub fn loopback_authority(authority: &str) -> Option<Option<u16>> {
    let (host, port) = match authority.rsplit_once(':') {
        Some((h, p)) if !p.contains(']') => (h, Some(p.parse::<u16>().ok()?)),
        _ => (authority, None),
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let loopback = host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    loopback.then_some(port)
}

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
    /// A `wsu:Created`/`wsu:Expires` window that ends before (or as) it begins: well-formed,
    /// but no time is inside it. A receiver that checks times refuses it as it refuses a
    /// time outside its window.
    #[error("{0}")]
    Window(String),
}

#[cfg(test)]
mod loopback_tests {
    use super::*;

    #[test]
    fn a_loopback_authority_is_told_from_any_other() {
        assert_eq!(loopback_authority("127.0.0.1:8080"), Some(Some(8080)));
        assert_eq!(loopback_authority("127.9.9.9"), Some(None));
        assert_eq!(loopback_authority("[::1]:80"), Some(Some(80)));
        assert_eq!(loopback_authority("LocalHost:1"), Some(Some(1)));
        for other in [
            "attacker.example:80",
            "10.0.0.1",
            ":80",
            "127.0.0.1:x",
            "localhost.evil",
        ] {
            assert_eq!(loopback_authority(other), None, "{other}");
        }
    }
}
