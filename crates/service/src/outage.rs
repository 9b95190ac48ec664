//! An outage, in one place: which hosts are in one and how, and each way a host fails in it.
//! `refuse` closes the host's listeners ([`crate::network::Network::set_outage`]); `reset`
//! accepts and resets each connection ([`Outages::resets`], asked by the accept loop); `503`
//! and `cut-off` answer in the middleware below.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::extract::{Extension, Request, State as AxState};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use lyncsim_wire::Problem;
use lyncsim_wire::admin::{JournalOutcome, OutageMode};

use crate::conn::ConnInfo;
use crate::problem::ApiError;
use crate::state::State;

/// Which hosts are in an outage, and how.
#[derive(Debug, Default)]
pub(crate) struct Outages(Mutex<HashMap<String, OutageMode>>);

impl Outages {
    pub(crate) fn mode(&self, host: &str) -> Option<OutageMode> {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(host)
            .copied()
    }

    /// Whether a connection to `host` is to be reset as soon as it is accepted.
    pub(crate) fn resets(&self, host: &str) -> bool {
        self.mode(host) == Some(OutageMode::Reset)
    }

    pub(crate) fn set(&self, host: &str, mode: Option<OutageMode>) {
        let mut map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        match mode {
            Some(m) => map.insert(host.to_owned(), m),
            None => map.remove(host),
        };
    }
}

/// What the outage middleware needs.
#[derive(Clone)]
pub(crate) struct OutageGuard {
    pub(crate) outages: Arc<Outages>,
    pub(crate) state: Arc<State>,
}

/// 503 for every request, or the real response cut off half way through its body.
pub(crate) async fn outage_middleware(
    AxState(guard): AxState<OutageGuard>,
    Extension(conn): Extension<ConnInfo>,
    req: Request,
    next: Next,
) -> Response {
    let endpoint = req
        .uri()
        .path()
        .rsplit('/')
        .next()
        .unwrap_or_default()
        .to_owned();
    match guard.outages.mode(&conn.host) {
        Some(OutageMode::Status503) => {
            guard.state.journal.record(
                &conn.host,
                &endpoint,
                None,
                JournalOutcome::Rejected,
                "outage: 503",
            );
            ApiError(Problem::unavailable(format!(
                "{} is in an outage",
                conn.host
            )))
            .into_response()
        }
        Some(OutageMode::CutOff) => {
            let response = next.run(req).await;
            guard.state.journal.record(
                &conn.host,
                &endpoint,
                None,
                JournalOutcome::Rejected,
                "outage: response cut off",
            );
            cut_off(response).await
        }
        _ => next.run(req).await,
    }
}

/// Sends the response's headers, with its full length, and half of its body; then the
/// connection breaks.
async fn cut_off(response: Response) -> Response {
    let (mut parts, body) = response.into_parts();
    let bytes = axum::body::to_bytes(body, 1 << 20)
        .await
        .unwrap_or_default();
    let half = bytes.slice(..bytes.len() / 2);
    parts
        .headers
        .insert(axum::http::header::CONTENT_LENGTH, bytes.len().into());
    let chunks: Vec<Result<axum::body::Bytes, std::io::Error>> = vec![
        Ok(half),
        Err(std::io::Error::new(
            std::io::ErrorKind::ConnectionAborted,
            "outage: cut off",
        )),
    ];
    Response::from_parts(parts, Body::from_stream(futures_util::stream::iter(chunks)))
}
