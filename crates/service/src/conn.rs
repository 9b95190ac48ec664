//! Accepting and serving HTTP connections with limits, so that no client can hold the service:
//! every listener (the HTTPS hosts and the admin API) goes through [`accept_loop`] and
//! [`serve_http`].
//!
//! - A cap on open connections per listener group ([`Limits::max_connections`]); at the cap the
//!   loop stops accepting and the kernel queues new connections until one closes.
//! - An accept error (out of file descriptors, say) is retried with a back-off and reported at
//!   most once per [`REPORT_EVERY`], so the loop never spins and never floods the log.
//! - Time limits on the TLS handshake, on a request's head (which is also the wait for the next
//!   request on a kept-alive connection), on reading a body and answering, and on a connection
//!   where no byte moves either way.
//! - hyper answers a request it cannot parse (400, 414, 431) by itself, with no body; those
//!   answers are replaced on the way out by the same problem document every other refusal is.

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use axum::Router;
use axum::response::IntoResponse;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use lyncsim_wire::Problem;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

use crate::capacity::{Capacity, busy_http};
use crate::problem::{ApiError, problem_bytes};

/// The limits every connection is served with.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    /// The TLS handshake.
    pub(crate) handshake: Duration,
    /// A request's head, from the first moment the connection waits for it: so also how long a
    /// kept-alive connection may wait, idle, for its next request.
    pub(crate) header: Duration,
    /// Reading a request's body and making the answer.
    pub(crate) request: Duration,
    /// A connection on which no byte is read or written (a client that stops reading). Longer
    /// than `request`, so that a request that is still arriving gets its 408 first.
    pub(crate) idle: Duration,
    /// How long open connections may take to finish when the service stops.
    pub(crate) drain: Duration,
    /// The largest request head, and so the largest request target, in bytes: hyper's read
    /// buffer, which it may fill up to about twice over before it refuses a head that is still
    /// not complete.
    pub(crate) max_header_bytes: usize,
    /// The largest request body, in bytes.
    pub(crate) max_body_bytes: usize,
}

/// The limits of the service's listeners.
pub(crate) const LIMITS: Limits = Limits {
    handshake: Duration::from_secs(10),
    header: Duration::from_secs(10),
    request: Duration::from_secs(30),
    idle: Duration::from_secs(45),
    drain: Duration::from_secs(5),
    max_header_bytes: 32 * 1024,
    max_body_bytes: 256 * 1024,
};

/// How many connections the HTTPS hosts of one service serve at once, all together
/// ([`Capacity`]: each peer at most half).
pub(crate) const MAX_HOST_CONNECTIONS: usize = 512;
/// How many connections the admin API serves at once (apart from the hosts' share, so that a
/// flood of the hosts never locks out the admin).
pub(crate) const MAX_ADMIN_CONNECTIONS: usize = 64;

/// The shortest and the longest pause after an accept error.
const FIRST_BACKOFF: Duration = Duration::from_millis(5);
const MAX_BACKOFF: Duration = Duration::from_secs(1);
/// How often a repeated condition (accept errors, the connection cap) is reported at most.
pub(crate) const REPORT_EVERY: Duration = Duration::from_secs(10);

/// What a request's connection knows about its peer.
#[derive(Debug, Clone)]
pub(crate) struct ConnInfo {
    /// The host name whose listener accepted the connection.
    pub(crate) host: String,
    /// The host's HTTPS port: the addresses the service's documents give point there.
    pub(crate) https_port: u16,
    /// Whether the connection is TLS (HTTPS or SIP), not Autodiscover's plain HTTP.
    pub(crate) secure: bool,
}

/// Something that accepts connections: a [`TcpListener`], or a script of results in tests.
pub(crate) trait Accept: Send {
    /// An accepted connection.
    type Conn: Send + 'static;
    /// The next connection, or the error accept(2) gave.
    fn accept(&mut self) -> impl Future<Output = io::Result<Self::Conn>> + Send;
}

impl Accept for TcpListener {
    type Conn = (TcpStream, SocketAddr);
    async fn accept(&mut self) -> io::Result<Self::Conn> {
        let (tcp, peer) = TcpListener::accept(self).await?;
        // Requests and answers are small: each goes out at once, not after Nagle's wait for
        // the peer's delayed acknowledgement.
        let _ = tcp.set_nodelay(true);
        Ok((tcp, peer))
    }
}

