//! The handlers of the HTTPS hosts: Autodiscover, the realm lookup and the STS, the web ticket
//! service and certificate provisioning (GetAndPublishCert); the registrar speaks SIP
//! (`crate::registrar`). Each reads the real message through `lyncsim_wire`, checks what the
//! real service checks, and refuses the way it did (a SOAP fault, with the reason in its
//! detail), saying why in the journal too. A refusal at the HTTP level (no such path, a body
//! too large) is a problem document.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{Extension, Query, State as AxState};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use lyncsim_domain::Skew;
use lyncsim_wire::admin::JournalOutcome;
use lyncsim_wire::agent::UserAgent;
use lyncsim_wire::autodiscover::{self, Access};
use lyncsim_wire::pool::{
    CertProvMex, CertResponse, ReceivedCertRequest, WebTicket, WebTicketMex, WebTicketRequest,
    WebTicketResponse,
};
use lyncsim_wire::soap::{FaultCode, FaultDetail, SoapFault, SoapVersion};
use lyncsim_wire::sts::{RealmInfo, TokenRequest, TokenResponse};
use lyncsim_wire::xml::ns;
use lyncsim_wire::{FromXml, ToXml};
use lyncsim_wire::{Problem, WireError, paths};
use serde::Deserialize;

use crate::audience::{is_cert_provisioning_of, relying_party};
use crate::conn::{ConnInfo, LIMITS};
use crate::hosts::Role;
use crate::outage::{OutageGuard, outage_middleware};
use crate::pools::pool_fqdn;
use crate::problem::{ApiError, accept, method_not_allowed};
use crate::state::{IssuedLine, IssuedRecord, State};
use crate::tokens::{TICKET_LIFETIME_SECS, check_lifetime};

pub(crate) type Shared = Arc<State>;

/// Records a refusal in the journal and returns it as the response.
fn refuse(
    state: &State,
    conn: &ConnInfo,
    endpoint: &str,
    user: Option<&str>,
    problem: Problem,
) -> ApiError {
    state.journal.record(
        &conn.host,
        endpoint,
        user,
        JournalOutcome::Rejected,
        problem.detail.clone(),
    );
    ApiError(problem)
}

/// A SOAP fault as the HTTP answer: 500, as both SOAP bindings say for a fault.
struct Soap(SoapFault);

impl IntoResponse for Soap {
    fn into_response(self) -> Response {
        let media = match self.0.version {
            SoapVersion::Soap11 => "text/xml; charset=utf-8",
            SoapVersion::Soap12 => "application/soap+xml; charset=utf-8",
        };
        (
            StatusCode::INTERNAL_SERVER_ERROR,
            [(header::CONTENT_TYPE, media)],
            self.0.to_xml(),
        )
            .into_response()
    }
}

/// Records a SOAP refusal in the journal (its reason, for a person) and returns it.
fn refuse_soap(
    state: &State,
    conn: &ConnInfo,
    endpoint: &str,
    user: Option<&str>,
    fault: SoapFault,
) -> Soap {
    let reason = match &fault.detail {
        Some(FaultDetail::Passport { internal_text, .. }) => internal_text.clone(),
        Some(FaultDetail::Diagnostics { reason, .. }) => reason.clone(),
        None => fault.reason.clone(),
    };
    state
        .journal
        .record(&conn.host, endpoint, user, JournalOutcome::Rejected, reason);
    Soap(fault)
}

/// The refusal of a request that does not read as the endpoint's message: a header block it
/// must understand and does not gets SOAP's `MustUnderstand` fault; anything else the fault
/// `otherwise` makes of the reason. The journal says which.
fn refuse_unreadable(
    state: &State,
    conn: &ConnInfo,
    endpoint: &str,
    version: SoapVersion,
    error: &WireError,
    otherwise: impl FnOnce(String) -> SoapFault,
) -> Response {
    match error {
        WireError::NotUnderstood(_) => {
            state.journal.record(
                &conn.host,
                endpoint,
                None,
                JournalOutcome::Rejected,
                error.to_string(),
            );
            Soap(SoapFault::must_understand(version)).into_response()
        }
        _ => refuse_soap(state, conn, endpoint, None, otherwise(error.to_string())).into_response(),
    }
}

