//! What a token or a ticket is for: the relying parties this service's STS issues tokens to,
//! and the addresses that name one of its web services (a pool's certificate provisioning,
//! Autodiscover's User resource). Every token and ticket is bound to
//! what it was issued for, and each service checks it was issued for itself.

use axum::http::Uri;
use lyncsim_wire::paths;

use crate::hosts::{DIRECTOR, WEBDIR};
use crate::pools::{POOLS, pool_fqdn};

/// The relying party the emulated clients name in `RST2.srf`'s `AppliesTo`: Lync's web
/// authentication, the dialect of the web ticket service's claims (`sipe-svc.c` writes it in
/// `sipe_svc_webticket`). That a Lync client asked for a token by this name is lyncsim's own
/// choice: no source says what the real client's `AppliesTo` was.
pub(crate) const LYNC_WEB_AUTHENTICATION: &str =
    "urn:component:Microsoft.Rtc.WebAuthentication.2010";

/// Who a token of the STS may be for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum RelyingParty {
    /// Lync's web authentication, for any of the service's web ticket services.
    LyncWebAuthentication,
    /// One web ticket service (a pool's, or Autodiscover's on webdir), by its bearer port's
    /// address: what pidgin-sipe asks for (`sipe_svc_webticket_lmc` with the `WsFedBearer`
    /// address, `sipe-webticket.c`).
    WebTicketService {
        /// The host name of the web ticket service.
        host: String,
    },
    /// Another Microsoft Online service of the tenant that real clients asked `RST2.srf` for
    /// a token for: SharePoint Online (`sharepoint.com`, or a site's address under it:
    /// SharePointOnlineCredentials' IDCRL and the public clients of it) and Dynamics CRM
    /// Online (`urn:<region>:dynamics.com`, e.g. `urn:crmna:dynamics.com`). The STS issues
    /// the token, as the real one did; no service of lyncsim admits it.
    OtherService {
        /// The `AppliesTo`, as asked.
        name: String,
    },
}

/// Whether `applies_to` names SharePoint Online or Dynamics CRM Online, as the public clients
/// of Microsoft Online's `RST2.srf` asked for them.
fn is_other_microsoft_online_service(applies_to: &str) -> bool {
    let lower = applies_to.to_ascii_lowercase();
    let sharepoint_host =
        |host: &str| host == "sharepoint.com" || host.ends_with(".sharepoint.com");
    if sharepoint_host(&lower) {
        return true;
    }
    if let Some(address) = HttpsAddress::parse(&lower) {
        return sharepoint_host(&address.host);
    }
    lower
        .strip_prefix("urn:crm")
        .and_then(|rest| rest.strip_suffix(":dynamics.com"))
        .is_some_and(|region| region.chars().all(|c| c.is_ascii_alphanumeric()))
}

/// An `https` address taken apart: its host (lower case), port and path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct HttpsAddress {
    pub(crate) host: String,
    pub(crate) port: u16,
    pub(crate) path: String,
}

impl HttpsAddress {
    /// Reads `https://host[:port]/path` (by `http`'s URI parser); `None` for anything else.
    pub(crate) fn parse(address: &str) -> Option<HttpsAddress> {
        let uri: Uri = address.parse().ok()?;
        if !uri.scheme_str()?.eq_ignore_ascii_case("https") {
            return None;
        }
        let host = uri.host().filter(|h| !h.is_empty())?;
        Some(HttpsAddress {
            host: host.to_ascii_lowercase(),
            port: uri.port_u16().unwrap_or(443),
            path: uri.path_and_query().map_or("/", |p| p.as_str()).to_owned(),
        })
    }

    /// Whether this names `host` on this service's HTTPS port.
    pub(crate) fn is_on(&self, host: &str, https_port: u16) -> bool {
        self.host.eq_ignore_ascii_case(host) && self.port == https_port
    }
}

/// The relying party `applies_to` names, when it is one of this service's.
pub(crate) fn relying_party(applies_to: &str, https_port: u16) -> Option<RelyingParty> {
    let applies_to = applies_to.trim();
    if applies_to == LYNC_WEB_AUTHENTICATION {
        return Some(RelyingParty::LyncWebAuthentication);
    }
    if is_other_microsoft_online_service(applies_to) {
        return Some(RelyingParty::OtherService {
            name: applies_to.to_owned(),
        });
    }
    let address = HttpsAddress::parse(applies_to)?;
    if address.path != paths::WS_FED_BEARER_PATH {
        return None;
    }
    POOLS
        .iter()
        .map(|pool| pool_fqdn(pool))
        .chain([WEBDIR.to_owned(), DIRECTOR.to_owned()])
        .find(|host| address.is_on(host, https_port))
        .map(|host| RelyingParty::WebTicketService { host })
}

impl RelyingParty {
    /// Whether a token for this relying party may be used at `host`'s web ticket service.
    pub(crate) fn admits(&self, host: &str) -> bool {
        match self {
            RelyingParty::LyncWebAuthentication => true,
            RelyingParty::WebTicketService { host: own } => own.eq_ignore_ascii_case(host),
            RelyingParty::OtherService { .. } => false,
        }
    }
}

