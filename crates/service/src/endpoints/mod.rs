//! The handlers of the HTTPS hosts: Autodiscover ([`autodiscover`]), the realm lookup and the
//! STS ([`sts`]), the web ticket service ([`webticket`]) and certificate provisioning
//! ([`certprov`]); the registrar speaks SIP (`crate::registrar`). Each reads the real message
//! through `lyncsim_wire` (one extractor, [`refusal::SoapRequest`], for the SOAP ones), checks
//! what the real service checks, and refuses the way it did, saying why in the journal too. A
//! refusal at the HTTP level (no such path, a body too large) is a problem document.

mod autodiscover;
mod certprov;
mod refusal;
mod sts;
mod webticket;

use std::sync::Arc;

use axum::Router;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use lyncsim_wire::Problem;

use crate::conn::{ConnInfo, LIMITS};
use crate::hosts::Role;
use crate::outage::{OutageGuard, outage_middleware};
use crate::problem::{ApiError, method_not_allowed};
use crate::state::State;

pub(crate) type Shared = Arc<State>;

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
        Role::Webdir => autodiscover::routes().merge(webticket::routes()),
        // The director's web services: the web ticket service and certificate provisioning
        // its registrar's challenge names, for any user of the tenant.
        Role::Director => webticket::routes().merge(certprov::routes()),
        Role::Sts => sts::routes(),
        Role::Pool(_) => webticket::routes().merge(certprov::routes()),
    };
    finish(routes.fallback(not_found), state, guard)
}

/// The router of a host's plain HTTP (webdir's, that `lyncdiscover.<tenant>` reaches over
/// port 80): Autodiscover's root, which answers only a `Redirect` to HTTPS, and its Domain
/// resource, neither of which carries a secret. Nothing that takes or gives a token or a
/// ticket is served in cleartext: every other path is refused as IIS refuses a virtual
/// directory that requires SSL (403, its substatus 403.4 "SSL required"); the problem
/// document is lyncsim's.
pub(crate) fn plain_router(state: Shared, guard: OutageGuard) -> Router {
    finish(
        autodiscover::plain_routes().fallback(ssl_required),
        state,
        guard,
    )
}

async fn ssl_required() -> ApiError {
    ApiError(Problem::forbidden(
        "SSL is required to view this resource (403.4): only Autodiscover's root and Domain resources answer over plain HTTP",
    ))
}

/// A host's routes with the state, the body limit and the outage middleware.
fn finish(routes: Router<Shared>, state: Shared, guard: OutageGuard) -> Router {
    routes
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(state)
        .layer(axum::extract::DefaultBodyLimit::max(LIMITS.max_body_bytes))
        .layer(axum::middleware::from_fn_with_state(
            guard,
            outage_middleware,
        ))
}