/// A 200 answer carrying a document of the protocol.
fn xml_ok(media: &'static str, body: String) -> Response {
    ([(header::CONTENT_TYPE, media)], body).into_response()
}

const SOAP11_MEDIA: &str = "text/xml; charset=utf-8";

/// The base URL of this host's HTTPS (also in an answer over plain HTTP: the documents send
/// clients to HTTPS).
fn base_url(conn: &ConnInfo) -> String {
    if conn.https_port == 443 {
        format!("https://{}", conn.host)
    } else {
        format!("https://{}:{}", conn.host, conn.https_port)
    }
}

async fn not_found() -> ApiError {
    ApiError(Problem::not_found("no such endpoint on this host"))
}

/// The router of one host.
pub(crate) fn router(role: &Role, state: Shared, guard: OutageGuard) -> Router {
    let routes = match role {
        Role::Webdir => Router::new()
            .route("/", get(autodiscover_root))
            .route(paths::AUTODISCOVER, get(autodiscover_root))
            .route(
                "/Autodiscover/AutodiscoverService.svc/root",
                get(autodiscover_root),
            )
            .route(paths::AUTODISCOVER_USER, get(autodiscover_user))
            .route(
                "/Autodiscover/AutodiscoverService.svc/root/user",
                get(autodiscover_user),
            ),
        Role::Director => Router::new().route(paths::DIRECTOR, get(autodiscover_user)),
        Role::Sts => Router::new()
            .route(paths::REALM, get(realm))
            .route(paths::TOKEN, post(token)),
        Role::Pool(_) => Router::new()
            .route(
                &format!("{}/mex", paths::WEB_TICKET_PATH),
                get(web_ticket_mex),
            )
            .route(paths::WS_FED_BEARER_PATH, post(web_ticket))
            .route(
                &format!("{}/mex", paths::CERT_PROV_PATH),
                get(cert_prov_mex),
            )
            .route(paths::CERT_PROV_PROOF_PATH, post(get_and_publish_cert)),
    };
    routes
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(state)
        .layer(axum::extract::DefaultBodyLimit::max(LIMITS.max_body_bytes))
        .layer(axum::middleware::from_fn_with_state(
            guard,
            outage_middleware,
        ))
}

/// Whether the client asked for JSON rather than XML.
fn wants_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("json"))
}

/// The document in the form the client asked for (only that one is written).
fn discover_reply(
    headers: &HeaderMap,
    xml: impl FnOnce() -> String,
    json: impl FnOnce() -> String,
) -> Response {
    if wants_json(headers) {
        xml_ok(autodiscover::MEDIA_JSON, json())
    } else {
        xml_ok(autodiscover::MEDIA_XML, xml())
    }
}

/// The Autodiscover root: a link to the User resource (the `sipuri` carried along).
async fn autodiscover_root(
    Extension(conn): Extension<ConnInfo>,
    headers: HeaderMap,
    query: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(q) = accept(query)?;
    // The link names the host the client asked for (lyncdiscover.<domain> is an alias here).
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .map(|h| h.split(':').next().unwrap_or(h).to_owned())
        .unwrap_or_else(|| conn.host.clone());
    let base = base_url(&ConnInfo { host, ..conn });
    let mut href = format!("{base}{}", paths::AUTODISCOVER_USER);
    if let Some(uri) = q.get("sipuri") {
        href.push_str("?sipuri=");
        href.push_str(&percent(uri));
    }
    let root = autodiscover::Root {
        user: Some(href),
        redirect: None,
    };
    Ok(discover_reply(
        &headers,
        || root.to_xml(),
        || root.to_json(),
    ))
}

