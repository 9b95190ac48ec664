//! A pool's certificate provisioning ([MS-OCAUTHWS]): its `mex`, and `GetAndPublishCert`,
//! which takes a PKCS#10 signed with a web ticket's proof key. It checks the ticket (this
//! pool's, within its lifetime), the signature and the signed timestamp, then the user and
//! the request, and issues the personal certificate. A refusal of the security header is a
//! SOAP fault; a refusal of the request itself is `ErrorInfo` in the response.

use axum::Router;
use axum::extract::{Extension, State as AxState};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use lyncsim_pki::RequestedCert;
use lyncsim_wire::admin::JournalOutcome;
use lyncsim_wire::pool::{CertErrorInfo, CertProvMex, CertResponse, ReceivedCertRequest};
use lyncsim_wire::soap::{FaultCode, SoapFault, SoapVersion};
use lyncsim_wire::xml::ns;
use lyncsim_wire::{ToXml, WireError, paths};

use super::refusal::{
    Endpoint, Refusal, SoapRequest, malformed, pool_fault, refused, security_fault,
};
use super::{SOAP11_MEDIA, Shared, base_url, xml_ok};
use crate::conn::ConnInfo;
use crate::diag;
use crate::directory::homed_here;
use crate::state::{IssuedLine, IssuedRecord, MAX_ISSUED_PER_MINUTE, State};
use crate::tokens::check_lifetime;

/// Certificate provisioning's routes.
pub(super) fn routes() -> Router<Shared> {
    Router::new()
        .route(&format!("{}/mex", paths::CERT_PROV_PATH), get(mex))
        .route(paths::CERT_PROV_PROOF_PATH, post(get_and_publish_cert))
}

/// Certificate provisioning's metadata: its signed port and the web ticket service it trusts.
async fn mex(Extension(conn): Extension<ConnInfo>) -> Response {
    let base = base_url(&conn);
    let mex = CertProvMex {
        web_ticket_service: format!("{base}{}", paths::WEB_TICKET_PATH),
        address: format!("{base}{}", paths::CERT_PROV_PROOF_PATH),
    };
    xml_ok(SOAP11_MEDIA, mex.to_xml())
}

impl Endpoint for ReceivedCertRequest {
    const NAME: &'static str = "GetAndPublishCert";
    const VERSION: SoapVersion = SoapVersion::Soap11;

    fn unreadable(_error: &WireError) -> SoapFault {
        malformed()
    }
}

/// GetAndPublishCert: a personal certificate, or the refusal.
async fn get_and_publish_cert(
    AxState(state): AxState<Shared>,
    Extension(conn): Extension<ConnInfo>,
    SoapRequest(req): SoapRequest<ReceivedCertRequest>,
) -> Response {
    let user = req.ticket.user.trim_start_matches("sip:").to_owned();
    match issue(&state, &conn, &user, req) {
        Ok(answer) => answer,
        Err(refusal) => refused::<ReceivedCertRequest>(&state, &conn, Some(&user), refusal),
    }
}

/// The checks in order, then the certificate, recorded before it is handed out.
fn issue(
    state: &State,
    conn: &ConnInfo,
    user: &str,
    req: ReceivedCertRequest,
) -> Result<Response, Refusal> {
    check_signed(state, conn, &req)?;
    let requested = check_request(state, conn, user, &req)?;
    state
        .reserve_issuance(user, state.clock.now_ms())
        .map_err(|wait| {
            refused_request(
                diag::TOO_MANY,
                format!(
                    "more than {MAX_ISSUED_PER_MINUTE} certificates were issued to sip:{user} within a minute; try again in {wait}s"
                ),
            )
        })?;
    let ca = state.communications_server();
    let issued = ca
        .issue_personal(&requested, state.clock.now(), state.personal_validity_secs)
        .map_err(|e| refused_request(diag::CSR, e.to_string()))?;
    let info = lyncsim_pki::inspect(&issued.der).map_err(Refusal::internal)?;
    state
        .record_issued(IssuedLine {
            record: IssuedRecord {
                user: user.to_owned(),
                serial: info.serial.clone(),
                thumbprint: info.thumbprint.clone(),
                not_before: info.validity.not_before,
                not_after: info.validity.not_after,
            },
            pem: issued.pem.clone(),
        })
        .map_err(|e| Refusal::internal(format!("could not record the certificate: {e:#}")))?;
    state.journal.record(
        &conn.host,
        ReceivedCertRequest::NAME,
        Some(user),
        JournalOutcome::Ok,
        format!(
            "issued certificate serial {} thumbprint {}",
            info.serial, info.thumbprint
        ),
    );
    let answer = CertResponse {
        cert_der: issued.der,
        request_id: req.request_id,
    };
    Ok(xml_ok(SOAP11_MEDIA, answer.to_xml()).into_response())
}

