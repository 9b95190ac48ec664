//! The admin API of a running service, typed: the one client that the CLI, a [`crate::Lab`]
//! and the tests use to read the service, put faults in force and set its clock. It speaks
//! plain HTTP to a loopback address only, as the admin API listens nowhere else.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::{Request, header};
use hyper_util::rt::TokioIo;
use lyncsim_wire::Problem;
use lyncsim_wire::admin::{
    ClockSettings, ClockUpdate, Fault, FaultRecord, JournalEntry, NewUser, ServiceInfo,
    TimeResponse, UserView,
};
use serde::Serialize;
use serde::de::DeserializeOwned;

pub use hyper::Method;
use tokio::net::TcpStream;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);

/// A service's admin API, by the `admin_url` that `lyncsim serve` prints.
#[derive(Debug, Clone)]
pub struct AdminClient {
    base: String,
}

impl AdminClient {
    /// The admin API at `url` (`http://127.0.0.1:PORT`). A URL without a scheme is refused
    /// with the `http://` it probably lacks; where it points is checked on the first call.
    pub fn new(url: &str) -> anyhow::Result<AdminClient> {
        let base = url.trim_end_matches('/');
        if !base.contains("://") {
            anyhow::bail!(
                "{base} is not a URL: it has no scheme; did you mean http://{base}? (the admin_url that lyncsim serve prints)"
            );
        }
        Ok(AdminClient {
            base: base.to_owned(),
        })
    }

    /// The URL it was made with, without a trailing slash.
    pub fn url(&self) -> &str {
        &self.base
    }

    /// One call; an answer other than `expected` is an error with the service's reason.
    async fn call<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&impl Serialize>,
        expected: u16,
    ) -> anyhow::Result<T> {
        let (status, bytes) = self.raw(method, path, body).await?;
        if status != expected {
            anyhow::bail!("{}", refusal(status, &bytes));
        }
        serde_json::from_slice(&bytes).map_err(|e| {
            anyhow::anyhow!(
                "{}{path} answered what is not the admin API's JSON ({e})",
                self.base
            )
        })
    }

    /// One call, its status and body as they came.
    async fn raw(
        &self,
        method: Method,
        path: &str,
        body: Option<&impl Serialize>,
    ) -> anyhow::Result<(u16, Vec<u8>)> {
        let json = body.map(serde_json::to_vec).transpose()?;
        admin_call(method, &format!("{}{path}", self.base), json).await
    }

    async fn text(&self, path: &str) -> anyhow::Result<String> {
        let (status, bytes) = self.raw(Method::GET, path, None::<&()>).await?;
        if status != 200 {
            anyhow::bail!("{}", refusal(status, &bytes));
        }
        String::from_utf8(bytes).map_err(|_| anyhow::anyhow!("{}{path} is not text", self.base))
    }

    /// How to reach the service: what the ready file holds.
    pub async fn info(&self) -> anyhow::Result<ServiceInfo> {
        self.call(Method::GET, "/", None::<&()>, 200).await
    }

    /// The public root that signs the hosts' certificates, PEM.
    pub async fn root_pem(&self) -> anyhow::Result<String> {
        self.text("/ca/root.pem").await
    }

    /// The Communications Server CA that issues personal certificates, PEM.
    pub async fn communications_server_pem(&self) -> anyhow::Result<String> {
        self.text("/ca/communications-server.pem").await
    }

    /// What the service saw.
    pub async fn journal(&self) -> anyhow::Result<Vec<JournalEntry>> {
        self.call(Method::GET, "/journal", None::<&()>, 200).await
    }

    /// The tenant's users.
    pub async fn users(&self) -> anyhow::Result<Vec<UserView>> {
        self.call(Method::GET, "/users", None::<&()>, 200).await
    }

    /// Adds a user.
    pub async fn add_user(&self, user: &NewUser) -> anyhow::Result<UserView> {
        self.call(Method::POST, "/users", Some(user), 201).await
    }

    /// The faults in force.
    pub async fn faults(&self) -> anyhow::Result<Vec<FaultRecord>> {
        self.call(Method::GET, "/faults", None::<&()>, 200).await
    }

    /// Puts a fault in force.
    pub async fn add_fault(&self, fault: &Fault) -> anyhow::Result<FaultRecord> {
        self.call(Method::POST, "/faults", Some(fault), 201).await
    }

    /// Removes a fault, undoing it; the record says what the undo changed.
    pub async fn remove_fault(&self, id: u64) -> anyhow::Result<FaultRecord> {
        self.call(Method::DELETE, &format!("/faults/{id}"), None::<&()>, 200)
            .await
    }

    /// Removes every fault, newest first.
    pub async fn clear_faults(&self) -> anyhow::Result<Vec<FaultRecord>> {
        self.call(Method::DELETE, "/faults", None::<&()>, 200).await
    }

    /// The service clock's offset and tolerance.
    pub async fn clock(&self) -> anyhow::Result<ClockSettings> {
        self.call(Method::GET, "/clock", None::<&()>, 200).await
    }

    /// Changes the service clock.
    pub async fn set_clock(&self, update: &ClockUpdate) -> anyhow::Result<ClockSettings> {
        self.call(Method::PUT, "/clock", Some(update), 200).await
    }

    /// The trusted time source.
    pub async fn time(&self) -> anyhow::Result<TimeResponse> {
        self.call(Method::GET, "/time", None::<&()>, 200).await
    }
}

