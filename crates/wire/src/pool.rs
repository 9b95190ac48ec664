//! The pools' web services ([MS-OCAUTHWS]): their metadata (`mex`), the web ticket service
//! (WS-Trust 1.3, `WsFedBearer`: the STS's token in, a SAML assertion and server entropy out)
//! and certificate provisioning (`GetAndPublishCert`: a PKCS#10 in, signed with the proof key,
//! an X.509 certificate out). SOAP 1.1 throughout, as the real services spoke it.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;

use crate::sts::EncryptedToken;
use crate::wsse::{Lifetime, ReceivedSignature, format_time, signature_xml};
use crate::xml::{self, esc, ns};
use crate::{FromXml, ToXml, WireError};

/// The web ticket service on a pool.
pub const WEB_TICKET_PATH: &str = "/WebTicket/WebTicketService.svc";
/// The web ticket service's bearer port (the STS's token as credential).
pub const WS_FED_BEARER_PATH: &str = "/WebTicket/WebTicketService.svc/WsFedBearer";
/// Certificate provisioning on a pool: the registrar's `sts-uri`.
pub const CERT_PROV_PATH: &str = "/CertProv/CertProvisioningService.svc";
/// Certificate provisioning's port for requests signed with a web ticket's proof key.
pub const CERT_PROV_PROOF_PATH: &str = "/CertProv/CertProvisioningService.svc/WebTicket_Proof_SHA1";
/// The port's name in the `mex` document.
pub const CERT_PROV_PORT: &str = "CertProvisioningServiceWebTicketProof_SHA1";
/// The web ticket service's bearer port name.
pub const WS_FED_BEARER_PORT: &str = "WsFedBearer";
/// The SOAP action of a web ticket request.
pub const ACTION_WEB_TICKET: &str = "http://docs.oasis-open.org/ws-sx/ws-trust/200512/RST/Issue";
/// The SOAP action of GetAndPublishCert.
pub const ACTION_GET_AND_PUBLISH_CERT: &str =
    "http://schemas.microsoft.com/OCS/AuthWebServices/GetAndPublishCert";
/// The claim type of the user's SIP URI.
const CLAIM_URI: &str = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/uri";
const SAMLV11: &str = "http://docs.oasis-open.org/wss/oasis-wss-saml-token-profile-1.1#SAMLV1.1";
const X509V3: &str =
    "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-x509-token-profile-1.0#X509v3";
const BASE64_BINARY: &str = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd#Base64Binary";

fn envelope11(to: &str, action: &str, security: &str, body: &str) -> String {
    format!(
        "<?xml version=\"1.0\"?>\r\n<soap:Envelope xmlns:saml=\"{saml}\" xmlns:soap=\"{soap}\" xmlns:wst=\"{wst}\" xmlns:auth=\"{auth}\" xmlns:wsa=\"{wsa}\" xmlns:wsp=\"{wsp}\" xmlns:wsse=\"{wsse}\" xmlns:wsu=\"{wsu}\"><soap:Header><wsa:To>{to}</wsa:To><wsa:ReplyTo><wsa:Address>http://www.w3.org/2005/08/addressing/anonymous</wsa:Address></wsa:ReplyTo><wsa:Action>{action}</wsa:Action><wsse:Security>{security}</wsse:Security></soap:Header><soap:Body>{body}</soap:Body></soap:Envelope>",
        saml = ns::SAML,
        soap = ns::SOAP11,
        wst = ns::WST_13,
        auth = ns::AUTH,
        wsa = ns::WSA,
        wsp = ns::WSP,
        wsse = ns::WSSE,
        wsu = ns::WSU,
        to = esc(to),
        action = esc(action),
    )
}

fn response11(body: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?><s:Envelope xmlns:s=\"{s}\" xmlns:wsu=\"{wsu}\"><s:Body>{body}</s:Body></s:Envelope>",
        s = ns::SOAP11,
        wsu = ns::WSU
    )
}

fn soap11_body<'a, 'i>(
    doc: &'a roxmltree::Document<'i>,
) -> Result<roxmltree::Node<'a, 'i>, WireError> {
    let envelope = doc.root_element();
    if !envelope.has_tag_name((ns::SOAP11, "Envelope")) {
        return Err(WireError::Malformed(
            "not a SOAP 1.1 envelope (the pool's web services speak SOAP 1.1)".into(),
        ));
    }
    xml::need(envelope, ns::SOAP11, "Body")
}

