//! Azure AD's STS at `login.microsoftonline.com`: the realm lookup (`getuserrealm.srf`) and
//! `RST2.srf`, a SOAP 1.2 WS-Trust 2005/02 request with a `wsse:UsernameToken`, answered with
//! an encrypted SAML token and its `Lifetime`.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;

use crate::wsse::Lifetime;
use crate::xml::{self, esc, ns};
use crate::{FromXml, ToXml, WireError};

/// The STS's address, as pidgin-sipe has it written in.
pub const RST2_URL: &str = "https://login.microsoftonline.com:443/RST2.srf";
/// The SOAP action of an issue request.
pub const ACTION_ISSUE: &str = "http://schemas.xmlsoap.org/ws/2005/02/trust/RST/Issue";
/// The media type of a SOAP 1.2 message.
pub const SOAP12_MEDIA: &str = "application/soap+xml; charset=utf-8";

/// `getuserrealm.srf?login=…&xml=1`: how a user's domain signs in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RealmInfo {
    /// The login asked about.
    pub login: String,
    /// Its domain.
    pub domain: String,
    /// `Managed` (passwords checked by the STS itself) or `Federated` (ADFS).
    pub namespace_type: String,
    /// The ADFS address of a federated domain.
    pub sts_auth_url: Option<String>,
}

impl ToXml for RealmInfo {
    /// The XML form.
    fn to_xml(&self) -> String {
        format!(
            "<?xml version=\"1.0\" encoding=\"utf-8\"?><RealmInfo Success=\"true\"><State>4</State><UserState>1</UserState><Login>{}</Login><NameSpaceType>{}</NameSpaceType><DomainName>{}</DomainName><IsFederatedNS>{}</IsFederatedNS><FederationBrandName>{}</FederationBrandName>{}<CloudInstanceName>microsoftonline.com</CloudInstanceName></RealmInfo>",
            esc(&self.login),
            esc(&self.namespace_type),
            esc(&self.domain),
            self.sts_auth_url.is_some(),
            esc(&self.domain),
            self.sts_auth_url
                .as_ref()
                .map(|u| format!("<STSAuthURL>{}</STSAuthURL>", esc(u)))
                .unwrap_or_default()
        )
    }
}

impl FromXml for RealmInfo {
    /// Reads the XML form.
    fn from_xml(text: &str) -> Result<Self, WireError> {
        let doc = xml::parse(text)?;
        let root = doc.root_element();
        let get = |name: &str| xml::find_local(root, name).map(xml::text);
        Ok(RealmInfo {
            login: get("Login").unwrap_or_default(),
            domain: get("DomainName").unwrap_or_default(),
            namespace_type: get("NameSpaceType")
                .ok_or_else(|| WireError::Missing("NameSpaceType".into()))?,
            sts_auth_url: get("STSAuthURL"),
        })
    }
}

/// An RST to `RST2.srf`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRequest {
    /// `wsse:Username`.
    pub user: String,
    /// `wsse:Password`, in clear as the STS takes it.
    pub password: String,
    /// The Security header's `wsu:Timestamp`, from the sender's clock; pidgin-sipe sends none.
    pub timestamp: Option<Lifetime>,
    /// `wsp:AppliesTo`: the service the token is for.
    pub applies_to: String,
}

impl ToXml for TokenRequest {
    /// The whole envelope.
    fn to_xml(&self) -> String {
        let timestamp = self
            .timestamp
            .map(|t| {
                format!(
                    "<wsu:Timestamp wsu:Id=\"Timestamp\">{}</wsu:Timestamp>",
                    t.children_xml()
                )
            })
            .unwrap_or_default();
        format!(
            "<?xml version=\"1.0\" encoding=\"utf-8\"?><S:Envelope xmlns:S=\"{s}\" xmlns:wsse=\"{wsse}\" xmlns:wsu=\"{wsu}\" xmlns:wsa=\"{wsa}\" xmlns:wsp=\"{wsp}\" xmlns:wst=\"{wst}\"><S:Header><wsa:Action S:mustUnderstand=\"1\">{action}</wsa:Action><wsa:To S:mustUnderstand=\"1\">{to}</wsa:To><wsse:Security><wsse:UsernameToken wsu:Id=\"user\"><wsse:Username>{user}</wsse:Username><wsse:Password>{password}</wsse:Password></wsse:UsernameToken>{timestamp}</wsse:Security></S:Header><S:Body><wst:RequestSecurityToken Id=\"RST0\"><wst:RequestType>http://schemas.xmlsoap.org/ws/2005/02/trust/Issue</wst:RequestType><wsp:AppliesTo><wsa:EndpointReference><wsa:Address>{applies}</wsa:Address></wsa:EndpointReference></wsp:AppliesTo></wst:RequestSecurityToken></S:Body></S:Envelope>",
            s = ns::SOAP12,
            wsse = ns::WSSE,
            wsu = ns::WSU,
            wsa = ns::WSA,
            wsp = ns::WSP,
            wst = ns::WST_2005,
            action = ACTION_ISSUE,
            to = RST2_URL,
            user = esc(&self.user),
            password = esc(&self.password),
            applies = esc(&self.applies_to),
        )
    }
}