/// A refusal as a person reads it: the status and the problem's detail.
fn refusal(status: u16, body: &[u8]) -> String {
    match serde_json::from_slice::<Problem>(body) {
        Ok(p) => format!("HTTP {status}: {}", p.detail),
        Err(_) => format!("HTTP {status}: {}", String::from_utf8_lossy(body)),
    }
}

/// GETs a URL of the admin API (plain HTTP on loopback); an answer other than 2xx is an error.
pub async fn fetch_plain(url: &str) -> anyhow::Result<Vec<u8>> {
    let (status, body) = admin_call(Method::GET, url, None).await?;
    if !(200..300).contains(&status) {
        anyhow::bail!(
            "{url} answered HTTP {status}: {}",
            String::from_utf8_lossy(&body)
        );
    }
    Ok(body)
}

/// The environment variable whose value, when set, is sent as the admin API's bearer token
/// (the one `lyncsim serve --admin-token` takes).
pub const ADMIN_TOKEN_VAR: &str = "LYNCSIM_ADMIN_TOKEN";

/// One request to the admin API (plain HTTP on loopback): its status and body; with the
/// token of [`ADMIN_TOKEN_VAR`] when it is set.
pub async fn admin_call(
    method: Method,
    url: &str,
    json: Option<Vec<u8>>,
) -> anyhow::Result<(u16, Vec<u8>)> {
    if !url.contains("://") {
        anyhow::bail!(
            "{url} is not a URL: it has no scheme; did you mean http://{url}? (the admin_url that lyncsim serve prints)"
        );
    }
    let uri: hyper::Uri = url
        .parse()
        .map_err(|e| anyhow::anyhow!("{url} is not a URL: {e}"))?;
    if uri.scheme_str() != Some("http") {
        anyhow::bail!("{url}: the admin API is plain http://");
    }
    let host = uri
        .host()
        .ok_or_else(|| anyhow::anyhow!("{url} has no host"))?;
    let ip: IpAddr = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .parse()
        .map_err(|_| {
            anyhow::anyhow!(
                "{url}: give the admin API by its loopback address, as `lyncsim serve` prints it"
            )
        })?;
    if !ip.is_loopback() {
        anyhow::bail!("{url}: the admin API is only ever on loopback (127.0.0.0/8)");
    }
    let addr = SocketAddr::new(ip, uri.port_u16().unwrap_or(80));
    let tcp = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(addr))
        .await
        .map_err(|_| anyhow::anyhow!("connecting to {addr} timed out"))?
        .map_err(|e| anyhow::anyhow!("cannot reach the service at {addr}: {e}"))?;
    // Something listens; whether it is an admin API shows in its answer.
    let not_admin = |e: &dyn std::fmt::Display| {
        anyhow::anyhow!(
            "no lyncsim admin API answered at {addr} ({e}); give the admin_url that lyncsim serve prints"
        )
    };
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
        .await
        .map_err(|e| not_admin(&e))?;
    let driver = tokio::spawn(conn);
    let path = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
    let mut req = Request::builder()
        .method(method)
        .uri(path)
        .header(header::HOST, host)
        .header(header::CONTENT_TYPE, "application/json");
    // A service started with a token (`lyncsim serve --admin-token`) wants it on every request.
    if let Some(token) = std::env::var(ADMIN_TOKEN_VAR)
        .ok()
        .filter(|t| !t.is_empty())
    {
        req = req.header(header::AUTHORIZATION, format!("Bearer {token}"));
    }
    let req = req.body(Full::new(Bytes::from(json.unwrap_or_default())))?;
    let resp = tokio::time::timeout(REQUEST_TIMEOUT, sender.send_request(req))
        .await
        .map_err(|_| not_admin(&format!("no answer within {REQUEST_TIMEOUT:?}")))?
        .map_err(|e| not_admin(&e))?;
    let status = resp.status().as_u16();
    let body = resp.into_body().collect().await?.to_bytes().to_vec();
    driver.abort();
    Ok((status, body))
}