fn b64(node: roxmltree::Node<'_, '_>, what: &str) -> Result<Vec<u8>, WireError> {
    let text: String = xml::text(node).split_whitespace().collect();
    B64.decode(text.as_bytes())
        .map_err(|e| WireError::Malformed(format!("{what} is not base64: {e}")))
}

/// Certificate provisioning's metadata: where its signed port is, and which web ticket
/// service issues the tickets it takes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertProvMex {
    /// The web ticket service (the policy's `Issuer/Address`).
    pub web_ticket_service: String,
    /// The `CertProvisioningServiceWebTicketProof_SHA1` port's address.
    pub address: String,
}

impl ToXml for CertProvMex {
    /// The WSDL.
    fn to_xml(&self) -> String {
        format!(
            "<?xml version=\"1.0\" encoding=\"utf-8\"?><wsdl:definitions xmlns:wsdl=\"{wsdl}\" xmlns:soap=\"{soap}\" xmlns:wsp=\"{wsp}\" xmlns:wsu=\"{wsu}\" xmlns:sp=\"{sp}\" xmlns:wsa10=\"{wsa}\" xmlns:tns=\"{tns}\" name=\"CertProvisioningService\" targetNamespace=\"{tns}\"><wsp:Policy wsu:Id=\"{port}_policy\"><wsp:ExactlyOne><wsp:All><sp:EndorsingSupportingTokens><wsp:Policy><sp:IssuedToken sp:IncludeToken=\"http://docs.oasis-open.org/ws-sx/ws-securitypolicy/200702/IncludeToken/AlwaysToRecipient\"><sp:Issuer><wsa10:Address>{issuer}</wsa10:Address></sp:Issuer><sp:RequestSecurityTokenTemplate><t:TokenType xmlns:t=\"{wst}\">{saml}</t:TokenType><t:KeyType xmlns:t=\"{wst}\">http://docs.oasis-open.org/ws-sx/ws-trust/200512/SymmetricKey</t:KeyType></sp:RequestSecurityTokenTemplate></sp:IssuedToken></wsp:Policy></sp:EndorsingSupportingTokens></wsp:All></wsp:ExactlyOne></wsp:Policy><wsdl:service name=\"CertProvisioningService\"><wsdl:port name=\"{port}\" binding=\"tns:{port}\"><soap:address location=\"{address}\"/></wsdl:port></wsdl:service></wsdl:definitions>",
            wsdl = ns::WSDL,
            soap = ns::WSDL_SOAP,
            wsp = ns::WSP,
            wsu = ns::WSU,
            sp = ns::SP,
            wsa = ns::WSA,
            wst = ns::WST_13,
            tns = ns::AUTHWS,
            saml = SAMLV11,
            port = CERT_PROV_PORT,
            issuer = esc(&self.web_ticket_service),
            address = esc(&self.address),
        )
    }
}

impl FromXml for CertProvMex {
    /// Reads the WSDL as pidgin-sipe does: the policy by its id, the port by its name.
    fn from_xml(text: &str) -> Result<Self, WireError> {
        let doc = xml::parse(text)?;
        let policy_id = format!("{CERT_PROV_PORT}_policy");
        let policy = doc
            .descendants()
            .find(|n| {
                n.has_tag_name((ns::WSP, "Policy"))
                    && n.attribute((ns::WSU, "Id")) == Some(policy_id.as_str())
            })
            .ok_or_else(|| WireError::Missing(format!("Policy {policy_id}")))?;
        let issuer = xml::find_local(policy, "Issuer")
            .and_then(|i| xml::find_local(i, "Address"))
            .ok_or_else(|| WireError::Missing("Issuer/Address".into()))?;
        Ok(CertProvMex {
            web_ticket_service: xml::text(issuer),
            address: port_address(&doc, CERT_PROV_PORT)?,
        })
    }
}

fn port_address(doc: &roxmltree::Document<'_>, name: &str) -> Result<String, WireError> {
    let port = doc
        .descendants()
        .find(|n| n.has_tag_name((ns::WSDL, "port")) && n.attribute("name") == Some(name))
        .ok_or_else(|| WireError::Missing(format!("port {name}")))?;
    xml::find_local(port, "address")
        .and_then(|a| a.attribute("location"))
        .map(str::to_owned)
        .ok_or_else(|| WireError::Missing(format!("port {name}'s address")))
}

