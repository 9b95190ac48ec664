//! The admin API: plain HTTP on its own loopback port. Health, the CA certificates, the
//! journal, the users, the clock and the trusted time source.
//!
//! No web page can drive it ([`guard`]): a request must name the API by its loopback address
//! (`Host`), come from no other origin (`Origin`, `Sec-Fetch-Site`), carry its body as
//! `application/json` ([`JsonBody`]), and, when the service was given a token, present it.

use axum::extract::State as AxState;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use lyncsim_wire::Problem;
use lyncsim_wire::admin::{
    ClockSettings, ClockUpdate, JournalEntry, NewUser, ServiceInfo, TimeResponse, UserView,
};
use serde::Serialize;

use crate::clock::rfc3339;
use std::sync::Arc;

use axum::extract::Path;
use lyncsim_wire::admin::{Fault, FaultRecord};

use crate::conn::LIMITS;
use crate::faults::Faults;
use crate::pools::{pool_fqdn, pool_name};
use crate::problem::{ApiError, JsonBody, accept, method_not_allowed};
use crate::state::UserRecord;

#[derive(Clone)]
pub(crate) struct Admin {
    pub(crate) faults: Arc<Faults>,
    pub(crate) info: ServiceInfo,
    /// The bearer token every request must present, when the service was given one.
    pub(crate) token: Option<Arc<str>>,
}

pub(crate) fn router(admin: Admin) -> Router {
    let port = admin
        .info
        .admin_url
        .rsplit_once(':')
        .and_then(|(_, p)| p.parse().ok())
        .unwrap_or(0);
    let guarded = Guard {
        port,
        token: admin.token.clone(),
    };
    Router::new()
        .route("/", get(info))
        .route("/health", get(health))
        .route("/ca/root.pem", get(root_pem))
        .route("/ca/communications-server.pem", get(cs_pem))
        .route("/journal", get(journal))
        .route("/certificates", get(certificates))
        .route("/users", get(users).post(add_user))
        .route("/clock", get(clock).put(set_clock))
        .route("/time", get(time))
        .route("/faults", get(faults).post(add_fault).delete(clear_faults))
        .route("/faults/{id}", axum::routing::delete(remove_fault))
        .fallback(|| async { ApiError(Problem::not_found("no such admin endpoint")) })
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::extract::DefaultBodyLimit::max(LIMITS.max_body_bytes))
        .layer(axum::middleware::from_fn_with_state(guarded, guard))
        .with_state(admin)
}

/// What [`guard`] checks a request against: the API's own port and its token.
#[derive(Clone)]
struct Guard {
    port: u16,
    token: Option<Arc<str>>,
}

/// Refuses what a web page could send: a `Host` that is not the API's loopback address (a
/// name that a DNS rebinding pointed at loopback), an `Origin` other than the API's own, a
/// browser's `Sec-Fetch-Site` saying another site sent it; and, when the service has a token,
/// a request without `Authorization: Bearer <token>` (compared in constant time).
async fn guard(
    AxState(g): AxState<Guard>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    match g.check(req.headers()) {
        Ok(()) => next.run(req).await,
        Err(problem) => {
            let unauthorized = problem.status == 401;
            let mut response = ApiError(problem).into_response();
            if unauthorized {
                response.headers_mut().insert(
                    header::WWW_AUTHENTICATE,
                    header::HeaderValue::from_static("Bearer realm=\"lyncsim admin\""),
                );
            }
            response
        }
    }
}

impl Guard {
    fn check(&self, headers: &header::HeaderMap) -> Result<(), Problem> {
        let text = |name: header::HeaderName| {
            headers
                .get(&name)
                .map(|v| v.to_str().unwrap_or("\u{fffd}").to_owned())
        };
        let host = text(header::HOST).unwrap_or_default();
        if !self.is_own(&host) {
            return Err(Problem::forbidden(format!(
                "Host {host:?} is not this admin API's address: it answers only requests to its loopback address (127.0.0.0/8, [::1] or localhost, port {})",
                self.port
            )));
        }
        if let Some(origin) = text(header::ORIGIN)
            && !origin
                .strip_prefix("http://")
                .is_some_and(|o| self.is_own(o) && o.contains(':'))
        {
            return Err(Problem::forbidden(format!(
                "a request from the origin {origin:?} is refused: the admin API takes requests from no web page"
            )));
        }
        if let Some(site) = text(header::HeaderName::from_static("sec-fetch-site"))
            && !matches!(site.as_str(), "same-origin" | "none")
        {
            return Err(Problem::forbidden(format!(
                "a request a browser sent from another site (Sec-Fetch-Site: {site}) is refused"
            )));
        }
        let Some(token) = &self.token else {
            return Ok(());
        };
        let given = text(header::AUTHORIZATION).unwrap_or_default();
        let presented = given.strip_prefix("Bearer ").unwrap_or_default().trim();
        if aws_lc_rs::constant_time::verify_slices_are_equal(presented.as_bytes(), token.as_bytes())
            .is_err()
        {
            return Err(Problem::unauthorized(
                "this service's admin API wants its token: Authorization: Bearer <token> (lyncsim's commands send the LYNCSIM_ADMIN_TOKEN environment variable)",
            ));
        }
        Ok(())
    }

