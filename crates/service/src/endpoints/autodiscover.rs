//! Autodiscover at `lyncdiscover.<tenant>` (webdir) and the director's User resource: where a
//! user signs in, their home pool ([MS-OCDISCWS]).

use std::collections::HashMap;

use axum::Router;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Extension, Query, State as AxState};
use axum::http::{HeaderMap, header};
use axum::response::Response;
use axum::routing::get;
use lyncsim_wire::ToXml;
use lyncsim_wire::admin::JournalOutcome;
use lyncsim_wire::autodiscover::{self, Access};
use lyncsim_wire::{Problem, paths};
use serde::Deserialize;

use super::{Shared, base_url, refuse, xml_ok};
use crate::conn::ConnInfo;
use crate::pools::pool_fqdn;
use crate::problem::{ApiError, accept};

/// Autodiscover's routes on webdir (`lyncdiscover.<tenant>`).
pub(super) fn routes() -> Router<Shared> {
    Router::new()
        .route("/", get(root))
        .route(paths::AUTODISCOVER, get(root))
        .route("/Autodiscover/AutodiscoverService.svc/root", get(root))
        .route(paths::AUTODISCOVER_USER, get(user))
        .route("/Autodiscover/AutodiscoverService.svc/root/user", get(user))
}

/// The director's route.
pub(super) fn director_routes() -> Router<Shared> {
    Router::new().route(paths::DIRECTOR, get(user))
}

/// Whether the client asked for JSON rather than XML.
fn wants_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("json"))
}

/// The document in the form the client asked for (only that one is written).
fn reply(
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
async fn root(
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
    Ok(reply(&headers, || root.to_xml(), || root.to_json()))
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
async fn user(
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
    Ok(reply(&headers, || doc.to_xml(), || doc.to_json()))
}