/// The web ticket service's metadata: its `WsFedBearer` port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebTicketMex {
    /// The `WsFedBearer` port's address.
    pub ws_fed_bearer: String,
}

impl ToXml for WebTicketMex {
    /// The WSDL.
    fn to_xml(&self) -> String {
        format!(
            "<?xml version=\"1.0\" encoding=\"utf-8\"?><wsdl:definitions xmlns:wsdl=\"{wsdl}\" xmlns:soap12=\"{soap12}\" xmlns:tns=\"http://tempuri.org/\" name=\"WebTicketService\" targetNamespace=\"http://tempuri.org/\"><wsdl:service name=\"WebTicketService\"><wsdl:port name=\"{port}\" binding=\"tns:{port}\"><soap12:address location=\"{address}\"/></wsdl:port></wsdl:service></wsdl:definitions>",
            wsdl = ns::WSDL,
            soap12 = ns::WSDL_SOAP12,
            port = WS_FED_BEARER_PORT,
            address = esc(&self.ws_fed_bearer),
        )
    }
}

impl FromXml for WebTicketMex {
    /// Reads the WSDL.
    fn from_xml(text: &str) -> Result<Self, WireError> {
        let doc = xml::parse(text)?;
        Ok(WebTicketMex {
            ws_fed_bearer: port_address(&doc, WS_FED_BEARER_PORT)?,
        })
    }
}

/// A web ticket request on the `WsFedBearer` port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebTicketRequest {
    /// `wsa:To`.
    pub to: String,
    /// The STS token's `Lifetime`, sent as the Security header's timestamp.
    pub sts_lifetime: Lifetime,
    /// The STS's token, as it came.
    pub sts_token: EncryptedToken,
    /// `wsp:AppliesTo`.
    pub applies_to: String,
    /// The claimed user, `sip:` included.
    pub claim: String,
    /// The client's entropy (`wst:Entropy/wst:BinarySecret`).
    pub entropy: Vec<u8>,
    /// `wst:RequestSecurityToken@Context`.
    pub context: String,
}

impl ToXml for WebTicketRequest {
    /// The whole envelope, as pidgin-sipe writes it.
    fn to_xml(&self) -> String {
        let security = format!(
            "{}{}",
            self.sts_lifetime.timestamp_xml(),
            self.sts_token.to_xml()
        );
        let body = format!(
            "<wst:RequestSecurityToken Context=\"{context}\"><wst:TokenType>{saml}</wst:TokenType><wst:RequestType>http://schemas.xmlsoap.org/ws/2005/02/trust/Issue</wst:RequestType><wsp:AppliesTo><wsa:EndpointReference><wsa:Address>{applies}</wsa:Address></wsa:EndpointReference></wsp:AppliesTo><wst:Claims Dialect=\"urn:component:Microsoft.Rtc.WebAuthentication.2010:authclaims\"><auth:ClaimType Uri=\"{claim_uri}\" Optional=\"false\"><auth:Value>{claim}</auth:Value></auth:ClaimType></wst:Claims><wst:Entropy><wst:BinarySecret>{entropy}</wst:BinarySecret></wst:Entropy><wst:KeyType>http://docs.oasis-open.org/ws-sx/ws-trust/200512/SymmetricKey</wst:KeyType></wst:RequestSecurityToken>",
            context = esc(&self.context),
            saml = SAMLV11,
            applies = esc(&self.applies_to),
            claim_uri = CLAIM_URI,
            claim = esc(&self.claim),
            entropy = B64.encode(&self.entropy),
        );
        envelope11(&self.to, ACTION_WEB_TICKET, &security, &body)
    }
}

