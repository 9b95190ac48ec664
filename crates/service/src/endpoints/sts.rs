//! Azure AD's STS at `login.microsoftonline.com`: the realm lookup (`getuserrealm.srf`) and
//! `RST2.srf`, which checks the request's timestamp (the sender's clock) against the service
//! clock, what the token is for, the user and password, then the client's versions, and
//! issues its token. A refusal is HTTP 200 with a SOAP 1.2 fault carrying Passport's error
//! detail, and every answer Passport's header with the service clock's time.

use axum::Router;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Extension, Query, State as AxState};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use lyncsim_domain::Skew;
use lyncsim_wire::admin::JournalOutcome;
use lyncsim_wire::agent::UserAgent;
use lyncsim_wire::soap::{FaultCode, FaultDetail, SoapFault, SoapVersion};
use lyncsim_wire::sts::{RealmInfo, SOAP12_MEDIA, StsFault, TokenRequest, TokenResponse, idcrl};
use lyncsim_wire::xml::ns;
use lyncsim_wire::{ToXml, WireError, paths};
use serde::Deserialize;

use super::refusal::{Endpoint, Refusal, SoapRequest, refused};
use super::{Shared, xml_ok};
use crate::audience::relying_party;
use crate::config::check_address;
use crate::conn::ConnInfo;
use crate::problem::{ApiError, accept};
use crate::state::{State, UserRecord};
use crate::tokens::check_lifetime;