impl FromXml for TokenRequest {
    /// Reads an envelope.
    fn from_xml(text: &str) -> Result<Self, WireError> {
        let doc = xml::parse(text)?;
        let envelope = doc.root_element();
        if !envelope.has_tag_name((ns::SOAP12, "Envelope")) {
            return Err(WireError::Malformed(
                "not a SOAP 1.2 envelope (RST2.srf speaks SOAP 1.2)".into(),
            ));
        }
        let security = xml::security_header(envelope, ns::SOAP12)?;
        let token = xml::need(security, ns::WSSE, "UsernameToken")?;
        let timestamp = match xml::unique(security, ns::WSU, "Timestamp")? {
            Some(t) => Some(Lifetime::read(t)?),
            None => None,
        };
        let body = xml::need(envelope, ns::SOAP12, "Body")?;
        let rst = xml::need(body, ns::WST_2005, "RequestSecurityToken")?;
        Ok(TokenRequest {
            user: xml::text(xml::need(token, ns::WSSE, "Username")?),
            password: xml::need(token, ns::WSSE, "Password")?
                .text()
                .unwrap_or_default()
                .to_owned(),
            timestamp,
            applies_to: xml::unique(rst, ns::WSA, "Address")?
                .map(xml::text)
                .unwrap_or_default(),
        })
    }
}

/// The STS's token: opaque to the client, which carries it to the web ticket service as it
/// came (`xenc:EncryptedData`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncryptedToken {
    /// `ds:KeyName`: whose key encrypted it.
    pub key_name: String,
    /// `xenc:CipherValue`, decoded.
    pub cipher: Vec<u8>,
}

/// The AES-256-GCM algorithm URI of XML Encryption 1.1.
pub const AES256_GCM: &str = "http://www.w3.org/2009/xmlenc11#aes256-gcm";

impl EncryptedToken {
    /// Reads the `EncryptedData` under `node`.
    pub(crate) fn read(node: roxmltree::Node<'_, '_>) -> Result<EncryptedToken, WireError> {
        let data = xml::need(node, ns::XENC, "EncryptedData")?;
        let cipher = xml::text(xml::need(data, ns::XENC, "CipherValue")?);
        Ok(EncryptedToken {
            key_name: xml::find(data, ns::DS, "KeyName")
                .map(xml::text)
                .unwrap_or_default(),
            cipher: B64
                .decode(cipher.as_bytes())
                .map_err(|e| WireError::Malformed(format!("CipherValue is not base64: {e}")))?,
        })
    }
}

impl ToXml for EncryptedToken {
    /// The self-contained `EncryptedData` element (it declares its own namespaces, so it can
    /// be copied into another message as it is).
    fn to_xml(&self) -> String {
        format!(
            "<EncryptedData xmlns=\"{xenc}\" Id=\"Assertion0\" Type=\"http://www.w3.org/2001/04/xmlenc#Element\"><EncryptionMethod Algorithm=\"{alg}\"></EncryptionMethod><ds:KeyInfo xmlns:ds=\"{ds}\"><ds:KeyName>{key}</ds:KeyName></ds:KeyInfo><CipherData><CipherValue>{value}</CipherValue></CipherData></EncryptedData>",
            xenc = ns::XENC,
            alg = AES256_GCM,
            ds = ns::DS,
            key = esc(&self.key_name),
            value = B64.encode(&self.cipher)
        )
    }
}

/// What the STS's token says once decrypted: a SAML 1.1 assertion of who signed in, for
/// which service, until when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StsAssertion {
    /// The user's sign-in address.
    pub user: String,
    /// The service the token is for (`AudienceRestrictionCondition`).
    pub audience: String,
    /// `Conditions@NotBefore` / `@NotOnOrAfter`, by the STS's clock.
    pub lifetime: Lifetime,
}

