//! The one error answer of every HTTP endpoint: a [`Problem`] document, made a response here
//! and nowhere else.

use axum::Json;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use lyncsim_wire::Problem;

/// The media type of a problem document (RFC 9457).
pub(crate) const PROBLEM_JSON: &str = "application/problem+json";

/// A problem document as an HTTP response: the one place a problem becomes a status.
#[derive(Debug)]
pub(crate) struct ApiError(pub(crate) Problem);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status =
            StatusCode::from_u16(self.0.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut response = (status, Json(self.0)).into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            header::HeaderValue::from_static(PROBLEM_JSON),
        );
        response
    }
}

/// A problem document as the bytes of a whole HTTP/1.1 answer that closes the connection, with
/// `headers` besides its own: for what is answered below hyper (a parse error hyper answered
/// bodyless, a connection that found no place).
pub(crate) fn problem_bytes(problem: &Problem, headers: &[(&str, String)]) -> Vec<u8> {
    let body = serde_json::to_vec(problem).unwrap_or_default();
    let reason = StatusCode::from_u16(problem.status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("Bad Request");
    let mut head = format!(
        "HTTP/1.1 {} {reason}\r\ncontent-type: {PROBLEM_JSON}\r\n",
        problem.status
    );
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str(&format!(
        "content-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    ));
    let mut out = head.into_bytes();
    out.extend_from_slice(&body);
    out
}

/// An extractor's rejection: what axum says, and the status it chose (400, or 413 for a body
/// over the limit, 415 for a body that is not JSON).
pub(crate) trait Rejection {
    /// The status axum chose.
    fn status(&self) -> StatusCode;
    /// axum's text.
    fn text(&self) -> String;
}

macro_rules! rejection {
    ($($t:ty),*) => {$(
        impl Rejection for $t {
            fn status(&self) -> StatusCode {
                <$t>::status(self)
            }
            fn text(&self) -> String {
                self.body_text()
            }
        }
    )*};
}

rejection!(
    axum::extract::rejection::BytesRejection,
    axum::extract::rejection::JsonRejection,
    axum::extract::rejection::QueryRejection,
    axum::extract::rejection::PathRejection
);

/// Unwraps an extractor, turning its rejection into a problem with axum's status.
pub(crate) fn accept<T>(extracted: Result<T, impl Rejection>) -> Result<T, ApiError> {
    extracted.map_err(|e| {
        let text = e.text();
        ApiError(match e.status() {
            StatusCode::PAYLOAD_TOO_LARGE => Problem::too_large(text),
            StatusCode::UNSUPPORTED_MEDIA_TYPE => Problem::bad_request(format!(
                "{text}; send the body as JSON with Content-Type: application/json"
            )),
            _ => Problem::bad_request(text),
        })
    })
}

/// The answer to a method the path does not take.
pub(crate) async fn method_not_allowed() -> ApiError {
    ApiError(Problem::method_not_allowed(
        "this path does not take that method",
    ))
}

/// A JSON body labelled `Content-Type: application/json` (the admin API's bodies). The label
/// is required: a web page may send a form or `text/plain` to any address without asking, but
/// a browser sends `application/json` across origins only after a preflight that the admin API
/// never grants, so no page a browser shows can change the service.
#[derive(Debug)]
pub(crate) struct JsonBody<T>(pub(crate) T);

/// Whether `value` names the media type `application/json` (parameters such as `charset`
/// allowed).
pub(crate) fn is_json(value: Option<&header::HeaderValue>) -> bool {
    value
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|media| media.trim().eq_ignore_ascii_case("application/json"))
}

impl<S: Send + Sync, T: serde::de::DeserializeOwned> axum::extract::FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Self, ApiError> {
        if !is_json(req.headers().get(header::CONTENT_TYPE)) {
            return Err(ApiError(Problem::unsupported_media_type(
                "the admin API takes JSON labelled Content-Type: application/json (with curl: -H 'content-type: application/json')",
            )));
        }
        let bytes = accept(axum::body::Bytes::from_request(req, state).await)?;
        serde_json::from_slice(&bytes).map(JsonBody).map_err(|e| {
            ApiError(Problem::bad_request(format!(
                "the body is not the JSON this endpoint takes: {e}"
            )))
        })
    }
}