/// The STS's routes.
pub(super) fn routes() -> Router<Shared> {
    Router::new()
        .route(paths::REALM, get(realm))
        .route(paths::TOKEN, post(token))
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

/// A fault in the form Azure AD's RST2.srf gave: SOAP 1.2 with Passport's error detail,
/// `psf:value` the IDCRL code of the refusal, and the internal error's code and text.
fn passport_fault(
    code: FaultCode,
    reason: &str,
    (value, internal_code): (&str, &str),
    text: &str,
) -> SoapFault {
    SoapFault {
        version: SoapVersion::Soap12,
        code,
        reason: reason.into(),
        detail: Some(FaultDetail::Passport {
            value: value.into(),
            internal_code: internal_code.into(),
            internal_text: text.into(),
        }),
    }
}

/// An STS refusal: what the wire says is Passport's ([`passport_fault`]); `why`, for the
/// journal, is lyncsim's precise reason.
fn sts_refusal(
    code: FaultCode,
    reason: &str,
    codes: (&str, &str),
    text: &str,
    why: String,
) -> Refusal {
    Refusal::fault(passport_fault(code, reason, codes, text), why)
}

impl Endpoint for TokenRequest {
    const NAME: &'static str = "token";
    const VERSION: SoapVersion = SoapVersion::Soap12;

    /// PPCRL_REQUEST_E_MISSING_PRIMARY_CREDENTIAL: no member name and password to check (the
    /// pairing and the text are lyncsim's own). A timestamp that expires before it is created
    /// holds no time at all: it is refused as a timestamp outside the time the STS accepts.
    fn unreadable(error: &WireError) -> SoapFault {
        if let WireError::Window(_) = error {
            return timestamp_fault();
        }
        passport_fault(
            FaultCode::new(ns::WSSE, "InvalidSecurity"),
            "An error was discovered processing the <wsse:Security> header",
            (
                idcrl::MISSING_PRIMARY_CREDENTIAL,
                idcrl::MISSING_PRIMARY_CREDENTIAL,
            ),
            "The request does not carry a member name and password.",
        )
    }

    /// HTTP 200, with Passport's header and the service clock's time, as RST2.srf answered
    /// every request (pidgin-sipe reads a fault's text only from a 200).
    fn answer(fault: SoapFault, state: &State) -> Response {
        let answer = StsFault {
            fault,
            server_time_ms: state.clock.now_ms(),
        };
        xml_ok(SOAP12_MEDIA, answer.to_xml())
    }
}

/// `RST2.srf`: the token, or the refusal.
async fn token(
    AxState(state): AxState<Shared>,
    Extension(conn): Extension<ConnInfo>,
    headers: HeaderMap,
    SoapRequest(req): SoapRequest<TokenRequest>,
) -> Response {
    match issue(&state, &conn, &headers, &req) {
        Ok(answer) => answer,
        Err(refusal) => refused::<TokenRequest>(&state, &conn, Some(&req.user), refusal),
    }
}

/// The checks in the STS's order, then the token.
fn issue(
    state: &State,
    conn: &ConnInfo,
    headers: &HeaderMap,
    req: &TokenRequest,
) -> Result<Response, Refusal> {
    let skew_note = check_timestamp(state, req)?;
    check_relying_party(conn, req)?;
    let record = check_member(state, req)?;
    let agent = UserAgent::parse(
        headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default(),
    );
    check_versions(state, &agent).map_err(|why| {
        // PPCRL_REQUEST_E_CLIENT_DEPRECATED; the text is lyncsim's own.
        sts_refusal(
            FaultCode::new(ns::WST_2005, "RequestFailed"),
            "The request failed",
            (idcrl::CLIENT_DEPRECATED, idcrl::CLIENT_DEPRECATED),
            "This version of the client is no longer supported.",
            why,
        )
    })?;
    let now_ms = state.clock.now_ms();
    let (lifetime, token) = state
        .sts_key
        .issue(&record.address, &req.applies_to, now_ms)
        .map_err(Refusal::internal)?;
    state.journal.record(
        &conn.host,
        TokenRequest::NAME,
        Some(&req.user),
        JournalOutcome::Ok,
        format!("token issued, {skew_note}"),
    );
    let response = TokenResponse {
        server_time_ms: now_ms,
        lifetime,
        applies_to: req.applies_to.clone(),
        token,
    };
    Ok(xml_ok(SOAP12_MEDIA, response.to_xml()).into_response())
}

/// The request's timestamp (the sender's clock) against the service clock, within the
/// tolerance; a request with none (pidgin-sipe sends none) is not clock-checked. Returns the
/// skew, for the journal. A refusal is PPCRL_REQUEST_E_INVALID_SERVICE_TIMESTAMP under
/// WS-Security's `MessageExpired` (the pairing and the text are lyncsim's own); the skew and
/// the tolerance are the journal's, not the wire's.
fn check_timestamp(state: &State, req: &TokenRequest) -> Result<String, Refusal> {
    let Some(ts) = req.timestamp else {
        return Ok("no timestamp".into());
    };
    let (now_ms, tolerance) = (state.clock.now_ms(), state.clock.tolerance());
    let expired = |why: String| Refusal::fault(timestamp_fault(), why);
    let skew_ms = Skew::millis_between(ts.created_ms, now_ms);
    let skew = Skew::from_millis(skew_ms);
    if !Skew::millis_within(skew_ms, tolerance) {
        return Err(expired(format!(
            "STS rejected the request timestamp: skew {skew}, tolerance {}",
            Skew(tolerance)
        )));
    }
    if let Err(reason) = check_lifetime("the request's timestamp", &ts, now_ms, tolerance) {
        return Err(expired(format!(
            "STS rejected the request timestamp: {reason}"
        )));
    }
    Ok(format!("skew {skew}"))
}

/// The STS's refusal of a request timestamp: PPCRL_REQUEST_E_INVALID_SERVICE_TIMESTAMP under
/// WS-Security's `MessageExpired` (the pairing and the text are lyncsim's own).
fn timestamp_fault() -> SoapFault {
    passport_fault(
        FaultCode::new(ns::WSU, "MessageExpired"),
        "The message has expired",
        (
            idcrl::INVALID_SERVICE_TIMESTAMP,
            idcrl::INVALID_SERVICE_TIMESTAMP,
        ),
        "The request's timestamp is outside the time this server accepts.",
    )
}

/// That the token is for one of this STS's relying parties.
fn check_relying_party(conn: &ConnInfo, req: &TokenRequest) -> Result<(), Refusal> {
    if relying_party(&req.applies_to, conn.https_port).is_some() {
        return Ok(());
    }
    // PPCRL_REQUEST_E_PARTNER_NOT_FOUND; the pairing with WS-Trust's InvalidScope (the scope
    // is the AppliesTo) and the text are lyncsim's own.
    Err(sts_refusal(
        FaultCode::new(ns::WST_2005, "InvalidScope"),
        "The request scope is invalid or unsupported",
        (idcrl::PARTNER_NOT_FOUND, idcrl::PARTNER_NOT_FOUND),
        "The service the token is requested for is not known to this server.",
        format!(
            "no relying party {:?}: this STS issues tokens for Lync's web authentication, its pools' web ticket services, SharePoint Online and Dynamics CRM Online",
            req.applies_to
        ),
    ))
}

/// The member name (a well-formed address of this tenant) and the password typed. A wrong
/// password is answered in Passport's own words (PP_E_BAD_PASSWORD under
/// PPCRL_REQUEST_E_BAD_MEMBER_NAME_OR_PASSWORD); a name that is not an address, or that no
/// user has, is PPCRL_REQUEST_E_INVALID_MEMBER_NAME (the pairing and the two texts are
/// lyncsim's own).
fn check_member(state: &State, req: &TokenRequest) -> Result<UserRecord, Refusal> {
    let failed = |codes: (&str, &str), text: &str, why: String| {
        sts_refusal(
            FaultCode::new(ns::WST_2005, "FailedAuthentication"),
            "Authentication Failure",
            codes,
            text,
            why,
        )
    };
    let own_domain = req
        .user
        .rsplit_once('@')
        .map(|(_, d)| d)
        .unwrap_or_default();
    if let Err(e) = check_address(&req.user, own_domain) {
        return Err(failed(
            (idcrl::INVALID_MEMBER_NAME, idcrl::INVALID_MEMBER_NAME),
            "The member name is not valid.",
            format!("{e}"),
        ));
    }
    let Some(record) = state.user(&req.user) else {
        return Err(failed(
            (idcrl::INVALID_MEMBER_NAME, idcrl::INVALID_MEMBER_NAME),
            "The member name does not exist.",
            format!("no user {} in this tenant", req.user),
        ));
    };
    if record.password != req.password {
        return Err(failed(
            (idcrl::BAD_MEMBER_NAME_OR_PASSWORD, idcrl::PP_E_BAD_PASSWORD),
            idcrl::BAD_PASSWORD_TEXT,
            "the password is not correct (the entered and stored passwords do not match)".into(),
        ));
    }
    Ok(record)
}

/// The STS accepts Lync 2010 only through its Sign-In Assistant, and that only from the
/// policy's minimum version (the Sign-In Assistant is the STS's own client: KB 2604176 has an
/// outdated one fail the sign-in, and Office 365 Desktop Setup update it). Lync's own build is
/// not the STS's to judge: the registrar blocks an outdated one ([MS-SIPREGE] 3.4.2.5.6).
/// Other agents are not Lync and pass.
fn check_versions(state: &State, agent: &UserAgent) -> Result<(), String> {
    let policy = state.policy();
    let Some((product, _)) = &agent.client else {
        return Ok(());
    };
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