impl ToXml for StsAssertion {
    /// The assertion.
    fn to_xml(&self) -> String {
        format!(
            "<saml:Assertion xmlns:saml=\"{saml}\" MajorVersion=\"1\" MinorVersion=\"1\" Issuer=\"urn:federation:MicrosoftOnline\" IssueInstant=\"{created}\"><saml:Conditions NotBefore=\"{created}\" NotOnOrAfter=\"{expires}\"><saml:AudienceRestrictionCondition><saml:Audience>{audience}</saml:Audience></saml:AudienceRestrictionCondition></saml:Conditions><saml:AuthenticationStatement AuthenticationMethod=\"urn:oasis:names:tc:SAML:1.0:am:password\"><saml:Subject><saml:NameIdentifier Format=\"urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress\">{user}</saml:NameIdentifier></saml:Subject></saml:AuthenticationStatement></saml:Assertion>",
            saml = ns::SAML,
            created = crate::wsse::format_time(self.lifetime.created_ms),
            expires = crate::wsse::format_time(self.lifetime.expires_ms),
            audience = esc(&self.audience),
            user = esc(&self.user),
        )
    }
}

impl FromXml for StsAssertion {
    /// Reads the assertion.
    fn from_xml(text: &str) -> Result<Self, WireError> {
        let doc = xml::parse(text)?;
        let assertion = xml::need(doc.root_element(), ns::SAML, "Assertion")?;
        let conditions = xml::need(assertion, ns::SAML, "Conditions")?;
        Ok(StsAssertion {
            user: xml::text(xml::need(assertion, ns::SAML, "NameIdentifier")?),
            audience: xml::unique(assertion, ns::SAML, "Audience")?
                .map(xml::text)
                .unwrap_or_default(),
            lifetime: Lifetime::from_conditions(conditions)?,
        })
    }
}

/// The STS's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenResponse {
    /// The token's `Lifetime`, by the STS's clock.
    pub lifetime: Lifetime,
    /// `wsp:AppliesTo`.
    pub applies_to: String,
    /// The token.
    pub token: EncryptedToken,
}

impl ToXml for TokenResponse {
    /// The whole envelope.
    fn to_xml(&self) -> String {
        format!(
            "<?xml version=\"1.0\" encoding=\"utf-8\"?><S:Envelope xmlns:S=\"{s}\" xmlns:wsu=\"{wsu}\" xmlns:wsa=\"{wsa}\" xmlns:wsp=\"{wsp}\" xmlns:wst=\"{wst}\"><S:Header><psf:pp xmlns:psf=\"{psf}\"><psf:serverVersion>1</psf:serverVersion><psf:authstate>0x48803</psf:authstate><psf:reqstatus>0x0</psf:reqstatus></psf:pp></S:Header><S:Body><wst:RequestSecurityTokenResponse><wst:TokenType>urn:oasis:names:tc:SAML:1.0</wst:TokenType><wsp:AppliesTo><wsa:EndpointReference><wsa:Address>{applies}</wsa:Address></wsa:EndpointReference></wsp:AppliesTo><wst:Lifetime>{lifetime}</wst:Lifetime><wst:RequestedSecurityToken>{token}</wst:RequestedSecurityToken></wst:RequestSecurityTokenResponse></S:Body></S:Envelope>",
            s = ns::SOAP12,
            wsu = ns::WSU,
            wsa = ns::WSA,
            wsp = ns::WSP,
            wst = ns::WST_2005,
            psf = ns::PSF,
            applies = esc(&self.applies_to),
            lifetime = self.lifetime.children_xml(),
            token = self.token.to_xml(),
        )
    }
}