/// Percent-encodes what a query value must not carry as it is.
fn percent(value: &str) -> String {
    let mut out = String::new();
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~:@".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[derive(Debug, Deserialize)]
struct SipUri {
    sipuri: String,
}

/// The User resource (and the director's redirect): where this user signs in, their home pool.
async fn autodiscover_user(
    AxState(state): AxState<Shared>,
    Extension(conn): Extension<ConnInfo>,
    headers: HeaderMap,
    query: Result<Query<SipUri>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(q) = accept(query)?;
    let user = q.sipuri.trim_start_matches("sip:");
    let endpoint = if conn.host.starts_with("sipdir.") {
        "director"
    } else {
        "autodiscover"
    };
    let Some(record) = state.user(user) else {
        return Err(refuse(
            &state,
            &conn,
            endpoint,
            Some(user),
            Problem::not_found(format!("no user sip:{user} in this tenant")),
        ));
    };
    let pool = pool_fqdn(&record.home_pool);
    state.journal.record(
        &conn.host,
        endpoint,
        Some(user),
        JournalOutcome::Ok,
        format!("home pool {pool}"),
    );
    let access = Access {
        fqdn: pool,
        port: conn.https_port,
    };
    let doc = autodiscover::User {
        internal: access.clone(),
        external: access,
        redirect: None,
    };
    Ok(discover_reply(&headers, || doc.to_xml(), || doc.to_json()))
}

#[derive(Debug, Deserialize)]
struct Login {
    login: String,
}

/// `getuserrealm.srf`: the tenant's users are managed (the STS checks their passwords).
async fn realm(
    AxState(state): AxState<Shared>,
    query: Result<Query<Login>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(q) = accept(query)?;
    let domain = q.login.rsplit_once('@').map(|(_, d)| d).unwrap_or_default();
    let managed = domain.eq_ignore_ascii_case(&state.domain);
    let info = RealmInfo {
        login: q.login.clone(),
        domain: domain.to_owned(),
        namespace_type: if managed { "Managed" } else { "Unknown" }.into(),
        sts_auth_url: None,
    };
    Ok(xml_ok("text/xml; charset=utf-8", info.to_xml()))
}

/// An STS refusal, in the form Azure AD's RST2.srf gave: SOAP 1.2, Passport's error detail.
fn sts_fault(
    code: FaultCode,
    reason: &str,
    (value, internal_code): (&str, &str),
    text: String,
) -> SoapFault {
    SoapFault {
        version: SoapVersion::Soap12,
        code,
        reason: reason.into(),
        detail: Some(FaultDetail::Passport {
            value: value.into(),
            internal_code: internal_code.into(),
            internal_text: text,
        }),
    }
}

/// The STS: checks the request's timestamp (the sender's clock) against the service clock,
/// then the user and password, then the client's versions, and issues its token.
async fn token(
    AxState(state): AxState<Shared>,
    Extension(conn): Extension<ConnInfo>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    const EP: &str = "token";
    let body = accept(body)?;
    // Bytes that are not UTF-8 become replacement characters, which the parser then refuses
    // where markup is expected: the answer is the protocol's fault either way.
    let text = String::from_utf8_lossy(&body);
    let req = match TokenRequest::from_xml(&text) {
        Ok(r) => r,
        Err(e) => {
            return Ok(refuse_unreadable(
                &state,
                &conn,
                EP,
                SoapVersion::Soap12,
                &e,
                |why| {
                    sts_fault(
                        FaultCode::new(ns::WSSE, "InvalidSecurity"),
                        "An error was discovered processing the <wsse:Security> header",
                        ("0x80048821", "0x80048821"),
                        format!("the request is not a WS-Trust RST with a UsernameToken: {why}"),
                    )
                },
            ));
        }
    };
    let user = req.user.as_str();
    let (now_ms, tolerance) = (state.clock.now_ms(), state.clock.tolerance());
    let refuse = |code: FaultCode, reason: &str, codes: (&str, &str), text: String| {
        refuse_soap(
            &state,
            &conn,
            EP,
            Some(user),
            sts_fault(code, reason, codes, text),
        )
        .into_response()
    };
    let mut skew_note = String::from("no timestamp");
    if let Some(ts) = req.timestamp {
        let skew_ms = Skew::millis_between(ts.created_ms, now_ms);
        let skew = Skew::from_millis(skew_ms);
        if !Skew::millis_within(skew_ms, tolerance) {
            return Ok(refuse(
                FaultCode::new(ns::WSU, "MessageExpired"),
                "The message has expired",
                ("0x80048821", "0x80048821"),
                format!(
                    "STS rejected the request timestamp: skew {skew}, tolerance {}",
                    Skew(tolerance)
                ),
            ));
        }
        if let Err(reason) = check_lifetime("the request's timestamp", &ts, now_ms, tolerance) {
            return Ok(refuse(
                FaultCode::new(ns::WSU, "MessageExpired"),
                "The message has expired",
                ("0x80048821", "0x80048821"),
                format!("STS rejected the request timestamp: {reason}"),
            ));
        }
        skew_note = format!("skew {skew}");
    }
    if relying_party(&req.applies_to, conn.https_port).is_none() {
        // PPCRL_REQUEST_E_PARTNER_NOT_FOUND, 0x8004882A in IDCRL's table ("HRESULT success
        // and error codes", Lync Online SDK); the pairing with WS-Trust's InvalidScope (the
        // scope is the AppliesTo) is lyncsim's own.
        return Ok(refuse(
            FaultCode::new(ns::WST_2005, "InvalidScope"),
            "The request scope is invalid or unsupported",
            ("0x8004882A", "0x8004882A"),
            format!(
                "no relying party {:?}: this STS issues tokens for Lync's web authentication and its pools' web ticket services",
                req.applies_to
            ),
        ));
    }
    let Some(record) = state.user(user) else {
        return Ok(refuse(
            FaultCode::new(ns::WST_2005, "FailedAuthentication"),
            "Authentication Failure",
            ("0x80048821", "0x80041034"),
            format!("no user {user} in this tenant"),
        ));
    };
    if record.password != req.password {
        return Ok(refuse(
            FaultCode::new(ns::WST_2005, "FailedAuthentication"),
            "Authentication Failure",
            ("0x80048821", "0x80041012"),
            "the password is not correct (the entered and stored passwords do not match)".into(),
        ));
    }
    let agent = UserAgent::parse(
        headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default(),
    );
    if let Err(reason) = check_versions(&state, &agent) {
        return Ok(refuse(
            FaultCode::new(ns::WST_2005, "RequestFailed"),
            "The request failed",
            ("0x80048821", "0x80048821"),
            reason,
        ));
    }
    let (lifetime, token) = state
        .sts_key
        .issue(&record.address, &req.applies_to, now_ms)
        .map_err(|e| ApiError(Problem::internal(e.to_string())))?;
    state.journal.record(
        &conn.host,
        EP,
        Some(user),
        JournalOutcome::Ok,
        format!("token issued, {skew_note}"),
    );
    let response = TokenResponse {
        lifetime,
        applies_to: req.applies_to,
        token,
    };
    Ok(xml_ok(
        "application/soap+xml; charset=utf-8",
        response.to_xml(),
    ))
}

/// The STS accepts a Lync client, and Lync 2010 only through its Sign-In Assistant, only from
/// the minimum versions of the service's policy. Other agents are not Lync and pass.
fn check_versions(state: &State, agent: &UserAgent) -> Result<(), String> {
    let policy = state.policy();
    let Some((product, build)) = &agent.client else {
        return Ok(());
    };
    if let Some(min) = policy.min_build.get(product)
        && build < min
    {
        return Err(format!(
            "client {product} build {build} is older than the minimum build {min} this service accepts"
        ));
    }
    if product.uses_sign_in_assistant() {
        let Some(sia) = &agent.sign_in_assistant else {
            return Err("the request did not come through the Sign-In Assistant".into());
        };
        if *sia < policy.min_sign_in_assistant {
            return Err(format!(
                "Sign-In Assistant {sia} is older than the minimum version {} this service accepts",
                policy.min_sign_in_assistant
            ));
        }
    }
    Ok(())
}

/// A refusal of the pools' web services: SOAP 1.1 with the `OCSDiagnosticsFault` detail.
fn pool_fault(code: FaultCode, reason: &str, error_id: u32, why: String) -> SoapFault {
    SoapFault {
        version: SoapVersion::Soap11,
        code,
        reason: reason.into(),
        detail: Some(FaultDetail::Diagnostics {
            error_id,
            reason: why,
        }),
    }
}

/// The ms-diagnostics error ids of the pools' refusals (lyncsim's numbering).
pub(crate) mod diag {
    pub(crate) const MALFORMED: u32 = 28000;
    pub(crate) const TOKEN_INVALID: u32 = 28001;
    pub(crate) const TOKEN_TIME: u32 = 28002;
    pub(crate) const CLAIM: u32 = 28003;
    pub(crate) const AUDIENCE: u32 = 28004;
    pub(crate) const TICKET_INVALID: u32 = 28010;
    pub(crate) const TICKET_TIME: u32 = 28011;
    pub(crate) const SIGNATURE: u32 = 28012;
    pub(crate) const TIMESTAMP: u32 = 28013;
    pub(crate) const NO_USER: u32 = 28020;
    pub(crate) const ACCOUNT: u32 = 28021;
    pub(crate) const NOT_HOMED: u32 = 28022;
    pub(crate) const CSR: u32 = 28023;
    pub(crate) const SUBJECT: u32 = 28024;
    pub(crate) const OUTAGE: u32 = 28030;
    pub(crate) const CLIENT_VERSION: u32 = 28031;
    pub(crate) const CERTIFICATE: u32 = 28032;
    pub(crate) const HANDSHAKE: u32 = 28033;
}

fn malformed(why: String) -> SoapFault {
    pool_fault(
        FaultCode::new(ns::SOAP11, "Client"),
        "The message could not be processed",
        diag::MALFORMED,
        why,
    )
}

fn security_fault(error_id: u32, why: String) -> SoapFault {
    pool_fault(
        FaultCode::new(ns::WSSE, "InvalidSecurity"),
        "An error occurred when verifying security for the message.",
        error_id,
        why,
    )
}

/// The web ticket service's metadata.
async fn web_ticket_mex(Extension(conn): Extension<ConnInfo>) -> Response {
    let mex = WebTicketMex {
        ws_fed_bearer: format!("{}{}", base_url(&conn), paths::WS_FED_BEARER_PATH),
    };
    xml_ok(SOAP11_MEDIA, mex.to_xml())
}

/// Certificate provisioning's metadata: its signed port and the web ticket service it trusts.
async fn cert_prov_mex(Extension(conn): Extension<ConnInfo>) -> Response {
    let base = base_url(&conn);
    let mex = CertProvMex {
        web_ticket_service: format!("{base}{}", paths::WEB_TICKET_PATH),
        address: format!("{base}{}", paths::CERT_PROV_PROOF_PATH),
    };
    xml_ok(SOAP11_MEDIA, mex.to_xml())
}

/// The web ticket service: the STS's token (checked by the service clock within the tolerance)
/// and the client's entropy in; a SAML assertion with the proof key sealed in it and the
/// server's entropy out. Proof key = P_SHA1(client entropy, server entropy).
async fn web_ticket(
    AxState(state): AxState<Shared>,
    Extension(conn): Extension<ConnInfo>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    const EP: &str = "WebTicket";
    let body = accept(body)?;
    // Bytes that are not UTF-8 become replacement characters, which the parser then refuses
    // where markup is expected: the answer is the protocol's fault either way.
    let text = String::from_utf8_lossy(&body);
    let req = match WebTicketRequest::from_xml(&text) {
        Ok(r) => r,
        Err(e) => {
            return Ok(refuse_unreadable(
                &state,
                &conn,
                EP,
                SoapVersion::Soap11,
                &e,
                malformed,
            ));
        }
    };
    let claimed = req.claim.trim_start_matches("sip:").to_owned();
    let refuse =
        |fault: SoapFault| refuse_soap(&state, &conn, EP, Some(&claimed), fault).into_response();
    let assertion = match state.sts_key.open_token(&req.sts_token) {
        Ok(a) => a,
        Err(why) => return Ok(refuse(security_fault(diag::TOKEN_INVALID, why))),
    };
    let (now_ms, tolerance) = (state.clock.now_ms(), state.clock.tolerance());
    if let Err(why) = check_lifetime("the STS token", &assertion.lifetime, now_ms, tolerance) {
        return Ok(refuse(security_fault(diag::TOKEN_TIME, why)));
    }
    let for_here = relying_party(&assertion.audience, conn.https_port)
        .as_ref()
        .is_some_and(|party| party.admits(&conn.host));
    if !for_here {
        return Ok(refuse(security_fault(
            diag::AUDIENCE,
            format!(
                "the STS token was issued for {:?}, not for this web ticket service",
                assertion.audience
            ),
        )));
    }
    if !is_cert_provisioning_of(&req.applies_to, &conn.host, conn.https_port) {
        return Ok(refuse(pool_fault(
            FaultCode::new(ns::WST_13, "InvalidScope"),
            "The request scope is invalid or unsupported",
            diag::AUDIENCE,
            format!(
                "a web ticket for {:?}: this web ticket service issues tickets for {}'s certificate provisioning only",
                req.applies_to, conn.host
            ),
        )));
    }
    if !assertion.user.eq_ignore_ascii_case(&claimed) {
        return Ok(refuse(pool_fault(
            FaultCode::new(ns::WSSE, "FailedAuthentication"),
            "The security token could not be authenticated or authorized",
            diag::CLAIM,
            format!(
                "the token is for {}, the request claims sip:{claimed}",
                assertion.user
            ),
        )));
    }
    if req.entropy.len() < 16 {
        return Ok(refuse(malformed(format!(
            "the client entropy is {} bytes; at least 16 are needed",
            req.entropy.len()
        ))));
    }
    let mut server_entropy = vec![0u8; req.entropy.len()];
    rand::fill(server_entropy.as_mut_slice());
    let proof_key = lyncsim_wire::wsse::p_sha1(&req.entropy, &server_entropy, req.entropy.len());
    let mut ticket = WebTicket {
        assertion_id: format!("uuid-{}", lyncsim_wire::random_guid()),
        issuer: format!("{}{}", base_url(&conn), paths::WEB_TICKET_PATH),
        user: format!("sip:{}", assertion.user),
        lifetime: lyncsim_wire::wsse::Lifetime {
            created_ms: now_ms,
            expires_ms: now_ms.saturating_add(TICKET_LIFETIME_SECS * 1000),
        },
        key_cipher: Vec::new(),
    };
    state
        .sts_key
        .seal_proof_key(&mut ticket, &proof_key)
        .map_err(|e| ApiError(Problem::internal(e.to_string())))?;
    state.journal.record(
        &conn.host,
        EP,
        Some(&assertion.user),
        JournalOutcome::Ok,
        format!("web ticket {} issued", ticket.assertion_id),
    );
    Ok(xml_ok(
        SOAP11_MEDIA,
        WebTicketResponse::new(&ticket, server_entropy).to_xml(),
    ))
}

/// The user of a pool request: known, with a readable directory account (a damaged one can be
/// neither provisioned nor registered), and homed on the pool that was asked.
pub(crate) fn homed_here(
    state: &State,
    conn: &ConnInfo,
    user: &str,
) -> Result<crate::state::UserRecord, (u32, String)> {
    let record = state
        .user(user)
        .ok_or_else(|| (diag::NO_USER, format!("no user sip:{user}")))?;
    if record.corrupt {
        return Err((
            diag::ACCOUNT,
            format!(
                "the directory account of sip:{} is incomplete or corrupted (its Lync attributes cannot be read)",
                record.address
            ),
        ));
    }
    if record.home_pool != pool_of(conn) {
        return Err((
            diag::NOT_HOMED,
            format!("sip:{user} is not homed on {}", conn.host),
        ));
    }
    Ok(record)
}

fn pool_of(conn: &ConnInfo) -> &str {
    conn.host.split('.').next().unwrap_or_default()
}

/// GetAndPublishCert: the web ticket and the request's signature with its proof key checked,
/// then the user and the PKCS#10; a personal certificate out.
async fn get_and_publish_cert(
    AxState(state): AxState<Shared>,
    Extension(conn): Extension<ConnInfo>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    const EP: &str = "GetAndPublishCert";
    let body = accept(body)?;
    // Bytes that are not UTF-8 become replacement characters, which the parser then refuses
    // where markup is expected: the answer is the protocol's fault either way.
    let text = String::from_utf8_lossy(&body);
    let req = match ReceivedCertRequest::from_xml(&text) {
        Ok(r) => r,
        Err(e) => {
            return Ok(refuse_unreadable(
                &state,
                &conn,
                EP,
                SoapVersion::Soap11,
                &e,
                malformed,
            ));
        }
    };
    let user = req.ticket.user.trim_start_matches("sip:").to_owned();
    let refuse =
        |fault: SoapFault| refuse_soap(&state, &conn, EP, Some(&user), fault).into_response();
    let proof_key = match state.sts_key.open_proof_key(&req.ticket) {
        Ok(k) => k,
        Err(why) => return Ok(refuse(security_fault(diag::TICKET_INVALID, why))),
    };
    // The issuer is sealed with the proof key: a ticket of another pool's web ticket service
    // opens, and is refused here.
    let own_issuer = format!("{}{}", base_url(&conn), paths::WEB_TICKET_PATH);
    if req.ticket.issuer != own_issuer {
        return Ok(refuse(security_fault(
            diag::AUDIENCE,
            format!(
                "the web ticket was issued by {}, not by this pool's web ticket service",
                req.ticket.issuer
            ),
        )));
    }
    let (now_ms, tolerance) = (state.clock.now_ms(), state.clock.tolerance());
    if let Err(why) = check_lifetime("the web ticket", &req.ticket.lifetime, now_ms, tolerance) {
        return Ok(refuse(security_fault(diag::TICKET_TIME, why)));
    }
    if req.signature.key_identifier != req.ticket.assertion_id {
        return Ok(refuse(security_fault(
            diag::SIGNATURE,
            format!(
                "the signature names key {:?}, not the web ticket {:?}",
                req.signature.key_identifier, req.ticket.assertion_id
            ),
        )));
    }
    if let Err(e) = req.signature.verify(&proof_key) {
        return Ok(refuse(pool_fault(
            FaultCode::new(ns::WSSE, "FailedCheck"),
            "The signature or decryption was invalid",
            diag::SIGNATURE,
            e.to_string(),
        )));
    }
    // The signed Timestamp, by the service clock within the tolerance (WS-Security 1.0
    // section 10: a receiver may refuse a message whose timestamp has expired).
    if let Err(why) = check_lifetime("the request's timestamp", &req.timestamp, now_ms, tolerance) {
        return Ok(refuse(pool_fault(
            FaultCode::new(ns::WSU, "MessageExpired"),
            "The message has expired",
            diag::TIMESTAMP,
            why,
        )));
    }
    let client_fault = |id: u32, why: String| {
        refuse(pool_fault(
            FaultCode::new(ns::SOAP11, "Client"),
            "The certificate request was refused",
            id,
            why,
        ))
    };
    if let Err((id, why)) = homed_here(&state, &conn, &user) {
        return Ok(client_fault(id, why));
    }
    let requested = match lyncsim_pki::parse_csr(&req.csr_der) {
        Ok(r) => r,
        Err(e) => return Ok(client_fault(diag::CSR, e.to_string())),
    };
    // Lync writes the subject as the SIP URI, pidgin-sipe as the bare address: both name the
    // user.
    let expected = format!("sip:{user}");
    let named = requested.subject_cn.trim_start_matches("sip:");
    if !named.eq_ignore_ascii_case(&user) {
        return Ok(client_fault(
            diag::SUBJECT,
            format!(
                "the request's subject CN={} is not the signed-in user {expected}",
                requested.subject_cn
            ),
        ));
    }
    let ca = state.communications_server();
    let issued =
        match ca.issue_personal(&requested, state.clock.now(), state.personal_validity_secs) {
            Ok(i) => i,
            Err(e) => return Ok(client_fault(diag::CSR, e.to_string())),
        };
    let info = lyncsim_pki::inspect(&issued.der)
        .map_err(|e| ApiError(Problem::internal(e.to_string())))?;
    state
        .record_issued(IssuedLine {
            record: IssuedRecord {
                user: user.clone(),
                serial: info.serial.clone(),
                thumbprint: info.thumbprint.clone(),
                not_before: info.validity.not_before,
                not_after: info.validity.not_after,
            },
            pem: issued.pem.clone(),
        })
        .map_err(|e| {
            ApiError(Problem::internal(format!(
                "could not record the certificate: {e:#}"
            )))
        })?;
    state.journal.record(
        &conn.host,
        EP,
        Some(&user),
        JournalOutcome::Ok,
        format!(
            "issued certificate serial {} thumbprint {}",
            info.serial, info.thumbprint
        ),
    );
    Ok(xml_ok(
        SOAP11_MEDIA,
        CertResponse {
            cert_der: issued.der,
            request_id: req.request_id,
        }
        .to_xml(),
    ))
}
