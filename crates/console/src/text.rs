//! What the console says of each KB step: its button, and the section of KB 2604176 it comes
//! from (the debrief quotes it beside each step).

use lyncsim_domain::{Os, Product, Remedy};

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