impl FromXml for TokenResponse {
    /// Reads an envelope.
    fn from_xml(text: &str) -> Result<Self, WireError> {
        let doc = xml::parse(text)?;
        let rstr = xml::need(
            doc.root_element(),
            ns::WST_2005,
            "RequestSecurityTokenResponse",
        )?;
        Ok(TokenResponse {
            lifetime: Lifetime::read(xml::need(rstr, ns::WST_2005, "Lifetime")?)?,
            applies_to: xml::find(rstr, ns::WSA, "Address")
                .map(xml::text)
                .unwrap_or_default(),
            token: EncryptedToken::read(xml::need(rstr, ns::WST_2005, "RequestedSecurityToken")?)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_round_trip() {
        let req = TokenRequest {
            user: "alice@contoso.com".into(),
            password: "p<&>\"'ss".into(),
            timestamp: Some(Lifetime {
                created_ms: 1_780_000_000_000,
                expires_ms: 1_780_000_300_000,
            }),
            applies_to: "urn:component:Microsoft.Rtc.WebAuthentication.2010".into(),
        };
        assert_eq!(TokenRequest::from_xml(&req.to_xml()).unwrap(), req);
        let none = TokenRequest {
            timestamp: None,
            ..req
        };
        assert_eq!(TokenRequest::from_xml(&none.to_xml()).unwrap(), none);
        let resp = TokenResponse {
            lifetime: Lifetime {
                created_ms: 1_780_000_000_000,
                expires_ms: 1_780_028_800_000,
            },
            applies_to: "x".into(),
            token: EncryptedToken {
                key_name: "http://Passport.NET/STS".into(),
                cipher: vec![1, 2, 3],
            },
        };
        assert_eq!(TokenResponse::from_xml(&resp.to_xml()).unwrap(), resp);
        let realm = RealmInfo {
            login: "a@contoso.com".into(),
            domain: "contoso.com".into(),
            namespace_type: "Managed".into(),
            sts_auth_url: None,
        };
        assert_eq!(RealmInfo::from_xml(&realm.to_xml()).unwrap(), realm);
        let inner = StsAssertion {
            user: "a@contoso.com".into(),
            audience: "urn:x".into(),
            lifetime: resp.lifetime,
        };
        assert_eq!(StsAssertion::from_xml(&inner.to_xml()).unwrap(), inner);
    }

    /// What the STS must not resolve by taking the first: two Security headers, two
    /// passwords, two timestamps; and a timestamp that ends before it begins.
    #[test]
    fn duplicated_or_malformed_security_elements_are_refused() {
        let req = TokenRequest {
            user: "alice@contoso.com".into(),
            password: "right".into(),
            timestamp: Some(Lifetime {
                created_ms: 1_780_000_000_000,
                expires_ms: 1_780_000_300_000,
            }),
            applies_to: "urn:x".into(),
        };
        let good = req.to_xml();
        let refused = |text: String| TokenRequest::from_xml(&text).unwrap_err();
        let security = good
            .split_once("<wsse:Security>")
            .and_then(|(_, rest)| rest.split_once("</wsse:Security>"))
            .map(|(inner, _)| format!("<wsse:Security>{inner}</wsse:Security>"))
            .unwrap();
        assert_eq!(
            refused(good.replace("</S:Header>", &format!("{security}</S:Header>"))),
            WireError::Duplicate("wsse:Security header".into())
        );
        assert_eq!(
            refused(good.replace(
                "</wsse:Password>",
                "</wsse:Password><wsse:Password>wrong</wsse:Password>"
            )),
            WireError::Duplicate("Password".into())
        );
        let timestamp = good
            .split_once("<wsu:Timestamp")
            .and_then(|(_, rest)| rest.split_once("</wsu:Timestamp>"))
            .map(|(inner, _)| format!("<wsu:Timestamp{inner}</wsu:Timestamp>"))
            .unwrap();
        assert_eq!(
            refused(good.replace("</wsse:Security>", &format!("{timestamp}</wsse:Security>"))),
            WireError::Duplicate("Timestamp".into())
        );
        let backwards = TokenRequest {
            timestamp: Some(Lifetime {
                created_ms: 1_780_000_300_000,
                expires_ms: 1_780_000_000_000,
            }),
            ..req
        };
        assert!(matches!(
            TokenRequest::from_xml(&backwards.to_xml()),
            Err(WireError::Malformed(why)) if why.contains("ends at")
        ));
        assert_eq!(
            refused(good.replace(
                "<S:Header>",
                "<S:Header><x:Routing xmlns:x=\"urn:x\" S:mustUnderstand=\"1\"/>"
            )),
            WireError::NotUnderstood("x:Routing".into())
        );
    }

    #[test]
    fn a_soap_1_1_envelope_is_not_an_rst2_request() {
        let text = format!("<s:Envelope xmlns:s=\"{}\"/>", ns::SOAP11);
        assert!(TokenRequest::from_xml(&text).is_err());
    }
}
