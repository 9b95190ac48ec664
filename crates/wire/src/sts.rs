//! Azure AD's STS at `login.microsoftonline.com`: the realm lookup (`getuserrealm.srf`) and
//! `RST2.srf`, a SOAP 1.2 WS-Trust 2005/02 request with a `wsse:UsernameToken`, answered with
//! an encrypted SAML token and its `Lifetime`, or refused with a SOAP fault carrying Passport's
//! error detail. Either answer carries Passport's `psf:pp` header with the server's time.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;

use crate::soap::{FaultDetail, SoapFault};
use crate::wsse::{Lifetime, format_time, parse_time};
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

/// The IDCRL codes (HRESULTs) that the STS's answers carry, as Passport's client library
/// names them. The values and names are IDCRL's published table ("HRESULT success and error
/// codes", Lync Online SDK: learn.microsoft.com, hh472110); which refusal carries which is in
/// the README's fidelity table, with the pairings that are lyncsim's own marked as such.
pub mod idcrl {
    /// PPCRL_AUTHSTATE_S_AUTHENTICATED_PASSWORD: `psf:authstate` of a token.
    pub const AUTHENTICATED_PASSWORD: &str = "0x48803";
    /// PPCRL_AUTHSTATE_E_UNAUTHENTICATED: `psf:authstate` of a refusal.
    pub const UNAUTHENTICATED: &str = "0x80048800";
    /// PPCRL_REQUEST_E_BAD_MEMBER_NAME_OR_PASSWORD.
    pub const BAD_MEMBER_NAME_OR_PASSWORD: &str = "0x80048821";
    /// PPCRL_REQUEST_E_PARTNER_NOT_FOUND.
    pub const PARTNER_NOT_FOUND: &str = "0x8004882A";
    /// PPCRL_REQUEST_E_INVALID_MEMBER_NAME.
    pub const INVALID_MEMBER_NAME: &str = "0x8004882D";
    /// PPCRL_REQUEST_E_MISSING_PRIMARY_CREDENTIAL.
    pub const MISSING_PRIMARY_CREDENTIAL: &str = "0x8004882E";
    /// PPCRL_REQUEST_E_INVALID_SERVICE_TIMESTAMP.
    pub const INVALID_SERVICE_TIMESTAMP: &str = "0x8004885C";
    /// PPCRL_REQUEST_E_CLIENT_DEPRECATED.
    pub const CLIENT_DEPRECATED: &str = "0x800488E1";
    /// PP_E_BAD_PASSWORD: the internal code of a wrong password, with the text
    /// [`BAD_PASSWORD_TEXT`] (Passport's answers as captured and published by its users).
    pub const PP_E_BAD_PASSWORD: &str = "0x80041012";
    /// Passport's own text for a wrong password, with the CR LF it ended with.
    pub const BAD_PASSWORD_TEXT: &str = "The entered and stored passwords do not match.\r\n";

    /// IDCRL's name of a code this module knows, for a trace.
    pub fn name(code: &str) -> Option<&'static str> {
        let names = [
            (
                AUTHENTICATED_PASSWORD,
                "PPCRL_AUTHSTATE_S_AUTHENTICATED_PASSWORD",
            ),
            (UNAUTHENTICATED, "PPCRL_AUTHSTATE_E_UNAUTHENTICATED"),
            (
                BAD_MEMBER_NAME_OR_PASSWORD,
                "PPCRL_REQUEST_E_BAD_MEMBER_NAME_OR_PASSWORD",
            ),
            (PARTNER_NOT_FOUND, "PPCRL_REQUEST_E_PARTNER_NOT_FOUND"),
            (INVALID_MEMBER_NAME, "PPCRL_REQUEST_E_INVALID_MEMBER_NAME"),
            (
                MISSING_PRIMARY_CREDENTIAL,
                "PPCRL_REQUEST_E_MISSING_PRIMARY_CREDENTIAL",
            ),
            (
                INVALID_SERVICE_TIMESTAMP,
                "PPCRL_REQUEST_E_INVALID_SERVICE_TIMESTAMP",
            ),
            (CLIENT_DEPRECATED, "PPCRL_REQUEST_E_CLIENT_DEPRECATED"),
            (PP_E_BAD_PASSWORD, "PP_E_BAD_PASSWORD"),
        ];
        names
            .iter()
            .find(|(c, _)| c.eq_ignore_ascii_case(code))
            .map(|(_, n)| *n)
    }
}

/// Passport's `psf:pp` header block, on every answer of RST2.srf: the authentication's state,
/// the request's status and, in `psf:serverInfo`, the server's time (as in Passport's answers
/// captured by its users; the server name in `serverInfo` is lyncsim's own).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PassportHeader {
    /// `psf:authstate`.
    pub authstate: String,
    /// `psf:reqstatus`: `0x0`, or the refusal's `psf:value`.
    pub reqstatus: String,
    /// `psf:serverInfo@ServerTime`, by the service clock.
    pub server_time_ms: i64,
}

impl PassportHeader {
    fn xml(&self) -> String {
        format!(
            "<psf:pp xmlns:psf=\"{psf}\"><psf:serverVersion>1</psf:serverVersion><psf:authstate>{}</psf:authstate><psf:reqstatus>{}</psf:reqstatus><psf:serverInfo ServerTime=\"{}\">lyncsim</psf:serverInfo></psf:pp>",
            esc(&self.authstate),
            esc(&self.reqstatus),
            format_time(self.server_time_ms),
            psf = ns::PSF,
        )
    }

