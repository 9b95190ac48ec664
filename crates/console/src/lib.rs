//! The training console (`lyncsim train`): a web page where a trainee meets a broken machine
//! as a help-desk agent would, looks at it with the views Windows gives, applies the steps of
//! KB 2604176, signs in, and gets a debrief scored against the shortest KB path.
//!
//! Each attempt is an [`Exercise`] of `lyncsim_harness::train`: its own service and machine,
//! every sign-in and every step real, each written to the attempt's event log in the data
//! folder before the page shows it. Pages are rendered on the server (maud, checked at compile
//! time) and updated in place with htmx, which is vendored into the binary: the console works
//! offline and has no JavaScript of its own. It listens on loopback only.
#![warn(missing_docs)]

mod attempt;
mod pages;
mod text;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use axum::Router;
use axum::extract::{Form, Path as UrlPath, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use lyncsim_domain::Remedy;
use serde::Deserialize;
use tokio::sync::Mutex;
use tokio_util::sync::CancellationToken;

use crate::attempt::{Attempt, Start};

/// Where the console listens and keeps its attempts.
#[derive(Debug, Clone)]
pub struct ConsoleConfig {
    /// A loopback address; port 0 picks a free one.
    pub listen: SocketAddr,
    /// Each attempt's event log goes in a folder of its own below this one.
    pub data_dir: PathBuf,
}

type Attempts = Mutex<BTreeMap<String, Arc<Mutex<Attempt>>>>;

struct Shared {
    attempts: Attempts,
    data_dir: PathBuf,
}

/// A console that serves until [`RunningConsole::shutdown`] (or drop).
pub struct RunningConsole {
    addr: SocketAddr,
    stop: CancellationToken,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl RunningConsole {
    /// The console's address (`http://127.0.0.1:PORT`).
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops serving and waits for the server to end.
    pub async fn shutdown(mut self) {
        self.stop.cancel();
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for RunningConsole {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// Binds the console and starts serving it.
pub async fn start(config: ConsoleConfig) -> anyhow::Result<RunningConsole> {
    if !config.listen.ip().is_loopback() {
        anyhow::bail!(
            "the console listens on loopback only (127.0.0.0/8 or ::1), not {}",
            config.listen
        );
    }
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("making the data folder {}", config.data_dir.display()))?;
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("listening on {}", config.listen))?;
    let addr = listener.local_addr()?;
    let shared = Arc::new(Shared {
        attempts: Mutex::new(BTreeMap::new()),
        data_dir: config.data_dir,
    });
    let stop = CancellationToken::new();
    let stopped = stop.clone();
    let task = tokio::spawn(async move {
        let served = axum::serve(listener, router(shared))
            .with_graceful_shutdown(async move { stopped.cancelled().await })
            .await;
        if let Err(e) = served {
            tracing::error!("the console stopped: {e}");
        }
    });
    Ok(RunningConsole {
        addr,
        stop,
        task: Some(task),
    })
}

fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/", get(home))
        .route("/assets/htmx.min.js", get(htmx))
        .route("/assets/console.css", get(css))
        .route("/attempts", post(start_attempt))
        .route("/attempts/{id}", get(desktop))
        .route("/attempts/{id}/signin", post(sign_in))
        .route("/attempts/{id}/view/{view}", get(view))
        .route("/attempts/{id}/step/{remedy}", post(step))
        .route("/attempts/{id}/cmd", post(command))
        .route("/attempts/{id}/second-account", post(second_account))
        .route("/attempts/{id}/debrief", get(debrief))
        .with_state(shared)
}

/// A failure shown to the trainee as a page (or a fragment) with its reason.
struct Failed(StatusCode, String);

impl IntoResponse for Failed {
    fn into_response(self) -> Response {
        (self.0, pages::failure(&self.1)).into_response()
    }
}

impl From<anyhow::Error> for Failed {
    fn from(e: anyhow::Error) -> Self {
        Failed(StatusCode::INTERNAL_SERVER_ERROR, format!("{e:#}"))
    }
}

async fn find(shared: &Shared, id: &str) -> Result<Arc<Mutex<Attempt>>, Failed> {
    shared
        .attempts
        .lock()
        .await
        .get(id)
        .cloned()
        .ok_or_else(|| {
            Failed(
                StatusCode::NOT_FOUND,
                format!("there is no attempt {id:?} on this console"),
            )
        })
}

async fn home(State(shared): State<Arc<Shared>>) -> maud::Markup {
    let mut rows = Vec::new();
    for (id, attempt) in shared.attempts.lock().await.iter() {
        let a = attempt.lock().await;
        rows.push(pages::AttemptRow {
            id: id.clone(),
            trainee: a.trainee.clone(),
            summary: a.summary(),
        });
    }
    pages::home(&rows)
}

async fn htmx() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
        include_str!("../assets/htmx.min.js"),
    )
}

