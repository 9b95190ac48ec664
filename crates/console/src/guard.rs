//! What keeps the console's pages to the browser that uses them: every request that changes
//! something must come from the console's own pages ([`same_origin`]), guesses at a join code
//! are bounded ([`JoinGuesses`]), and the console holds a bounded number of attempts
//! ([`MAX_ATTEMPTS`]).

use std::sync::Mutex;

use axum::extract::Request;
use axum::http::{Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// The most attempts one console holds (each has a service and a machine of its own); a new
/// one past it is refused. A cohort of 30 trainees is the target; the bound is lyncsim's own.
pub(crate) const MAX_ATTEMPTS: usize = 300;

/// The most join codes that may be wrong within a minute of the console's clock; past it,
/// every join is refused until the minute is over (lyncsim's own bound: a trainee mistypes
/// a few times, a script trying codes thousands).
pub(crate) const MAX_WRONG_CODES_PER_MINUTE: u32 = 20;

/// Refuses a request that changes something (any method but GET and HEAD) unless it comes
/// from the console's own pages: a `Host` that is a loopback address or `localhost` (not a
/// name a DNS rebinding pointed at loopback), and an `Origin`, when the browser sends one,
/// that is that same host (another site's page, or a sandboxed one's `null`, is refused), as
/// is a browser's `Sec-Fetch-Site` that says another site sent it.
pub(crate) async fn same_origin(req: Request, next: Next) -> Response {
    if matches!(*req.method(), Method::GET | Method::HEAD) {
        return next.run(req).await;
    }
    match check(req.headers()) {
        Ok(()) => next.run(req).await,
        Err(why) => (StatusCode::FORBIDDEN, crate::pages::failure(&why)).into_response(),
    }
}

fn check(headers: &header::HeaderMap) -> Result<(), String> {
    let text = |name: &str| {
        headers
            .get(name)
            .map(|v| v.to_str().unwrap_or("\u{fffd}").to_owned())
    };
    let host = text("host").unwrap_or_default();
    if lyncsim_wire::loopback_authority(&host).is_none() {
        return Err(format!(
            "a request for the host {host:?} is refused: the console answers only at its loopback address"
        ));
    }
    if let Some(origin) = text("origin")
        && origin.strip_prefix("http://") != Some(host.as_str())
    {
        return Err(format!(
            "a request from {origin:?} is refused: only the console's own pages may act on it"
        ));
    }
    if let Some(site) = text("sec-fetch-site")
        && !matches!(site.as_str(), "same-origin" | "none")
    {
        return Err(format!(
            "a request another site sent (Sec-Fetch-Site: {site}) is refused"
        ));
    }
    Ok(())
}

/// The wrong join codes of the minute now running, by the console's clock.
#[derive(Debug, Default)]
pub(crate) struct JoinGuesses(Mutex<(i64, u32)>);

impl JoinGuesses {
    /// Whether joins are refused in the minute of `now` (Unix seconds): as many codes as
    /// allowed were wrong in it already.
    pub(crate) fn exhausted(&self, now: i64) -> bool {
        let (minute, wrong) = *self.0.lock().unwrap_or_else(|p| p.into_inner());
        minute == now / 60 && wrong >= MAX_WRONG_CODES_PER_MINUTE
    }

    /// Counts a wrong code at `now`.
    pub(crate) fn wrong(&self, now: i64) {
        let mut guard = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if guard.0 != now / 60 {
            *guard = (now / 60, 0);
        }
        guard.1 = guard.1.saturating_add(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_consoles_own_pages_act() {
        let headers = |pairs: &[(&'static str, &'static str)]| {
            let mut h = header::HeaderMap::new();
            for (k, v) in pairs {
                h.insert(*k, header::HeaderValue::from_static(v));
            }
            h
        };
        assert!(check(&headers(&[("host", "127.0.0.1:8080")])).is_ok());
        assert!(
            check(&headers(&[
                ("host", "127.0.0.1:8080"),
                ("origin", "http://127.0.0.1:8080"),
                ("sec-fetch-site", "same-origin"),
            ]))
            .is_ok()
        );
        for refused in [
            headers(&[("host", "attacker.example:8080")]),
            headers(&[
                ("host", "127.0.0.1:8080"),
                ("origin", "http://attacker.example"),
            ]),
            headers(&[("host", "127.0.0.1:8080"), ("origin", "null")]),
            headers(&[
                ("host", "127.0.0.1:8080"),
                ("origin", "http://127.0.0.1:9999"),
            ]),
            headers(&[("host", "127.0.0.1:8080"), ("sec-fetch-site", "cross-site")]),
        ] {
            assert!(check(&refused).is_err(), "{refused:?}");
        }
    }

    #[test]
    fn wrong_codes_are_bounded_per_minute() {
        let guesses = JoinGuesses::default();
        let t = 1_700_000_000 / 60 * 60;
        for _ in 0..MAX_WRONG_CODES_PER_MINUTE {
            assert!(!guesses.exhausted(t + 10));
            guesses.wrong(t + 10);
        }
        assert!(guesses.exhausted(t + 59));
        assert!(!guesses.exhausted(t + 60), "a new minute");
    }
}
