//! A web ticket service ([MS-OCAUTHWS]), a pool's or Autodiscover's on webdir: its `mex`, and
//! the `WsFedBearer` port, which takes the STS's token (checked by the service clock within the
//! tolerance, for this web ticket service) and the client's entropy, and answers a SAML
//! assertion for the service it serves (the pool's certificate provisioning, Autodiscover's
//! User resource), with the proof key sealed in it, and the server's entropy.
//! Proof key = P_SHA1(client entropy, server entropy).

use axum::Router;
use axum::extract::{Extension, State as AxState};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use lyncsim_wire::admin::JournalOutcome;
use lyncsim_wire::pool::{WebTicket, WebTicketMex, WebTicketRequest, WebTicketResponse};
use lyncsim_wire::soap::{FaultCode, SoapFault, SoapVersion};
use lyncsim_wire::sts::StsAssertion;
use lyncsim_wire::xml::ns;
use lyncsim_wire::{ToXml, WireError, paths};

use super::refusal::{
    Endpoint, Refusal, SoapRequest, malformed, pool_fault, refused, security_fault,
};
use super::{SOAP11_MEDIA, Shared, base_url, xml_ok};
use crate::audience::{is_autodiscover_user_on, is_cert_provisioning_of, relying_party};
use crate::conn::ConnInfo;
use crate::diag;
use crate::hosts::WEBDIR;
use crate::state::State;
use crate::tokens::{TICKET_LIFETIME_SECS, check_lifetime};

/// The web ticket service's routes.
pub(super) fn routes() -> Router<Shared> {
    Router::new()
        .route(&format!("{}/mex", paths::WEB_TICKET_PATH), get(mex))
        .route(paths::WS_FED_BEARER_PATH, post(web_ticket))
}

/// The web ticket service's metadata.
async fn mex(Extension(conn): Extension<ConnInfo>) -> Response {
    let mex = WebTicketMex {
        ws_fed_bearer: format!("{}{}", base_url(&conn), paths::WS_FED_BEARER_PATH),
    };
    xml_ok(SOAP11_MEDIA, mex.to_xml())
}

impl Endpoint for WebTicketRequest {
    const NAME: &'static str = "WebTicket";
    const VERSION: SoapVersion = SoapVersion::Soap11;

    fn unreadable(_error: &WireError) -> SoapFault {
        malformed()
    }
}

/// The `WsFedBearer` port: a ticket, or the refusal.
async fn web_ticket(
    AxState(state): AxState<Shared>,
    Extension(conn): Extension<ConnInfo>,
    SoapRequest(req): SoapRequest<WebTicketRequest>,
) -> Response {
    let claimed = req.claim.trim_start_matches("sip:").to_owned();
    match issue(&state, &conn, &req) {
        Ok(answer) => answer,
        Err(refusal) => refused::<WebTicketRequest>(&state, &conn, Some(&claimed), refusal),
    }
}

/// The checks in order, then the ticket.
fn issue(state: &State, conn: &ConnInfo, req: &WebTicketRequest) -> Result<Response, Refusal> {
    let assertion = check_token(state, conn, req)?;
    if req.entropy.len() < 16 {
        return Err(Refusal::fault(
            malformed(),
            format!(
                "the client entropy is {} bytes; at least 16 are needed",
                req.entropy.len()
            ),
        ));
    }
    let mut server_entropy = vec![0u8; req.entropy.len()];
    rand::fill(server_entropy.as_mut_slice());
    let proof_key = lyncsim_wire::wsse::p_sha1(&req.entropy, &server_entropy, req.entropy.len());
    let now_ms = state.clock.now_ms();
    let mut ticket = WebTicket {
        assertion_id: format!("uuid-{}", lyncsim_wire::random_guid()),
        issuer: format!("{}{}", base_url(conn), paths::WEB_TICKET_PATH),
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
        .map_err(Refusal::internal)?;
    state.journal.record(
        &conn.host,
        WebTicketRequest::NAME,
        Some(&assertion.user),
        JournalOutcome::Ok,
        format!("web ticket {} issued", ticket.assertion_id),
    );
    let answer = WebTicketResponse::new(&ticket, server_entropy);
    Ok(xml_ok(SOAP11_MEDIA, answer.to_xml()).into_response())
}

/// Whether a ticket for `applies_to` is this web ticket service's to issue: on webdir, for
/// Autodiscover's User resource (on webdir or `lyncdiscover.<tenant>`); on a pool, for its
/// certificate provisioning.
fn serves(state: &State, conn: &ConnInfo, applies_to: &str) -> bool {
    if conn.host.eq_ignore_ascii_case(WEBDIR) {
        let alias = format!("lyncdiscover.{}", state.domain);
        is_autodiscover_user_on(applies_to, &[WEBDIR, &alias], conn.https_port)
    } else {
        is_cert_provisioning_of(applies_to, &conn.host, conn.https_port)
    }
}

/// The STS's token: this service's, within its lifetime by the service clock, issued for this
/// web ticket service; the request for this pool's certificate provisioning; the claim the
/// token's user.
fn check_token(
    state: &State,
    conn: &ConnInfo,
    req: &WebTicketRequest,
) -> Result<StsAssertion, Refusal> {
    let assertion = state
        .sts_key
        .open_token(&req.sts_token)
        .map_err(|why| security_fault(diag::TOKEN_INVALID, why))?;
    let (now_ms, tolerance) = (state.clock.now_ms(), state.clock.tolerance());
    check_lifetime("the STS token", &assertion.lifetime, now_ms, tolerance)
        .map_err(|why| security_fault(diag::TOKEN_TIME, why))?;
    let for_here = relying_party(&assertion.audience, conn.https_port)
        .is_some_and(|party| party.admits(&conn.host));
    if !for_here {
        return Err(security_fault(
            diag::AUDIENCE,
            format!(
                "the STS token was issued for {:?}, not for this web ticket service",
                assertion.audience
            ),
        ));
    }
    if !serves(state, conn, &req.applies_to) {
        return Err(pool_fault(
            FaultCode::new(ns::WST_13, "InvalidScope"),
            "The request scope is invalid or unsupported",
            diag::AUDIENCE,
            format!(
                "a web ticket for {:?}: this web ticket service issues tickets for {} only",
                req.applies_to,
                if conn.host.eq_ignore_ascii_case(WEBDIR) {
                    "Autodiscover's User resource".to_owned()
                } else {
                    format!("{}'s certificate provisioning", conn.host)
                }
            ),
        ));
    }
    let claimed = req.claim.trim_start_matches("sip:");
    if !assertion.user.eq_ignore_ascii_case(claimed) {
        return Err(pool_fault(
            FaultCode::new(ns::WSSE, "FailedAuthentication"),
            "The security token could not be authenticated or authorized",
            diag::CLAIM,
            format!(
                "the token is for {}, the request claims sip:{claimed}",
                assertion.user
            ),
        ));
    }
    Ok(assertion)
}