async fn css() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/css; charset=utf-8")],
        include_str!("../assets/console.css"),
    )
}

async fn start_attempt(
    State(shared): State<Arc<Shared>>,
    Form(start): Form<Start>,
) -> Result<Redirect, Failed> {
    let spec = start
        .spec()
        .map_err(|e| Failed(StatusCode::BAD_REQUEST, format!("{e:#}")))?;
    let id = {
        let attempts = shared.attempts.lock().await;
        format!("a{}", attempts.len() + 1)
    };
    let attempt =
        Attempt::begin(&id, start.trainee_name(), spec, &shared.data_dir.join(&id)).await?;
    shared
        .attempts
        .lock()
        .await
        .insert(id.clone(), Arc::new(Mutex::new(attempt)));
    Ok(Redirect::to(&format!("/attempts/{id}")))
}

async fn desktop(
    State(shared): State<Arc<Shared>>,
    UrlPath(id): UrlPath<String>,
) -> Result<maud::Markup, Failed> {
    let attempt = find(&shared, &id).await?;
    let a = attempt.lock().await;
    Ok(pages::desktop(&a))
}

async fn sign_in(
    State(shared): State<Arc<Shared>>,
    UrlPath(id): UrlPath<String>,
) -> Result<maud::Markup, Failed> {
    let attempt = find(&shared, &id).await?;
    let mut a = attempt.lock().await;
    a.sign_in().await?;
    Ok(pages::sign_in_window(&a))
}

async fn view(
    State(shared): State<Arc<Shared>>,
    UrlPath((id, view)): UrlPath<(String, String)>,
) -> Result<maud::Markup, Failed> {
    let attempt = find(&shared, &id).await?;
    let mut a = attempt.lock().await;
    let panel = a.view(&view).await.map_err(|e| match e {
        attempt::ViewError::Unknown => {
            Failed(StatusCode::NOT_FOUND, format!("there is no view {view:?}"))
        }
        attempt::ViewError::Failed(e) => e.into(),
    })?;
    Ok(pages::panel(&a, &panel))
}

async fn step(
    State(shared): State<Arc<Shared>>,
    UrlPath((id, remedy)): UrlPath<(String, String)>,
) -> Result<maud::Markup, Failed> {
    let remedy: Remedy = remedy
        .parse()
        .map_err(|e| Failed(StatusCode::NOT_FOUND, format!("{e}")))?;
    let attempt = find(&shared, &id).await?;
    let mut a = attempt.lock().await;
    let done = a.step(remedy).await?;
    Ok(pages::done(&a, remedy, &done))
}

#[derive(Debug, Deserialize)]
struct CommandLine {
    line: String,
}

async fn command(
    State(shared): State<Arc<Shared>>,
    UrlPath(id): UrlPath<String>,
    Form(cmd): Form<CommandLine>,
) -> Result<maud::Markup, Failed> {
    let attempt = find(&shared, &id).await?;
    let mut a = attempt.lock().await;
    let output = a.command(&cmd.line).await?;
    Ok(pages::command_output(&a, &cmd.line, &output))
}

async fn second_account(
    State(shared): State<Arc<Shared>>,
    UrlPath(id): UrlPath<String>,
) -> Result<maud::Markup, Failed> {
    let attempt = find(&shared, &id).await?;
    let mut a = attempt.lock().await;
    let (who, seen) = a.second_account().await?;
    Ok(pages::second_account(&who, &seen))
}

async fn debrief(
    State(shared): State<Arc<Shared>>,
    UrlPath(id): UrlPath<String>,
) -> Result<maud::Markup, Failed> {
    let attempt = find(&shared, &id).await?;
    let mut a = attempt.lock().await;
    let debrief = a.debrief().await?;
    Ok(pages::debrief(&a, &debrief))
}
