//! The training console in a real browser: Debian's `chromium`, driven through
//! `chromium-driver` (WebDriver) with fantoccini. A trainee opens an exercise (Lync 2010 on
//! XP, clock 7m12s fast), sees the exact E_CERT text, reads the skew in Date and Time, clicks
//! Update now, signs in, and the debrief shows the shortest path `sync-time` with full marks;
//! a second trainee deletes the certificate first and is penalised with the reason; a reload
//! shows the attempt where it was. Screenshots go to `target/tmp/screenshots` (the README's
//! come from there).

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use lyncsim_console::ConsoleConfig;
use lyncsim_domain::ErrorId;

const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const CHROMIUM: &str = "/usr/bin/chromium";

/// chromedriver in a process group of its own, so that the browsers it starts go with it.
struct Driver {
    child: Child,
    url: String,
    _profile: tempfile::TempDir,
}

impl Drop for Driver {
    fn drop(&mut self) {
        if let Some(pid) = rustix::process::Pid::from_raw(self.child.id() as i32) {
            let _ = rustix::process::kill_process_group(pid, rustix::process::Signal::KILL);
        }
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn browser() -> (Driver, Client) {
    for (path, package) in [(CHROMEDRIVER, "chromium-driver"), (CHROMIUM, "chromium")] {
        assert!(
            Path::new(path).exists(),
            "{path} is missing: the browser tests need Debian's {package} (apt-get install chromium chromium-driver; .ci/run does)"
        );
    }
    let port = free_port();
    let mut cmd = Command::new(CHROMEDRIVER);
    cmd.arg(format!("--port={port}"))
        .arg("--allowed-ips=127.0.0.1")
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
    let child = cmd.spawn().expect("chromedriver starts");
    let profile = tempfile::tempdir().unwrap();
    let driver = Driver {
        child,
        url: format!("http://127.0.0.1:{port}"),
        _profile: profile,
    };
    let caps = serde_json::json!({
        "goog:chromeOptions": {
            "binary": CHROMIUM,
            "args": [
                "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--window-size=1280,900",
                format!("--user-data-dir={}", driver._profile.path().display()),
            ]
        }
    });
    let caps = match caps {
        serde_json::Value::Object(map) => map,
        _ => unreachable!(),
    };
    // chromedriver takes a moment to listen: try until it answers (bounded).
    let mut last = None;
    for _ in 0..100 {
        match ClientBuilder::native()
            .capabilities(caps.clone())
            .connect(&driver.url)
            .await
        {
            Ok(client) => return (driver, client),
            Err(e) => last = Some(e),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("chromedriver did not answer at {}: {last:?}", driver.url);
}

fn screenshots() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

async fn screenshot(c: &Client, name: &str) {
    let png = c.screenshot().await.unwrap();
    std::fs::write(screenshots().join(name), png).unwrap();
}

async fn text_of(c: &Client, id: &str) -> String {
    // htmx may swap the element out between finding it and reading it: find it again.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let found = c
            .wait()
            .at_most(Duration::from_secs(60))
            .for_element(Locator::Id(id))
            .await
            .unwrap_or_else(|e| panic!("no #{id}: {e}"));
        match found.text().await {
            Ok(text) => return text,
            Err(e) => assert!(
                tokio::time::Instant::now() < deadline,
                "#{id} could not be read: {e}"
            ),
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The value of the input `css` finds.
async fn value_of(c: &Client, css: &str) -> Option<String> {
    c.find(Locator::Css(css))
        .await
        .unwrap()
        .prop("value")
        .await
        .unwrap()
}

/// Whether `script` (a function body) returns true on the page shown.
async fn holds(c: &Client, script: &str) -> bool {
    c.execute(script, vec![]).await.unwrap() == serde_json::Value::Bool(true)
}

async fn click(c: &Client, id: &str) {
    c.wait()
        .at_most(Duration::from_secs(60))
        .for_element(Locator::Id(id))
        .await
        .unwrap_or_else(|e| panic!("no #{id}: {e}"))
        .click()
        .await
        .unwrap();
}

/// A console on a free loopback port, keeping its attempts in `data`.
fn config(data: &Path) -> ConsoleConfig {
    ConsoleConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        data_dir: data.to_owned(),
        clock: Default::default(),
    }
}

/// Starts an exercise from the home page, as the trainer chose it.
async fn open_exercise(c: &Client, console: &str, trainee: &str) {
    c.goto(console).await.unwrap();
    let form = c.form(Locator::Id("start-exercise")).await.unwrap();
    form.set_by_name("trainee", trainee).await.unwrap();
    form.set_by_name("product", "lync2010").await.unwrap();
    form.set_by_name("os", "xp").await.unwrap();
    form.set_by_name("causes", "clock-skew").await.unwrap();
    form.submit().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trainee_fixes_the_clock_in_the_browser_and_gets_full_marks() {
    let data = tempfile::tempdir().unwrap();
    let console = lyncsim_console::start(config(data.path())).await.unwrap();
    let (_driver, c) = browser().await;

    // The first trainee: the KB's way.
    open_exercise(&c, &console.url(), "Ann").await;
    assert_eq!(text_of(&c, "signin-error").await, ErrorId::ECert.text());
    screenshot(&c, "sign-in-window.png").await;
    // The debrief, which names the answer, waits until the attempt ends.
    let first = c.current_url().await.unwrap();
    c.goto(&format!("{first}/debrief")).await.unwrap();
    text_of(&c, "debrief-closed").await;
    assert!(c.find(Locator::Id("points")).await.is_err());
    c.goto(first.as_str()).await.unwrap();
    click(&c, "tool-datetime").await;
    // The window works out no difference: the trainee compares the two clocks.
    let at = |text: String| {
        chrono::NaiveDateTime::parse_from_str(&text, "%Y-%m-%d %H:%M:%S UTC")
            .unwrap_or_else(|e| panic!("{text:?}: {e}"))
    };
    let machine = at(text_of(&c, "machine-time").await);
    let source = at(text_of(&c, "source-time").await);
    let ahead = (machine - source).num_seconds();
    assert!((430..=434).contains(&ahead), "the clock is {ahead}s ahead");
    assert!(c.find(Locator::Id("skew")).await.is_err());
    screenshot(&c, "date-and-time.png").await;
    click(&c, "step-sync-time").await;
    text_of(&c, "done").await;
    click(&c, "signin-button").await;
    assert_eq!(
        text_of(&c, "signed-in").await,
        "Signed in as alice@contoso.com"
    );
    // The end shows at once, without a reload, and nothing that acts is offered after it.
    assert!(text_of(&c, "ended").await.contains("The score stands."));
    assert!(c.find(Locator::Id("give-up")).await.is_err());
    assert!(c.find(Locator::Id("escalate")).await.is_err());
    c.goto(&format!("{first}/debrief")).await.unwrap();
    assert_eq!(text_of(&c, "points").await, "100");
    assert_eq!(
        text_of(&c, "finished").await,
        "Finished: the user signs in again."
    );
    // Each cause in plain words, with its evidence; each step with its KB heading.
    let causes = text_of(&c, "causes").await;
    assert!(causes.contains("more than five minutes off"), "{causes}");
    assert!(
        causes.contains("Date and Time: the computer's clock was 7m12s ahead of Internet time."),
        "{causes}"
    );
    let shortest = text_of(&c, "shortest").await;
    assert!(
        shortest.contains(
            "KB 2604176, SOLUTION, Additional troubleshooting steps for Lync 2013 and Lync 2010"
        ),
        "{shortest}"
    );
    let path = c
        .find(Locator::Css(".shortest-path"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(path, "sync-time");
    screenshot(&c, "debrief.png").await;

    // A reload of the attempt shows it where it was: ended, and a step now is refused, with
    // the reason, and the score stands.
    c.goto(first.as_str()).await.unwrap();
    assert_eq!(
        text_of(&c, "signed-in").await,
        "Signed in as alice@contoso.com"
    );
    assert!(
        text_of(&c, "ended")
            .await
            .contains("the user signed in again")
    );
    click(&c, "tool-certmgr").await;
    click(&c, "step-delete-cert").await;
    let refused = text_until(&c, "panel", "has ended").await;
    assert!(refused.contains("its score stands"), "{refused}");
    c.goto(&format!("{first}/debrief")).await.unwrap();
    assert_eq!(text_of(&c, "points").await, "100");

    // The second trainee deletes the certificate first.
    open_exercise(&c, &console.url(), "Bob").await;
    text_of(&c, "signin-error").await;
    click(&c, "tool-certmgr").await;
    text_of(&c, "certmgr").await;
    screenshot(&c, "certmgr.png").await;
    // At 800 px wide the page fits: nothing to scroll sideways.
    let wide = c.get_window_size().await.unwrap();
    c.set_window_size(800, 900).await.unwrap();
    assert!(
        holds(
            &c,
            "return document.documentElement.scrollWidth <= document.documentElement.clientWidth"
        )
        .await,
        "horizontal scroll at 800 px"
    );
    screenshot(&c, "attempt-800px.png").await;
    c.set_window_size(wide.0 as u32, wide.1 as u32)
        .await
        .unwrap();
    // The view takes the focus: one Tab reaches its first button.
    click(&c, "tool-certmgr").await;
    text_of(&c, "certmgr").await;
    // htmx focuses it once the swap has settled: asked until then.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let next = c
            .execute(
                r#"const v = document.querySelector('#panel .view');
                if (!v || document.activeElement !== v) { return 'focus is on ' + document.activeElement.outerHTML.slice(0, 80); }
                const first = v.querySelector('button, a[href], input');
                return first ? first.id || first.textContent : 'no button';"#,
                vec![],
            )
            .await
            .unwrap();
        if next.as_str().is_some_and(|n| n.starts_with("cert-")) {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the view has the focus and its first button follows: {next}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The certificate dialog: who issued it, when, and the fields to compare.
    c.find(Locator::Css("#certmgr button.link"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let valid = text_of(&c, "cert-valid").await;
    assert!(valid.starts_with("Valid from "), "{valid}");
    assert_eq!(text_of(&c, "cert-issued-by").await, "Communications Server");
    assert_eq!(text_of(&c, "cert-thumbprint").await.len(), 40);
    // Its Certification Path, built from the machine's stores: the Communications Server CA
    // is in none of them.
    assert_eq!(
        text_of(&c, "cert-path-status").await,
        "The issuer of this certificate could not be found."
    );
    screenshot(&c, "certificate.png").await;
    click(&c, "tool-certmgr").await;
    click(&c, "step-delete-cert").await;
    text_of(&c, "done").await;
    click(&c, "tool-datetime").await;
    click(&c, "step-sync-time").await;
    text_of(&c, "done").await;
    click(&c, "signin-button").await;
    text_of(&c, "signed-in").await;
    let second = c.current_url().await.unwrap();
    c.goto(&format!("{second}/debrief")).await.unwrap();
    assert_eq!(text_of(&c, "points").await, "80");
    let events = text_of(&c, "events").await;
    assert!(
        events.contains("delete-cert addresses no cause on this computer, and it deleted the user's personal certificate, which the user needed"),
        "{events}"
    );
    screenshot(&c, "debrief-penalised.png").await;

    // The console stops: the next click says it cannot be reached, at once.
    c.goto(second.as_str()).await.unwrap();
    text_of(&c, "signed-in").await;
    console.shutdown().await;
    click(&c, "tool-about").await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while !c
        .find(Locator::Id("offline"))
        .await
        .unwrap()
        .is_displayed()
        .await
        .unwrap()
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no word that the console is gone"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    c.close().await.unwrap();
}

/// Waits (at most 60 s) until the element's text contains `wanted`; its text then.
async fn text_until(c: &Client, id: &str, wanted: &str) -> String {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(e) = c.find(Locator::Id(id)).await
            && let Ok(text) = e.text().await
            && text.contains(wanted)
        {
            return text;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "#{id} never showed {wanted:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trainer_watches_the_board_live_and_exports_the_results() {
    let data = tempfile::tempdir().unwrap();
    let clock = lyncsim_console::engine::ConsoleClock::default();
    let console = lyncsim_console::start(ConsoleConfig {
        clock: clock.clone(),
        ..config(data.path())
    })
    .await
    .unwrap();
    let (_driver, c) = browser().await;

    // The trainer makes a cohort and opens its board.
    c.goto(&console.url()).await.unwrap();
    let form = c.form(Locator::Id("new-cohort")).await.unwrap();
    form.set_by_name("name", "Help desk, Monday").await.unwrap();
    form.set_by_name("causes", "clock-skew").await.unwrap();
    form.set_by_name("products", "lync2010").await.unwrap();
    form.set_by_name("oses", "xp").await.unwrap();
    form.set_by_name("seed", "1").await.unwrap();
    form.submit().await.unwrap();
    let code = text_of(&c, "join-code").await;
    assert_eq!(code.len(), 6, "{code}");
    let board_url = c.current_url().await.unwrap().to_string();
    assert!(board_url.contains("/trainer/"), "{board_url}");
    let board = c.window().await.unwrap();

    // A trainee joins in another window and deletes the certificate.
    let trainee = c.new_window(false).await.unwrap();
    c.switch_to_window(trainee.handle.clone()).await.unwrap();
    c.goto(&console.url()).await.unwrap();
    // A mistyped code: the form again, what she typed kept, and why.
    let form = c.form(Locator::Id("join")).await.unwrap();
    form.set_by_name("trainee", "Cleo").await.unwrap();
    form.set_by_name("code", "ZZZZZ9").await.unwrap();
    form.submit().await.unwrap();
    let why = c
        .wait()
        .at_most(Duration::from_secs(60))
        .for_element(Locator::Css("#join .failure"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(why.contains("no cohort with the join code ZZZZZ9"), "{why}");
    assert_eq!(
        value_of(&c, "#join input[name=trainee]").await.as_deref(),
        Some("Cleo")
    );
    let form = c.form(Locator::Id("join")).await.unwrap();
    form.set_by_name("trainee", "Cleo").await.unwrap();
    form.set_by_name("code", &code.to_lowercase())
        .await
        .unwrap();
    form.submit().await.unwrap();
    text_of(&c, "signin-error").await;
    let attempt_url = c.current_url().await.unwrap();
    click(&c, "tool-certmgr").await;
    click(&c, "step-delete-cert").await;
    text_of(&c, "done").await;

    // She comes back under the same name, in the browser that began it: her attempt, not a
    // second one.
    c.goto(&console.url()).await.unwrap();
    let form = c.form(Locator::Id("join")).await.unwrap();
    form.set_by_name("trainee", "cleo ").await.unwrap();
    form.set_by_name("code", &code).await.unwrap();
    form.submit().await.unwrap();
    text_of(&c, "signin-error").await;
    assert_eq!(c.current_url().await.unwrap(), attempt_url);
    // Someone else, with the join code and her name, from another browser: refused, and
    // her attempt is not taken over.
    let (status, page) = post_form_status(
        &format!("{}/join", console.url()),
        &format!("trainee=Cleo&code={code}"),
    );
    assert_eq!(status, 409, "{page}");
    assert!(
        page.contains("the name Cleo is taken in this cohort"),
        "{page}"
    );
    assert!(!page.contains(attempt_url.path()), "{page}");
    // A page of another site cannot act on her attempt, nor a DNS-rebound name.
    let give_up = format!("{}/give-up", attempt_url.as_str().trim_end_matches('/'));
    for extra in [
        ["-H", "Origin: http://attacker.example"],
        ["-H", "Host: attacker.example"],
    ] {
        let (page, status) = curl_form_with(&give_up, "", (false, "\n%{http_code}"), &extra);
        assert_eq!(status.trim(), "403", "{extra:?}: {page}");
    }

    // The board shows her, flagged, without a reload; and when she has done nothing for six
    // minutes (the console's clock moves on), it says so, still without a reload.
    c.switch_to_window(board.clone()).await.unwrap();
    let row = text_until(&c, "board-table", "destructive step").await;
    assert!(row.contains("Cleo"), "{row}");
    assert_eq!(row.matches("Cleo").count(), 1, "{row}");
    clock.advance(6 * 60);
    let row = text_until(&c, "board-table", "no progress for 6 min").await;
    assert!(row.contains("Cleo"), "{row}");
    screenshot(&c, "board.png").await;

    // The trainer's view of her attempt reads only: nothing on it acts.
    // By her attempt's number: the trainer's pages never carry a trainee's secret link.
    let secret_id = attempt_url.path().rsplit('/').next().unwrap().to_owned();
    let label = secret_id.split('-').next().unwrap().to_owned();
    let board_page = get(&board_url).await;
    assert!(!board_page.contains(&secret_id), "{board_page}");
    c.goto(&format!("{board_url}/attempts/{label}"))
        .await
        .unwrap();
    let watched = text_of(&c, "watch-events").await;
    assert!(watched.contains("delete-cert"), "{watched}");
    assert!(c.find(Locator::Css("button")).await.is_err());
    assert!(text_of(&c, "watch-score").await.contains("Still open"));
    c.goto(&board_url).await.unwrap();

    // She fixes the clock and signs in; the board follows.
    c.switch_to_window(trainee.handle.clone()).await.unwrap();
    click(&c, "tool-datetime").await;
    click(&c, "step-sync-time").await;
    text_of(&c, "done").await;
    click(&c, "signin-button").await;
    text_of(&c, "signed-in").await;
    c.switch_to_window(board.clone()).await.unwrap();
    let row = text_until(&c, "board-table", "signed-in").await;
    // Ended, and so no longer flagged for time (she has been idle before, and is over no
    // limit: the flags of an open attempt are gone).
    assert!(!row.contains("no progress"), "{row}");

    // The results, and their exports.
    click(&c, "results-link").await;
    let per_trainee = text_until(&c, "trainee-results", "Cleo").await;
    assert!(per_trainee.contains("80"), "{per_trainee}");
    assert!(
        per_trainee.contains("signed-in"),
        "the ending: {per_trainee}"
    );
    assert!(per_trainee.contains("delete-cert"), "{per_trainee}");
    let per_cause = text_of(&c, "cause-results").await;
    assert!(per_cause.contains("clock-skew"), "{per_cause}");
    assert!(per_cause.contains("100 %"), "{per_cause}");
    screenshot(&c, "results.png").await;
    // A second trainee, whose name a spreadsheet would run as a formula.
    post_form(
        &format!("{}/join", console.url()),
        &format!("trainee=%3DHYPERLINK(1)&code={code}"),
    );
    let csv = lyncsim_lab::fetch_plain(&format!("{board_url}/results.csv"))
        .await
        .unwrap();
    let csv = String::from_utf8(csv).unwrap();
    let rows: Vec<&str> = csv.lines().collect();
    assert!(
        rows[0].starts_with("attempt,trainee,product,os,causes,points,finished,ending"),
        "{csv}"
    );
    assert!(rows[1].starts_with("a1,"), "{csv}");
    assert!(
        rows[1].contains(",Cleo,lync2010,xp,clock-skew,80,true,signed-in,"),
        "{csv}"
    );
    assert!(rows[1].ends_with(",delete-cert sync-time"), "{csv}");
    assert!(rows[2].contains(",'=HYPERLINK(1),"), "{csv}");
    let json = lyncsim_lab::fetch_plain(&format!("{board_url}/results.json"))
        .await
        .unwrap();
    // The export carries neither the trainer's key nor a trainee's secret link.
    let key = board_url.rsplit("/trainer/").next().unwrap();
    let text = String::from_utf8_lossy(&json);
    assert!(!text.contains(key) && !text.contains(&secret_id), "{text}");
    let json: serde_json::Value = serde_json::from_slice(&json).unwrap();
    assert_eq!(json["trainees"][0]["points"], 80);
    assert_eq!(json["trainees"][0]["events"][1]["event"], "view");
    assert_eq!(json["causes"][0]["cause"], "clock-skew");

    c.close().await.unwrap();
    console.shutdown().await;
}

async fn get(url: &str) -> String {
    String::from_utf8(lyncsim_lab::fetch_plain(url).await.unwrap()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_console_restart_loses_no_attempt_and_a_hint_costs_what_it_says() {
    let data = tempfile::tempdir().unwrap();
    let config = config(data.path());
    let console = lyncsim_console::start(config.clone()).await.unwrap();
    let url = console.url();
    let (a1, page) = start(
        &format!("{url}/attempts"),
        "trainee=Ann&product=lync2010&os=xp&causes=clock-skew",
    );
    assert!(page.contains(ErrorId::ECert.text()), "{page}");
    assert!(a1.contains("/attempts/a1-"), "an unguessable link: {a1}");
    // Hints, at their cost, each saying more than the one before: where to look, what to
    // look for, the KB's step; then none, at no cost.
    let hints: Vec<String> = (0..4)
        .map(|_| post_form(&format!("{a1}/hint"), ""))
        .collect();
    assert!(
        hints[0].contains("the computer&#39;s clock") || hints[0].contains("the computer's clock"),
        "{}",
        hints[0]
    );
    assert!(hints[1].contains("five minutes"), "{}", hints[1]);
    assert!(hints[2].contains("Update now"), "{}", hints[2]);
    assert!(
        hints[0..3]
            .iter()
            .all(|h| h.contains("This hint cost 10 points."))
    );
    assert!(hints[3].contains("No hints left"), "{}", hints[3]);
    // Each answer draws the counter and the points again (out of band), live.
    assert!(hints[0].contains("2 left") && hints[0].contains("points spent on hints: 10"));
    assert!(
        hints[2].contains("points spent on hints: 30"),
        "{}",
        hints[2]
    );
    let done = post_form(&format!("{a1}/step/sync-time"), "");
    assert!(
        done.contains("The clock was successfully synchronized with time.windows.com on "),
        "{done}"
    );
    console.shutdown().await;

    // Another console on the same folder: the attempt is there, its machine as it was left
    // (the clock synchronised) and its service as it was (the machine still trusts it).
    let console = lyncsim_console::start(config.clone()).await.unwrap();
    let url = console.url();
    // The home page lists no one's attempts but the browser's own.
    let home = get(&url).await;
    assert!(
        !home.contains("Ann") && !home.contains("could not take up"),
        "{home}"
    );
    let a1 = a1.replace(url_of(&a1).as_str(), &url);
    let desk = get(&a1).await;
    assert!(desk.contains(ErrorId::ECert.text()), "{desk}");
    let window = post_form(&format!("{a1}/signin"), "");
    assert!(
        window.contains("Signed in as alice@contoso.com"),
        "{window}"
    );
    let debrief = get(&format!("{a1}/debrief")).await;
    assert!(
        debrief.contains(r#"id="points">70<"#),
        "three hints cost 30: {debrief}"
    );
    // A new attempt takes the next number.
    let (a2, next) = start(
        &format!("{url}/attempts"),
        "trainee=Bo&product=lync2013&os=win8&causes=stale-credentials",
    );
    assert!(next.contains("Attempt a2"), "{next}");
    // The ticket names no password: a changed one would give the cause away.
    assert!(
        !get(&a2).await.contains("Passw"),
        "the ticket names a password"
    );
    // Lync 2013 has no Fix it: the step is refused as a bad request, and nothing recorded.
    let (status, page) = post_form_status(&format!("{a2}/step/fixit"), "");
    assert_eq!(status, 400, "{page}");
    assert!(page.contains("is for Lync 2010"), "{page}");
    // With the saved password removed, Sign In asks for it, as Lync does; typed, it signs in.
    let removed = post_form(&format!("{a2}/step/remove-credentials"), "");
    assert!(removed.contains("Remove from vault"), "{removed}");
    let asked = post_form(&format!("{a2}/signin"), "");
    assert!(asked.contains("Lync needs the password"), "{asked}");
    // The user says the password when Lync asks (the ticket names none, above).
    let password = asked
        .split(r#"id="user-password""#)
        .nth(1)
        .and_then(|rest| rest.split("<code>").nth(1))
        .and_then(|rest| rest.split("</code>").next())
        .unwrap_or_else(|| panic!("{asked}"))
        .to_owned();
    let window = post_form(&format!("{a2}/signin"), &format!("password={password}"));
    assert!(
        window.contains("Signed in as alice@contoso.com"),
        "{window}"
    );
    // A finished attempt's debrief is recorded when it ends and read back: another restart,
    // and each says what it said.
    let points = |page: &str| {
        page.split(r#"id="points">"#)
            .nth(1)
            .and_then(|rest| rest.split('<').next())
            .unwrap_or_else(|| panic!("{page}"))
            .to_owned()
    };
    let before = [
        points(&get(&format!("{a1}/debrief")).await),
        points(&get(&format!("{a2}/debrief")).await),
    ];
    console.shutdown().await;
    let recorded = std::fs::read_dir(data.path())
        .unwrap()
        .flatten()
        .flat_map(|e| std::fs::read_dir(e.path()).into_iter().flatten().flatten())
        .filter(|e| e.file_name() == "debrief.json")
        .count();
    assert!(recorded >= 2, "{recorded} debriefs recorded");
    let console = lyncsim_console::start(config).await.unwrap();
    let url = console.url();
    let (a1, a2) = (
        a1.replace(url_of(&a1).as_str(), &url),
        a2.replace(url_of(&a2).as_str(), &url),
    );
    let after = [
        points(&get(&format!("{a1}/debrief")).await),
        points(&get(&format!("{a2}/debrief")).await),
    ];
    assert_eq!(before, after);
    console.shutdown().await;
}

/// `http://host:port` of a URL.
fn url_of(url: &str) -> String {
    let rest = url.trim_start_matches("http://");
    format!("http://{}", rest.split('/').next().unwrap())
}

/// axe-core, which `.ci/run` installs (npm, outside the tree) and names in `LYNCSIM_AXE`.
fn axe_source() -> String {
    let path = std::env::var("LYNCSIM_AXE").unwrap_or_else(|_| {
        let cache = std::env::var("XDG_CACHE_HOME")
            .unwrap_or_else(|_| format!("{}/.cache", std::env::var("HOME").unwrap_or_default()));
        format!("{cache}/lyncsim-axe/node_modules/axe-core/axe.min.js")
    });
    std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "axe-core is needed at {path} ({e}): run .ci/run, or npm install --prefix ~/.cache/lyncsim-axe axe-core@4.14.1"
        )
    })
}

/// The serious and critical accessibility violations axe-core finds on the page shown.
async fn violations(c: &Client, axe: &str) -> Vec<String> {
    c.execute(axe, vec![]).await.unwrap();
    let found = c
        .execute_async(
            r#"const done = arguments[arguments.length - 1];
            axe.run(document, { resultTypes: ["violations"] })
              .then(r => done(r.violations
                .filter(v => v.impact === "serious" || v.impact === "critical")
                .map(v => v.id + ": " + v.nodes.map(n => n.target.join(" ")).join(", "))))
              .catch(e => done(["axe failed: " + e]));"#,
            vec![],
        )
        .await
        .unwrap();
    serde_json::from_value(found).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_page_has_no_serious_accessibility_violation() {
    let axe = axe_source();
    let data = tempfile::tempdir().unwrap();
    let console = lyncsim_console::start(config(data.path())).await.unwrap();
    let (_driver, c) = browser().await;
    let mut found = Vec::new();
    let mut check = |page: &str, v: Vec<String>| {
        found.extend(v.into_iter().map(|v| format!("{page}: {v}")));
    };

    // The home page, and with a refused form.
    c.goto(&console.url()).await.unwrap();
    check("home", violations(&c, &axe).await);
    let form = c.form(Locator::Id("join")).await.unwrap();
    form.set_by_name("trainee", "Ann").await.unwrap();
    form.set_by_name("code", "ZZZZZ9").await.unwrap();
    form.submit().await.unwrap();
    text_of(&c, "join").await;
    check("home, refused", violations(&c, &axe).await);

    // A trainer's cohort, a trainee in it: the board, the attempt with each view, the debrief
    // once given up, the trainer's view and the results.
    c.goto(&console.url()).await.unwrap();
    let form = c.form(Locator::Id("new-cohort")).await.unwrap();
    form.set_by_name("causes", "clock-skew").await.unwrap();
    form.set_by_name("products", "lync2010").await.unwrap();
    form.set_by_name("oses", "xp").await.unwrap();
    form.submit().await.unwrap();
    let code = text_of(&c, "join-code").await;
    let board = c.current_url().await.unwrap().to_string();
    check("board", violations(&c, &axe).await);
    c.goto(&console.url()).await.unwrap();
    let form = c.form(Locator::Id("join")).await.unwrap();
    form.set_by_name("trainee", "Ann").await.unwrap();
    form.set_by_name("code", &code).await.unwrap();
    form.submit().await.unwrap();
    text_of(&c, "signin-error").await;
    let attempt = c.current_url().await.unwrap().to_string();
    check("attempt", violations(&c, &axe).await);
    for (view, shown) in [
        ("about", "about-build"),
        ("certmgr", "certmgr"),
        ("credman", "credman"),
        ("folder", "trace"),
        ("datetime", "source-time"),
        ("cmd", "cmd-output"),
        ("rsa", "rsa"),
        ("tools", "tools"),
    ] {
        click(&c, &format!("tool-{view}")).await;
        text_of(&c, shown).await;
        check(&format!("attempt, {view}"), violations(&c, &axe).await);
    }
    // The command prompt: a command's output, the input cleared, the command in its history.
    click(&c, "tool-cmd").await;
    let line = c
        .wait()
        .at_most(Duration::from_secs(60))
        .for_element(Locator::Id("cmd-line"))
        .await
        .unwrap();
    line.send_keys("ipconfig /displaydns\n").await.unwrap();
    let out = text_until(&c, "cmd-output", "Windows IP Configuration").await;
    assert!(out.contains(">ipconfig /displaydns"), "{out}");
    assert_eq!(value_of(&c, "#cmd-line").await.as_deref(), Some(""));
    let history = c
        .find(Locator::Css("#cmd-history option"))
        .await
        .unwrap()
        .attr("value")
        .await
        .unwrap();
    assert_eq!(history.as_deref(), Some("ipconfig /displaydns"));
    // Up brings it back.
    c.find(Locator::Id("cmd-line"))
        .await
        .unwrap()
        .send_keys("\u{E013}")
        .await
        .unwrap();
    assert_eq!(
        value_of(&c, "#cmd-line").await.as_deref(),
        Some("ipconfig /displaydns")
    );
    assert!(
        holds(
            &c,
            "const o = document.getElementById('cmd-output'); return o.scrollTop + o.clientHeight >= o.scrollHeight - 2"
        )
        .await,
        "the output shows its newest line"
    );
    screenshot(&c, "cmd.png").await;
    check("attempt, cmd used", violations(&c, &axe).await);
    click(&c, "tool-credman").await;
    text_of(&c, "credman").await;
    screenshot(&c, "credential-manager.png").await;
    c.goto(&format!("{attempt}/debrief")).await.unwrap();
    text_of(&c, "debrief-closed").await;
    check("debrief, closed", violations(&c, &axe).await);
    post_form(&format!("{attempt}/give-up"), "");
    c.goto(&format!("{attempt}/debrief")).await.unwrap();
    text_of(&c, "points").await;
    check("debrief", violations(&c, &axe).await);
    let id = attempt.rsplit('/').next().unwrap().to_owned();
    let label = id.split('-').next().unwrap();
    c.goto(&format!("{board}/attempts/{label}")).await.unwrap();
    text_of(&c, "watch-events").await;
    check("trainer's view", violations(&c, &axe).await);
    c.goto(&format!("{board}/results")).await.unwrap();
    text_of(&c, "trainee-results").await;
    check("results", violations(&c, &axe).await);

    assert!(found.is_empty(), "axe-core found:\n{}", found.join("\n"));
    c.close().await.unwrap();
    console.shutdown().await;
}

/// curl POSTing a form body (`follow`: redirects followed); the body it got and what
/// `--write-out` wrote after it.
fn curl_form(url: &str, form: &str, follow: bool, write_out: &str) -> (String, String) {
    curl_form_with(url, form, (follow, write_out), &[])
}

/// [`curl_form`] with more of curl's arguments (headers) before the URL.
fn curl_form_with(
    url: &str,
    form: &str,
    (follow, write_out): (bool, &str),
    extra: &[&str],
) -> (String, String) {
    let mut args = vec!["-sS", "--max-time", "120", "-w", write_out, "-d", form];
    args.extend_from_slice(extra);
    args.push(url);
    if follow {
        args.insert(0, "-L");
    }
    let out = std::process::Command::new("curl")
        .args(&args)
        .output()
        .expect("curl is installed (.ci/run installs it)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let (body, written) = text.rsplit_once('\n').unwrap_or(("", &text));
    (body.to_owned(), written.to_owned())
}

/// curl with a form body (the console's forms), redirects followed; the body it got.
fn post_form(url: &str, form: &str) -> String {
    curl_form(url, form, true, "\n").0
}

/// Starts an attempt with curl (a form body, redirects followed): the attempt's address and
/// its page.
fn start(url: &str, form: &str) -> (String, String) {
    let (body, at) = curl_form(url, form, true, "\n%{url_effective}");
    (at, body)
}

/// curl with a form body; the status and the body it got (no redirects followed).
fn post_form_status(url: &str, form: &str) -> (u16, String) {
    let (body, status) = curl_form(url, form, false, "\n%{http_code}");
    (status.trim().parse().unwrap_or(0), body)
}

/// An offered exercise can always be prepared: one whose causes do not stop sign-in (Lync
/// 2013 recovers from an outage by itself) is refused, with the reason, when it is asked for
/// and when a trainer makes a cohort of it. A cohort whose trainees each draw their own
/// exercise shows each on the board.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_offered_exercise_stops_sign_in_and_a_cohort_may_draw_one_per_trainee() {
    let data = tempfile::tempdir().unwrap();
    let console = lyncsim_console::start(config(data.path())).await.unwrap();
    let url = console.url();
    let (status, page) = post_form_status(
        &format!("{url}/attempts"),
        "trainee=Dee&product=lync2013&os=win7&causes=post-outage",
    );
    assert_eq!(status, 400, "{page}");
    assert!(page.contains("does not stop sign-in"), "{page}");
    let (status, page) = post_form_status(
        &format!("{url}/cohorts"),
        "name=x&causes=post-outage&products=lync2013&oses=win7&seed=1",
    );
    assert_eq!(status, 400, "{page}");
    assert!(page.contains("does not stop sign-in"), "{page}");
    assert!(
        std::fs::read_dir(data.path())
            .unwrap()
            .flatten()
            .all(|e| !e.file_name().to_string_lossy().starts_with('a')),
        "nothing is kept of an attempt that could not begin"
    );

    // Each trainee draws their own, from clock skew and a stale DNS record on Lync 2010.
    let (board, board_url) = curl_form(
        &format!("{url}/cohorts"),
        "name=Tuesday&causes=clock-skew,dns-stale&products=lync2010&oses=win7&seed=3&per_trainee=on",
        true,
        "\n%{url_effective}",
    );
    assert!(
        board.contains("each trainee draws their own exercise"),
        "{board}"
    );
    let code = board
        .split(r#"id="join-code">"#)
        .nth(1)
        .and_then(|rest| rest.split('<').next())
        .unwrap()
        .to_owned();
    for trainee in ["Eve", "Finn", "Gus"] {
        let (_, page) = start(
            &format!("{url}/join"),
            &format!("trainee={trainee}&code={code}"),
        );
        assert!(page.contains(ErrorId::ECert.text()), "{page}");
    }
    let board = get(&board_url).await;
    let exercises: Vec<&str> = board
        .split("<td>")
        .filter(|cell| cell.contains("Lync 2010"))
        .collect();
    assert_eq!(exercises.len(), 3, "{board}");
    assert!(
        exercises.iter().any(|e| e.contains("clock-skew"))
            && exercises.iter().any(|e| e.contains("dns-stale")),
        "the draws differ: {exercises:?}"
    );
    console.shutdown().await;
}

/// Waits (at most 60 s) until `script` (a function body) returns true on the page shown.
async fn until_holds(c: &Client, script: &str, what: &str) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while !holds(c, script).await {
        assert!(tokio::time::Instant::now() < deadline, "never: {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The offline banner comes when the console cannot be reached and goes once it can again:
/// on a trainee's page at the next request that gets through, on the trainer's board (which
/// makes no requests) when its stream opens again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_offline_banner_comes_with_a_lost_console_and_goes_when_it_is_back() {
    const SHOWN: &str = "return !document.getElementById('offline').hidden;";
    const GONE: &str = "return document.getElementById('offline').hidden;";
    let data = tempfile::tempdir().unwrap();
    let config = ConsoleConfig {
        listen: format!("127.0.0.1:{}", free_port()).parse().unwrap(),
        ..config(data.path())
    };
    let console = lyncsim_console::start(config.clone()).await.unwrap();
    let (_driver, c) = browser().await;

    // The trainer's board, in one window.
    c.goto(&console.url()).await.unwrap();
    let form = c.form(Locator::Id("new-cohort")).await.unwrap();
    form.set_by_name("name", "Tuesday").await.unwrap();
    form.set_by_name("causes", "clock-skew").await.unwrap();
    form.set_by_name("products", "lync2010").await.unwrap();
    form.set_by_name("oses", "xp").await.unwrap();
    form.set_by_name("seed", "2").await.unwrap();
    form.submit().await.unwrap();
    text_of(&c, "join-code").await;
    let board = c.window().await.unwrap();
    // A trainee's attempt, in another.
    let trainee = c.new_window(false).await.unwrap();
    c.switch_to_window(trainee.handle.clone()).await.unwrap();
    open_exercise(&c, &console.url(), "Dee").await;
    text_of(&c, "signin-error").await;
    assert!(holds(&c, GONE).await);

    // The console goes away: the trainee's next click says so, and so does the board.
    console.shutdown().await;
    click(&c, "tool-certmgr").await;
    until_holds(&c, SHOWN, "the trainee's page shows the banner").await;
    c.switch_to_window(board.clone()).await.unwrap();
    until_holds(&c, SHOWN, "the board shows the banner").await;

    // It comes back on the same address: the board's stream opens again and the banner
    // goes by itself; the trainee's goes at the next click that gets through.
    let console = lyncsim_console::start(config).await.unwrap();
    until_holds(&c, GONE, "the board's banner goes when its stream is back").await;
    c.switch_to_window(trainee.handle.clone()).await.unwrap();
    assert!(
        holds(&c, SHOWN).await,
        "nothing was asked of the console yet"
    );
    click(&c, "tool-certmgr").await;
    until_holds(&c, GONE, "the trainee's banner goes").await;
    text_of(&c, "certmgr").await;
    c.close().await.unwrap();
    console.shutdown().await;
}
