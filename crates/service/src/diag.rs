//! The `ms-diagnostics` error ids of the registrars' and the pools' refusals, each with the one
//! reason text the wire carries for it ([`reason`]): the precise reason (the skew, the expiry,
//! the CA, the minimum build) is the journal's, never the wire's.
//!
//! Where [MS-OCER] has an id for the refusal, it is that id with [MS-OCER]'s reason, word for
//! word. The others are lyncsim's own, numbered from 90000, above every range that
//! [MS-OCER] and the Office Communications Server "Ms-Diagnostics Header" page give (the
//! highest seen is the 28000s of the web authentication services, [MS-OCER] 7.22), with texts
//! of lyncsim's own. No id is sent with a meaning other than [MS-OCER]'s; a test holds
//! the table to it.

/// Where an id and its reason come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Source {
    /// [MS-OCER], this section.
    Ocer(&'static str),
    /// lyncsim's own.
    Own,
}

/// One id: its number, the reason the wire carries, where both come from.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Diagnostic {
    pub(crate) id: u32,
    pub(crate) reason: &'static str,
    #[cfg_attr(
        not(test),
        expect(
            dead_code,
            reason = "the record of each id's source, which the tests check"
        )
    )]
    pub(crate) source: Source,
}

/// The first of lyncsim's own ids.
#[cfg(test)]
pub(crate) const OWN_FIRST: u32 = 90_000;

/// [MS-OCER] 4000 table (the front end, current release): the address names no SIP user.
pub(crate) const NO_USER: u32 = 4005;
/// [MS-OCER] 4000 table: the user is not homed on the pool asked.
pub(crate) const NOT_HOMED: u32 = 4006;
/// [MS-OCER] 4000 table: a REGISTER without the endpoint's identifier.
pub(crate) const NO_ENDPOINT_ID: u32 = 4010;
/// [MS-OCER] 8.16, the protocol client version filter.
pub(crate) const CLIENT_VERSION: u32 = 17002;
pub(crate) const MALFORMED: u32 = 90_000;
pub(crate) const TOKEN_INVALID: u32 = 90_001;
pub(crate) const TOKEN_TIME: u32 = 90_002;
pub(crate) const CLAIM: u32 = 90_003;
pub(crate) const AUDIENCE: u32 = 90_004;
pub(crate) const TICKET_INVALID: u32 = 90_010;
pub(crate) const TICKET_TIME: u32 = 90_011;
pub(crate) const SIGNATURE: u32 = 90_012;
pub(crate) const TIMESTAMP: u32 = 90_013;
pub(crate) const ACCOUNT: u32 = 90_021;
pub(crate) const CSR: u32 = 90_023;
pub(crate) const SUBJECT: u32 = 90_024;
pub(crate) const OUTAGE: u32 = 90_030;
pub(crate) const CERTIFICATE: u32 = 90_032;
pub(crate) const HANDSHAKE: u32 = 90_033;
/// More certificates asked for by one user within a minute than provisioning issues.
pub(crate) const TOO_MANY: u32 = 90_034;

const fn ocer(id: u32, section: &'static str, reason: &'static str) -> Diagnostic {
    Diagnostic {
        id,
        reason,
        source: Source::Ocer(section),
    }
}

const fn own(id: u32, reason: &'static str) -> Diagnostic {
    Diagnostic {
        id,
        reason,
        source: Source::Own,
    }
}

/// Every id the service sends, with its reason.
pub(crate) const TABLE: &[Diagnostic] = &[
    ocer(
        NO_USER,
        "4000-4999, front end",
        "Destination URI either not enabled for SIP or does not exist.",
    ),
    ocer(NOT_HOMED, "4000-4999, front end", "User not found in pool."),
    ocer(
        NO_ENDPOINT_ID,
        "4000-4999, front end",
        "Missing endpoint identifier.",
    ),
    ocer(
        CLIENT_VERSION,
        "8.16, protocol client version filter",
        "Invalid protocol client version.",
    ),
    own(MALFORMED, "The message could not be read."),
    own(TOKEN_INVALID, "The security token is not valid."),
    own(
        TOKEN_TIME,
        "The security token is outside its validity period.",
    ),
    own(CLAIM, "The user claimed is not the user the token names."),
    own(
        AUDIENCE,
        "The token or ticket was not issued for this service.",
    ),
    own(TICKET_INVALID, "The web ticket is not valid."),
    own(
        TICKET_TIME,
        "The web ticket is outside its validity period.",
    ),
    own(SIGNATURE, "The message signature is not valid."),
    own(
        TIMESTAMP,
        "The message timestamp is outside the time accepted.",
    ),
    own(
        ACCOUNT,
        "The directory returned no usable Lync attributes for the user.",
    ),
    own(CSR, "The certificate request could not be accepted."),
    own(SUBJECT, "The certificate names another user."),
    own(OUTAGE, "The service is temporarily unavailable."),
    own(CERTIFICATE, "The client certificate was not accepted."),
    own(HANDSHAKE, "The TLS-DSK handshake failed."),
    own(
        TOO_MANY,
        "Too many certificates were requested for the user; try again later.",
    ),
];

/// The reason the wire carries for `id`.
pub(crate) fn reason(id: u32) -> &'static str {
    TABLE
        .iter()
        .find(|d| d.id == id)
        .map_or("Unknown error.", |d| d.reason)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// [MS-OCER]'s reasons for the ids lyncsim sends, as the spec prints them (the 4000 table
    /// of the current release, and 8.16).
    const FROM_THE_SPEC: [(u32, &str); 4] = [
        (
            4005,
            "Destination URI either not enabled for SIP or does not exist.",
        ),
        (4006, "User not found in pool."),
        (4010, "Missing endpoint identifier."),
        (17002, "Invalid protocol client version."),
    ];

    #[test]
    fn every_id_means_what_the_spec_says_or_is_lyncsims_own_range() {
        for d in TABLE {
            match d.source {
                Source::Ocer(_) => assert!(
                    FROM_THE_SPEC.contains(&(d.id, d.reason)),
                    "{} is not [MS-OCER]'s {:?}",
                    d.id,
                    d.reason
                ),
                Source::Own => assert!(
                    (OWN_FIRST..OWN_FIRST + 1000).contains(&d.id),
                    "lyncsim's own id {} is outside its range",
                    d.id
                ),
            }
        }
        let mut ids: Vec<u32> = TABLE.iter().map(|d| d.id).collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), TABLE.len(), "an id is in the table twice");
    }
}