impl FromXml for WebTicketRequest {
    /// Reads an envelope.
    fn from_xml(text: &str) -> Result<Self, WireError> {
        let doc = xml::parse(text)?;
        let body = soap11_body(&doc)?;
        let envelope = doc.root_element();
        let security = xml::security_header(envelope, ns::SOAP11)?;
        let rst = xml::need(body, ns::WST_13, "RequestSecurityToken")?;
        let claims = xml::need(rst, ns::WST_13, "Claims")?;
        let mut uri_claims = claims.descendants().filter(|n| {
            n.has_tag_name((ns::AUTH, "ClaimType")) && n.attribute("Uri") == Some(CLAIM_URI)
        });
        let uri_claim = uri_claims
            .next()
            .ok_or_else(|| WireError::Missing("Claims/ClaimType of the user's URI".into()))?;
        if uri_claims.next().is_some() {
            return Err(WireError::Duplicate("ClaimType of the user's URI".into()));
        }
        let claim = xml::need(uri_claim, ns::AUTH, "Value")?;
        let entropy = xml::need(rst, ns::WST_13, "Entropy")?;
        Ok(WebTicketRequest {
            to: xml::find(envelope, ns::WSA, "To")
                .map(xml::text)
                .unwrap_or_default(),
            sts_lifetime: Lifetime::read(xml::need(security, ns::WSU, "Timestamp")?)?,
            sts_token: EncryptedToken::read(security)?,
            applies_to: xml::unique(rst, ns::WSA, "Address")?
                .map(xml::text)
                .unwrap_or_default(),
            claim: xml::text(claim),
            entropy: b64(
                xml::need(entropy, ns::WST_13, "BinarySecret")?,
                "BinarySecret",
            )?,
            context: rst.attribute("Context").unwrap_or_default().to_owned(),
        })
    }
}

/// A web ticket: the SAML 1.1 assertion the web ticket service issues. The proof key travels
/// inside it, encrypted for the pools, bound to the assertion's id, user and conditions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebTicket {
    /// `AssertionID`.
    pub assertion_id: String,
    /// `Issuer`: the web ticket service.
    pub issuer: String,
    /// The subject, `sip:` included.
    pub user: String,
    /// `Conditions@NotBefore` / `@NotOnOrAfter`.
    pub lifetime: Lifetime,
    /// The proof key, encrypted for the pools (`xenc:EncryptedKey`).
    pub key_cipher: Vec<u8>,
}

impl WebTicket {
    /// The `X-MS-WebTicket` header's value that carries `assertion_xml` (the assertion as the
    /// web ticket service sent it): `opaque=` and its base64, as pidgin-sipe writes it
    /// (`sipe_lync_autodiscover_webticket`) for [MS-OCDISCWS] 2.2.2.2.
    pub fn header_value(assertion_xml: &str) -> String {
        format!("opaque={}", B64.encode(assertion_xml))
    }

    /// The ticket an `X-MS-WebTicket` header carries.
    pub fn from_header(value: &str) -> Result<WebTicket, WireError> {
        let opaque = value
            .split(',')
            .map(str::trim)
            .find_map(|part| part.strip_prefix("opaque="))
            .ok_or_else(|| WireError::Missing("X-MS-WebTicket opaque=".into()))?;
        let bytes = B64
            .decode(opaque.trim_matches('"'))
            .map_err(|e| WireError::Malformed(format!("X-MS-WebTicket is not base64: {e}")))?;
        let text = String::from_utf8(bytes)
            .map_err(|_| WireError::Malformed("X-MS-WebTicket is not UTF-8".into()))?;
        let doc = xml::parse(&text)?;
        WebTicket::read(doc.root_element())
    }

    /// Reads the `saml:Assertion` under `node`.
    pub fn read(node: roxmltree::Node<'_, '_>) -> Result<WebTicket, WireError> {
        let assertion = xml::need(node, ns::SAML, "Assertion")?;
        let conditions = xml::need(assertion, ns::SAML, "Conditions")?;
        Ok(WebTicket {
            assertion_id: assertion
                .attribute("AssertionID")
                .ok_or_else(|| WireError::Missing("AssertionID".into()))?
                .to_owned(),
            issuer: assertion.attribute("Issuer").unwrap_or_default().to_owned(),
            user: xml::text(xml::need(assertion, ns::SAML, "NameIdentifier")?),
            lifetime: Lifetime::from_conditions(conditions)?,
            key_cipher: b64(
                xml::need(assertion, ns::XENC, "CipherValue")?,
                "the proof key",
            )?,
        })
    }
}