/// A condition that may repeat many times a second, reported at most once per
/// [`REPORT_EVERY`] with how often it happened since the last report.
#[derive(Debug, Default)]
struct Throttled {
    last: Option<Instant>,
    since: u64,
}

impl Throttled {
    /// Counts one occurrence; returns how many there were since the last report when one is
    /// due now.
    fn due(&mut self) -> Option<u64> {
        self.since += 1;
        let now = Instant::now();
        if self.last.is_some_and(|t| now - t < REPORT_EVERY) {
            return None;
        }
        self.last = Some(now);
        Some(std::mem::take(&mut self.since))
    }
}

/// What the accept loop did, for the tests.
#[derive(Debug, Default)]
pub(crate) struct AcceptReport {
    /// Accept errors reported in the log.
    pub(crate) error_reports: u64,
    /// Connections handed on.
    pub(crate) accepted: u64,
}

/// Accepts connections until `stop`, each holding a permit of `permits` for as long as it is
/// open; hands each to `handle`. Never spins: an accept error waits a back-off (5 ms doubling
/// to 1 s, reset by the next success) and is logged at most once per [`REPORT_EVERY`].
pub(crate) async fn accept_loop<A: Accept>(
    mut listener: A,
    name: &str,
    permits: Arc<Semaphore>,
    stop: CancellationToken,
    mut handle: impl FnMut(A::Conn, OwnedSemaphorePermit),
) -> AcceptReport {
    let mut report = AcceptReport::default();
    let mut errors = Throttled::default();
    let mut at_cap = Throttled::default();
    let mut backoff = FIRST_BACKOFF;
    loop {
        let permit = match permits.clone().try_acquire_owned() {
            Ok(p) => p,
            Err(_) => {
                if let Some(n) = at_cap.due() {
                    tracing::warn!(
                        listener = name,
                        "as many connections are open as this service holds; new ones wait until one closes ({n} times since the last report)"
                    );
                }
                tokio::select! {
                    _ = stop.cancelled() => break,
                    // The semaphore is never closed, so this only ends with a permit.
                    p = permits.clone().acquire_owned() => match p {
                        Ok(p) => p,
                        Err(_) => break,
                    },
                }
            }
        };
        let accepted = tokio::select! {
            _ = stop.cancelled() => break,
            a = listener.accept() => a,
        };
        match accepted {
            Ok(conn) => {
                backoff = FIRST_BACKOFF;
                report.accepted += 1;
                handle(conn, permit);
            }
            Err(e) => {
                drop(permit);
                if let Some(n) = errors.due() {
                    report.error_reports += 1;
                    tracing::warn!(
                        listener = name,
                        "accept failed: {e} ({n} failures since the last report); retrying after a pause of up to {}s",
                        MAX_BACKOFF.as_secs()
                    );
                }
                tokio::select! {
                    _ = stop.cancelled() => break,
                    _ = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        }
    }
    report
}

/// When a connection last moved a byte either way.
#[derive(Debug)]
struct Activity(Mutex<Instant>);

impl Activity {
    fn touch(&self) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = Instant::now();
    }

    fn last(&self) -> Instant {
        *self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Returns once no byte has moved for `limit`.
    async fn idle_for(&self, limit: Duration) {
        loop {
            let deadline = self.last() + limit;
            if Instant::now() >= deadline {
                return;
            }
            tokio::time::sleep_until(deadline).await;
        }
    }
}

/// A connection's stream as hyper sees it: it notes each byte that moves, and replaces the
/// bodyless answers hyper makes by itself for requests it cannot parse with problem documents.
struct Guarded<IO> {
    io: IO,
    activity: Arc<Activity>,
    /// A replacement being written: its bytes, how many are written, and the length of the
    /// buffer it stands for (what the write reports once it is all out).
    replacing: Option<(Vec<u8>, usize, usize)>,
}

/// hyper's own answer to a request it could not parse, or `None`: a head alone, with a status
/// hyper makes by itself and `content-length: 0`. Every answer of the service's own to those
/// statuses carries a problem document, so it never looks like this.
fn parse_error_status(buf: &[u8]) -> Option<u16> {
    let head = buf.strip_prefix(b"HTTP/1.1 ")?;
    let status: u16 = std::str::from_utf8(head.get(..3)?).ok()?.parse().ok()?;
    let bodyless = buf.ends_with(b"\r\n\r\n")
        && buf.windows(4).position(|w| w == b"\r\n\r\n") == Some(buf.len() - 4)
        && buf
            .to_ascii_lowercase()
            .windows(19)
            .any(|w| w == b"\r\ncontent-length: 0");
    (matches!(status, 400 | 414 | 431) && bodyless).then_some(status)
}

/// The problem document that stands for hyper's own answer with `status`, as bytes on the wire.
fn problem_response(status: u16) -> Vec<u8> {
    let problem = match status {
        414 => Problem::uri_too_long(format!(
            "the request target is longer than the {} bytes a request head may have",
            LIMITS.max_header_bytes
        )),
        431 => Problem::headers_too_large(format!(
            "the request head is larger than {} bytes",
            LIMITS.max_header_bytes
        )),
        _ => Problem::bad_request("the request is not HTTP/1.1 that this service can parse"),
    };
    problem_bytes(&problem, &[])
}

impl<IO: AsyncRead + Unpin> AsyncRead for Guarded<IO> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.io).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.activity.touch();
        }
        polled
    }
}

