//! Lync Autodiscover ([MS-OCDISCWS]): the root resource links to the User and Domain resources
//! (or, over plain HTTP or for a user it cannot serve, redirects to the next hop); the User
//! resource names where a client signs in (`SipClientInternalAccess` /
//! `SipClientExternalAccess`), or redirects; the Domain resource names the topology's own
//! entry. XML by default (`application/vnd.microsoft.rtc.autodiscover+xml;v=1`), JSON when
//! asked.

use serde_json::json;

use crate::xml::{self, esc};
use crate::{FromXml, ToXml, WireError};

/// The XML media type, which pidgin-sipe asks for and checks.
pub const MEDIA_XML: &str = "application/vnd.microsoft.rtc.autodiscover+xml;v=1";
/// The JSON media type.
pub const MEDIA_JSON: &str = "application/vnd.microsoft.rtc.autodiscover+json;v=1";

/// Where the root resource points: with no `Redirect`, [MS-OCDISCWS] 3.1.5.2 has both `User`
/// and `Domain`; over plain HTTP, a single `Redirect`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Root {
    /// `Link token="User"`.
    pub user: Option<String>,
    /// `Link token="Domain"`.
    pub domain: Option<String>,
    /// `Link token="Redirect"`: ask another Autodiscover.
    pub redirect: Option<String>,
}

/// A host and port a client signs in at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Access {
    /// The host name.
    pub fqdn: String,
    /// The port.
    pub port: u16,
}

/// The User resource: where the user signs in, or ([MS-OCDISCWS] 3.1.5.3) only a `Redirect`
/// when another server holds the user's home.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// `SipClientInternalAccess` and `SipClientExternalAccess`; `None` in a redirect.
    pub access: Option<SipAccess>,
    /// `Link token="Redirect"`: the user is served by another deployment.
    pub redirect: Option<String>,
}

/// Where clients sign in, inside and outside the network.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SipAccess {
    /// `SipClientInternalAccess`.
    pub internal: Access,
    /// `SipClientExternalAccess`.
    pub external: Access,
}

/// The Domain resource ([MS-OCDISCWS] 3.1.5.4): the topology's own entry (here its director).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Domain {
    /// Where clients of the domain sign in first.
    pub access: SipAccess,
}

fn links(pairs: &[(&str, &Option<String>)]) -> String {
    pairs
        .iter()
        .filter_map(|(token, href)| {
            href.as_ref()
                .map(|h| format!("<Link token=\"{token}\" href=\"{}\"/>", esc(h)))
        })
        .collect()
}

impl Root {
    /// The JSON form.
    pub fn to_json(&self) -> String {
        let mut l = serde_json::Map::new();
        if let Some(u) = &self.user {
            l.insert("user".into(), json!({ "href": u }));
        }
        if let Some(d) = &self.domain {
            l.insert("domain".into(), json!({ "href": d }));
        }
        if let Some(r) = &self.redirect {
            l.insert("redirect".into(), json!({ "href": r }));
        }
        json!({ "_links": l }).to_string()
    }
}

impl ToXml for Root {
    /// The XML form.
    fn to_xml(&self) -> String {
        format!(
            "<?xml version=\"1.0\" encoding=\"utf-8\"?><AutodiscoverResponse AccessLocation=\"External\"><Root>{}</Root></AutodiscoverResponse>",
            links(&[
                ("Domain", &self.domain),
                ("User", &self.user),
                ("Redirect", &self.redirect)
            ])
        )
    }
}

impl FromXml for Root {
    /// Reads the XML form.
    fn from_xml(text: &str) -> Result<Self, WireError> {
        let doc = xml::parse(text)?;
        let root = xml::find_local(doc.root_element(), "Root")
            .ok_or_else(|| WireError::Missing("Root".into()))?;
        Ok(Root::read(root))
    }
}

impl Root {
    fn read(root: roxmltree::Node<'_, '_>) -> Root {
        Root {
            user: link(root, "User"),
            domain: link(root, "Domain"),
            redirect: link(root, "Redirect"),
        }
    }
}

/// What an Autodiscover resource answered: a root (links onward) or a User document, told
/// apart by the element the response holds, from one parse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// `Root`.
    Root(Root),
    /// `User`.
    User(User),
}

impl FromXml for Answer {
    /// Reads the XML form of either.
    fn from_xml(text: &str) -> Result<Self, WireError> {
        let doc = xml::parse(text)?;
        let top = doc.root_element();
        if let Some(user) = xml::find_local(top, "User") {
            return User::read(user).map(Answer::User);
        }
        let root = xml::find_local(top, "Root")
            .ok_or_else(|| WireError::Missing("Root or User".into()))?;
        Ok(Answer::Root(Root::read(root)))
    }
}

fn link(parent: roxmltree::Node<'_, '_>, token: &str) -> Option<String> {
    parent
        .children()
        .find(|n| n.tag_name().name() == "Link" && n.attribute("token") == Some(token))
        .and_then(|n| n.attribute("href"))
        .map(str::to_owned)
}

impl SipAccess {
    fn json(&self) -> serde_json::Value {
        let access = |a: &Access| json!({ "fqdn": a.fqdn, "port": a.port });
        json!({
            "SipClientInternalAccess": access(&self.internal),
            "SipClientExternalAccess": access(&self.external),
        })
    }