/// Whether a web ticket request's `AppliesTo` names `pool`'s certificate provisioning: the
/// service a web ticket is for, as pidgin-sipe and Lync ask for it (the address of its port
/// from the `mex`).
pub(crate) fn is_cert_provisioning_of(applies_to: &str, pool: &str, https_port: u16) -> bool {
    names_service(applies_to, &[pool], https_port, paths::CERT_PROV_PATH)
}

/// Whether a web ticket request's `AppliesTo` names Autodiscover's User resource on one of
/// `names` (webdir, or the `lyncdiscover.<tenant>` the client asked for): the address a 401
/// of the User resource sent the client from (`sipe_lync_autodiscover_cb` passes it on as the
/// web ticket's service address).
pub(crate) fn is_autodiscover_user_on(applies_to: &str, names: &[&str], https_port: u16) -> bool {
    names_service(applies_to, names, https_port, paths::AUTODISCOVER_USER)
}

/// Whether `applies_to` is an address on one of `hosts` (this service's HTTPS port) under
/// `path` (compared without regard to case).
fn names_service(applies_to: &str, hosts: &[&str], https_port: u16, path: &str) -> bool {
    HttpsAddress::parse(applies_to.trim()).is_some_and(|a| {
        hosts.iter().any(|host| a.is_on(host, https_port))
            && a.path
                .to_ascii_lowercase()
                .starts_with(&path.to_ascii_lowercase())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_is_for_lync_or_for_one_pools_web_ticket_service() {
        let port = 4443;
        assert_eq!(
            relying_party(LYNC_WEB_AUTHENTICATION, port),
            Some(RelyingParty::LyncWebAuthentication)
        );
        let sipe = format!(
            "https://pool-a.online.lync.com:{port}{}",
            paths::WS_FED_BEARER_PATH
        );
        let pool_a = relying_party(&sipe, port).unwrap();
        assert!(pool_a.admits("pool-a.online.lync.com"));
        assert!(!pool_a.admits("pool-b.online.lync.com"));
        // The other Microsoft Online services real clients asked for: a token, which no
        // web ticket service of this one admits.
        for service in [
            "sharepoint.com",
            "https://contoso.sharepoint.com/",
            "urn:crmna:dynamics.com",
        ] {
            let party = relying_party(service, port).unwrap();
            assert!(!party.admits("pool-a.online.lync.com"), "{service}");
            assert!(!party.admits("webdir.online.lync.com"), "{service}");
        }
        for other in [
            "urn:crm:evil.com",
            "https://sharepoint.com.evil.example/",
            "urn:evil",
            "",
            "https://evil.example/WebTicket/WebTicketService.svc/WsFedBearer",
            "https://pool-a.online.lync.com/WebTicket/WebTicketService.svc/WsFedBearer",
            "http://pool-a.online.lync.com:4443/WebTicket/WebTicketService.svc/WsFedBearer",
            "https://pool-a.online.lync.com:4443/elsewhere",
            "https://pool-a.online.lync.com:notaport/x",
        ] {
            assert_eq!(relying_party(other, port), None, "{other}");
        }
        let webdir = format!(
            "https://webdir.online.lync.com:{port}{}",
            paths::WS_FED_BEARER_PATH
        );
        let autodiscover = relying_party(&webdir, port).unwrap();
        assert!(autodiscover.admits("webdir.online.lync.com"));
        assert!(!autodiscover.admits("pool-a.online.lync.com"));
        // On 443, the port may be left out.
        assert!(
            relying_party(
                "https://POOL-B.online.lync.com/WebTicket/WebTicketService.svc/WsFedBearer",
                443
            )
            .is_some()
        );
    }

    #[test]
    fn an_autodiscover_ticket_is_for_the_user_resource() {
        let names = ["webdir.online.lync.com", "lyncdiscover.contoso.com"];
        for ok in [
            "https://lyncdiscover.contoso.com:4443/Autodiscover/AutodiscoverService.svc/root/user?sipuri=sip:a@contoso.com",
            "https://webdir.online.lync.com:4443/autodiscover/autodiscoverservice.svc/root/user",
        ] {
            assert!(is_autodiscover_user_on(ok, &names, 4443), "{ok}");
        }
        for no in [
            "https://lyncdiscover.contoso.com:443/autodiscover/autodiscoverservice.svc/root/user",
            "https://pool-a.online.lync.com:4443/autodiscover/autodiscoverservice.svc/root/user",
            "https://webdir.online.lync.com:4443/autodiscover/autodiscoverservice.svc/root",
        ] {
            assert!(!is_autodiscover_user_on(no, &names, 4443), "{no}");
        }
    }

    #[test]
    fn a_ticket_is_for_one_pools_certificate_provisioning() {
        let own = "https://pool-a.online.lync.com:4443/CertProv/CertProvisioningService.svc/WebTicket_Proof_SHA1";
        assert!(is_cert_provisioning_of(own, "pool-a.online.lync.com", 4443));
        assert!(!is_cert_provisioning_of(
            own,
            "pool-b.online.lync.com",
            4443
        ));
        assert!(!is_cert_provisioning_of(own, "pool-a.online.lync.com", 443));
        assert!(!is_cert_provisioning_of(
            "urn:x",
            "pool-a.online.lync.com",
            4443
        ));
    }
}
