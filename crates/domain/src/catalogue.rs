//! The error catalogue of SPEC section 7 and the rule that picks one text for a failed stage.
//!
//! The rule looks only at *where* sign-in stopped (the [`Stage`]) and *how* (the
//! [`FailureKind`]), both of which the client emulator learns from real I/O. Nothing here
//! knows about causes or faults.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A message the Lync client shows when sign-in fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ErrorId {
    /// "There was a problem acquiring a personal certificate required to sign in."
    #[serde(rename = "E_CERT")]
    ECert,
    /// "Cannot sign in to Lync. You may have entered your sign-in address…"
    #[serde(rename = "E_SIGNIN")]
    ESignin,
    /// "The server is not responding or cannot be reached."
    #[serde(rename = "E_UNREACHABLE")]
    EUnreachable,
}

impl ErrorId {
    /// Every catalogue entry.
    pub const ALL: &'static [ErrorId] = &[ErrorId::ECert, ErrorId::ESignin, ErrorId::EUnreachable];

    /// The catalogue id (`E_CERT`, …).
    pub fn id(self) -> &'static str {
        match self {
            ErrorId::ECert => "E_CERT",
            ErrorId::ESignin => "E_SIGNIN",
            ErrorId::EUnreachable => "E_UNREACHABLE",
        }
    }

    /// The exact text shown to the user, character for character.
    pub fn text(self) -> &'static str {
        match self {
            ErrorId::ECert => {
                "There was a problem acquiring a personal certificate required to sign in. If the problem continues, please contact your support team."
            }
            ErrorId::ESignin => {
                "Cannot sign in to Lync. You may have entered your sign-in address, user name, or password incorrectly, or the authentication service may be incompatible with this version of the program. If your sign-in information is correct and the problem persists, please contact your system administrator."
            }
            ErrorId::EUnreachable => {
                "The server is not responding or cannot be reached. Sign-in may be delayed while we retry the connection."
            }
        }
    }

    /// The text a user sees when sign-in stopped at `stage` for a failure of `kind`.
    ///
    /// - A host that cannot be reached (refused, reset, timed out, 503, cut off) shows
    ///   E_UNREACHABLE, whatever the stage; so does failing to find the home pool at all.
    /// - A saved credential that cannot be read any more shows E_SIGNIN; so does a sign-in
    ///   address that the service answered and refused while looking for its home pool
    ///   ("You may have entered your sign-in address … incorrectly").
    /// - Anything else while getting the token or the certificate, or a certificate the
    ///   registrar rejects, shows E_CERT.
    pub fn shown_for(stage: Stage, kind: FailureKind) -> ErrorId {
        match (stage, kind) {
            (_, FailureKind::Unreachable) => ErrorId::EUnreachable,
            // "You may have entered your sign-in address, user name, or password incorrectly".
            (_, FailureKind::UnknownAddress | FailureKind::WrongPassword) => ErrorId::ESignin,
            (Stage::Discover, FailureKind::Rejected) => ErrorId::ESignin,
            (Stage::Resolve | Stage::Discover, _) => ErrorId::EUnreachable,
            (Stage::Credentials, _) => ErrorId::ESignin,
            (Stage::Token | Stage::Certificate | Stage::Register, _) => ErrorId::ECert,
        }
    }
}

impl fmt::Display for ErrorId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.id())
    }
}

/// The sign-in stages of SPEC section 3, in the order the client runs them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    /// Reading the saved password from Credential Manager (only when no password is typed).
    Credentials,
    /// Name resolution: the DNS client cache, then the DNS server.
    Resolve,
    /// Finding the home pool: Autodiscover (Lync 2013) or the director (Lync 2010), unless the
    /// endpoint cache names it.
    Discover,
    /// Getting a token from the STS (through the Sign-In Assistant on Lync 2010).
    Token,
    /// Using the stored personal certificate, or getting a new one with GetAndPublishCert.
    Certificate,
    /// SIP REGISTER at the home pool, authenticated with TLS-DSK and the personal certificate.
    Register,
}

impl Stage {
    /// The stage's name in traces and JSON.
    pub fn id(self) -> &'static str {
        match self {
            Stage::Credentials => "credentials",
            Stage::Resolve => "resolve",
            Stage::Discover => "discover",
            Stage::Token => "token",
            Stage::Certificate => "certificate",
            Stage::Register => "register",
        }
    }
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.id())
    }
}

/// How a stage failed, as the client observed it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureKind {
    /// No usable answer from the network: refused, reset, timed out, 503, a cut-off response,
    /// or a name that does not resolve.
    Unreachable,
    /// The service answered and said no (a 4xx problem document, a TLS alert).
    Rejected,
    /// State on the machine could not be read or used (a damaged certificate, a key container
    /// that does not decrypt, a credential that does not decrypt).
    Unreadable,
    /// The service answered with something the client could not understand.
    BadResponse,
    /// The service said the sign-in address names no one it knows (the STS's IDCRL code for
    /// an invalid member name, wherever in the sign-in it was asked).
    UnknownAddress,
    /// The service said the password the user typed is wrong (Passport's bad member name or
    /// password for a password typed at this sign-in; a saved one that the service refuses is
    /// [`FailureKind::Rejected`], the KB's cached credentials out of date).
    WrongPassword,
}

impl FailureKind {
    /// The kind's name in traces and JSON.
    pub fn id(self) -> &'static str {
        match self {
            FailureKind::Unreachable => "unreachable",
            FailureKind::Rejected => "rejected",
            FailureKind::Unreadable => "unreadable",
            FailureKind::BadResponse => "bad_response",
            FailureKind::UnknownAddress => "unknown_address",
            FailureKind::WrongPassword => "wrong_password",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn texts_are_exactly_the_catalogue() {
        assert_eq!(
            ErrorId::ECert.text(),
            "There was a problem acquiring a personal certificate required to sign in. If the problem continues, please contact your support team."
        );
        assert_eq!(
            ErrorId::EUnreachable.text(),
            "The server is not responding or cannot be reached. Sign-in may be delayed while we retry the connection."
        );
        assert!(
            ErrorId::ESignin
                .text()
                .starts_with("Cannot sign in to Lync. You may have entered")
        );
        assert!(
            ErrorId::ESignin
                .text()
                .ends_with("please contact your system administrator.")
        );
    }

    #[test]
    fn shown_text_follows_the_stage() {
        use FailureKind::*;
        use Stage::*;
        let check = |stage, kind, expected: ErrorId| {
            assert_eq!(
                ErrorId::shown_for(stage, kind),
                expected,
                "{stage:?} {kind:?}"
            )
        };
        check(Discover, Unreachable, ErrorId::EUnreachable);
        check(Token, Unreachable, ErrorId::EUnreachable);
        check(Register, Unreachable, ErrorId::EUnreachable);
        check(Resolve, Rejected, ErrorId::EUnreachable);
        check(Discover, Rejected, ErrorId::ESignin);
        check(Discover, BadResponse, ErrorId::EUnreachable);
        check(Token, Rejected, ErrorId::ECert);
        check(Certificate, Unreadable, ErrorId::ECert);
        check(Certificate, BadResponse, ErrorId::ECert);
        check(Register, Rejected, ErrorId::ECert);
        check(Credentials, Unreadable, ErrorId::ESignin);
        check(Token, UnknownAddress, ErrorId::ESignin);
    }
}