    fn xml(&self) -> String {
        let access = |name: &str, a: &Access| {
            format!("<{name} fqdn=\"{}\" port=\"{}\"/>", esc(&a.fqdn), a.port)
        };
        format!(
            "{}{}",
            access("SipClientInternalAccess", &self.internal),
            access("SipClientExternalAccess", &self.external)
        )
    }

    fn read(parent: roxmltree::Node<'_, '_>) -> Result<SipAccess, WireError> {
        let access = |name: &str| -> Result<Access, WireError> {
            let node = parent
                .children()
                .find(|n| n.tag_name().name() == name)
                .ok_or_else(|| WireError::Missing(name.to_owned()))?;
            let fqdn = node
                .attribute("fqdn")
                .ok_or_else(|| WireError::Missing(format!("{name}@fqdn")))?;
            let port = node
                .attribute("port")
                .and_then(|p| p.parse().ok())
                .ok_or_else(|| WireError::Missing(format!("{name}@port")))?;
            Ok(Access {
                fqdn: fqdn.to_owned(),
                port,
            })
        };
        Ok(SipAccess {
            internal: access("SipClientInternalAccess")?,
            external: access("SipClientExternalAccess")?,
        })
    }
}

impl User {
    /// The JSON form.
    pub fn to_json(&self) -> String {
        let mut v = self
            .access
            .as_ref()
            .map(SipAccess::json)
            .unwrap_or_else(|| json!({}));
        v["AccessLocation"] = json!("External");
        if let Some(r) = &self.redirect {
            v["_links"] = json!({ "redirect": { "href": r } });
        }
        v.to_string()
    }
}

impl ToXml for User {
    /// The XML form.
    fn to_xml(&self) -> String {
        format!(
            "<?xml version=\"1.0\" encoding=\"utf-8\"?><AutodiscoverResponse AccessLocation=\"External\"><User>{}{}</User></AutodiscoverResponse>",
            self.access.as_ref().map(SipAccess::xml).unwrap_or_default(),
            links(&[("Redirect", &self.redirect)])
        )
    }
}

impl FromXml for User {
    /// Reads the XML form: the access, or only a `Redirect`.
    fn from_xml(text: &str) -> Result<Self, WireError> {
        let doc = xml::parse(text)?;
        let user = xml::find_local(doc.root_element(), "User")
            .ok_or_else(|| WireError::Missing("User".into()))?;
        User::read(user)
    }
}

impl User {
    fn read(user: roxmltree::Node<'_, '_>) -> Result<User, WireError> {
        let redirect = link(user, "Redirect");
        let access = match SipAccess::read(user) {
            Ok(access) => Some(access),
            Err(_) if redirect.is_some() => None,
            Err(e) => return Err(e),
        };
        Ok(User { access, redirect })
    }
}

impl Domain {
    /// The JSON form.
    pub fn to_json(&self) -> String {
        let mut v = self.access.json();
        v["AccessLocation"] = json!("External");
        v.to_string()
    }
}

impl ToXml for Domain {
    /// The XML form.
    fn to_xml(&self) -> String {
        format!(
            "<?xml version=\"1.0\" encoding=\"utf-8\"?><AutodiscoverResponse AccessLocation=\"External\"><Domain>{}</Domain></AutodiscoverResponse>",
            self.access.xml()
        )
    }
}

impl FromXml for Domain {
    /// Reads the XML form.
    fn from_xml(text: &str) -> Result<Self, WireError> {
        let doc = xml::parse(text)?;
        let domain = xml::find_local(doc.root_element(), "Domain")
            .ok_or_else(|| WireError::Missing("Domain".into()))?;
        Ok(Domain {
            access: SipAccess::read(domain)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_round_trip() {
        let root = Root {
            user: Some("https://lyncdiscover.contoso.com/x?sipuri=sip:a@contoso.com&y=1".into()),
            domain: Some("https://lyncdiscover.contoso.com/d?sipuri=sip:a@contoso.com".into()),
            redirect: None,
        };
        assert_eq!(Root::from_xml(&root.to_xml()).unwrap(), root);
        let pool = Access {
            fqdn: "pool-a.online.lync.com".into(),
            port: 443,
        };
        let access = SipAccess {
            internal: pool.clone(),
            external: pool,
        };
        let user = User {
            access: Some(access.clone()),
            redirect: None,
        };
        assert_eq!(User::from_xml(&user.to_xml()).unwrap(), user);
        let j: serde_json::Value = serde_json::from_str(&user.to_json()).unwrap();
        assert_eq!(
            j["SipClientExternalAccess"]["fqdn"],
            "pool-a.online.lync.com"
        );
        // A user homed elsewhere: only a Redirect ([MS-OCDISCWS] 3.1.5.3).
        let elsewhere = User {
            access: None,
            redirect: Some("https://webdir2.online.lync.com/Autodiscover/AutodiscoverService.svc/root?sipuri=sip:a@contoso.com".into()),
        };
        assert_eq!(User::from_xml(&elsewhere.to_xml()).unwrap(), elsewhere);
        assert!(User::from_xml("<AutodiscoverResponse><User/></AutodiscoverResponse>").is_err());
        let domain = Domain { access };
        assert_eq!(Domain::from_xml(&domain.to_xml()).unwrap(), domain);
        assert_eq!(
            Answer::from_xml(&root.to_xml()).unwrap(),
            Answer::Root(root)
        );
        assert_eq!(
            Answer::from_xml(&user.to_xml()).unwrap(),
            Answer::User(user)
        );
    }
}
