//! The training console (`lyncsim train`): a web page where a trainee meets a broken machine
//! as a help-desk agent would, looks at it with the views Windows gives, applies the steps of
//! KB 2604176, signs in, and gets a debrief scored against the shortest KB path.
//!
//! Each attempt is an [`Exercise`] of `crate::engine`: its own service and machine,
//! every sign-in and every step real, each written to the attempt's event log in the data
//! folder before the page shows it. Pages are rendered on the server (maud, checked at compile
//! time) and updated in place with htmx, which is vendored into the binary: the console works
//! offline and has no JavaScript of its own. It listens on loopback only.
#![warn(missing_docs)]

mod attempt;
mod cohort;
pub mod engine;
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
use crate::cohort::{BoardRow, Cohort, CohortForm, TraineeResult};

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
    cohorts: Mutex<BTreeMap<String, Cohort>>,
    /// The join code of a cohort whose board changed.
    changes: tokio::sync::broadcast::Sender<String>,
    data_dir: PathBuf,
    stop: CancellationToken,
    next_attempt: std::sync::atomic::AtomicUsize,
    /// Attempts found in the data folder that could not be taken up again, and why.
    unresumed: Vec<(String, String)>,
}

impl Shared {
    /// Tells the cohort's board, if the attempt has one, that it changed.
    fn changed(&self, attempt: &Attempt) {
        if let Some(code) = &attempt.cohort {
            let _ = self.changes.send(code.clone());
        }
    }
}

/// A console that serves until [`RunningConsole::shutdown`] (or drop).
pub struct RunningConsole {
    addr: SocketAddr,
    stop: CancellationToken,
    task: Option<tokio::task::JoinHandle<()>>,
    shared: Arc<Shared>,
}

impl RunningConsole {
    /// The console's address (`http://127.0.0.1:PORT`).
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops serving, waits for the server to end, then stops every attempt's service and
    /// waits until none listens any more (a console started again on the same folder takes
    /// the attempts up on the same addresses).
    pub async fn shutdown(mut self) {
        self.stop.cancel();
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
        let attempts = std::mem::take(&mut *self.shared.attempts.lock().await);
        for (_, attempt) in attempts {
            if let Ok(attempt) = Arc::try_unwrap(attempt) {
                attempt.into_inner().exercise.shutdown().await;
            }
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
    let stop = CancellationToken::new();
    let (cohorts, attempts, unresumed, next) = resume(&config.data_dir).await?;
    let shared = Arc::new(Shared {
        attempts: Mutex::new(attempts),
        cohorts: Mutex::new(cohorts),
        changes: tokio::sync::broadcast::channel(256).0,
        data_dir: config.data_dir,
        stop: stop.clone(),
        next_attempt: std::sync::atomic::AtomicUsize::new(next),
        unresumed,
    });
    let stopped = stop.clone();
    let serving = shared.clone();
    let task = tokio::spawn(async move {
        let served = axum::serve(listener, router(serving))
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
        shared,
    })
}

/// What a console left in its data folder: its cohorts, its attempts taken up again, those that
/// could not be (and why), and the number of the next attempt.
type Resumed = (
    BTreeMap<String, Cohort>,
    BTreeMap<String, Arc<Mutex<Attempt>>>,
    Vec<(String, String)>,
    usize,
);

/// The cohorts and attempts a console left in `data_dir`, taken up again, and the number of the
/// next attempt. An attempt that cannot be taken up (the console stopped while preparing it)
/// is left where it is, with a warning.
async fn resume(data_dir: &std::path::Path) -> anyhow::Result<Resumed> {
    let mut cohorts = BTreeMap::new();
    if let Ok(entries) = std::fs::read_dir(data_dir.join("cohorts")) {
        for entry in entries.flatten() {
            let file = entry.path().join("cohort.json");
            let cohort: Cohort = serde_json::from_slice(
                &std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?,
            )
            .with_context(|| format!("reading {}", file.display()))?;
            cohorts.insert(cohort.code.clone(), cohort);
        }
    }
    let mut attempts = BTreeMap::new();
    let mut unresumed = Vec::new();
    let mut next = 1;
    let mut numbered: Vec<(usize, PathBuf)> = std::fs::read_dir(data_dir)
        .with_context(|| format!("reading {}", data_dir.display()))?
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let n: usize = name.strip_prefix('a')?.parse().ok()?;
            Some((n, e.path()))
        })
        .collect();
    numbered.sort();
    for (n, dir) in numbered {
        next = next.max(n + 1);
        match Attempt::resume(&dir).await {
            Ok(a) => {
                attempts.insert(a.id.clone(), Arc::new(Mutex::new(a)));
            }
            Err(e) => {
                tracing::warn!("attempt a{n} is not taken up again: {e:#}");
                unresumed.push((format!("a{n}"), format!("{e:#}")));
            }
        }
    }
    Ok((cohorts, attempts, unresumed, next))
}

fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/", get(home))
        .route("/assets/htmx.min.js", get(htmx))
        .route("/assets/htmx-sse.min.js", get(htmx_sse))
        .route("/assets/console.css", get(css))
        .route("/cohorts", post(new_cohort))
        .route("/cohorts/{code}", get(board))
        .route("/cohorts/{code}/stream", get(board_stream))
        .route("/cohorts/{code}/results", get(results))
        .route("/cohorts/{code}/results.json", get(results_json))
        .route("/cohorts/{code}/results.csv", get(results_csv))
        .route("/join", post(join))
        .route("/attempts", post(start_attempt))
        .route("/attempts/{id}", get(desktop))
        .route("/attempts/{id}/signin", post(sign_in))
        .route("/attempts/{id}/view/{view}", get(view))
        .route("/attempts/{id}/step/{remedy}", post(step))
        .route("/attempts/{id}/cmd", post(command))
        .route("/attempts/{id}/second-account", post(second_account))
        .route("/attempts/{id}/hint", post(hint))
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
    pages::home(&rows, &shared.unresumed)
}

async fn htmx() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
        include_str!("../assets/htmx.min.js"),
    )
}

async fn htmx_sse() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
        include_str!("../assets/htmx-sse.min.js"),
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
    begin(&shared, start.trainee_name(), None, spec).await
}

/// Prepares an attempt and sends the trainee to it.
async fn begin(
    shared: &Shared,
    trainee: String,
    cohort: Option<(String, u32)>,
    spec: crate::engine::ExerciseSpec,
) -> Result<Redirect, Failed> {
    // The number is taken first: an exercise takes seconds to prepare, and other trainees
    // start meanwhile.
    let id = format!(
        "a{}",
        shared
            .next_attempt
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst)
    );
    let attempt = Attempt::begin(&id, trainee, cohort, spec, &shared.data_dir.join(&id)).await?;
    let code = attempt.cohort.clone();
    shared
        .attempts
        .lock()
        .await
        .insert(id.clone(), Arc::new(Mutex::new(attempt)));
    if let Some(code) = code {
        let _ = shared.changes.send(code);
    }
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
    shared.changed(&a);
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
    shared.changed(&a);
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
    let done = a.step(remedy).await.map_err(|e| match e {
        // A step the machine does not offer (Fix it on Lync 2013) is the request's fault,
        // not the console's: refused, and nothing recorded.
        attempt::StepError::NotOffered(why) => Failed(StatusCode::BAD_REQUEST, why.to_string()),
        attempt::StepError::Failed(e) => e.into(),
    })?;
    shared.changed(&a);
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
    shared.changed(&a);
    Ok(pages::command_output(&a, &cmd.line, &output))
}

