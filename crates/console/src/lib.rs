//! The training console (`lyncsim train`): a web page where a trainee meets a broken machine
//! as a help-desk agent would, looks at it with the views Windows gives, applies the steps of
//! KB 2604176, signs in, and gets a debrief scored against the shortest KB path.
//!
//! Each attempt is an [`Exercise`] of `crate::engine`: its own service and machine,
//! every sign-in and every step real, each written to the attempt's event log in the data
//! folder before the page shows it. Pages are rendered on the server (maud, checked at compile
//! time) and updated in place with htmx, which is vendored into the binary: the console works
//! offline, and has no JavaScript of its own but two lines: one says when the console cannot be
//! reached, the other brings back the last command at the command prompt's Up. It listens on
//! loopback only.
#![warn(missing_docs)]

mod attempt;
mod cohort;
pub mod engine;
mod guard;
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
    /// The clock events are timed by (the system's; a test moves its own).
    pub clock: engine::ConsoleClock,
}

type Attempts = Mutex<BTreeMap<String, Arc<Mutex<Attempt>>>>;

struct Shared {
    attempts: Attempts,
    cohorts: Mutex<BTreeMap<String, Cohort>>,
    /// The join code of a cohort whose board changed.
    changes: tokio::sync::broadcast::Sender<String>,
    data_dir: PathBuf,
    clock: engine::ConsoleClock,
    stop: CancellationToken,
    next_attempt: std::sync::atomic::AtomicUsize,
    /// Attempts found in the data folder that could not be taken up again, and why.
    unresumed: Vec<(String, String)>,
    /// The wrong join codes of the minute.
    guesses: guard::JoinGuesses,
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
    let (cohorts, attempts, unresumed, next) = resume(&config.data_dir, &config.clock).await?;
    let shared = Arc::new(Shared {
        attempts: Mutex::new(attempts),
        cohorts: Mutex::new(cohorts),
        changes: tokio::sync::broadcast::channel(256).0,
        data_dir: config.data_dir,
        clock: config.clock,
        stop: stop.clone(),
        next_attempt: std::sync::atomic::AtomicUsize::new(next),
        unresumed,
        guesses: guard::JoinGuesses::default(),
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
async fn resume(
    data_dir: &std::path::Path,
    clock: &engine::ConsoleClock,
) -> anyhow::Result<Resumed> {
    let mut cohorts = BTreeMap::new();
    if let Ok(entries) = std::fs::read_dir(data_dir.join("cohorts")) {
        for entry in entries.flatten() {
            let file = entry.path().join("cohort.json");
            let mut cohort: Cohort = serde_json::from_slice(
                &std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?,
            )
            .with_context(|| format!("reading {}", file.display()))?;
            if cohort.trainer_key.is_empty() {
                // A cohort from before trainers had keys gets one, said in the log.
                cohort.trainer_key = cohort::secret(20);
                cohort.save(&entry.path())?;
                tracing::warn!(
                    "cohort {} has a trainer's link now: /trainer/{}",
                    cohort.code,
                    cohort.trainer_key
                );
            }
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
            let number = name.strip_prefix('a')?.split('-').next()?;
            let n: usize = number.parse().ok()?;
            Some((n, e.path()))
        })
        .collect();
    numbered.sort();
    for (n, dir) in numbered {
        next = next.max(n + 1);
        match Attempt::resume(&dir, clock).await {
            Ok(a) => {
                attempts.insert(a.id.clone(), Arc::new(Mutex::new(a)));
            }
            Err(e) => {
                tracing::warn!("attempt {} is not taken up again: {e:#}", dir.display());
                let name = dir.file_name().map(|n| n.to_string_lossy().into_owned());
                unresumed.push((name.unwrap_or_default(), format!("{e:#}")));
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
        .route("/trainer/{key}", get(board))
        .route("/trainer/{key}/stream", get(board_stream))
        .route("/trainer/{key}/results", get(results))
        .route("/trainer/{key}/results.json", get(results_json))
        .route("/trainer/{key}/results.csv", get(results_csv))
        .route("/trainer/{key}/attempts/{label}", get(watch))
        .route("/join", post(join))
        .route("/attempts", post(start_attempt))
        .route("/attempts/{id}", get(desktop))
        .route("/attempts/{id}/signin", post(sign_in))
        .route("/attempts/{id}/view/{view}", get(view))
        .route("/attempts/{id}/step/{remedy}", post(step))
        .route("/attempts/{id}/cmd", post(command))
        .route("/attempts/{id}/second-account", post(second_account))
        .route("/attempts/{id}/hint", post(hint))
        .route("/attempts/{id}/give-up", post(give_up))
        .route("/attempts/{id}/debrief", get(debrief))
        .layer(axum::middleware::from_fn(guard::same_origin))
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
        // An ended attempt refuses what would change it: the request's fault, not the
        // console's.
        let status = if e.downcast_ref::<attempt::Ended>().is_some() {
            StatusCode::CONFLICT
        } else {
            StatusCode::INTERNAL_SERVER_ERROR
        };
        Failed(status, format!("{e:#}"))
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

/// The cookie that lists the attempts this browser began (their secret links), for its home
/// page; no one else's are listed.
const MINE: &str = "lyncsim-attempts";

/// The attempts the browser's cookie names.
fn mine(headers: &axum::http::HeaderMap) -> Vec<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().strip_prefix(MINE)?.strip_prefix('='))
        .flat_map(|ids| ids.split('.'))
        .filter(|id| !id.is_empty())
        .map(str::to_owned)
        .collect()
}

/// The cookie with `id` added to the browser's attempts.
fn with_mine(headers: &axum::http::HeaderMap, id: &str) -> String {
    let mut ids = mine(headers);
    ids.retain(|i| i != id);
    ids.push(id.to_owned());
    // The newest 40 are enough for one browser's list.
    let keep = ids.len().saturating_sub(40);
    format!(
        "{MINE}={}; Path=/; SameSite=Lax; HttpOnly; Max-Age=31536000",
        ids[keep..].join(".")
    )
}

async fn home(State(shared): State<Arc<Shared>>, headers: axum::http::HeaderMap) -> maud::Markup {
    home_page(&shared, &headers, None).await
}

/// The home page, with a refused form shown again, its values kept and the reason in it.
async fn refused(
    shared: &Shared,
    headers: &axum::http::HeaderMap,
    status: StatusCode,
    error: pages::FormError,
) -> Response {
    (status, home_page(shared, headers, Some(&error)).await).into_response()
}

async fn home_page(
    shared: &Shared,
    headers: &axum::http::HeaderMap,
    error: Option<&pages::FormError>,
) -> maud::Markup {
    let ids = mine(headers);
    let mut rows = Vec::new();
    let attempts = shared.attempts.lock().await;
    for id in &ids {
        let Some(attempt) = attempts.get(id) else {
            continue;
        };
        let a = attempt.lock().await;
        rows.push(pages::AttemptRow {
            id: id.clone(),
            trainee: a.trainee.clone(),
            summary: a.summary(),
        });
    }
    pages::home(&rows, &shared.unresumed, error)
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
    headers: axum::http::HeaderMap,
    Form(start): Form<Start>,
) -> Result<Response, Failed> {
    let spec = match start.spec() {
        Ok(spec) => spec,
        Err(e) => {
            let error = pages::FormError {
                message: format!("{e:#}"),
                form: pages::Refused::Start(start),
            };
            return Ok(refused(&shared, &headers, StatusCode::BAD_REQUEST, error).await);
        }
    };
    let id = match begin(&shared, start.trainee_name(), None, spec).await {
        Ok(id) => id,
        Err(Failed(StatusCode::UNPROCESSABLE_ENTITY, message)) => {
            let error = pages::FormError {
                message,
                form: pages::Refused::Start(start),
            };
            return Ok(refused(&shared, &headers, StatusCode::BAD_REQUEST, error).await);
        }
        Err(e) => return Err(e),
    };
    Ok(to_attempt(&headers, &id))
}

/// Sends the browser to its attempt, and adds it to the browser's list.
fn to_attempt(headers: &axum::http::HeaderMap, id: &str) -> Response {
    (
        [(header::SET_COOKIE, with_mine(headers, id))],
        Redirect::to(&format!("/attempts/{id}")),
    )
        .into_response()
}

/// Prepares an attempt; its id, which is also its secret link (`a<number>-<secret>`).
async fn begin(
    shared: &Shared,
    trainee: String,
    cohort: Option<attempt::Membership>,
    spec: crate::engine::ExerciseSpec,
) -> Result<String, Failed> {
    if shared.attempts.lock().await.len() >= guard::MAX_ATTEMPTS {
        return Err(Failed(
            StatusCode::SERVICE_UNAVAILABLE,
            format!(
                "this console holds {} attempts, as many as it takes: start another console (with another --data-dir) for more",
                guard::MAX_ATTEMPTS
            ),
        ));
    }
    // The number is taken first: an exercise takes seconds to prepare, and other trainees
    // start meanwhile.
    let id = format!(
        "a{}-{}",
        shared
            .next_attempt
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst),
        cohort::secret(12)
    );
    let dir = shared.data_dir.join(&id);
    let attempt = match Attempt::begin(&id, trainee, cohort, spec, (&dir, &shared.clock)).await {
        Ok(attempt) => attempt,
        Err(e) => {
            // Nothing of an attempt that could not begin is kept (a restart would try it).
            let _ = std::fs::remove_dir_all(&dir);
            if let Some(not) = e.downcast_ref::<crate::engine::NotAnExercise>() {
                return Err(Failed(StatusCode::UNPROCESSABLE_ENTITY, not.to_string()));
            }
            return Err(e.into());
        }
    };
    let code = attempt.cohort.clone();
    shared
        .attempts
        .lock()
        .await
        .insert(id.clone(), Arc::new(Mutex::new(attempt)));
    if let Some(code) = code {
        let _ = shared.changes.send(code);
    }
    Ok(id)
}

async fn desktop(
    State(shared): State<Arc<Shared>>,
    UrlPath(id): UrlPath<String>,
) -> Result<maud::Markup, Failed> {
    let attempt = find(&shared, &id).await?;
    let a = attempt.lock().await;
    Ok(pages::desktop(&a))
}

/// The sign-in window's form: the password, when Lync asked for it.
#[derive(Debug, Deserialize)]
struct SignInForm {
    #[serde(default)]
    password: Option<String>,
}

async fn sign_in(
    State(shared): State<Arc<Shared>>,
    UrlPath(id): UrlPath<String>,
    Form(form): Form<SignInForm>,
) -> Result<maud::Markup, Failed> {
    let attempt = find(&shared, &id).await?;
    let mut a = attempt.lock().await;
    a.sign_in(form.password.as_deref().filter(|p| !p.is_empty()))
        .await?;
    shared.changed(&a);
    Ok(pages::with_status(&a, pages::sign_in_window(&a)))
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
    Ok(pages::with_status(&a, pages::done(&a, remedy, &done)))
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
    Ok(pages::with_status(
        &a,
        pages::command_output(&a, &cmd.line, &output),
    ))
}

async fn second_account(
    State(shared): State<Arc<Shared>>,
    UrlPath(id): UrlPath<String>,
) -> Result<maud::Markup, Failed> {
    let attempt = find(&shared, &id).await?;
    let mut a = attempt.lock().await;
    let (who, seen) = a.second_account().await?;
    shared.changed(&a);
    Ok(pages::with_status(&a, pages::second_account(&who, &seen)))
}

async fn hint(
    State(shared): State<Arc<Shared>>,
    UrlPath(id): UrlPath<String>,
) -> Result<maud::Markup, Failed> {
    let attempt = find(&shared, &id).await?;
    let mut a = attempt.lock().await;
    let hint = a.hint()?;
    shared.changed(&a);
    Ok(pages::with_status(&a, pages::hint(&a, hint.as_deref())))
}

async fn debrief(
    State(shared): State<Arc<Shared>>,
    UrlPath(id): UrlPath<String>,
) -> Result<maud::Markup, Failed> {
    let attempt = find(&shared, &id).await?;
    let mut a = attempt.lock().await;
    Ok(match a.debrief().await? {
        Some(debrief) => pages::debrief(&a, &debrief),
        None => pages::debrief_closed(&a),
    })
}

/// The trainer's read-only view of a trainee's attempt in their cohort: nothing on it acts,
/// and looking records nothing.
async fn watch(
    State(shared): State<Arc<Shared>>,
    UrlPath((key, id)): UrlPath<(String, String)>,
) -> Result<maud::Markup, Failed> {
    let cohort = trainer_cohort(&shared, &key).await?;
    let attempt = by_label(&shared, &cohort.code, &id).await?;
    let mut a = attempt.lock().await;
    let log = a.timed_log()?;
    let debrief = a.debrief().await?;
    Ok(pages::watch(&cohort, &a, &log, debrief.as_ref()))
}

/// The attempt of the cohort `code` whose number is `label` (`a3`): the trainer's pages name
/// attempts by number, never by the trainee's secret link.
async fn by_label(shared: &Shared, code: &str, label: &str) -> Result<Arc<Mutex<Attempt>>, Failed> {
    let attempts: Vec<Arc<Mutex<Attempt>>> =
        shared.attempts.lock().await.values().cloned().collect();
    for attempt in attempts {
        let a = attempt.lock().await;
        if a.cohort.as_deref() == Some(code) && a.label() == label {
            drop(a);
            return Ok(attempt);
        }
    }
    Err(Failed(
        StatusCode::NOT_FOUND,
        format!("{label} is not an attempt of this cohort"),
    ))
}

/// Gives up (recorded), then shows the debrief.
async fn give_up(
    State(shared): State<Arc<Shared>>,
    UrlPath(id): UrlPath<String>,
) -> Result<Response, Failed> {
    let attempt = find(&shared, &id).await?;
    let mut a = attempt.lock().await;
    a.give_up().await?;
    shared.changed(&a);
    Ok(([("hx-redirect", format!("/attempts/{id}/debrief"))], "").into_response())
}

async fn new_cohort(
    State(shared): State<Arc<Shared>>,
    headers: axum::http::HeaderMap,
    Form(form): Form<CohortForm>,
) -> Result<Response, Failed> {
    let cohorts = shared.cohorts.lock().await;
    let code = loop {
        let code = cohort::join_code();
        if !cohorts.contains_key(&code) {
            break code;
        }
    };
    // Unlocked while the exercise is made (a second or two): other trainers go on.
    drop(cohorts);
    let made = match form.cohort(code.clone()) {
        Ok(cohort) => checked(cohort).await,
        Err(e) => Err(e),
    };
    let cohort = match made {
        Ok(cohort) => cohort,
        Err(e) => {
            let error = pages::FormError {
                message: format!("{e:#}"),
                form: pages::Refused::Cohort(form),
            };
            return Ok(refused(&shared, &headers, StatusCode::BAD_REQUEST, error).await);
        }
    };
    let mut cohorts = shared.cohorts.lock().await;
    if cohorts.contains_key(&code) {
        return Err(Failed(
            StatusCode::CONFLICT,
            "another cohort took that join code meanwhile: create it again".into(),
        ));
    }
    cohort.save(&shared.data_dir.join("cohorts").join(&code))?;
    let key = cohort.trainer_key.clone();
    cohorts.insert(code.clone(), cohort);
    Ok(Redirect::to(&format!("/trainer/{key}")).into_response())
}

/// A cohort whose (first) exercise was made once, for real, and stops sign-in: one that does
/// not is refused when the trainer makes the cohort, not when a trainee joins.
async fn checked(cohort: Cohort) -> anyhow::Result<Cohort> {
    let exercise = crate::engine::Exercise::prepare(cohort.spec_for(0)?).await?;
    exercise.shutdown().await;
    Ok(cohort)
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

/// The cohort whose trainer's key is `key`.
async fn trainer_cohort(shared: &Shared, key: &str) -> Result<Cohort, Failed> {
    shared
        .cohorts
        .lock()
        .await
        .values()
        .find(|c| !c.trainer_key.is_empty() && c.trainer_key == key)
        .cloned()
        .ok_or_else(|| {
            Failed(
                StatusCode::NOT_FOUND,
                "there is no cohort with this trainer's link on this console".into(),
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
    headers: axum::http::HeaderMap,
    Form(form): Form<JoinForm>,
) -> Result<Response, Failed> {
    let now = shared.clock.now().timestamp();
    let found = if shared.guesses.exhausted(now) {
        Err(Failed(
            StatusCode::TOO_MANY_REQUESTS,
            format!(
                "more than {} wrong join codes within a minute: joining is paused until the minute is over",
                guard::MAX_WRONG_CODES_PER_MINUTE
            ),
        ))
    } else {
        find_cohort(&shared, &form.code).await.inspect_err(|_| {
            shared.guesses.wrong(now);
        })
    };
    let cohort = match found {
        Ok(cohort) => cohort,
        Err(Failed(status, message)) => {
            let error = pages::FormError {
                message,
                form: pages::Refused::Join {
                    trainee: form.trainee,
                    code: form.code,
                },
            };
            return Ok(refused(&shared, &headers, status, error).await);
        }
    };
    let trainee = match form.trainee.trim() {
        "" => "trainee".to_owned(),
        t => t.chars().take(80).collect::<String>(),
    };
    // The same name in the same cohort, from the browser that began the attempt (its
    // cookie names it), is the same trainee coming back: their attempt. From another browser
    // it is someone else, who may not take the attempt over.
    let attempts: Vec<Arc<Mutex<Attempt>>> =
        shared.attempts.lock().await.values().cloned().collect();
    let browsers = mine(&headers);
    for attempt in attempts {
        let a = attempt.lock().await;
        if a.cohort.as_deref() == Some(cohort.code.as_str())
            && a.trainee.trim().eq_ignore_ascii_case(&trainee)
        {
            if browsers.contains(&a.id) {
                return Ok(to_attempt(&headers, &a.id));
            }
            let error = pages::FormError {
                message: format!(
                    "the name {trainee} is taken in this cohort: choose another, or come back from the browser that began that attempt"
                ),
                form: pages::Refused::Join {
                    trainee: form.trainee.clone(),
                    code: form.code.clone(),
                },
            };
            drop(a);
            return Ok(refused(&shared, &headers, StatusCode::CONFLICT, error).await);
        }
    }
    let id = begin_in_cohort(&shared, trainee, &cohort).await?;
    Ok(to_attempt(&headers, &id))
}

/// A trainee's attempt in `cohort`: its exercise, or, when each trainee draws their own, the
/// next draw; a draw that does not stop sign-in on its machine is passed over for the next
/// (at most 8).
async fn begin_in_cohort(
    shared: &Shared,
    trainee: String,
    cohort: &Cohort,
) -> Result<String, Failed> {
    let joined = {
        let attempts: Vec<Arc<Mutex<Attempt>>> =
            shared.attempts.lock().await.values().cloned().collect();
        let mut n = 0u64;
        for attempt in attempts {
            if attempt.lock().await.cohort.as_deref() == Some(cohort.code.as_str()) {
                n += 1;
            }
        }
        n
    };
    let mut last = None;
    for draw in joined..joined + 8 {
        let membership = attempt::Membership {
            code: cohort.code.clone(),
            hint_cost: cohort.hint_cost,
            time_limit_min: cohort.time_limit_min,
        };
        let spec = cohort.spec_for(draw)?;
        match begin(shared, trainee.clone(), Some(membership), spec).await {
            Err(Failed(StatusCode::UNPROCESSABLE_ENTITY, why)) if cohort.per_trainee => {
                last = Some(why);
            }
            done => return done,
        }
    }
    Err(Failed(
        StatusCode::SERVICE_UNAVAILABLE,
        format!(
            "no exercise of this cohort could be made: {}",
            last.unwrap_or_default()
        ),
    ))
}

/// The board's rows of a cohort, as of now.
async fn board_rows(shared: &Shared, code: &str) -> Vec<BoardRow> {
    let now = shared.clock.now();
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
        let spec = &a.exercise.spec;
        let exercise = format!(
            "{} · {} · {}",
            spec.causes_text(),
            spec.product.display_name(),
            spec.os.display_name()
        );
        rows.push(cohort::board_row(
            (a.label(), &a.trainee, exercise),
            &log,
            limit,
            now,
        ));
    }
    rows
}

async fn board(
    State(shared): State<Arc<Shared>>,
    UrlPath(key): UrlPath<String>,
) -> Result<maud::Markup, Failed> {
    let cohort = trainer_cohort(&shared, &key).await?;
    let rows = board_rows(&shared, &cohort.code).await;
    Ok(pages::board(&cohort, &rows))
}

/// How often a live board is drawn again when nothing happened: its time-based flags move on.
const BOARD_REFRESH: std::time::Duration = std::time::Duration::from_secs(30);

/// The board's rows again each time an attempt of the cohort changes, the clock moves, or
/// [`BOARD_REFRESH`] passes (server-sent events), until the client goes or the console stops.
async fn board_stream(
    State(shared): State<Arc<Shared>>,
    UrlPath(key): UrlPath<String>,
) -> Result<impl IntoResponse, Failed> {
    use axum::response::sse::{Event as Sse, KeepAlive};
    let cohort = trainer_cohort(&shared, &key).await?;
    let changes = shared.changes.subscribe();
    let ticks = shared.clock.ticks();
    let stream = futures_util::stream::unfold(
        (shared, (changes, ticks), cohort, true),
        |(shared, (mut changes, mut ticks), cohort, first)| async move {
            let code = cohort.code.clone();
            if !first {
                loop {
                    tokio::select! {
                        _ = shared.stop.cancelled() => return None,
                        // The flags that time raises (no progress, over the limit) come with
                        // the minutes, not only with what the trainees do.
                        _ = tokio::time::sleep(BOARD_REFRESH) => break,
                        _ = ticks.recv() => break,
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
            let html = pages::board_rows(&cohort, &rows).into_string();
            let event = Sse::default().event("board").data(html);
            Some((
                Ok::<_, std::convert::Infallible>(event),
                (shared, (changes, ticks), cohort, false),
            ))
        },
    );
    Ok(axum::response::Sse::new(stream).keep_alive(KeepAlive::default()))
}

/// A trainee's result, from their attempt, its debrief and its log.
fn result_of(
    a: &Attempt,
    debrief: &attempt::Debrief,
    wrong_first_step: Option<String>,
    log: Vec<crate::engine::Logged>,
) -> TraineeResult {
    use crate::engine::{Ending, Event};
    let events: Vec<Event> = log.iter().map(|l| l.event.clone()).collect();
    let ended_at = Ending::of(&events).map(|(i, _)| log[i].at.clone());
    TraineeResult {
        trainee: a.trainee.clone(),
        number: a.number(),
        attempt: a.label().to_owned(),
        product: a.exercise.spec.product,
        os: a.exercise.spec.os,
        causes: a.exercise.spec.causes.clone(),
        points: debrief.score.points,
        finished: debrief.score.finished,
        ending: debrief.score.ending,
        seconds: cohort::seconds_to_finish(&log, debrief.score.finished),
        wrong_first_step,
        hints: events
            .iter()
            .filter(|e| matches!(e, Event::Hint { .. }))
            .count(),
        escalated: events
            .iter()
            .any(|e| matches!(e, Event::Step { remedy, .. } if *remedy == Remedy::Escalate)),
        started: log.first().map(|l| l.at.clone()),
        ended: ended_at,
        steps: events
            .iter()
            .filter_map(|e| match e {
                Event::Step { remedy, .. } => Some(remedy.id().to_owned()),
                _ => None,
            })
            .collect(),
        events: log,
    }
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
        // A finished attempt's recorded debrief; an open one scored as it stands.
        let debrief = match a.debrief().await? {
            Some(recorded) => recorded,
            None => a.assess().await?,
        };
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
        results.push(result_of(&a, &debrief, wrong_first_step, log));
    }
    results.sort_by_key(|r| r.number);
    Ok(results)
}

async fn results(
    State(shared): State<Arc<Shared>>,
    UrlPath(key): UrlPath<String>,
) -> Result<maud::Markup, Failed> {
    let cohort = trainer_cohort(&shared, &key).await?;
    let results = trainee_results(&shared, &cohort.code).await?;
    let per_cause = cohort::per_cause(&results);
    Ok(pages::results(&cohort, &results, &per_cause))
}

async fn results_json(
    State(shared): State<Arc<Shared>>,
    UrlPath(key): UrlPath<String>,
) -> Result<Response, Failed> {
    let cohort = trainer_cohort(&shared, &key).await?;
    let results = trainee_results(&shared, &cohort.code).await?;
    let per_cause = cohort::per_cause(&results);
    // The export goes to people the trainer's key is not for: it carries no key.
    let mut cohort_json = serde_json::to_value(&cohort).map_err(anyhow::Error::from)?;
    if let Some(object) = cohort_json.as_object_mut() {
        object.remove("trainer_key");
    }
    let body = serde_json::json!({
        "cohort": cohort_json,
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
    UrlPath(key): UrlPath<String>,
) -> Result<Response, Failed> {
    let cohort = trainer_cohort(&shared, &key).await?;
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