    /// The header of an envelope.
    fn read(root: roxmltree::Node<'_, '_>) -> Result<PassportHeader, WireError> {
        let header = xml::need(root, ns::SOAP12, "Header")?;
        let pp = xml::need(header, ns::PSF, "pp")?;
        let get = |name: &str| xml::unique(pp, ns::PSF, name).map(|n| n.map(xml::text));
        let info = xml::need(pp, ns::PSF, "serverInfo")?;
        let time = info
            .attribute("ServerTime")
            .ok_or_else(|| WireError::Missing("serverInfo/@ServerTime".into()))?;
        Ok(PassportHeader {
            authstate: get("authstate")?.unwrap_or_default(),
            reqstatus: get("reqstatus")?.unwrap_or_default(),
            server_time_ms: parse_time(time)?,
        })
    }
}

/// The STS's refusal: HTTP 200 (pidgin-sipe's `sipe_svc_https_response` reads a body only
/// from a 200, and shows `Fault/Detail/error/internalerror/text`), a SOAP 1.2 fault with
/// Passport's detail, and Passport's header with the server's time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StsFault {
    /// The fault; its detail is Passport's (`FaultDetail::Passport`).
    pub fault: SoapFault,
    /// `psf:serverInfo@ServerTime`, by the service clock.
    pub server_time_ms: i64,
}

impl StsFault {
    /// The fault's `psf:value`, when it has Passport's detail.
    pub fn value(&self) -> Option<&str> {
        match &self.fault.detail {
            Some(FaultDetail::Passport { value, .. }) => Some(value),
            _ => None,
        }
    }
}

impl ToXml for StsFault {
    /// The whole envelope.
    fn to_xml(&self) -> String {
        let header = PassportHeader {
            authstate: idcrl::UNAUTHENTICATED.into(),
            reqstatus: self.value().unwrap_or(idcrl::UNAUTHENTICATED).into(),
            server_time_ms: self.server_time_ms,
        };
        self.fault.envelope(&header.xml())
    }
}

impl FromXml for StsFault {
    /// Reads an envelope that holds a fault; anything else is an error.
    fn from_xml(text: &str) -> Result<Self, WireError> {
        let doc = xml::parse(text)?;
        let root = doc.root_element();
        let fault = SoapFault::read_in(root)?.ok_or_else(|| WireError::Missing("Fault".into()))?;
        let header = PassportHeader::read(root)?;
        Ok(StsFault {
            fault,
            server_time_ms: header.server_time_ms,
        })
    }
}

/// The STS's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenResponse {
    /// `psf:serverInfo@ServerTime`, by the service clock.
    pub server_time_ms: i64,
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
            "<?xml version=\"1.0\" encoding=\"utf-8\"?><S:Envelope xmlns:S=\"{s}\" xmlns:wsu=\"{wsu}\" xmlns:wsa=\"{wsa}\" xmlns:wsp=\"{wsp}\" xmlns:wst=\"{wst}\"><S:Header>{header}</S:Header><S:Body><wst:RequestSecurityTokenResponse><wst:TokenType>urn:oasis:names:tc:SAML:1.0</wst:TokenType><wsp:AppliesTo><wsa:EndpointReference><wsa:Address>{applies}</wsa:Address></wsa:EndpointReference></wsp:AppliesTo><wst:Lifetime>{lifetime}</wst:Lifetime><wst:RequestedSecurityToken>{token}</wst:RequestedSecurityToken></wst:RequestSecurityTokenResponse></S:Body></S:Envelope>",
            s = ns::SOAP12,
            wsu = ns::WSU,
            wsa = ns::WSA,
            wsp = ns::WSP,
            wst = ns::WST_2005,
            header = PassportHeader {
                authstate: idcrl::AUTHENTICATED_PASSWORD.into(),
                reqstatus: "0x0".into(),
                server_time_ms: self.server_time_ms,
            }
            .xml(),
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
            server_time_ms: PassportHeader::read(doc.root_element())?.server_time_ms,
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
            server_time_ms: 1_780_000_000_123,
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
        let refusal = StsFault {
            fault: SoapFault {
                version: crate::soap::SoapVersion::Soap12,
                code: crate::soap::FaultCode::new(ns::WST_2005, "FailedAuthentication"),
                reason: "Authentication Failure".into(),
                detail: Some(FaultDetail::Passport {
                    value: idcrl::BAD_MEMBER_NAME_OR_PASSWORD.into(),
                    internal_code: idcrl::PP_E_BAD_PASSWORD.into(),
                    internal_text: idcrl::BAD_PASSWORD_TEXT.into(),
                }),
            },
            server_time_ms: 1_780_000_000_456,
        };
        let written = refusal.to_xml();
        assert!(
            written.contains("<psf:reqstatus>0x80048821</psf:reqstatus>")
                && written.contains("do not match.&#xD;\n</psf:text>"),
            "{written}"
        );
        // A reader takes the text as pidgin-sipe does, stripped of its line end.
        let mut read_back = refusal.clone();
        if let Some(FaultDetail::Passport { internal_text, .. }) = &mut read_back.fault.detail {
            *internal_text = internal_text.trim_end().to_owned();
        }
        assert_eq!(StsFault::from_xml(&written).unwrap(), read_back);
        assert!(
            StsFault::from_xml(&resp.to_xml()).is_err(),
            "a token is no fault"
        );
        assert!(
            TokenResponse::from_xml(&written).is_err(),
            "a fault is no token"
        );
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
            Err(WireError::Window(why)) if why.contains("ends at")
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
