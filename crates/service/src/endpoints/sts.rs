//! Azure AD's STS at `login.microsoftonline.com`: the realm lookup (`getuserrealm.srf`) and
//! `RST2.srf`, which checks the request's timestamp (the sender's clock) against the service
//! clock, what the token is for, the user and password, then the client's versions, and
//! issues its token. A refusal is SOAP 1.2 with Passport's error detail.

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
use lyncsim_wire::sts::{RealmInfo, TokenRequest, TokenResponse};
use lyncsim_wire::xml::ns;
use lyncsim_wire::{ToXml, WireError, paths};
use serde::Deserialize;

use super::refusal::{Endpoint, Refusal, SoapRequest, refused};
use super::{Shared, xml_ok};
use crate::audience::relying_party;
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

/// An STS refusal, in the form Azure AD's RST2.srf gave: SOAP 1.2, Passport's error detail
/// (`psf:value`, and the internal error's code and text).
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

impl Endpoint for TokenRequest {
    const NAME: &'static str = "token";
    const VERSION: SoapVersion = SoapVersion::Soap12;

    fn unreadable(error: &WireError) -> SoapFault {
        sts_fault(
            FaultCode::new(ns::WSSE, "InvalidSecurity"),
            "An error was discovered processing the <wsse:Security> header",
            ("0x80048821", "0x80048821"),
            format!("the request is not a WS-Trust RST with a UsernameToken: {error}"),
        )
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
        Err(refusal) => refused(&state, &conn, TokenRequest::NAME, Some(&req.user), refusal),
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
    let record = check_password(state, req)?;
    let agent = UserAgent::parse(
        headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default(),
    );
    check_versions(state, &agent).map_err(|reason| {
        sts_fault(
            FaultCode::new(ns::WST_2005, "RequestFailed"),
            "The request failed",
            ("0x80048821", "0x80048821"),
            reason,
        )
    })?;
    let (lifetime, token) = state
        .sts_key
        .issue(&record.address, &req.applies_to, state.clock.now_ms())
        .map_err(Refusal::internal)?;
    state.journal.record(
        &conn.host,
        TokenRequest::NAME,
        Some(&req.user),
        JournalOutcome::Ok,
        format!("token issued, {skew_note}"),
    );
    let response = TokenResponse {
        lifetime,
        applies_to: req.applies_to.clone(),
        token,
    };
    Ok(xml_ok("application/soap+xml; charset=utf-8", response.to_xml()).into_response())
}

/// The request's timestamp (the sender's clock) against the service clock, within the
/// tolerance; a request with none (pidgin-sipe sends none) is not clock-checked. Returns the
/// skew, for the journal.
fn check_timestamp(state: &State, req: &TokenRequest) -> Result<String, Refusal> {
    let Some(ts) = req.timestamp else {
        return Ok("no timestamp".into());
    };
    let (now_ms, tolerance) = (state.clock.now_ms(), state.clock.tolerance());
    let expired = |text: String| {
        sts_fault(
            FaultCode::new(ns::WSU, "MessageExpired"),
            "The message has expired",
            ("0x80048821", "0x80048821"),
            text,
        )
    };
    let skew_ms = Skew::millis_between(ts.created_ms, now_ms);
    let skew = Skew::from_millis(skew_ms);
    if !Skew::millis_within(skew_ms, tolerance) {
        return Err(expired(format!(
            "STS rejected the request timestamp: skew {skew}, tolerance {}",
            Skew(tolerance)
        ))
        .into());
    }
    if let Err(reason) = check_lifetime("the request's timestamp", &ts, now_ms, tolerance) {
        return Err(expired(format!("STS rejected the request timestamp: {reason}")).into());
    }
    Ok(format!("skew {skew}"))
}

/// That the token is for one of this STS's relying parties.
fn check_relying_party(conn: &ConnInfo, req: &TokenRequest) -> Result<(), Refusal> {
    if relying_party(&req.applies_to, conn.https_port).is_some() {
        return Ok(());
    }
    // PPCRL_REQUEST_E_PARTNER_NOT_FOUND, 0x8004882A in IDCRL's table ("HRESULT success and
    // error codes", Lync Online SDK); the pairing with WS-Trust's InvalidScope (the scope is
    // the AppliesTo) is lyncsim's own.
    Err(sts_fault(
        FaultCode::new(ns::WST_2005, "InvalidScope"),
        "The request scope is invalid or unsupported",
        ("0x8004882A", "0x8004882A"),
        format!(
            "no relying party {:?}: this STS issues tokens for Lync's web authentication and its pools' web ticket services",
            req.applies_to
        ),
    )
    .into())
}

/// The user, and the password they typed.
fn check_password(state: &State, req: &TokenRequest) -> Result<UserRecord, Refusal> {
    let failed = |internal: &str, text: String| {
        sts_fault(
            FaultCode::new(ns::WST_2005, "FailedAuthentication"),
            "Authentication Failure",
            ("0x80048821", internal),
            text,
        )
    };
    let Some(record) = state.user(&req.user) else {
        return Err(failed("0x80041034", format!("no user {} in this tenant", req.user)).into());
    };
    if record.password != req.password {
        return Err(failed(
            "0x80041012",
            "the password is not correct (the entered and stored passwords do not match)".into(),
        )
        .into());
    }
    Ok(record)
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