impl ToXml for WebTicket {
    /// The self-contained `saml:Assertion` element.
    fn to_xml(&self) -> String {
        format!(
            "<saml:Assertion xmlns:saml=\"{saml}\" MajorVersion=\"1\" MinorVersion=\"1\" AssertionID=\"{id}\" Issuer=\"{issuer}\" IssueInstant=\"{created}\"><saml:Conditions NotBefore=\"{created}\" NotOnOrAfter=\"{expires}\"></saml:Conditions><saml:AuthenticationStatement AuthenticationMethod=\"urn:oasis:names:tc:SAML:1.0:am:password\" AuthenticationInstant=\"{created}\"><saml:Subject><saml:NameIdentifier>{user}</saml:NameIdentifier><saml:SubjectConfirmation><saml:ConfirmationMethod>urn:oasis:names:tc:SAML:1.0:cm:holder-of-key</saml:ConfirmationMethod><KeyInfo xmlns=\"{ds}\"><e:EncryptedKey xmlns:e=\"{xenc}\"><e:EncryptionMethod Algorithm=\"{alg}\"></e:EncryptionMethod><e:CipherData><e:CipherValue>{key}</e:CipherValue></e:CipherData></e:EncryptedKey></KeyInfo></saml:SubjectConfirmation></saml:Subject></saml:AuthenticationStatement></saml:Assertion>",
            saml = ns::SAML,
            id = esc(&self.assertion_id),
            issuer = esc(&self.issuer),
            created = format_time(self.lifetime.created_ms),
            expires = format_time(self.lifetime.expires_ms),
            user = esc(&self.user),
            ds = ns::DS,
            xenc = ns::XENC,
            alg = crate::sts::AES256_GCM,
            key = B64.encode(&self.key_cipher),
        )
    }
}

/// The web ticket service's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebTicketResponse {
    /// The ticket's `Lifetime`.
    pub lifetime: Lifetime,
    /// The `saml:Assertion` as it came, to be copied into the next request.
    pub assertion_xml: String,
    /// Its `AssertionID`.
    pub assertion_id: String,
    /// The server's entropy.
    pub entropy: Vec<u8>,
}

impl WebTicketResponse {
    /// The answer for `ticket`.
    pub fn new(ticket: &WebTicket, entropy: Vec<u8>) -> WebTicketResponse {
        WebTicketResponse {
            lifetime: ticket.lifetime,
            assertion_xml: ticket.to_xml(),
            assertion_id: ticket.assertion_id.clone(),
            entropy,
        }
    }
}

impl ToXml for WebTicketResponse {
    /// The whole envelope.
    fn to_xml(&self) -> String {
        response11(&format!(
            "<RequestSecurityTokenResponse xmlns=\"{wst}\" Context=\"\"><TokenType>{saml}</TokenType><RequestedSecurityToken>{assertion}</RequestedSecurityToken><RequestedProofToken><ComputedKey>http://docs.oasis-open.org/ws-sx/ws-trust/200512/CK/PSHA1</ComputedKey></RequestedProofToken><Lifetime>{lifetime}</Lifetime><Entropy><BinarySecret>{entropy}</BinarySecret></Entropy><KeySize>{bits}</KeySize></RequestSecurityTokenResponse>",
            wst = ns::WST_13,
            saml = SAMLV11,
            assertion = self.assertion_xml,
            lifetime = self.lifetime.children_xml(),
            entropy = B64.encode(&self.entropy),
            bits = self.entropy.len() * 8,
        ))
    }
}

impl FromXml for WebTicketResponse {
    /// Reads an envelope.
    fn from_xml(text: &str) -> Result<Self, WireError> {
        let doc = xml::parse(text)?;
        let body = soap11_body(&doc)?;
        let rstr = xml::need(body, ns::WST_13, "RequestSecurityTokenResponse")?;
        let assertion = xml::need(rstr, ns::SAML, "Assertion")?;
        let entropy = xml::need(rstr, ns::WST_13, "Entropy")?;
        Ok(WebTicketResponse {
            lifetime: Lifetime::read(xml::need(rstr, ns::WST_13, "Lifetime")?)?,
            assertion_xml: text[assertion.range()].to_owned(),
            assertion_id: assertion
                .attribute("AssertionID")
                .ok_or_else(|| WireError::Missing("AssertionID".into()))?
                .to_owned(),
            entropy: b64(
                xml::need(entropy, ns::WST_13, "BinarySecret")?,
                "BinarySecret",
            )?,
        })
    }
}

