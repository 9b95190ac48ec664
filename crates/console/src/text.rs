//! What the console says of each KB step: its button, and the section of KB 2604176 it comes
//! from (the debrief quotes it beside each step).

use lyncsim_domain::{Cause, Os, Product, Remedy};

/// The label of a step's button, as the product or Windows names the action.
pub(crate) fn button(remedy: Remedy, os: Os) -> String {
    match remedy {
        Remedy::DeleteSigninInfo => "Delete my sign-in information".into(),
        Remedy::Fixit => format!("Run Fix it {}", Remedy::fixit_number(os)),
        Remedy::UpdateClient => "Install the latest Lync update".into(),
        Remedy::DesktopSetup => "Run Office 365 Desktop Setup".into(),
        Remedy::DeleteEndpointCache => "Delete this folder".into(),
        Remedy::DeleteCert => "Delete".into(),
        Remedy::RemoveCredentials => "Remove from vault".into(),
        Remedy::SyncTime => "Update now".into(),
        Remedy::FlushDns => "ipconfig /flushdns".into(),
        Remedy::DeleteRsaKey => "Delete this folder".into(),
        Remedy::Restart => "Restart Lync".into(),
        Remedy::Escalate => "Escalate to support".into(),
    }
}

/// The heading of KB 2604176 under which a step is found: "SOLUTION" has a resolution for each
/// product, then "Additional troubleshooting steps for Lync 2013 and Lync 2010"; the check with
/// another account and escalating are under "MORE INFORMATION" (the headings as the issue's
/// review of the KB gives them).
pub(crate) fn kb_heading(remedy: Remedy) -> &'static str {
    match remedy {
        Remedy::DeleteSigninInfo => "SOLUTION, Resolution for Lync 2013",
        Remedy::Fixit => "SOLUTION, Resolution for Lync 2010",
        Remedy::Escalate => "MORE INFORMATION",
        _ => "SOLUTION, Additional troubleshooting steps for Lync 2013 and Lync 2010",
    }
}

/// What a cause is, in plain words, for the debrief.
pub(crate) fn cause_plain(cause: Cause) -> &'static str {
    match cause {
        Cause::OutdatedClient => {
            "The Lync on the computer was older than the service accepts any more: the service turned it away."
        }
        Cause::OutdatedSia => {
            "The Microsoft Online Services Sign-In Assistant, which Lync 2010 signs in through, was older than the service accepts."
        }
        Cause::StaleCert => {
            "The personal certificate Lync signs in with was damaged, or came from a certificate authority the service no longer trusts; Lync keeps using it until it is deleted."
        }
        Cause::StaleCredentials => {
            "The user's password had changed, but Lync kept signing in with the old one saved on the computer."
        }
        Cause::ClockSkew => {
            "The computer's clock was more than five minutes off: the sign-in service refuses requests whose time is that far from its own."
        }
        Cause::RsaKeyLocked => {
            "On Windows XP, after the user's Windows password changed, the key container of the certificate stayed locked under the old password."
        }
        Cause::EndpointMoved => {
            "The user had been moved to another server, but Lync remembered the old one and kept going there."
        }
        Cause::DnsStale => {
            "A server's address had changed, but Windows remembered the old address from an earlier look-up."
        }
        Cause::PostOutage => {
            "An outage cut a sign-in short while Lync 2010 was rewriting its certificate and saved password: both were left damaged."
        }
        Cause::AccountCorrupt => {
            "The user's account in the directory was damaged: no step on the computer helps, and another account signs in on it fine."
        }
    }
}

