//! The causes and remedies of KB 2604176, by their SPEC ids, and where each exists.
//!
//! This module says what a cause or remedy *is* and where the real product offers it. It says
//! nothing about what a user sees: that follows from the sign-in stage that fails.

use serde::{Deserialize, Serialize};

use crate::{Build, Os, Product};

id_enum!(
    /// Why sign-in fails (SPEC section 4).
    Cause, "cause", {
        /// The Lync client is older than the service accepts.
        OutdatedClient => "outdated-client",
        /// Lync 2010's Sign-In Assistant is older than the service accepts.
        OutdatedSia => "outdated-sia",
        /// The personal certificate is damaged or issued by a CA the service no longer trusts.
        StaleCert => "stale-cert",
        /// The saved password is not the user's password any more.
        StaleCredentials => "stale-credentials",
        /// The machine's clock is more than the tolerance off.
        ClockSkew => "clock-skew",
        /// XP: the RSA key container is still encrypted under the old Windows password.
        RsaKeyLocked => "rsa-key-locked",
        /// The user was moved to another pool; the endpoint cache names the old one.
        EndpointMoved => "endpoint-moved",
        /// A pool's address changed; the DNS client cache holds the old record.
        DnsStale => "dns-stale",
        /// Lync 2010 after a network or service outage hit a sign-in.
        PostOutage => "post-outage",
        /// The directory account is incomplete or corrupted.
        AccountCorrupt => "account-corrupt",
    }
);

id_enum!(
    /// A step of KB 2604176 (SPEC section 5).
    Remedy, "remedy", {
        /// Lync 2013: "Delete my sign-in information".
        DeleteSigninInfo => "delete-signin-info",
        /// Lync 2010: Fix it 20045 (Windows 8) or 50935 (earlier).
        Fixit => "fixit",
        /// Install the latest client build.
        UpdateClient => "update-client",
        /// Lync 2010: Office 365 Desktop Setup (updates the Sign-In Assistant).
        DesktopSetup => "desktop-setup",
        /// Delete the `sip_<addr>` folder.
        DeleteEndpointCache => "delete-endpoint-cache",
        /// certmgr: delete the certificate issued by Communications Server.
        DeleteCert => "delete-cert",
        /// Credential Manager: remove the Lync credentials, then type the new password.
        RemoveCredentials => "remove-credentials",
        /// Synchronise the clock with a trusted time source.
        SyncTime => "sync-time",
        /// `ipconfig /flushdns`.
        FlushDns => "flush-dns",
        /// Delete the `Crypto\RSA\<SID>` folder.
        DeleteRsaKey => "delete-rsa-key",
        /// Restart the client.
        Restart => "restart",
        /// Contact support: nothing on the machine helps.
        Escalate => "escalate",
    }
);

impl Cause {
    /// Whether the cause can exist for `product` on `os`.
    pub fn exists_on(self, product: Product, os: Os) -> bool {
        product.runs_on(os)
            && match self {
                Cause::OutdatedSia => product == Product::Lync2010,
                Cause::RsaKeyLocked => os == Os::Xp,
                _ => true,
            }
    }
}

/// A remedy that a product does not offer (its UI has no such option), and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{why}")]
pub struct NotOffered {
    /// The remedy.
    pub remedy: Remedy,
    /// The product that does not offer it.
    pub product: Product,
    /// Why, for a person.
    pub why: &'static str,
}

impl Remedy {
    /// Whether the product's UI or the OS offers the remedy; `Err` says why not.
    pub fn offered_on(self, product: Product, _os: Os) -> Result<(), NotOffered> {
        let why = match (self, product) {
            (Remedy::DeleteSigninInfo, Product::Lync2010) => {
                "\"Delete my sign-in information\" is a Lync 2013 option; Lync 2010 does not offer it (use fixit)"
            }
            (Remedy::Fixit, Product::Lync2013) => {
                "Fix it 20045/50935 is for Lync 2010; on Lync 2013 use delete-signin-info"
            }
            (Remedy::DesktopSetup, Product::Lync2013) => {
                "Desktop Setup updates the Sign-In Assistant, which Lync 2013 does not use"
            }
            _ => return Ok(()),
        };
        Err(NotOffered {
            remedy: self,
            product,
            why,
        })
    }

    /// The Fix it package for an OS: 20045 on Windows 8, 50935 elsewhere.
    pub fn fixit_number(os: Os) -> u32 {
        if os == Os::Win8 { 20045 } else { 50935 }
    }

    /// The KB's procedure for `product` on `os`: its steps in the KB's order (the order of
    /// SPEC section 5), each to be followed by a sign-in. Only the steps the product offers are
    /// in it; deleting the RSA key container is an XP step and includes the restart it needs.
    /// `escalate` is not a step: it is where the procedure ends when no step helped.
    pub fn procedure(product: Product, os: Os) -> Vec<Vec<Remedy>> {
        Remedy::ALL
            .iter()
            .copied()
            .filter(|r| r.offered_on(product, os).is_ok())
            .filter_map(|r| match r {
                Remedy::Escalate | Remedy::Restart => None,
                Remedy::DeleteRsaKey if os != Os::Xp => None,
                Remedy::DeleteRsaKey => Some(vec![Remedy::DeleteRsaKey, Remedy::Restart]),
                r => Some(vec![r]),
            })
            .collect()
    }
}

