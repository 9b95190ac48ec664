//! The client's HTTPS: a TCP connection to the address the resolver gave, TLS with the
//! machine's trusted roots, HTTP/1.1 requests (or plain HTTP, for a target that is: the
//! machine's time source). Within one sign-in a connection to a host is
//! kept alive and used again, as the real client's WinHTTP does; the registrar's SIP runs over
//! a TLS connection of its own ([`Https::connect`]). Every failure is classified by what
//! happened on the socket, or by the refusal the service sent (a SOAP fault, a problem
//! document). Each handshake's public-key operations are counted ([`PublicKeyCost`]).

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::{Method, Request, StatusCode, header};
use hyper_util::rt::TokioIo;
use lyncsim_domain::FailureKind;
use lyncsim_wire::Problem;
use lyncsim_wire::soap::SoapFault;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, RootCertStore};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

use crate::cost::PublicKeyCost;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
pub(crate) const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);

/// What went wrong with one request.
#[derive(Debug, Clone)]
pub(crate) enum HttpFailure {
    Refused(String),
    TimedOut(String),
    Reset(String),
    CutOff(String),
    /// The server ended the TLS handshake with an alert: it refused us.
    TlsAlert(String),
    /// The client did not trust the server, or could not use its own certificate.
    Tls(String),
    /// A SOAP fault: the service understood the request and refused it.
    Fault(String),
    /// A 401 that names, in `X-MS-WebTicketURL`, the web ticket service to get a ticket from
    /// ([MS-OCDISCWS] 3.1.5.3).
    NeedsWebTicket(String),
    /// A 4xx with the service's problem document.
    Refusal {
        status: u16,
        detail: String,
    },
    /// 502, 503 or 504.
    Unavailable {
        status: u16,
        detail: String,
    },
    /// A SIP answer other than the one expected: 5xx is unavailable, 4xx a refusal.
    Sip {
        status: u16,
        detail: String,
    },
    /// A body that is not what it should be, or another status.
    BadResponse(String),
}

impl HttpFailure {
    pub(crate) fn kind(&self) -> FailureKind {
        match self {
            HttpFailure::Refused(_)
            | HttpFailure::TimedOut(_)
            | HttpFailure::Reset(_)
            | HttpFailure::CutOff(_)
            | HttpFailure::Unavailable { .. } => FailureKind::Unreachable,
            HttpFailure::TlsAlert(_)
            | HttpFailure::Refusal { .. }
            | HttpFailure::Fault(_)
            | HttpFailure::NeedsWebTicket(_) => FailureKind::Rejected,
            HttpFailure::Tls(_) => FailureKind::Rejected,
            HttpFailure::Sip { status, .. } if *status >= 500 => FailureKind::Unreachable,
            HttpFailure::Sip { .. } => FailureKind::Rejected,
            HttpFailure::BadResponse(_) => FailureKind::BadResponse,
        }
    }

    /// Whether the request failed before the server answered it: no connection, or a TLS
    /// handshake that failed (the client refused the server's certificate, or the server it).
    pub(crate) fn before_answer(&self) -> bool {
        matches!(
            self,
            HttpFailure::Refused(_)
                | HttpFailure::TimedOut(_)
                | HttpFailure::Reset(_)
                | HttpFailure::Tls(_)
                | HttpFailure::TlsAlert(_)
        )
    }