/// The KB section a step follows.
pub(crate) fn kb_section(remedy: Remedy, product: Product, os: Os) -> String {
    match remedy {
        Remedy::DeleteSigninInfo => "Lync 2013: on the sign-in screen, click \"Delete my sign-in information\", then sign in again.".into(),
        Remedy::Fixit => format!(
            "Lync 2010: run Fix it {} (Microsoft Fix it), which removes the cached certificate, credentials and endpoint information.",
            Remedy::fixit_number(os)
        ),
        Remedy::UpdateClient => format!(
            "Make sure that the latest {} update is installed.",
            product.display_name()
        ),
        Remedy::DesktopSetup => "Run the Office 365 desktop setup, which updates the Microsoft Online Services Sign-In Assistant.".into(),
        Remedy::DeleteEndpointCache => "Delete the sip_<sign-in address> folder under the Communicator (Lync) folder of the user profile: the cached endpoint information.".into(),
        Remedy::DeleteCert => "In the Certificates snap-in (certmgr.msc), under Personal > Certificates, delete the certificate issued by Communications Server.".into(),
        Remedy::RemoveCredentials => "In Credential Manager, remove the cached Lync credentials, then sign in with the current password.".into(),
        Remedy::SyncTime => "Make sure that the computer's clock is within five minutes of the time source: synchronize it (Date and Time, Internet Time, Update now).".into(),
        Remedy::FlushDns => "Clear the DNS client cache: ipconfig /flushdns at a command prompt.".into(),
        Remedy::DeleteRsaKey => "Windows XP, after a password change: delete the RSA key folder (Application Data\\Microsoft\\Crypto\\RSA\\<SID>), then restart.".into(),
        Remedy::Restart => "Restart the client.".into(),
        Remedy::Escalate => "When another account signs in on the same computer and nothing on the computer helps, the user's account needs the administrator: contact support.".into(),
    }
}

/// Three hints for a cause, each saying more than the one before: where to look, what to look
/// for there, and the KB's step. Course text written for lyncsim from KB 2604176's causes and
/// steps (not Microsoft's words).
pub(crate) fn hints(cause: Cause, product: Product, os: Os) -> [String; 3] {
    let fix = |r: Remedy| {
        format!(
            "The KB's step: {} ({}).",
            kb_section(r, product, os),
            button(r, os)
        )
    };
    let (look, find, step) = match cause {
        Cause::OutdatedClient => (
            "Look at which Lync the computer runs: Lync's Help > About.",
            "Compare the version in Help > About with the latest update for this Lync: the service turns away clients older than it accepts.",
            fix(Remedy::UpdateClient),
        ),
        Cause::OutdatedSia => (
            "Lync 2010 signs in through another program first: look at Help > About for it.",
            "The Microsoft Online Services Sign-In Assistant's version is in Help > About: the service turns away one older than it accepts.",
            fix(Remedy::DesktopSetup),
        ),
        Cause::StaleCert => (
            "Look at the user's personal certificates: certmgr.msc, Personal > Certificates.",
            "The certificate issued by Communications Server is the one Lync signs in with: one that is damaged, or from before the service changed its certificate authority, is refused.",
            fix(if product == Product::Lync2013 {
                Remedy::DeleteSigninInfo
            } else {
                Remedy::DeleteCert
            }),
        ),
        Cause::StaleCredentials => (
            "Look at what Windows keeps for Lync: Credential Manager.",
            "Lync signs in with the password saved there: if the user changed their password since, the saved one is wrong.",
            fix(Remedy::RemoveCredentials),
        ),
        Cause::ClockSkew => (
            "Look at the computer's clock: Date and Time.",
            "Compare the computer's time with Internet time: more than five minutes apart, and the service refuses the sign-in's timestamps.",
            fix(Remedy::SyncTime),
        ),
        Cause::RsaKeyLocked => (
            "Look at where Windows XP keeps the user's private keys: the Crypto\\RSA folder.",
            "After a Windows password change the key container there can stay locked under the old password, and Lync cannot use its certificate's key.",
            fix(Remedy::DeleteRsaKey),
        ),
        Cause::EndpointMoved => (
            "Look at what Lync remembers about where it signed in: the Lync folder.",
            "The sip_<address> folder keeps the server Lync signed in to last time: if the user was moved to another server, it sends Lync to the old one.",
            fix(Remedy::DeleteEndpointCache),
        ),
        Cause::DnsStale => (
            "Look at what Windows remembers of names it looked up: the command prompt, ipconfig /displaydns.",
            "The DNS client cache can hold a server's old address after the service moved it: compare what it holds for the pool with what DNS says now (nslookup <name> asks the DNS server itself).",
            fix(Remedy::FlushDns),
        ),
        Cause::PostOutage => (
            "An outage hit a sign-in on this computer: look at what Lync keeps on disk, in certmgr and Credential Manager.",
            "Lync 2010 rewrote its certificate and saved credential while the connection dropped: an item that cannot be read is left behind.",
            fix(Remedy::Fixit),
        ),
        Cause::AccountCorrupt => (
            "Find out whether the trouble is this computer or this user: sign in with another account here.",
            "If another account signs in on this computer and the user's own still fails whatever you do on the computer, the account itself is at fault.",
            fix(Remedy::Escalate),
        ),
    };
    [look.to_owned(), find.to_owned(), step]
}

