//! Autodiscover at `lyncdiscover.<tenant>` (webdir): where a user signs in, their home pool ([MS-OCDISCWS]). Over HTTPS the root links to the User and
//! Domain resources (3.1.5.2); over plain HTTP it answers a single `Redirect` to the HTTPS root
//! of webdir, the next hop; an unknown user is a 404 with an empty body (3.1.5.3).

use std::collections::HashMap;

use axum::Router;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Extension, Query, State as AxState};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use lyncsim_wire::ToXml;
use lyncsim_wire::admin::JournalOutcome;
use lyncsim_wire::autodiscover::{self, Access, SipAccess};
use lyncsim_wire::paths;
use lyncsim_wire::pool::WebTicket;

/// The header that carries a web ticket to Autodiscover's User resource.
const WEB_TICKET_HEADER: &str = "x-ms-webticket";
/// The header of a 401 of the User resource that names the web ticket service.
const WEB_TICKET_URL_HEADER: &str = "x-ms-webticketurl";
use serde::Deserialize;

use super::{Shared, base_url, xml_ok};
use crate::conn::ConnInfo;
use crate::hosts::DIRECTOR;
use crate::pools::pool_fqdn;
use crate::problem::{ApiError, accept};
use crate::state::State;
use crate::tokens::check_lifetime;

/// Autodiscover's routes on webdir (`lyncdiscover.<tenant>`).
pub(super) fn routes() -> Router<Shared> {
    plain_routes()
        .route(paths::AUTODISCOVER_USER, get(user))
        .route("/Autodiscover/AutodiscoverService.svc/root/user", get(user))
}