impl<IO: AsyncWrite + Unpin> AsyncWrite for Guarded<IO> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if self.replacing.is_none()
            && let Some(status) = parse_error_status(buf)
        {
            self.replacing = Some((problem_response(status), 0, buf.len()));
        }
        let this = &mut *self;
        let Some((bytes, written, stands_for)) = &mut this.replacing else {
            let n = ready!(Pin::new(&mut this.io).poll_write(cx, buf))?;
            if n > 0 {
                this.activity.touch();
            }
            return Poll::Ready(Ok(n));
        };
        while *written < bytes.len() {
            let n = ready!(Pin::new(&mut this.io).poll_write(cx, &bytes[*written..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            *written += n;
            this.activity.touch();
        }
        let n = *stands_for;
        this.replacing = None;
        Poll::Ready(Ok(n))
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

/// Serves HTTP/1.1 on one connection with `router` until the client is done, a limit is
/// reached, or `stop` (then open requests get [`Limits::drain`] to finish). `info`, when given,
/// is put in every request's extensions.
pub(crate) async fn serve_http<IO>(
    io: IO,
    router: Router,
    info: Option<ConnInfo>,
    limits: Limits,
    stop: CancellationToken,
) where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let activity = Arc::new(Activity(Mutex::new(Instant::now())));
    let io = Guarded {
        io,
        activity: activity.clone(),
        replacing: None,
    };
    let service = hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| {
        if let Some(info) = &info {
            req.extensions_mut().insert(info.clone());
        }
        let router = router.clone();
        async move {
            let answer = tokio::time::timeout(limits.request, router.oneshot(req)).await;
            Ok::<_, Infallible>(match answer {
                Ok(Ok(response)) => response,
                Ok(Err(never)) => match never {},
                Err(_) => ApiError(Problem::request_timeout(format!(
                    "the request was not read and answered within {}s",
                    limits.request.as_secs()
                )))
                .into_response(),
            })
        }
    });
    let conn = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header)
        .max_buf_size(limits.max_header_bytes)
        .serve_connection(TokioIo::new(io), service);
    tokio::pin!(conn);
    tokio::select! {
        _ = conn.as_mut() => {}
        _ = activity.idle_for(limits.idle) => {
            tracing::debug!("closing a connection on which nothing moved for {}s", limits.idle.as_secs());
        }
        _ = stop.cancelled() => {
            conn.as_mut().graceful_shutdown();
            let _ = tokio::time::timeout(limits.drain, conn).await;
        }
    }
}

/// Accepts plain HTTP connections (the admin API) on `listener` until `stop`, each served
/// once it has a place in `capacity`, else answered 503.
pub(crate) async fn serve_plain(
    listener: TcpListener,
    router: Router,
    capacity: Capacity,
    stop: CancellationToken,
    tracker: tokio_util::task::TaskTracker,
) {
    let conn_stop = stop.clone();
    let held = capacity.held.clone();
    accept_loop(listener, "admin", held, stop, move |(tcp, peer), permit| {
        let (router, stop, capacity) = (router.clone(), conn_stop.clone(), capacity.clone());
        tracker.spawn(async move {
            let _held = permit;
            match capacity.admit(peer.ip()).await {
                Some(_admission) => serve_http(tcp, router, None, LIMITS, stop).await,
                None => refuse_busy(tcp, None).await,
            }
        });
    })
    .await;
}

