//! How the protocol's endpoints read a request and refuse one: [`SoapRequest`], the one
//! extractor that reads a body, parses the endpoint's message and answers what does not read
//! with the endpoint's fault; [`Refusal`] and [`refused`], which journal why and answer with
//! the fault (or, when the service itself failed, a problem document); and the faults the
//! pools' web services refuse with.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use lyncsim_wire::admin::JournalOutcome;
use lyncsim_wire::soap::{FaultCode, FaultDetail, SoapFault, SoapVersion};
use lyncsim_wire::xml::ns;
use lyncsim_wire::{FromXml, Problem, ToXml, WireError};

use super::Shared;
use crate::conn::ConnInfo;
use crate::diag;
use crate::problem::{ApiError, accept};
use crate::state::State;

/// A SOAP fault as the HTTP answer: 500, as both SOAP bindings say for a fault.
pub(super) struct Soap(pub(super) SoapFault);

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

/// Why a request of the protocol is refused: the protocol's own fault, with the reason a
/// person reads in the journal (which may say more than the wire does: the skew in seconds,
/// the minimum build), or, when the service itself failed, a problem.
pub(super) enum Refusal {
    Fault {
        fault: Box<SoapFault>,
        why: String,
    },
    /// An answer of the operation's own that says no (GetAndPublishCert's `ErrorInfo`).
    Answer {
        answer: Box<Response>,
        why: String,
    },
    Internal(Box<Problem>),
}

impl From<SoapFault> for Refusal {
    /// A fault whose detail says all there is to say: the journal reads it.
    fn from(fault: SoapFault) -> Refusal {
        let why = match &fault.detail {
            Some(FaultDetail::Passport { internal_text, .. }) => internal_text.trim().to_owned(),
            Some(FaultDetail::Diagnostics { reason, .. }) => reason.clone(),
            None => fault.reason.clone(),
        };
        Refusal::Fault {
            fault: Box::new(fault),
            why,
        }
    }
}

impl Refusal {
    /// The protocol's `fault`, with `why` in the journal.
    pub(super) fn fault(fault: SoapFault, why: impl Into<String>) -> Refusal {
        Refusal::Fault {
            fault: Box::new(fault),
            why: why.into(),
        }
    }

    /// The service failed (not the request): 500 with a problem document.
    pub(super) fn internal(why: impl std::fmt::Display) -> Refusal {
        Refusal::Internal(Box::new(Problem::internal(why.to_string())))
    }
}

/// Records a refusal of endpoint `T` in the journal (its reason, for a person) and answers
/// with it, in `T`'s way.
pub(super) fn refused<T: Endpoint>(
    state: &State,
    conn: &ConnInfo,
    user: Option<&str>,
    refusal: Refusal,
) -> Response {
    let why = match &refusal {
        Refusal::Fault { why, .. } | Refusal::Answer { why, .. } => why.clone(),
        Refusal::Internal(problem) => problem.detail.clone(),
    };
    state
        .journal
        .record(&conn.host, T::NAME, user, JournalOutcome::Rejected, why);
    match refusal {
        Refusal::Fault { fault, .. } => T::answer(*fault, state),
        Refusal::Answer { answer, .. } => *answer,
        Refusal::Internal(problem) => ApiError(*problem).into_response(),
    }
}

/// A message an endpoint of the protocol takes.
pub(super) trait Endpoint: FromXml + Send {
    /// The endpoint's name in the journal.
    const NAME: &'static str;
    /// The SOAP it speaks.
    const VERSION: SoapVersion;
    /// The fault it answers a body that does not read as this message with (a header block
    /// it must understand and does not is SOAP's `MustUnderstand` at every endpoint).
    fn unreadable(error: &WireError) -> SoapFault;
    /// How it answers with a fault: by default as both SOAP bindings say, with HTTP 500.
    fn answer(fault: SoapFault, _state: &State) -> Response {
        Soap(fault).into_response()
    }
}

/// The endpoint's message, read from the request's body: a body too large is a problem
/// document; one that does not read as `T` is `T`'s fault, with the reason in the journal.
pub(super) struct SoapRequest<T>(pub(super) T);

impl<T: Endpoint> FromRequest<Shared> for SoapRequest<T> {
    type Rejection = Response;

    async fn from_request(req: Request, state: &Shared) -> Result<Self, Response> {
        let Some(conn) = req.extensions().get::<ConnInfo>().cloned() else {
            return Err(
                ApiError(Problem::internal("a request without its connection")).into_response(),
            );
        };
        let body =
            accept(Bytes::from_request(req, state).await).map_err(IntoResponse::into_response)?;
        // Bytes that are not UTF-8 become replacement characters, which the parser then
        // refuses where markup is expected: the answer is the protocol's fault either way.
        let text = String::from_utf8_lossy(&body);
        T::from_xml(&text).map(SoapRequest).map_err(|e| {
            let fault = match &e {
                WireError::NotUnderstood(_) => SoapFault::must_understand(T::VERSION),
                _ => T::unreadable(&e),
            };
            state.journal.record(
                &conn.host,
                T::NAME,
                None,
                JournalOutcome::Rejected,
                e.to_string(),
            );
            T::answer(fault, state)
        })
    }
}

/// A refusal of the pools' web services: SOAP 1.1 with the `OCSDiagnosticsFault` detail,
/// `error_id` and its one reason ([`diag::reason`]); `why`, the precise reason, is the
/// journal's.
pub(super) fn pool_fault(code: FaultCode, reason: &str, error_id: u32, why: String) -> Refusal {
    Refusal::fault(diagnostics_fault(code, reason, error_id), why)
}

/// The SOAP 1.1 fault of `error_id` with `OCSDiagnosticsFault`.
fn diagnostics_fault(code: FaultCode, reason: &str, error_id: u32) -> SoapFault {
    SoapFault {
        version: SoapVersion::Soap11,
        code,
        reason: reason.into(),
        detail: Some(FaultDetail::Diagnostics {
            error_id,
            reason: diag::reason(error_id).to_owned(),
        }),
    }
}

/// A pool's answer to what is not its message (the journal has what did not read).
pub(super) fn malformed() -> SoapFault {
    diagnostics_fault(
        FaultCode::new(ns::SOAP11, "Client"),
        "The message could not be processed",
        diag::MALFORMED,
    )
}

/// A pool's answer to a token, ticket or signature it does not accept.
pub(super) fn security_fault(error_id: u32, why: String) -> Refusal {
    pool_fault(
        FaultCode::new(ns::WSSE, "InvalidSecurity"),
        "An error occurred when verifying security for the message.",
        error_id,
        why,
    )
}
