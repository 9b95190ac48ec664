//! The one error body of every HTTP-level refusal and of the admin API: an RFC 7807 problem
//! document, built by constructors, mapped to an HTTP status at the edge only.

use serde::{Deserialize, Serialize};

/// An RFC 7807 problem document: the one error body every endpoint uses.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Problem {
    /// A URN naming the kind of problem (`urn:lyncsim:problem:bad-request`).
    #[serde(rename = "type")]
    pub kind: String,
    /// A short, fixed summary of the kind.
    pub title: String,
    /// The HTTP status.
    pub status: u16,
    /// What exactly was wrong, for a person.
    pub detail: String,
}

impl Problem {
    fn new(kind: &str, title: &str, status: u16, detail: impl Into<String>) -> Self {
        Problem {
            kind: format!("urn:lyncsim:problem:{kind}"),
            title: title.to_owned(),
            status,
            detail: detail.into(),
        }
    }

    /// 400: the request could not be understood.
    pub fn bad_request(detail: impl Into<String>) -> Self {
        Self::new("bad-request", "Bad request", 400, detail)
    }
    /// 401: the credentials or token were not accepted.
    pub fn unauthorized(detail: impl Into<String>) -> Self {
        Self::new("unauthorized", "Unauthorized", 401, detail)
    }
    /// 403: understood and refused.
    pub fn forbidden(detail: impl Into<String>) -> Self {
        Self::new("forbidden", "Forbidden", 403, detail)
    }
    /// 404: no such user or resource.
    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new("not-found", "Not found", 404, detail)
    }
    /// 405: the path does not take this method.
    pub fn method_not_allowed(detail: impl Into<String>) -> Self {
        Self::new("method-not-allowed", "Method not allowed", 405, detail)
    }
    /// 408: the request did not arrive in time.
    pub fn request_timeout(detail: impl Into<String>) -> Self {
        Self::new("request-timeout", "Request timeout", 408, detail)
    }
    /// 413: the body is larger than the endpoint takes.
    pub fn too_large(detail: impl Into<String>) -> Self {
        Self::new("too-large", "Content too large", 413, detail)
    }
    /// 415: the body is not of the media type the endpoint takes.
    pub fn unsupported_media_type(detail: impl Into<String>) -> Self {
        Self::new(
            "unsupported-media-type",
            "Unsupported media type",
            415,
            detail,
        )
    }
    /// 414: the request target is longer than the service reads.
    pub fn uri_too_long(detail: impl Into<String>) -> Self {
        Self::new("uri-too-long", "URI too long", 414, detail)
    }
    /// 431: the request's header is larger than the service reads.
    pub fn headers_too_large(detail: impl Into<String>) -> Self {
        Self::new(
            "headers-too-large",
            "Request header fields too large",
            431,
            detail,
        )
    }
    /// 409: the request conflicts with the current state.
    pub fn conflict(detail: impl Into<String>) -> Self {
        Self::new("conflict", "Conflict", 409, detail)
    }
    /// 500: the service failed; it keeps serving.
    pub fn internal(detail: impl Into<String>) -> Self {
        Self::new("internal", "Internal error", 500, detail)
    }
    /// 503: the service is not available.
    pub fn unavailable(detail: impl Into<String>) -> Self {
        Self::new("unavailable", "Service unavailable", 503, detail)
    }
}