/// GetAndPublishCert, as a client writes it: the PKCS#10 in the body, the web ticket and a
/// signature made with its proof key in the Security header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertRequest<'a> {
    /// `wsa:To`: the signed port's address.
    pub to: &'a str,
    /// The web ticket service's answer.
    pub ticket: &'a WebTicketResponse,
    /// The proof key: P_SHA1(client entropy, server entropy).
    pub proof_key: &'a [u8],
    /// `DeviceId` (a GUID).
    pub device_id: &'a str,
    /// `Entity`: the user's address.
    pub entity: &'a str,
    /// The PKCS#10, DER.
    pub csr_der: &'a [u8],
    /// `wstep:RequestID`.
    pub request_id: &'a str,
}

impl ToXml for CertRequest<'_> {
    /// The whole envelope.
    fn to_xml(&self) -> String {
        let timestamp = self.ticket.lifetime.timestamp_xml();
        let signature = signature_xml(&timestamp, self.proof_key, &self.ticket.assertion_id);
        let security = format!("{timestamp}{}{signature}", self.ticket.assertion_xml);
        let body = format!(
            "<GetAndPublishCert xmlns=\"{authws}\" xmlns:wst=\"{wst}/\" xmlns:wstep=\"{wstep}\" DeviceId=\"{{{device}}}\" Entity=\"{entity}\"><wst:RequestSecurityToken><wst:TokenType>{x509}</wst:TokenType><wst:RequestType>http://docs.oasis-open.org/ws-sx/ws-trust/200512/Issue</wst:RequestType><wsse:BinarySecurityToken ValueType=\"http://schemas.microsoft.com/OCS/AuthWebServices.xsd#PKCS10\" EncodingType=\"{b64}\">\r\n{csr}</wsse:BinarySecurityToken><wstep:RequestID>{request}</wstep:RequestID></wst:RequestSecurityToken></GetAndPublishCert>",
            authws = ns::AUTHWS,
            wst = ns::WST_13,
            wstep = ns::WSTEP,
            device = esc(self.device_id),
            entity = esc(self.entity),
            x509 = X509V3,
            b64 = BASE64_BINARY,
            csr = B64.encode(self.csr_der),
            request = esc(self.request_id),
        );
        envelope11(self.to, ACTION_GET_AND_PUBLISH_CERT, &security, &body)
    }
}

/// GetAndPublishCert as the service reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivedCertRequest {
    /// The Security header's timestamp.
    pub timestamp: Lifetime,
    /// The web ticket.
    pub ticket: WebTicket,
    /// The signature, to be checked with the ticket's proof key.
    pub signature: ReceivedSignature,
    /// `Entity`.
    pub entity: String,
    /// The PKCS#10, DER.
    pub csr_der: Vec<u8>,
    /// `wstep:RequestID`.
    pub request_id: String,
}

impl FromXml for ReceivedCertRequest {
    /// Reads an envelope.
    fn from_xml(text: &str) -> Result<Self, WireError> {
        let doc = xml::parse(text)?;
        let body = soap11_body(&doc)?;
        let security = xml::security_header(doc.root_element(), ns::SOAP11)?;
        let gapc = xml::need(body, ns::AUTHWS, "GetAndPublishCert")?;
        let token = xml::need(gapc, ns::WSSE, "BinarySecurityToken")?;
        Ok(ReceivedCertRequest {
            timestamp: Lifetime::read(xml::need(security, ns::WSU, "Timestamp")?)?,
            ticket: WebTicket::read(security)?,
            signature: ReceivedSignature::read(security)?,
            entity: gapc.attribute("Entity").unwrap_or_default().to_owned(),
            csr_der: b64(token, "the PKCS#10 request")?,
            request_id: xml::find_local(gapc, "RequestID")
                .map(xml::text)
                .unwrap_or_default(),
        })
    }
}

/// GetAndPublishCert's answer: the certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertResponse {
    /// The personal certificate, DER.
    pub cert_der: Vec<u8>,
    /// The request's id, echoed.
    pub request_id: String,
}

impl ToXml for CertResponse {
    /// The whole envelope.
    fn to_xml(&self) -> String {
        response11(&format!(
            "<GetAndPublishCertResponse xmlns=\"{authws}\"><RequestSecurityTokenResponse><TokenType>{x509}</TokenType><DispositionMessage xmlns=\"{wstep}\">Issued</DispositionMessage><RequestedSecurityToken><BinarySecurityToken xmlns=\"{wsse}\" ValueType=\"{x509}\" EncodingType=\"{b64}\">{cert}</BinarySecurityToken></RequestedSecurityToken><RequestID xmlns=\"{wstep}\">{request}</RequestID></RequestSecurityTokenResponse></GetAndPublishCertResponse>",
            authws = ns::AUTHWS,
            x509 = X509V3,
            wstep = ns::WSTEP,
            wsse = ns::WSSE,
            b64 = BASE64_BINARY,
            cert = B64.encode(&self.cert_der),
            request = esc(&self.request_id),
        ))
    }
}