/// Where a build number comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Release {
    /// An old build, as on a machine that missed its updates.
    Outdated,
    /// What a new machine has.
    Installed,
    /// The newest build, what update-client and Desktop Setup install.
    Latest,
}

fn build(text: &str) -> Build {
    // Literal build numbers of the right form, checked by a test.
    text.parse().unwrap_or_else(|_| Build::from_parts(&[0]))
}

impl Product {
    /// The client build of a release.
    pub fn build(self, release: Release) -> Build {
        build(match (self, release) {
            (Product::Lync2010, Release::Outdated) => "4.0.7577.0",
            (Product::Lync2010, Release::Installed) => "4.0.7577.4419",
            (Product::Lync2010, Release::Latest) => "4.0.7577.4446",
            (Product::Lync2013, Release::Outdated) => "15.0.4128.1014",
            (Product::Lync2013, Release::Installed) => "15.0.4569.1503",
            (Product::Lync2013, Release::Latest) => "15.0.4605.1003",
        })
    }

    /// The oldest build the service accepts until an update raises it.
    pub fn default_minimum_build(self) -> Build {
        build(match self {
            Product::Lync2010 => "4.0.7577.4051",
            Product::Lync2013 => "15.0.4420.1017",
        })
    }
}

/// The Microsoft Online Services Sign-In Assistant version of a release.
pub fn sign_in_assistant(release: Release) -> Build {
    build(match release {
        Release::Outdated => "7.0.1653.0",
        Release::Installed => "7.250.4303.0",
        Release::Latest => "7.250.4311.0",
    })
}

/// The oldest Sign-In Assistant the service accepts until an update raises it.
pub fn default_minimum_sign_in_assistant() -> Build {
    build("7.250.4287.0")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_procedure_follows_the_kb_order_and_offers_only_what_the_product_has() {
        use Remedy::*;
        let ids = |p, o| -> Vec<Vec<Remedy>> { Remedy::procedure(p, o) };
        assert_eq!(
            ids(Product::Lync2010, Os::Xp),
            vec![
                vec![Fixit],
                vec![UpdateClient],
                vec![DesktopSetup],
                vec![DeleteEndpointCache],
                vec![DeleteCert],
                vec![RemoveCredentials],
                vec![SyncTime],
                vec![FlushDns],
                vec![DeleteRsaKey, Restart],
            ]
        );
        assert_eq!(
            ids(Product::Lync2013, Os::Win8),
            vec![
                vec![DeleteSigninInfo],
                vec![UpdateClient],
                vec![DeleteEndpointCache],
                vec![DeleteCert],
                vec![RemoveCredentials],
                vec![SyncTime],
                vec![FlushDns],
            ]
        );
        assert!(
            !ids(Product::Lync2010, Os::Win7)
                .concat()
                .contains(&DeleteRsaKey)
        );
    }

    #[test]
    fn releases_are_ordered_and_parse() {
        for p in Product::ALL {
            let [o, i, l] =
                [Release::Outdated, Release::Installed, Release::Latest].map(|r| p.build(r));
            assert!(
                o < p.default_minimum_build() && p.default_minimum_build() <= i && i < l,
                "{p}"
            );
            assert_ne!(o, Build::from_parts(&[0]));
        }
        let [o, i, l] =
            [Release::Outdated, Release::Installed, Release::Latest].map(sign_in_assistant);
        assert!(
            o < default_minimum_sign_in_assistant()
                && default_minimum_sign_in_assistant() <= i
                && i < l
        );
    }

    #[test]
    fn causes_exist_where_the_kb_says() {
        assert!(Cause::RsaKeyLocked.exists_on(Product::Lync2010, Os::Xp));
        assert!(!Cause::RsaKeyLocked.exists_on(Product::Lync2010, Os::Win7));
        assert!(!Cause::RsaKeyLocked.exists_on(Product::Lync2013, Os::Xp));
        assert!(!Cause::OutdatedSia.exists_on(Product::Lync2013, Os::Win8));
        assert!(
            Cause::DnsStale.exists_on(Product::Lync2013, Os::Vista)
                == Product::Lync2013.runs_on(Os::Vista)
        );
    }

    #[test]
    fn product_bound_remedies_are_refused_elsewhere() {
        let err = Remedy::DeleteSigninInfo
            .offered_on(Product::Lync2010, Os::Win7)
            .unwrap_err();
        assert_eq!(err.remedy, Remedy::DeleteSigninInfo);
        assert!(err.to_string().contains("Lync 2013 option"), "{err}");
        assert!(
            Remedy::Fixit
                .offered_on(Product::Lync2013, Os::Win8)
                .is_err()
        );
        assert!(Remedy::Fixit.offered_on(Product::Lync2010, Os::Xp).is_ok());
        assert_eq!(Remedy::fixit_number(Os::Win8), 20045);
        assert_eq!(Remedy::fixit_number(Os::Vista), 50935);
    }
}