/// Answers a connection that found no place with 503 ([`busy_http`], or SIP's 503 when its
/// first line is SIP and `sip_tag` says the host speaks it), once its first line arrived (so
/// that the answer is not lost to a reset of unread bytes), and closes it.
pub(crate) async fn refuse_busy<IO: AsyncRead + AsyncWrite + Unpin>(
    mut io: IO,
    sip_tag: Option<&str>,
) {
    use tokio::io::AsyncWriteExt;
    let Ok((sip, read)) = first_line(&mut io, 4096, LIMITS.header).await else {
        return;
    };
    let answer = match sip_tag {
        Some(tag) if sip => {
            lyncsim_wire::sip::refusal(&read, 503, "Service Unavailable", tag).unwrap_or_default()
        }
        _ => busy_http(),
    };
    let _ = tokio::time::timeout(LIMITS.drain, async {
        io.write_all(&answer).await?;
        io.shutdown().await
    })
    .await;
}

/// Reads the start of a connection until its first line is complete (or `max` bytes, or the
/// end): whether the line ends in `SIP/2.0`, and the bytes read.
pub(crate) async fn first_line<IO>(
    io: &mut IO,
    max: usize,
    limit: Duration,
) -> std::io::Result<(bool, Vec<u8>)>
where
    IO: AsyncRead + Unpin,
{
    let mut buf = Vec::new();
    let mut chunk = [0u8; 1024];
    let read = tokio::time::timeout(limit, async {
        loop {
            let start = buf
                .iter()
                .take_while(|b| **b == b'\r' || **b == b'\n')
                .count();
            if let Some(end) = buf[start..].windows(2).position(|w| w == b"\r\n") {
                return Ok(buf[start..start + end].ends_with(b" SIP/2.0"));
            }
            if buf.len() >= max {
                return Ok(false);
            }
            let n = io.read(&mut chunk).await?;
            if n == 0 {
                return Ok(false);
            }
            buf.extend_from_slice(&chunk[..n]);
        }
    })
    .await;
    match read {
        Ok(Ok(sip)) => Ok((sip, buf)),
        Ok(Err(e)) => Err(e),
        // Too slow for a line: HTTP's own limits answer it (408).
        Err(_) => Ok((false, buf)),
    }
}

/// A connection with bytes already read from it put back in front: what was read to tell SIP
/// from HTTP is read again by the protocol's own reader.
pub(crate) struct Prefixed<IO> {
    prefix: Vec<u8>,
    at: usize,
    io: IO,
}

impl<IO> Prefixed<IO> {
    pub(crate) fn new(prefix: Vec<u8>, io: IO) -> Self {
        Prefixed { prefix, at: 0, io }
    }
}