impl FromXml for CertResponse {
    /// Reads an envelope, along the path pidgin-sipe reads.
    fn from_xml(text: &str) -> Result<Self, WireError> {
        let doc = xml::parse(text)?;
        let body = soap11_body(&doc)?;
        let response = xml::need(body, ns::AUTHWS, "GetAndPublishCertResponse")?;
        let rstr = xml::find_local(response, "RequestSecurityTokenResponse")
            .ok_or_else(|| WireError::Missing("RequestSecurityTokenResponse".into()))?;
        let token = xml::find_local(rstr, "RequestedSecurityToken")
            .and_then(|t| xml::find_local(t, "BinarySecurityToken"))
            .ok_or_else(|| {
                WireError::Missing("RequestedSecurityToken/BinarySecurityToken".into())
            })?;
        Ok(CertResponse {
            cert_der: b64(token, "the certificate")?,
            request_id: xml::find_local(rstr, "RequestID")
                .map(xml::text)
                .unwrap_or_default(),
        })
    }
}

/// GetAndPublishCert's refusal of the request itself (the user, the account, the PKCS#10),
/// sent, as [MS-OCAUTHWS] 3.1.4.1 says, "using the ErrorInfo element in
/// GetAndPublishCertResponse", with HTTP 200, not as a SOAP fault. The spec's schema of
/// `ErrorInfo` is not among the sources this project could read: its children here are those
/// the spec gives `Ms-Diagnostics-Fault` (`ErrorId`, `Reason`), lyncsim's own choice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertErrorInfo {
    /// `ErrorId`.
    pub error_id: u32,
    /// `Reason`.
    pub reason: String,
}

impl ToXml for CertErrorInfo {
    /// The whole envelope.
    fn to_xml(&self) -> String {
        response11(&format!(
            "<GetAndPublishCertResponse xmlns=\"{authws}\"><ErrorInfo><ErrorId>{}</ErrorId><Reason>{}</Reason></ErrorInfo></GetAndPublishCertResponse>",
            self.error_id,
            esc(&self.reason),
            authws = ns::AUTHWS,
        ))
    }
}

