//! Lync Autodiscover ([MS-OCDISCWS]): the root resource links to the User resource, which
//! names where a client signs in (`SipClientInternalAccess` / `SipClientExternalAccess`).
//! XML by default (`application/vnd.microsoft.rtc.autodiscover+xml;v=1`), JSON when asked.

use serde_json::json;

use crate::xml::{self, esc};
use crate::{FromXml, ToXml, WireError};

/// The XML media type, which pidgin-sipe asks for and checks.
pub const MEDIA_XML: &str = "application/vnd.microsoft.rtc.autodiscover+xml;v=1";
/// The JSON media type.
pub const MEDIA_JSON: &str = "application/vnd.microsoft.rtc.autodiscover+json;v=1";

/// Where the root resource points.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Root {
    /// `Link token="User"`.
    pub user: Option<String>,
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

/// The User resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// `SipClientInternalAccess`.
    pub internal: Access,
    /// `SipClientExternalAccess`.
    pub external: Access,
    /// `Link token="Redirect"`: the user is served by another deployment.
    pub redirect: Option<String>,
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
            links(&[("User", &self.user), ("Redirect", &self.redirect)])
        )
    }
}

impl FromXml for Root {
    /// Reads the XML form.
    fn from_xml(text: &str) -> Result<Self, WireError> {
        let doc = xml::parse(text)?;
        let root = xml::find_local(doc.root_element(), "Root")
            .ok_or_else(|| WireError::Missing("Root".into()))?;
        Ok(Root {
            user: link(root, "User"),
            redirect: link(root, "Redirect"),
        })
    }
}

fn link(parent: roxmltree::Node<'_, '_>, token: &str) -> Option<String> {
    parent
        .children()
        .find(|n| n.tag_name().name() == "Link" && n.attribute("token") == Some(token))
        .and_then(|n| n.attribute("href"))
        .map(str::to_owned)
}

impl User {
    /// The JSON form.
    pub fn to_json(&self) -> String {
        let access = |a: &Access| json!({ "fqdn": a.fqdn, "port": a.port });
        let mut v = json!({
            "AccessLocation": "External",
            "SipClientInternalAccess": access(&self.internal),
            "SipClientExternalAccess": access(&self.external),
        });
        if let Some(r) = &self.redirect {
            v["_links"] = json!({ "redirect": { "href": r } });
        }
        v.to_string()
    }
}

impl ToXml for User {
    /// The XML form.
    fn to_xml(&self) -> String {
        let access = |name: &str, a: &Access| {
            format!("<{name} fqdn=\"{}\" port=\"{}\"/>", esc(&a.fqdn), a.port)
        };
        format!(
            "<?xml version=\"1.0\" encoding=\"utf-8\"?><AutodiscoverResponse AccessLocation=\"External\"><User>{}{}{}</User></AutodiscoverResponse>",
            access("SipClientInternalAccess", &self.internal),
            access("SipClientExternalAccess", &self.external),
            links(&[("Redirect", &self.redirect)])
        )
    }
}

impl FromXml for User {
    /// Reads the XML form.
    fn from_xml(text: &str) -> Result<Self, WireError> {
        let doc = xml::parse(text)?;
        let user = xml::find_local(doc.root_element(), "User")
            .ok_or_else(|| WireError::Missing("User".into()))?;
        let access = |name: &str| -> Result<Access, WireError> {
            let node = user
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
        Ok(User {
            internal: access("SipClientInternalAccess")?,
            external: access("SipClientExternalAccess")?,
            redirect: link(user, "Redirect"),
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
            redirect: None,
        };
        assert_eq!(Root::from_xml(&root.to_xml()).unwrap(), root);
        let user = User {
            internal: Access {
                fqdn: "pool-a.online.lync.com".into(),
                port: 443,
            },
            external: Access {
                fqdn: "pool-a.online.lync.com".into(),
                port: 443,
            },
            redirect: None,
        };
        assert_eq!(User::from_xml(&user.to_xml()).unwrap(), user);
        let j: serde_json::Value = serde_json::from_str(&user.to_json()).unwrap();
        assert_eq!(
            j["SipClientExternalAccess"]["fqdn"],
            "pool-a.online.lync.com"
        );
    }
}