    pub(crate) fn describe(&self) -> String {
        match self {
            // As WinHTTP names them (winhttp.h's codes; that Lync's trace wrote these is
            // lyncsim's reading), with what happened in lyncsim's words after.
            HttpFailure::Refused(d) => {
                format!("ERROR_WINHTTP_CANNOT_CONNECT (12029): connection refused ({d})")
            }
            HttpFailure::TimedOut(d) => format!("ERROR_WINHTTP_TIMEOUT (12002): timed out ({d})"),
            HttpFailure::Reset(d) => {
                format!("ERROR_WINHTTP_CONNECTION_ERROR (12030): connection reset ({d})")
            }
            HttpFailure::CutOff(d) => {
                format!("ERROR_WINHTTP_CONNECTION_ERROR (12030): response cut off ({d})")
            }
            HttpFailure::TlsAlert(d) => format!("the server refused the TLS handshake: {d}"),
            HttpFailure::Tls(d) => format!("TLS failed: {d}"),
            HttpFailure::Fault(d) => d.clone(),
            HttpFailure::NeedsWebTicket(url) => {
                format!("HTTP 401: a web ticket from {url} is needed")
            }
            HttpFailure::Refusal { status, detail } => format!("HTTP {status}: {detail}"),
            HttpFailure::Unavailable { status, detail } => format!("HTTP {status}: {detail}"),
            HttpFailure::Sip { status, detail } => format!("SIP {status}: {detail}"),
            HttpFailure::BadResponse(d) => format!("unusable response: {d}"),
        }
    }
}

/// Where a request goes: the host name (for SNI and Host), the address it resolved to, and
/// whether it is spoken over TLS.
#[derive(Debug, Clone)]
pub(crate) struct Target {
    pub(crate) host: String,
    pub(crate) addr: SocketAddr,
    pub(crate) tls: bool,
}

impl Target {
    /// An HTTPS target.
    pub(crate) fn new(host: &str, ip: IpAddr, port: u16) -> Target {
        Target {
            host: host.to_owned(),
            addr: SocketAddr::new(ip, port),
            tls: true,
        }
    }

    /// A plain HTTP target.
    pub(crate) fn plain(host: &str, ip: IpAddr, port: u16) -> Target {
        Target {
            tls: false,
            ..Target::new(host, ip, port)
        }
    }
}

/// One request: what is sent, with which headers and credentials.
pub(crate) struct Call<'a> {
    method: Method,
    path: &'a str,
    body: Option<(&'static str, Vec<u8>)>,
    headers: Vec<(header::HeaderName, String)>,
}

impl<'a> Call<'a> {
    /// A GET with no body.
    pub(crate) fn get(path: &'a str) -> Self {
        Call {
            method: Method::GET,
            path,
            body: None,
            headers: Vec::new(),
        }
    }

    /// A POST of `body` labelled `media`.
    pub(crate) fn post(path: &'a str, media: &'static str, body: String) -> Self {
        Call {
            method: Method::POST,
            body: Some((media, body.into_bytes())),
            ..Call::get(path)
        }
    }

    /// With one more header (a second value of `User-Agent` replaces the client's own).
    pub(crate) fn header(mut self, name: header::HeaderName, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }
}

/// An HTTP answer as it came: its status, the web ticket service a 401 named, its body.
struct Answer {
    status: StatusCode,
    web_ticket_url: Option<String>,
    bytes: Bytes,
}

/// A successful answer.
pub(crate) struct Reply {
    pub(crate) body: Bytes,
}

impl Reply {
    /// The body as text.
    pub(crate) fn text(&self, target: &Target) -> Result<String, HttpFailure> {
        String::from_utf8(self.body.to_vec()).map_err(|_| {
            HttpFailure::BadResponse(format!("{}: the body is not UTF-8", target.host))
        })
    }
}

/// A kept-alive HTTP/1.1 connection and the task that drives it.
struct Idle {
    sender: hyper::client::conn::http1::SendRequest<Full<Bytes>>,
    driver: tokio::task::JoinHandle<()>,
}

impl Idle {
    /// HTTP/1.1 over `io`, its connection driven by a task of its own.
    async fn over<IO>(io: IO, where_: &str) -> Result<Idle, HttpFailure>
    where
        IO: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    {
        let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(io))
            .await
            .map_err(|e| hyper_failure(&e, where_))?;
        let driver = tokio::spawn(async move {
            let _ = conn.await;
        });
        Ok(Idle { sender, driver })
    }
}