impl FromXml for CertErrorInfo {
    /// Reads an envelope whose response holds `ErrorInfo`; anything else is an error.
    fn from_xml(text: &str) -> Result<Self, WireError> {
        let doc = xml::parse(text)?;
        let body = soap11_body(&doc)?;
        let response = xml::need(body, ns::AUTHWS, "GetAndPublishCertResponse")?;
        let info = xml::need(response, ns::AUTHWS, "ErrorInfo")?;
        let id = xml::text(xml::need(info, ns::AUTHWS, "ErrorId")?);
        Ok(CertErrorInfo {
            error_id: id
                .trim()
                .parse()
                .map_err(|_| WireError::Malformed(format!("ErrorId {id:?} is not a number")))?,
            reason: xml::unique(info, ns::AUTHWS, "Reason")?
                .map(xml::text)
                .unwrap_or_default(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wsse::p_sha1;

    #[test]
    fn a_web_ticket_travels_in_its_header() {
        let ticket = WebTicket {
            assertion_id: "uuid-1".into(),
            issuer: "https://webdir.online.lync.com/WebTicket/WebTicketService.svc".into(),
            user: "sip:alice@contoso.com".into(),
            lifetime: life(),
            key_cipher: vec![7; 60],
        };
        let header = WebTicket::header_value(&ticket.to_xml());
        assert!(header.starts_with("opaque="), "{header}");
        assert_eq!(WebTicket::from_header(&header).unwrap(), ticket);
        assert!(WebTicket::from_header("opaque=!!").is_err());
        assert!(WebTicket::from_header("nothing").is_err());
    }

    #[test]
    fn get_and_publish_cert_refuses_in_error_info() {
        let info = CertErrorInfo {
            error_id: 28024,
            reason: "the request's subject <CN=bob> is not the signed-in user".into(),
        };
        let written = info.to_xml();
        assert!(written.contains("<GetAndPublishCertResponse"), "{written}");
        assert_eq!(CertErrorInfo::from_xml(&written).unwrap(), info);
        assert!(
            CertResponse::from_xml(&written).is_err(),
            "no certificate in it"
        );
        let issued = CertResponse {
            cert_der: vec![1, 2, 3],
            request_id: "r".into(),
        };
        assert!(CertErrorInfo::from_xml(&issued.to_xml()).is_err());
    }

    fn life() -> Lifetime {
        Lifetime {
            created_ms: 1_780_000_000_000,
            expires_ms: 1_780_028_800_000,
        }
    }

    #[test]
    fn the_web_ticket_exchange_round_trips() {
        let req = WebTicketRequest {
            to: "https://pool-a.online.lync.com/WebTicket/WebTicketService.svc/WsFedBearer".into(),
            sts_lifetime: life(),
            sts_token: EncryptedToken {
                key_name: "k".into(),
                cipher: vec![9; 40],
            },
            applies_to: "https://pool-a.online.lync.com/CertProv/CertProvisioningService.svc"
                .into(),
            claim: "sip:alice@contoso.com".into(),
            entropy: vec![7; 32],
            context: "ctx".into(),
        };
        assert_eq!(WebTicketRequest::from_xml(&req.to_xml()).unwrap(), req);
        let ticket = WebTicket {
            assertion_id: "uuid-1".into(),
            issuer: "https://pool-a".into(),
            user: "sip:alice@contoso.com".into(),
            lifetime: life(),
            key_cipher: vec![1; 60],
        };
        let resp = WebTicketResponse::new(&ticket, vec![3; 32]);
        let back = WebTicketResponse::from_xml(&resp.to_xml()).unwrap();
        assert_eq!(back, resp);
        let doc = xml::parse(&back.assertion_xml).unwrap();
        assert_eq!(WebTicket::read(doc.root_element()).unwrap(), ticket);
    }

    #[test]
    fn a_signed_certificate_request_verifies_with_the_proof_key() {
        let ticket = WebTicket {
            assertion_id: "uuid-2".into(),
            issuer: "i".into(),
            user: "sip:alice@contoso.com".into(),
            lifetime: life(),
            key_cipher: vec![1; 60],
        };
        let resp = WebTicketResponse::new(&ticket, vec![3; 32]);
        let key = p_sha1(&[5; 32], &resp.entropy, 32);
        let text = CertRequest {
            to: "https://pool-a/CertProv/CertProvisioningService.svc/WebTicket_Proof_SHA1",
            ticket: &resp,
            proof_key: &key,
            device_id: "00000000-0000-0000-0000-000000000000",
            entity: "alice@contoso.com",
            csr_der: &[0x30, 0x03, 1, 2, 3],
            request_id: "r1",
        }
        .to_xml();
        let got = ReceivedCertRequest::from_xml(&text).unwrap();
        assert_eq!(got.ticket, ticket);
        assert_eq!(got.timestamp, life());
        assert_eq!(got.csr_der, vec![0x30, 0x03, 1, 2, 3]);
        assert_eq!(got.entity, "alice@contoso.com");
        assert_eq!(got.signature.key_identifier, "uuid-2");
        assert!(got.signature.verify(&key).is_ok());
        assert!(
            got.signature
                .verify(&p_sha1(&[6; 32], &resp.entropy, 32))
                .is_err()
        );
    }

    #[test]
    fn metadata_and_the_certificate_round_trip() {
        let mex = CertProvMex {
            web_ticket_service: "https://p/WebTicket/WebTicketService.svc".into(),
            address: "https://p/CertProv/CertProvisioningService.svc/WebTicket_Proof_SHA1".into(),
        };
        assert_eq!(CertProvMex::from_xml(&mex.to_xml()).unwrap(), mex);
        let wt = WebTicketMex {
            ws_fed_bearer: "https://p/WebTicket/WebTicketService.svc/WsFedBearer".into(),
        };
        assert_eq!(WebTicketMex::from_xml(&wt.to_xml()).unwrap(), wt);
        let cert = CertResponse {
            cert_der: vec![0x30, 1, 2],
            request_id: "r".into(),
        };
        assert_eq!(CertResponse::from_xml(&cert.to_xml()).unwrap(), cert);
    }
}