/// The command prompt's window title, first lines and prompt on `os`, for the Windows account
/// `user`: the banners of the versions' cmd.exe.
pub(crate) fn cmd_window(os: Os, user: &str) -> (&'static str, &'static str, String) {
    match os {
        Os::Xp => (
            "C:\\WINDOWS\\system32\\cmd.exe",
            "Microsoft Windows XP [Version 5.1.2600]\n(C) Copyright 1985-2001 Microsoft Corp.",
            format!("C:\\Documents and Settings\\{user}>"),
        ),
        Os::Vista => (
            "C:\\Windows\\system32\\cmd.exe",
            "Microsoft Windows [Version 6.0.6002]\nCopyright (c) 2006 Microsoft Corporation.  All rights reserved.",
            format!("C:\\Users\\{user}>"),
        ),
        Os::Win7 => (
            "C:\\Windows\\system32\\cmd.exe",
            "Microsoft Windows [Version 6.1.7601]\nCopyright (c) 2009 Microsoft Corporation.  All rights reserved.",
            format!("C:\\Users\\{user}>"),
        ),
        Os::Win8 => (
            "C:\\Windows\\system32\\cmd.exe",
            "Microsoft Windows [Version 6.2.9200]\n(c) 2012 Microsoft Corporation. All rights reserved.",
            format!("C:\\Users\\{user}>"),
        ),
    }
}

/// A line of the emulated client's trace (`<RFC 3339> [stage] text`) laid out as a line of
/// Lync's UccApi trace is: `MM/DD/YYYY|HH:MM:SS.mmm PID:TID LEVEL :: text`, ERROR for a stage
/// that failed. The layout is the UccApi log's; the process and thread ids are lyncsim's own,
/// and so is the text.
pub(crate) fn uccapi_line(line: &str) -> String {
    let (time, text) = line.split_once(' ').unwrap_or(("", line));
    let Ok(at) = chrono::DateTime::parse_from_rfc3339(time) else {
        return line.to_owned();
    };
    let level = if text.contains("] FAILED") {
        "ERROR"
    } else {
        "INFO "
    };
    format!(
        "{} 0B9C:0F14 {level} :: {text}",
        at.format("%m/%d/%Y|%H:%M:%S%.3f")
    )
}

/// The scoring rule in a trainee's words, for the debrief (the rule is `engine::score`'s).
pub(crate) const SCORING_RULE: &str = "You start with 100 points. A step that addresses a cause on this computer costs nothing, whichever KB way you took (the targeted step for each cause, or one broad step for all), and so does the KB's first resolution for your product (Fix it for Lync 2010, Delete my sign-in information for Lync 2013). A step that addresses no cause here costs 10, or 20 if it deleted something the user needed; so does a step taken after the steps before had already restored sign-in. Doing a step again costs 10. Escalating what a step on the computer fixes, or escalating without first checking with a second account, costs 30. A hint costs what your trainer set, and finishing after the time limit costs 20. Signing the user in (or escalating an account problem correctly) scores at least 50; an attempt that did not finish scores at most 40, and 0 if no step was tried.";

#[cfg(test)]
mod tests {
    #[test]
    fn a_trace_line_is_laid_out_as_uccapi_s() {
        assert_eq!(
            super::uccapi_line("2026-12-02T20:05:04Z [token] FAILED: STS: refused"),
            "12/02/2026|20:05:04.000 0B9C:0F14 ERROR :: [token] FAILED: STS: refused"
        );
        assert_eq!(
            super::uccapi_line("2026-12-02T20:05:04Z [resolve] a is b"),
            "12/02/2026|20:05:04.000 0B9C:0F14 INFO  :: [resolve] a is b"
        );
        assert_eq!(super::uccapi_line("not a trace line"), "not a trace line");
    }
}