impl<IO: AsyncRead + Unpin> AsyncRead for Prefixed<IO> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if self.at < self.prefix.len() {
            let n = buf.remaining().min(self.prefix.len() - self.at);
            let at = self.at;
            buf.put_slice(&self.prefix[at..at + n]);
            self.at += n;
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl<IO: AsyncWrite + Unpin> AsyncWrite for Prefixed<IO> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU64, Ordering};

    use axum::routing::{get, post};
    use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};

    use super::*;
    use crate::problem::PROBLEM_JSON;

    /// An acceptor that fails with `error` `failures` times, then hands out duplex streams.
    struct Script {
        failures: u64,
        error: fn() -> io::Error,
        calls: Arc<AtomicU64>,
    }

    impl Accept for Script {
        type Conn = DuplexStream;
        fn accept(&mut self) -> impl Future<Output = io::Result<DuplexStream>> + Send {
            let n = self.calls.fetch_add(1, Ordering::Relaxed);
            let result = if n < self.failures {
                Err((self.error)())
            } else {
                Ok(tokio::io::duplex(64).0)
            };
            async move {
                if result.is_ok() {
                    // One connection a second once accepting works again.
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
                result
            }
        }
    }

    fn emfile() -> io::Error {
        io::Error::from_raw_os_error(24)
    }

    #[tokio::test(start_paused = true)]
    async fn out_of_descriptors_the_loop_backs_off_reports_rarely_and_recovers() {
        let calls = Arc::new(AtomicU64::new(0));
        let script = Script {
            failures: u64::MAX,
            error: emfile,
            calls: calls.clone(),
        };
        let stop = CancellationToken::new();
        let stopper = stop.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(60)).await;
            stopper.cancel();
        });
        let report = accept_loop(script, "test", Arc::new(Semaphore::new(8)), stop, |_, _| {
            panic!("nothing is accepted")
        })
        .await;
        // 60 s of EMFILE: a few quick retries, then one a second; not millions.
        let calls = calls.load(Ordering::Relaxed);
        assert!((55..=75).contains(&calls), "{calls} accept calls in 60 s");
        assert!(
            (6..=7).contains(&report.error_reports),
            "{} reports in 60 s",
            report.error_reports
        );

        // The descriptors come back: the loop accepts again.
        let calls = Arc::new(AtomicU64::new(0));
        let script = Script {
            failures: 100,
            error: emfile,
            calls: calls.clone(),
        };
        let stop = CancellationToken::new();
        let stopper = stop.clone();
        let report = accept_loop(
            script,
            "test",
            Arc::new(Semaphore::new(8)),
            stop,
            move |_, _| stopper.cancel(),
        )
        .await;
        assert_eq!(report.accepted, 1);
    }

    #[tokio::test(start_paused = true)]
    async fn at_the_cap_the_loop_waits_for_a_connection_to_close() {
        let calls = Arc::new(AtomicU64::new(0));
        let script = Script {
            failures: 0,
            error: emfile,
            calls: calls.clone(),
        };
        let permits = Arc::new(Semaphore::new(2));
        let stop = CancellationToken::new();
        let held = Arc::new(Mutex::new(Vec::new()));
        let kept = held.clone();
        let stopper = stop.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(30)).await;
            stopper.cancel();
        });
        let report = accept_loop(script, "test", permits.clone(), stop, move |_, permit| {
            kept.lock().unwrap().push(permit)
        })
        .await;
        assert_eq!(report.accepted, 2, "two permits, both held");
        assert_eq!(calls.load(Ordering::Relaxed), 2);
        assert_eq!(permits.available_permits(), 0);
        held.lock().unwrap().clear();
        assert_eq!(permits.available_permits(), 2);
    }

    fn app() -> Router {
        Router::new().route("/", get(|| async { "hello" })).route(
            "/echo",
            post(|body: axum::body::Bytes| async move { body.len().to_string() }),
        )
    }

    /// Serves `app()` on one end of a duplex stream with the service's limits.
    fn serve() -> (DuplexStream, tokio::task::JoinHandle<()>) {
        let (client, server) = tokio::io::duplex(1 << 20);
        let task = tokio::spawn(serve_http(
            server,
            app(),
            None,
            LIMITS,
            CancellationToken::new(),
        ));
        (client, task)
    }

    async fn read_all(client: &mut DuplexStream) -> String {
        let mut out = Vec::new();
        client.read_to_end(&mut out).await.unwrap();
        String::from_utf8_lossy(&out).into_owned()
    }

    #[tokio::test(start_paused = true)]
    async fn a_head_that_never_ends_is_cut_off_after_the_header_limit() {
        let (mut client, task) = serve();
        client
            .write_all(b"GET / HTTP/1.1\r\nHost: x\r\n")
            .await
            .unwrap();
        let start = Instant::now();
        // Nothing more is sent: the connection ends by itself, within the limit.
        let answer = read_all(&mut client).await;
        task.await.unwrap();
        assert!(start.elapsed() <= LIMITS.header + Duration::from_secs(1));
        assert!(
            answer.is_empty() || answer.starts_with("HTTP/1.1 408"),
            "{answer}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn an_idle_kept_alive_connection_is_closed() {
        let (mut client, task) = serve();
        client
            .write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        let start = Instant::now();
        let answer = read_all(&mut client).await;
        task.await.unwrap();
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        assert!(start.elapsed() <= LIMITS.header + Duration::from_secs(1));
    }

    #[tokio::test(start_paused = true)]
    async fn a_body_that_never_arrives_gets_408() {
        let (mut client, task) = serve();
        client
            .write_all(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 900\r\n\r\nab")
            .await
            .unwrap();
        let answer = read_all(&mut client).await;
        task.await.unwrap();
        assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
        assert!(
            answer.contains("urn:lyncsim:problem:request-timeout"),
            "{answer}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_client_that_never_reads_is_dropped_when_nothing_moves() {
        let (client, server) = tokio::io::duplex(64);
        let router = Router::new().route("/", get(|| async { "x".repeat(1 << 20) }));
        let task = tokio::spawn(serve_http(
            server,
            router,
            None,
            LIMITS,
            CancellationToken::new(),
        ));
        let (_read, mut write) = tokio::io::split(client);
        write
            .write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        let start = Instant::now();
        task.await.unwrap();
        assert!(start.elapsed() <= LIMITS.idle + Duration::from_secs(1));
    }

    #[tokio::test]
    async fn what_hyper_cannot_parse_is_answered_with_a_problem_document() {
        let cases: [(&[u8], &str, &str); 3] = [
            (b"GARBAGE\r\n\r\n", "400", "bad-request"),
            (b"GET /\x01 HTTP/1.1\r\n\r\n", "400", "bad-request"),
            (b"", "431", "headers-too-large"),
        ];
        for (request, status, kind) in cases {
            let (mut client, task) = serve();
            let big;
            let request = if request.is_empty() {
                big = format!("GET / HTTP/1.1\r\nX: {}\r\n\r\n", "a".repeat(100_000));
                big.as_bytes()
            } else {
                request
            };
            client.write_all(request).await.unwrap();
            let answer = read_all(&mut client).await;
            task.await.unwrap();
            assert!(
                answer.starts_with(&format!("HTTP/1.1 {status}")),
                "{answer}"
            );
            assert!(answer.contains(PROBLEM_JSON), "{answer}");
            assert!(
                answer.contains(&format!("urn:lyncsim:problem:{kind}")),
                "{answer}"
            );
        }
    }

    /// A connection to `addr` from the loopback address `from`.
    async fn connect_from(from: [u8; 4], addr: SocketAddr) -> TcpStream {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket
            .bind(SocketAddr::from((from, 0)))
            .expect("bind a loopback source address");
        socket.connect(addr).await.unwrap()
    }

    #[tokio::test(start_paused = true)]
    async fn over_its_share_a_peer_is_answered_503_and_others_are_served() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let stop = CancellationToken::new();
        let tracker = tokio_util::task::TaskTracker::new();
        tokio::spawn(serve_plain(
            listener,
            app(),
            Capacity::new(4),
            stop.clone(),
            tracker.clone(),
        ));
        // Two connections of 127.0.0.1 (its share of four) that hold their places.
        let mut held = Vec::new();
        for _ in 0..2 {
            let mut tcp = connect_from([127, 0, 0, 1], addr).await;
            tcp.write_all(b"GET / HTTP/1.1\r\n").await.unwrap();
            held.push(tcp);
        }
        tokio::task::yield_now().await;
        let mut third = connect_from([127, 0, 0, 1], addr).await;
        third
            .write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        let mut answer = String::new();
        third.read_to_string(&mut answer).await.unwrap();
        assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
        assert!(answer.contains("retry-after: 2"), "{answer}");
        assert!(
            answer.contains("urn:lyncsim:problem:unavailable"),
            "{answer}"
        );
        // Another peer has places of its own.
        let mut other = connect_from([127, 0, 0, 2], addr).await;
        other
            .write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .await
            .unwrap();
        let mut answer = String::new();
        other.read_to_string(&mut answer).await.unwrap();
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        stop.cancel();
    }

    #[test]
    fn only_hypers_own_bodyless_answers_are_replaced() {
        assert_eq!(
            parse_error_status(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\ndate: x\r\n\r\n"),
            Some(400)
        );
        assert_eq!(
            parse_error_status(
                b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-length: 0\r\n\r\n"
            ),
            Some(431)
        );
        // The service's own 400 has a body; a 404 or 200 is never hyper's.
        assert_eq!(
            parse_error_status(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 10\r\n\r\n0123456789"),
            None
        );
        assert_eq!(
            parse_error_status(b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n"),
            None
        );
        assert_eq!(parse_error_status(b"{\"HTTP/1.1 400\"}"), None);
    }
}