/// The client's TLS settings, how it names itself, and the connections it keeps alive.
pub(crate) struct Https {
    provider: Arc<rustls::crypto::CryptoProvider>,
    roots: Arc<RootCertStore>,
    user_agent: String,
    /// Connections that answered their last request, by host and address.
    idle: Mutex<HashMap<(String, SocketAddr), Idle>>,
    cost: Mutex<PublicKeyCost>,
}

impl Drop for Https {
    fn drop(&mut self) {
        for (_, idle) in lock(&self.idle).drain() {
            idle.driver.abort();
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Https {
    pub(crate) fn new(trusted_roots_pem: &[String], user_agent: String) -> Result<Https, String> {
        let mut roots = RootCertStore::empty();
        for pem in trusted_roots_pem {
            let der = lyncsim_pki::pem_decode("CERTIFICATE", pem).map_err(|e| e.to_string())?;
            roots
                .add(CertificateDer::from(der))
                .map_err(|e| format!("a trusted root is unusable: {e}"))?;
        }
        Ok(Https {
            provider: Arc::new(rustls::crypto::aws_lc_rs::default_provider()),
            roots: Arc::new(roots),
            user_agent,
            idle: Mutex::default(),
            cost: Mutex::default(),
        })
    }

    /// The public-key operations of the handshakes so far.
    pub(crate) fn cost(&self) -> PublicKeyCost {
        lock(&self.cost).clone()
    }

    /// Counts a TLS-DSK handshake made over one of this client's connections.
    pub(crate) fn count_tls_dsk(&self, client: &[u8], server: Option<&[u8]>) {
        lock(&self.cost).tls_dsk_handshake(client, server);
    }

    /// Counts a certificate provisioned.
    pub(crate) fn count_provisioning(&self, new_key: Option<lyncsim_pki::KeyKind>, issued: &[u8]) {
        lock(&self.cost).provisioning(new_key, issued);
    }

    fn config(&self, alpn: Option<&[u8]>) -> Result<ClientConfig, HttpFailure> {
        let mut config = ClientConfig::builder_with_provider(self.provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| HttpFailure::Tls(e.to_string()))?
            .with_root_certificates(self.roots.clone())
            .with_no_client_auth();
        config.alpn_protocols = alpn.into_iter().map(<[u8]>::to_vec).collect();
        Ok(config)
    }

    /// A TLS connection to `target`, the server's certificate checked against the machine's
    /// trusted roots; `alpn` names the protocol to speak on it, if any.
    pub(crate) async fn connect(
        &self,
        target: &Target,
        alpn: Option<&[u8]>,
    ) -> Result<TlsStream<TcpStream>, HttpFailure> {
        let where_ = format!("{} at {}", target.host, target.addr);
        let tcp = self.tcp(target).await?;
        let connector = TlsConnector::from(Arc::new(self.config(alpn)?));
        let server_name = ServerName::try_from(target.host.clone())
            .map_err(|e| HttpFailure::Tls(format!("bad host name: {e}")))?;
        let tls = connector
            .connect(server_name, tcp)
            .await
            .map_err(|e| io_failure(&e, &where_))?;
        let conn = tls.get_ref().1;
        let chain: Vec<&[u8]> = conn
            .peer_certificates()
            .unwrap_or_default()
            .iter()
            .map(|c| c.as_ref())
            .collect();
        lock(&self.cost).tls_handshake(
            conn.negotiated_key_exchange_group()
                .map(|g| format!("{:?}", g.name())),
            conn.handshake_kind() == Some(rustls::HandshakeKind::Resumed),
            &chain,
        );
        Ok(tls)
    }

    /// A TCP connection to `target`, within the connect limit.
    async fn tcp(&self, target: &Target) -> Result<TcpStream, HttpFailure> {
        let where_ = format!("{} at {}", target.host, target.addr);
        match tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(target.addr)).await {
            Err(_) => Err(HttpFailure::TimedOut(format!("connecting to {where_}"))),
            Ok(Err(e)) => Err(io_failure(&e, &where_)),
            Ok(Ok(tcp)) => Ok(tcp),
        }
    }

    /// The User-Agent the client names itself with.
    pub(crate) fn user_agent(&self) -> &str {
        &self.user_agent
    }

    /// Sends one request: a 2xx answer is the reply, anything else a failure.
    pub(crate) async fn request(
        &self,
        target: &Target,
        call: Call<'_>,
    ) -> Result<Reply, HttpFailure> {
        let Answer {
            status,
            web_ticket_url,
            bytes,
        } = tokio::time::timeout(REQUEST_TIMEOUT, self.exchange(target, call))
            .await
            .map_err(|_| {
                HttpFailure::TimedOut(format!(
                    "no answer from {} within {REQUEST_TIMEOUT:?}",
                    target.host
                ))
            })??;
        if status.is_success() {
            return Ok(Reply { body: bytes });
        }
        if let (StatusCode::UNAUTHORIZED, Some(url)) = (status, web_ticket_url) {
            return Err(HttpFailure::NeedsWebTicket(url));
        }
        if let Ok(Some(fault)) = SoapFault::read(&String::from_utf8_lossy(&bytes)) {
            return Err(HttpFailure::Fault(fault.describe()));
        }
        let detail = match serde_json::from_slice::<Problem>(&bytes) {
            Ok(problem) => problem.detail,
            Err(_) if bytes.is_empty() => "an empty body".into(),
            Err(_) => String::from_utf8_lossy(&bytes).chars().take(200).collect(),
        };
        match status {
            StatusCode::BAD_GATEWAY
            | StatusCode::SERVICE_UNAVAILABLE
            | StatusCode::GATEWAY_TIMEOUT => Err(HttpFailure::Unavailable {
                status: status.as_u16(),
                detail,
            }),
            s if s.is_client_error() => Err(HttpFailure::Refusal {
                status: s.as_u16(),
                detail,
            }),
            s => Err(HttpFailure::BadResponse(format!(
                "HTTP {}: {detail}",
                s.as_u16()
            ))),
        }
    }

    async fn exchange(&self, target: &Target, call: Call<'_>) -> Result<Answer, HttpFailure> {
        let where_ = format!("{} at {}", target.host, target.addr);
        let (media, payload) = match call.body {
            Some((media, b)) => (Some(media), Bytes::from(b)),
            None => (None, Bytes::new()),
        };
        let build = || {
            let mut req = Request::builder()
                .method(call.method.clone())
                .uri(call.path)
                .header(header::HOST, &target.host);
            if !call.headers.iter().any(|(n, _)| n == header::USER_AGENT) {
                req = req.header(header::USER_AGENT, &self.user_agent);
            }
            if let Some(media) = media {
                req = req.header(header::CONTENT_TYPE, media);
            }
            for (name, value) in &call.headers {
                req = req.header(name, value);
            }
            req.body(Full::new(payload.clone()))
                .map_err(|e| HttpFailure::BadResponse(e.to_string()))
        };
        let key = (target.host.clone(), target.addr);
        // A kept-alive connection first; if the server closed it in the meantime, the
        // request goes once more on a new one, as WinHTTP does.
        let kept = lock(&self.idle).remove(&key);
        if let Some(mut idle) = kept {
            if idle.sender.ready().await.is_ok() {
                match self.send(&where_, &mut idle, build()?).await {
                    Ok(answer) => {
                        lock(&self.idle).insert(key, idle);
                        return Ok(answer);
                    }
                    Err(HttpFailure::Reset(_) | HttpFailure::CutOff(_)) => {}
                    Err(other) => {
                        idle.driver.abort();
                        return Err(other);
                    }
                }
            }
            idle.driver.abort();
        }
        let mut idle = if target.tls {
            let tls = self.connect(target, Some(b"http/1.1")).await?;
            Idle::over(tls, &where_).await?
        } else {
            Idle::over(self.tcp(target).await?, &where_).await?
        };
        let answer = self.send(&where_, &mut idle, build()?).await;
        if answer.is_ok() {
            lock(&self.idle).insert(key, idle);
        } else {
            idle.driver.abort();
        }
        answer
    }

    /// One request on `conn`, its answer read to the end.
    async fn send(
        &self,
        where_: &str,
        conn: &mut Idle,
        req: Request<Full<Bytes>>,
    ) -> Result<Answer, HttpFailure> {
        let resp = conn
            .sender
            .send_request(req)
            .await
            .map_err(|e| hyper_failure(&e, where_))?;
        let status = resp.status();
        let web_ticket_url = resp
            .headers()
            .get("x-ms-webticketurl")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let bytes = resp
            .into_body()
            .collect()
            .await
            .map_err(|e| hyper_failure(&e, where_))?
            .to_bytes();
        Ok(Answer {
            status,
            web_ticket_url,
            bytes,
        })
    }
}

/// Classifies an I/O error, looking inside for a TLS error.
pub(crate) fn io_failure(e: &std::io::Error, where_: &str) -> HttpFailure {
    if let Some(tls) = e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
    {
        return tls_failure(tls, where_);
    }
    use std::io::ErrorKind::*;
    match e.kind() {
        ConnectionRefused => HttpFailure::Refused(where_.to_owned()),
        ConnectionReset | ConnectionAborted | BrokenPipe => HttpFailure::Reset(where_.to_owned()),
        UnexpectedEof => HttpFailure::CutOff(format!("{where_} closed the connection")),
        TimedOut => HttpFailure::TimedOut(where_.to_owned()),
        _ => HttpFailure::Reset(format!("{where_}: {e}")),
    }
}

fn tls_failure(e: &rustls::Error, where_: &str) -> HttpFailure {
    match e {
        rustls::Error::AlertReceived(alert) => {
            HttpFailure::TlsAlert(format!("{where_} sent alert {alert:?}"))
        }
        rustls::Error::InvalidCertificate(cert) => {
            HttpFailure::Tls(format!("{where_}: {}", secure_failure(cert)))
        }
        _ => HttpFailure::Tls(format!(
            "{where_}: ERROR_WINHTTP_SECURE_FAILURE (12175): the secure channel could not be set up"
        )),
    }
}

/// A server certificate the machine does not accept, as WinHTTP names it (the error numbers
/// are WinHTTP's; that Lync's trace wrote these is lyncsim's reading), never a TLS library's
/// words: a trainee reads the trace.
fn secure_failure(e: &rustls::CertificateError) -> &'static str {
    use rustls::CertificateError::*;
    match e {
        NotValidForName | NotValidForNameContext { .. } => {
            "ERROR_WINHTTP_SECURE_CERT_CN_INVALID (12038): the server's certificate does not name the host"
        }
        Expired | ExpiredContext { .. } | NotValidYet | NotValidYetContext { .. } => {
            "ERROR_WINHTTP_SECURE_CERT_DATE_INVALID (12037): the server's certificate is outside its validity"
        }
        UnknownIssuer => {
            "ERROR_WINHTTP_SECURE_INVALID_CA (12045): the server's certificate was issued by an authority this computer does not trust"
        }
        Revoked => {
            "ERROR_WINHTTP_SECURE_CERT_REVOKED (12170): the server's certificate was revoked"
        }
        _ => "ERROR_WINHTTP_SECURE_INVALID_CERT (12169): the server's certificate is not valid",
    }
}

/// Classifies a hyper error by the I/O error inside it, if any.
fn hyper_failure(e: &hyper::Error, where_: &str) -> HttpFailure {
    let mut source: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(e);
    while let Some(s) = source {
        if let Some(io) = s.downcast_ref::<std::io::Error>() {
            return io_failure(io, where_);
        }
        if let Some(tls) = s.downcast_ref::<rustls::Error>() {
            return tls_failure(tls, where_);
        }
        source = s.source();
    }
    if e.is_incomplete_message() || e.is_closed() {
        return HttpFailure::CutOff(format!(
            "{where_} closed the connection before the response was complete"
        ));
    }
    HttpFailure::BadResponse(format!("{where_}: {e}"))
}
