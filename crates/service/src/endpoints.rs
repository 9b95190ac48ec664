//! The handlers of the HTTPS hosts: Autodiscover, the director, the STS, GetAndPublishCert and
//! the registrar. Each checks what the real service checks and says why it refused, both to
//! the client (a problem document) and in the journal.

use std::sync::Arc;

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Extension, Query, State as AxState};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine;
use lyncsim_domain::Skew;
use lyncsim_wire::{
    CertRequest, CertResponse, HomePool, Outcome, Problem, RegisterRequest, Registered,
    TokenRequest, TokenResponse, paths,
};
use serde::Deserialize;

use crate::conn::{ConnInfo, LIMITS};
use crate::hosts::Role;
use crate::outage::{OutageGuard, outage_middleware};
use crate::pools::pool_fqdn;
use crate::problem::{ApiError, accept, method_not_allowed};
use crate::state::{IssuedRecord, State};

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
        Outcome::Rejected,
        problem.detail.clone(),
    );
    ApiError(problem)
}

async fn not_found() -> ApiError {
    ApiError(Problem::not_found("no such endpoint on this host"))
}

/// The router of one host.
pub(crate) fn router(role: &Role, state: Shared, guard: OutageGuard) -> Router {
    let routes = match role {
        Role::Webdir => Router::new().route(paths::AUTODISCOVER, get(home_pool)),
        Role::Director => Router::new().route(paths::DIRECTOR, get(home_pool)),
        Role::Sts => Router::new().route(paths::TOKEN, post(token)),
        Role::Pool(_) => Router::new()
            .route(paths::GET_AND_PUBLISH_CERT, post(get_and_publish_cert))
            .route(paths::REGISTER, post(register)),
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

#[derive(Debug, Deserialize)]
struct SipUri {
    sipuri: String,
}

/// Autodiscover and the director: where is this user homed?
async fn home_pool(
    AxState(state): AxState<Shared>,
    Extension(conn): Extension<ConnInfo>,
    query: Result<Query<SipUri>, QueryRejection>,
) -> Result<Json<HomePool>, ApiError> {
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
        Outcome::Ok,
        format!("home pool {pool}"),
    );
    Ok(Json(HomePool {
        user: record.address,
        pool,
    }))
}

/// The STS: checks the request's timestamp against the service clock, then the password, and
/// issues a signed token.
async fn token(
    AxState(state): AxState<Shared>,
    Extension(conn): Extension<ConnInfo>,
    body: Result<Json<TokenRequest>, JsonRejection>,
) -> Result<Json<TokenResponse>, ApiError> {
    let Json(req) = accept(body)?;
    let user = req.user.as_str();
    let (now_ms, tolerance) = (state.clock.now_ms(), state.clock.tolerance());
    let now = now_ms.div_euclid(1000);
    let skew_ms = Skew::millis_between(req.timestamp_ms, now_ms);
    let skew = Skew::from_millis(skew_ms);
    if !Skew::millis_within(skew_ms, tolerance) {
        return Err(refuse(
            &state,
            &conn,
            "token",
            Some(user),
            Problem::unauthorized(format!(
                "STS rejected the request timestamp: skew {skew}, tolerance {}",
                Skew(tolerance)
            )),
        ));
    }
    let Some(record) = state.user(user) else {
        return Err(refuse(
            &state,
            &conn,
            "token",
            Some(user),
            Problem::unauthorized(format!("no user {user} in this tenant")),
        ));
    };
    if record.password != req.password {
        return Err(refuse(
            &state,
            &conn,
            "token",
            Some(user),
            Problem::unauthorized("the password is not correct"),
        ));
    }
    if let Err(reason) = check_versions(&state, &req) {
        return Err(refuse(
            &state,
            &conn,
            "token",
            Some(user),
            Problem::forbidden(reason),
        ));
    }
    let (token, claims) = state
        .sts_key
        .issue(&record.address, now)
        .map_err(|e| ApiError(Problem::internal(e.to_string())))?;
    state.journal.record(
        &conn.host,
        "token",
        Some(user),
        Outcome::Ok,
        format!("token issued, skew {skew}"),
    );
    Ok(Json(TokenResponse {
        token,
        expires: claims.exp,
    }))
}

/// The STS accepts a client, and for Lync 2010 its Sign-In Assistant, only from the minimum
/// versions of the service's policy.
fn check_versions(state: &State, req: &TokenRequest) -> Result<(), String> {
    let policy = state.policy();
    let product = req.client.product;
    if let Some(min) = policy.min_build.get(&product)
        && req.client.build < *min
    {
        return Err(format!(
            "client {product} build {} is older than the minimum build {min} this service accepts",
            req.client.build
        ));
    }
    if product.uses_sign_in_assistant() {
        let Some(sia) = &req.sign_in_assistant else {
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

/// The user of a pool request: known, with a readable directory account (a damaged one can be
/// neither provisioned nor registered), and homed on the pool that was asked.
fn homed_here(
    state: &State,
    conn: &ConnInfo,
    user: &str,
) -> Result<crate::state::UserRecord, Problem> {
    let record = state
        .user(user)
        .ok_or_else(|| Problem::not_found(format!("no user sip:{user}")))?;
    if record.corrupt {
        return Err(Problem::forbidden(format!(
            "the directory account of sip:{} is incomplete or corrupted (its Lync attributes cannot be read)",
            record.address
        )));
    }
    if record.home_pool != pool_of(conn) {
        return Err(Problem::forbidden(format!(
            "sip:{user} is not homed on {}",
            conn.host
        )));
    }
    Ok(record)
}

fn pool_of(conn: &ConnInfo) -> &str {
    conn.host.split('.').next().unwrap_or_default()
}

/// GetAndPublishCert: a token and a CSR in, a personal certificate out.
async fn get_and_publish_cert(
    AxState(state): AxState<Shared>,
    Extension(conn): Extension<ConnInfo>,
    headers: HeaderMap,
    body: Result<Json<CertRequest>, JsonRejection>,
) -> Result<Response, ApiError> {
    const EP: &str = "GetAndPublishCert";
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    let Some(bearer) = bearer else {
        return Err(refuse(
            &state,
            &conn,
            EP,
            None,
            Problem::unauthorized("no bearer token"),
        ));
    };
    let claims = state
        .sts_key
        .verify(bearer, state.clock.now(), state.clock.tolerance())
        .map_err(|reason| refuse(&state, &conn, EP, None, Problem::unauthorized(reason)))?;
    let user = claims.sub.as_str();
    let refuse_user = |problem: Problem| refuse(&state, &conn, EP, Some(user), problem);
    let bad_request = |e: lyncsim_pki::PkiError| refuse_user(Problem::bad_request(e.to_string()));
    let Json(req) = accept(body)?;
    homed_here(&state, &conn, user).map_err(refuse_user)?;
    let der = match (&req.csr_pem, &req.csr_der_base64) {
        (Some(pem), None) => lyncsim_pki::pem_decode("CERTIFICATE REQUEST", pem),
        (None, Some(b64)) => base64::engine::general_purpose::STANDARD
            .decode(b64.trim())
            .map_err(|e| {
                lyncsim_pki::PkiError::BadRequest(format!("csr_der_base64 is not base64: {e}"))
            }),
        _ => Err(lyncsim_pki::PkiError::BadRequest(
            "give exactly one of csr_pem and csr_der_base64".into(),
        )),
    }
    .map_err(&bad_request)?;
    let requested = lyncsim_pki::parse_csr(&der).map_err(&bad_request)?;
    let expected = format!("sip:{user}");
    if !requested.subject_cn.eq_ignore_ascii_case(&expected) {
        return Err(refuse_user(Problem::forbidden(format!(
            "the request's subject CN={} is not the signed-in user {expected}",
            requested.subject_cn
        ))));
    }
    let ca = state.communications_server();
    let now = state.clock.now();
    let issued = ca
        .issue_personal(&requested, now, state.personal_validity_secs)
        .map_err(&bad_request)?;
    let info = lyncsim_pki::inspect(&issued.der)
        .map_err(|e| ApiError(Problem::internal(e.to_string())))?;
    state
        .record_issued(IssuedRecord {
            user: user.to_owned(),
            serial: info.serial.clone(),
            thumbprint: info.thumbprint.clone(),
            not_before: info.validity.not_before,
            not_after: info.validity.not_after,
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
        Some(user),
        Outcome::Ok,
        format!(
            "issued certificate serial {} thumbprint {}",
            info.serial, info.thumbprint
        ),
    );
    Ok(Json(CertResponse {
        certificate_pem: issued.pem,
        issuer_pem: ca.cert_pem(),
    })
    .into_response())
}

/// REGISTER: the TLS handshake already verified the certificate; this checks that it is the
/// user's and that the user is homed here.
async fn register(
    AxState(state): AxState<Shared>,
    Extension(conn): Extension<ConnInfo>,
    body: Result<Json<RegisterRequest>, JsonRejection>,
) -> Result<Json<Registered>, ApiError> {
    const EP: &str = "register";
    let Json(req) = accept(body)?;
    let user = req.user.trim_start_matches("sip:");
    let Some(cert) = &conn.peer_cert else {
        return Err(refuse(
            &state,
            &conn,
            EP,
            Some(user),
            Problem::unauthorized("no client certificate was presented"),
        ));
    };
    let info = lyncsim_pki::inspect(cert).map_err(|e| {
        refuse(
            &state,
            &conn,
            EP,
            Some(user),
            Problem::unauthorized(e.to_string()),
        )
    })?;
    if !info.subject_cn.eq_ignore_ascii_case(&format!("sip:{user}")) {
        return Err(refuse(
            &state,
            &conn,
            EP,
            Some(user),
            Problem::forbidden(format!(
                "the certificate is for {}, not sip:{user}",
                info.subject_cn
            )),
        ));
    }
    let record =
        homed_here(&state, &conn, user).map_err(|p| refuse(&state, &conn, EP, Some(user), p))?;
    state.journal.record(
        &conn.host,
        EP,
        Some(user),
        Outcome::Ok,
        format!("registered with certificate {}", info.thumbprint),
    );
    Ok(Json(Registered {
        user: record.address,
        pool: conn.host.clone(),
        expires_secs: 3600,
    }))
}