    /// Whether `authority` (`host[:port]`) names this API: a loopback address or `localhost`,
    /// and this port when it gives one.
    fn is_own(&self, authority: &str) -> bool {
        lyncsim_wire::loopback_authority(authority)
            .is_some_and(|port| port.is_none_or(|p| p == self.port))
    }
}

/// How to reach the service, with each host's address as DNS gives it now (a `change-dns`
/// fault moves one).
async fn info(AxState(a): AxState<Admin>) -> Json<ServiceInfo> {
    let mut info = a.info;
    for (host, ip) in info.hosts.iter_mut() {
        if let Some(now) = a.faults.network.address(host) {
            *ip = now;
        }
    }
    Json(info)
}

/// Every host was bound before the admin API started serving, so reaching this handler means
/// every host accepts connections.
async fn health(AxState(a): AxState<Admin>) -> Json<serde_json::Value> {
    Json(serde_json::json!({ "status": "ok", "hosts": a.info.hosts }))
}

fn pem(body: String) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/x-pem-file")], body)
}

async fn root_pem(AxState(a): AxState<Admin>) -> impl IntoResponse {
    pem(a.faults.state.public_root.cert_pem())
}

async fn cs_pem(AxState(a): AxState<Admin>) -> impl IntoResponse {
    pem(a.faults.state.communications_server().cert_pem())
}

async fn journal(AxState(a): AxState<Admin>) -> Json<Vec<JournalEntry>> {
    Json(a.faults.state.journal.entries())
}

#[derive(Serialize)]
struct IssuedView {
    user: String,
    serial: String,
    thumbprint: String,
    not_before: String,
    not_after: String,
}

async fn certificates(AxState(a): AxState<Admin>) -> Json<Vec<IssuedView>> {
    Json(
        a.faults
            .state
            .issued()
            .into_iter()
            .map(|r| IssuedView {
                user: r.user,
                serial: r.serial,
                thumbprint: r.thumbprint,
                not_before: rfc3339(r.not_before),
                not_after: rfc3339(r.not_after),
            })
            .collect(),
    )
}

async fn users(AxState(a): AxState<Admin>) -> Json<Vec<UserView>> {
    Json(a.faults.state.users())
}

async fn add_user(
    AxState(a): AxState<Admin>,
    JsonBody(new): JsonBody<NewUser>,
) -> Result<(StatusCode, Json<UserView>), ApiError> {
    crate::config::check_address(&new.address, &a.faults.state.domain)
        .and_then(|()| crate::config::check_password(&new.password))
        .map_err(|e| ApiError(Problem::bad_request(e.to_string())))?;
    let pool = pool_name(new.home_pool.as_deref().unwrap_or("pool-a"))
        .map_err(|e| ApiError(Problem::bad_request(e.to_string())))?;
    let record = UserRecord {
        address: new.address.clone(),
        password: new.password,
        home_pool: pool.to_owned(),
        corrupt: false,
    };
    match a.faults.state.add_user(record) {
        Ok(true) => Ok((
            StatusCode::CREATED,
            Json(UserView {
                address: new.address,
                home_pool: pool_fqdn(pool),
            }),
        )),
        Ok(false) => Err(ApiError(Problem::conflict(format!(
            "user {} exists",
            new.address
        )))),
        Err(e) => Err(ApiError(Problem::internal(format!("{e:#}")))),
    }
}

async fn clock(AxState(a): AxState<Admin>) -> Json<ClockSettings> {
    Json(a.faults.state.clock.settings())
}

async fn set_clock(
    AxState(a): AxState<Admin>,
    JsonBody(update): JsonBody<ClockUpdate>,
) -> Result<Json<ClockSettings>, ApiError> {
    let mut settings = a.faults.state.clock.settings();
    if let Some(offset) = update.offset_secs {
        settings.offset_secs = offset;
    }
    if let Some(tolerance) = update.tolerance_secs {
        settings.tolerance_secs = tolerance;
    }
    a.faults
        .state
        .clock
        .set(settings)
        .map_err(|reason| ApiError(Problem::bad_request(reason.to_string())))?;
    Ok(Json(settings))
}

async fn time(AxState(a): AxState<Admin>) -> Json<TimeResponse> {
    let now_ms = a.faults.state.clock.now_ms();
    let now = now_ms.div_euclid(1000);
    Json(TimeResponse {
        unix: now,
        unix_ms: now_ms,
        rfc3339: rfc3339(now),
    })
}

async fn faults(AxState(a): AxState<Admin>) -> Json<Vec<FaultRecord>> {
    Json(a.faults.list().await)
}

async fn add_fault(
    AxState(a): AxState<Admin>,
    JsonBody(fault): JsonBody<Fault>,
) -> Result<(StatusCode, Json<FaultRecord>), ApiError> {
    let record = a.faults.apply(fault).await.map_err(ApiError)?;
    Ok((StatusCode::CREATED, Json(record)))
}

async fn remove_fault(
    AxState(a): AxState<Admin>,
    id: Result<Path<u64>, axum::extract::rejection::PathRejection>,
) -> Result<Json<FaultRecord>, ApiError> {
    let Path(id) = accept(id)?;
    Ok(Json(a.faults.remove(id).await.map_err(ApiError)?))
}

async fn clear_faults(AxState(a): AxState<Admin>) -> Result<Json<Vec<FaultRecord>>, ApiError> {
    Ok(Json(a.faults.clear().await.map_err(ApiError)?))
}