async fn second_account(
    State(shared): State<Arc<Shared>>,
    UrlPath(id): UrlPath<String>,
) -> Result<maud::Markup, Failed> {
    let attempt = find(&shared, &id).await?;
    let mut a = attempt.lock().await;
    let (who, seen) = a.second_account().await?;
    shared.changed(&a);
    Ok(pages::second_account(&who, &seen))
}

async fn hint(
    State(shared): State<Arc<Shared>>,
    UrlPath(id): UrlPath<String>,
) -> Result<maud::Markup, Failed> {
    let attempt = find(&shared, &id).await?;
    let mut a = attempt.lock().await;
    let hint = a.hint()?;
    shared.changed(&a);
    Ok(pages::hint(&a, hint.as_deref()))
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

async fn new_cohort(
    State(shared): State<Arc<Shared>>,
    Form(form): Form<CohortForm>,
) -> Result<Redirect, Failed> {
    let mut cohorts = shared.cohorts.lock().await;
    let code = loop {
        let code = cohort::join_code();
        if !cohorts.contains_key(&code) {
            break code;
        }
    };
    let cohort = form
        .cohort(code.clone())
        .map_err(|e| Failed(StatusCode::BAD_REQUEST, format!("{e:#}")))?;
    cohort.save(&shared.data_dir.join("cohorts").join(&code))?;
    cohorts.insert(code.clone(), cohort);
    Ok(Redirect::to(&format!("/cohorts/{code}")))
}

async fn find_cohort(shared: &Shared, code: &str) -> Result<Cohort, Failed> {
    let code = cohort::normalise(code).map_err(|e| Failed(StatusCode::NOT_FOUND, e.to_string()))?;
    shared
        .cohorts
        .lock()
        .await
        .get(&code)
        .cloned()
        .ok_or_else(|| {
            Failed(
                StatusCode::NOT_FOUND,
                format!("there is no cohort with the join code {code} on this console"),
            )
        })
}

#[derive(Debug, Deserialize)]
struct JoinForm {
    #[serde(default)]
    code: String,
    #[serde(default)]
    trainee: String,
}

async fn join(
    State(shared): State<Arc<Shared>>,
    Form(form): Form<JoinForm>,
) -> Result<Redirect, Failed> {
    let cohort = find_cohort(&shared, &form.code).await?;
    let spec = cohort.spec()?;
    let trainee = match form.trainee.trim() {
        "" => "trainee".to_owned(),
        t => t.chars().take(80).collect(),
    };
    begin(
        &shared,
        trainee,
        Some((cohort.code, cohort.hint_cost)),
        spec,
    )
    .await
}

/// The board's rows of a cohort, as of now.
async fn board_rows(shared: &Shared, code: &str) -> Vec<BoardRow> {
    let now = chrono::Utc::now();
    let limit = shared
        .cohorts
        .lock()
        .await
        .get(code)
        .and_then(|c| c.time_limit_min);
    let attempts: Vec<Arc<Mutex<Attempt>>> =
        shared.attempts.lock().await.values().cloned().collect();
    let mut rows = Vec::new();
    for attempt in attempts {
        let a = attempt.lock().await;
        if a.cohort.as_deref() != Some(code) {
            continue;
        }
        let log = a.timed_log().unwrap_or_default();
        rows.push(cohort::board_row(&a.id, &a.trainee, &log, limit, now));
    }
    rows
}

async fn board(
    State(shared): State<Arc<Shared>>,
    UrlPath(code): UrlPath<String>,
) -> Result<maud::Markup, Failed> {
    let cohort = find_cohort(&shared, &code).await?;
    let rows = board_rows(&shared, &cohort.code).await;
    Ok(pages::board(&cohort, &rows))
}

/// The board's rows again each time an attempt of the cohort changes (server-sent events),
/// until the client goes or the console stops.
async fn board_stream(
    State(shared): State<Arc<Shared>>,
    UrlPath(code): UrlPath<String>,
) -> Result<impl IntoResponse, Failed> {
    use axum::response::sse::{Event as Sse, KeepAlive};
    let cohort = find_cohort(&shared, &code).await?;
    let changes = shared.changes.subscribe();
    let stream = futures_util::stream::unfold(
        (shared, changes, cohort.code, true),
        |(shared, mut changes, code, first)| async move {
            if !first {
                loop {
                    tokio::select! {
                        _ = shared.stop.cancelled() => return None,
                        change = changes.recv() => match change {
                            Ok(c) if c == code => break,
                            Ok(_) => continue,
                            // Fell behind: the rows are drawn afresh anyway.
                            Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => break,
                            Err(tokio::sync::broadcast::error::RecvError::Closed) => return None,
                        },
                    }
                }
            }
            let rows = board_rows(&shared, &code).await;
            let html = pages::board_rows(&code, &rows).into_string();
            let event = Sse::default().event("board").data(html);
            Some((
                Ok::<_, std::convert::Infallible>(event),
                (shared, changes, code, false),
            ))
        },
    );
    Ok(axum::response::Sse::new(stream).keep_alive(KeepAlive::default()))
}

/// Every trainee's result (each debrief found by real sign-ins, once per attempt).
async fn trainee_results(shared: &Shared, code: &str) -> Result<Vec<TraineeResult>, Failed> {
    let attempts: Vec<Arc<Mutex<Attempt>>> =
        shared.attempts.lock().await.values().cloned().collect();
    let mut results = Vec::new();
    for attempt in attempts {
        let mut a = attempt.lock().await;
        if a.cohort.as_deref() != Some(code) {
            continue;
        }
        let debrief = a.debrief().await?;
        let log = a.timed_log()?;
        let wrong_first_step = debrief.events.iter().find_map(|e| match e {
            crate::engine::Event::Step { remedy, .. } => Some(*remedy),
            _ => None,
        });
        let wrong_first_step = wrong_first_step
            .filter(|r| {
                let on_path = debrief.paths.paths.iter().any(|p| p.contains(r))
                    || (*r == Remedy::Escalate && debrief.paths.escalate);
                !on_path
            })
            .map(|r| r.id().to_owned());
        results.push(TraineeResult {
            trainee: a.trainee.clone(),
            attempt: a.id.clone(),
            causes: a.exercise.spec.causes.clone(),
            points: debrief.score.points,
            finished: debrief.score.finished,
            seconds: cohort::seconds_to_finish(&log),
            wrong_first_step,
        });
    }
    Ok(results)
}

async fn results(
    State(shared): State<Arc<Shared>>,
    UrlPath(code): UrlPath<String>,
) -> Result<maud::Markup, Failed> {
    let cohort = find_cohort(&shared, &code).await?;
    let results = trainee_results(&shared, &cohort.code).await?;
    let per_cause = cohort::per_cause(&results);
    Ok(pages::results(&cohort, &results, &per_cause))
}

async fn results_json(
    State(shared): State<Arc<Shared>>,
    UrlPath(code): UrlPath<String>,
) -> Result<Response, Failed> {
    let cohort = find_cohort(&shared, &code).await?;
    let results = trainee_results(&shared, &cohort.code).await?;
    let per_cause = cohort::per_cause(&results);
    let body = serde_json::json!({
        "cohort": cohort,
        "trainees": results,
        "causes": per_cause,
    });
    Ok((
        [
            (header::CONTENT_TYPE, "application/json".to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{}-results.json\"", cohort.code),
            ),
        ],
        serde_json::to_string_pretty(&body).map_err(anyhow::Error::from)?,
    )
        .into_response())
}

async fn results_csv(
    State(shared): State<Arc<Shared>>,
    UrlPath(code): UrlPath<String>,
) -> Result<Response, Failed> {
    let cohort = find_cohort(&shared, &code).await?;
    let results = trainee_results(&shared, &cohort.code).await?;
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{}-results.csv\"", cohort.code),
            ),
        ],
        cohort::csv(&results),
    )
        .into_response())
}