/// Autodiscover's routes over plain HTTP: the root (a `Redirect` to HTTPS) and the Domain
/// resource; the User resource, which wants a web ticket, is HTTPS only.
pub(super) fn plain_routes() -> Router<Shared> {
    Router::new()
        .route("/", get(root))
        .route(paths::AUTODISCOVER, get(root))
        .route("/Autodiscover/AutodiscoverService.svc/root", get(root))
        .route(paths::AUTODISCOVER_DOMAIN, get(domain))
        .route(
            "/Autodiscover/AutodiscoverService.svc/root/domain",
            get(domain),
        )
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

/// The Autodiscover root. Over HTTPS: links to the User and Domain resources (the `sipuri`
/// carried along), on the name the client asked for; over plain HTTP: a single `Redirect` to
/// the HTTPS root of webdir, as [MS-OCDISCWS] 3.1.5.2 has it.
async fn root(
    AxState(state): AxState<Shared>,
    Extension(conn): Extension<ConnInfo>,
    headers: HeaderMap,
    query: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(q) = accept(query)?;
    let sipuri = q
        .get("sipuri")
        .map(|uri| format!("?sipuri={}", percent(uri)))
        .unwrap_or_default();
    if !conn.secure {
        let to = format!("{}{}{sipuri}", base_url(&conn), paths::AUTODISCOVER);
        state.journal.record(
            &conn.host,
            "autodiscover",
            q.get("sipuri").map(|u| u.trim_start_matches("sip:")),
            JournalOutcome::Ok,
            format!("plain HTTP: Redirect to {to}"),
        );
        let root = autodiscover::Root {
            user: None,
            domain: None,
            redirect: Some(to),
        };
        return Ok(reply(&headers, || root.to_xml(), || root.to_json()));
    }
    // The links name the host the client asked for (lyncdiscover.<domain> is an alias here).
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .map(|h| h.split(':').next().unwrap_or(h).to_owned())
        .unwrap_or_else(|| conn.host.clone());
    let base = base_url(&ConnInfo { host, ..conn });
    let root = autodiscover::Root {
        user: Some(format!("{base}{}{sipuri}", paths::AUTODISCOVER_USER)),
        domain: Some(format!("{base}{}{sipuri}", paths::AUTODISCOVER_DOMAIN)),
        redirect: None,
    };
    Ok(reply(&headers, || root.to_xml(), || root.to_json()))
}

/// The Domain resource ([MS-OCDISCWS] 3.1.5.4): always 200, naming the topology's director
/// (which access a Domain document names is lyncsim's own choice).
async fn domain(Extension(conn): Extension<ConnInfo>, headers: HeaderMap) -> Response {
    let director = Access {
        fqdn: DIRECTOR.into(),
        port: conn.https_port,
    };
    let doc = autodiscover::Domain {
        access: SipAccess {
            internal: director.clone(),
            external: director,
        },
    };
    reply(&headers, || doc.to_xml(), || doc.to_json())
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

/// The web ticket service that Autodiscover's User resource sends a client to.
fn web_ticket_service(conn: &ConnInfo) -> String {
    format!("{}{}", base_url(conn), paths::WEB_TICKET_PATH)
}

/// The User resource's check of the `X-MS-WebTicket` a client sent ([MS-OCDISCWS] 3.1.5.3):
/// a ticket of webdir's own web ticket service, unchanged, within its lifetime by the service
/// clock, for the user asked about. Without one the answer is [`challenge`]; a ticket that was
/// sent and refused is journaled with why (the first challenge, like the registrar's, is not).
fn authenticated(state: &State, conn: &ConnInfo, headers: &HeaderMap, user: &str) -> bool {
    let Some(sent) = headers
        .get(WEB_TICKET_HEADER)
        .map(|v| v.to_str().unwrap_or_default())
    else {
        return false;
    };
    let own = web_ticket_service(conn);
    let checked = WebTicket::from_header(sent)
        .map_err(|e| e.to_string())
        .and_then(|ticket| {
            state.sts_key.open_proof_key(&ticket)?;
            if ticket.issuer != own {
                return Err(format!(
                    "the web ticket was issued by {}, not by {own}",
                    ticket.issuer
                ));
            }
            check_lifetime(
                "the web ticket",
                &ticket.lifetime,
                state.clock.now_ms(),
                state.clock.tolerance(),
            )?;
            let named = ticket.user.trim_start_matches("sip:");
            if !named.eq_ignore_ascii_case(user) {
                return Err(format!(
                    "the web ticket is for sip:{named}, not for sip:{user}"
                ));
            }
            Ok(())
        });
    match checked {
        Ok(()) => true,
        Err(why) => {
            state.journal.record(
                &conn.host,
                "autodiscover",
                Some(user),
                JournalOutcome::Rejected,
                format!("X-MS-WebTicket refused: {why}"),
            );
            false
        }
    }
}

/// 401, naming the web ticket service to get a ticket from in `X-MS-WebTicketURL` (the header
/// pidgin-sipe's `sipe_lync_autodiscover_cb` reads).
fn challenge(conn: &ConnInfo) -> Response {
    (
        StatusCode::UNAUTHORIZED,
        [(WEB_TICKET_URL_HEADER, web_ticket_service(conn))],
    )
        .into_response()
}

/// The User resource: where this user signs in, their home pool.
async fn user(
    AxState(state): AxState<Shared>,
    Extension(conn): Extension<ConnInfo>,
    headers: HeaderMap,
    query: Result<Query<SipUri>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(q) = accept(query)?;
    let user = q.sipuri.trim_start_matches("sip:");
    let endpoint = "autodiscover";
    if !authenticated(&state, &conn, &headers, user) {
        return Ok(challenge(&conn));
    }
    let Some(record) = state.user(user) else {
        // [MS-OCDISCWS] 3.1.5.3: an unknown user is a 404 with an empty body; the journal
        // says why.
        state.journal.record(
            &conn.host,
            endpoint,
            Some(user),
            JournalOutcome::Rejected,
            format!("no user sip:{user} in this tenant"),
        );
        return Ok(StatusCode::NOT_FOUND.into_response());
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
        access: Some(SipAccess {
            internal: access.clone(),
            external: access,
        }),
        redirect: None,
    };
    Ok(reply(&headers, || doc.to_xml(), || doc.to_json()))
}