/// The web ticket (this service's, issued by this pool, within its lifetime), the signature
/// made with its proof key, and the signed timestamp, by the service clock within the
/// tolerance.
fn check_signed(state: &State, conn: &ConnInfo, req: &ReceivedCertRequest) -> Result<(), Refusal> {
    let proof_key = state
        .sts_key
        .open_proof_key(&req.ticket)
        .map_err(|why| security_fault(diag::TICKET_INVALID, why))?;
    // The issuer is sealed with the proof key: a ticket of another pool's web ticket service
    // opens, and is refused here.
    let own_issuer = format!("{}{}", base_url(conn), paths::WEB_TICKET_PATH);
    if req.ticket.issuer != own_issuer {
        return Err(security_fault(
            diag::AUDIENCE,
            format!(
                "the web ticket was issued by {}, not by this pool's web ticket service",
                req.ticket.issuer
            ),
        ));
    }
    let (now_ms, tolerance) = (state.clock.now_ms(), state.clock.tolerance());
    check_lifetime("the web ticket", &req.ticket.lifetime, now_ms, tolerance)
        .map_err(|why| security_fault(diag::TICKET_TIME, why))?;
    if req.signature.key_identifier != req.ticket.assertion_id {
        return Err(security_fault(
            diag::SIGNATURE,
            format!(
                "the signature names key {:?}, not the web ticket {:?}",
                req.signature.key_identifier, req.ticket.assertion_id
            ),
        ));
    }
    req.signature.verify(&proof_key).map_err(|e| {
        pool_fault(
            FaultCode::new(ns::WSSE, "FailedCheck"),
            "The signature or decryption was invalid",
            diag::SIGNATURE,
            e.to_string(),
        )
    })?;
    // WS-Security 1.0 section 10: a receiver may refuse a message whose timestamp expired.
    check_lifetime("the request's timestamp", &req.timestamp, now_ms, tolerance).map_err(
        |why| {
            pool_fault(
                FaultCode::new(ns::WSU, "MessageExpired"),
                "The message has expired",
                diag::TIMESTAMP,
                why,
            )
        },
    )?;
    Ok(())
}

/// A refusal of the certificate request itself: `ErrorInfo` in the response, with HTTP 200
/// ([MS-OCAUTHWS] 3.1.4.1: "SOAP faults SHOULD NOT be used"), carrying `id` and its one
/// reason ([`diag::reason`]); `why`, the precise reason, is the journal's. What failed before
/// the operation (the message, its security header) stays a SOAP fault, as WS-Security has it.
fn refused_request(id: u32, why: String) -> Refusal {
    let info = CertErrorInfo {
        error_id: id,
        reason: diag::reason(id).to_owned(),
    };
    Refusal::Answer {
        answer: Box::new(xml_ok(SOAP11_MEDIA, info.to_xml())),
        why,
    }
}

/// The user (known, a readable account, homed here) and the PKCS#10 (acceptable, for them).
fn check_request(
    state: &State,
    conn: &ConnInfo,
    user: &str,
    req: &ReceivedCertRequest,
) -> Result<RequestedCert, Refusal> {
    homed_here(state, conn, user).map_err(|not| refused_request(not.id, not.why))?;
    let requested = lyncsim_pki::parse_csr(&req.csr_der)
        .map_err(|e| refused_request(diag::CSR, e.to_string()))?;
    // Lync writes the subject as the SIP URI, pidgin-sipe as the bare address: both name the
    // user.
    let named = requested.subject_cn.trim_start_matches("sip:");
    if !named.eq_ignore_ascii_case(user) {
        return Err(refused_request(
            diag::SUBJECT,
            format!(
                "the request's subject CN={} is not the signed-in user sip:{user}",
                requested.subject_cn
            ),
        ));
    }
    Ok(requested)
}
