//! The console's pages and the fragments htmx swaps into them.

use crate::engine::Event;
use lyncsim_client::views::{Certmgr, CredEntry, Credman};
use lyncsim_domain::{Cause, Os, Product, Remedy};
use lyncsim_lab::Seen;
use maud::{DOCTYPE, Markup, html};

use crate::attempt::{Attempt, Debrief, Panel};
use crate::cohort::{BoardRow, CauseResult, Cohort, TraineeResult};
use crate::text;

/// A row of the home page's list.
pub(crate) struct AttemptRow {
    pub(crate) id: String,
    pub(crate) trainee: String,
    pub(crate) summary: String,
}

fn page(title: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                title { (title) " · lyncsim training" }
                link rel="stylesheet" href="/assets/console.css";
                script src="/assets/htmx.min.js" {}
                script src="/assets/htmx-sse.min.js" {}
            }
            body {
                header.top {
                    a href="/" { "lyncsim training" }
                    span { (title) }
                }
                main { (body) }
            }
        }
    }
}

/// A failure, as a fragment that also reads as a page.
pub(crate) fn failure(message: &str) -> Markup {
    html! {
        div.failure role="alert" {
            strong { "That did not work: " }
            (message)
        }
    }
}

pub(crate) fn home(rows: &[AttemptRow], unresumed: &[(String, String)]) -> Markup {
    page(
        "Exercises",
        html! {
            section.card {
                h2 { "Join your trainer's cohort" }
                form #join method="post" action="/join" {
                    label { "Your name " input name="trainee" required; }
                    label { " Join code " input name="code" required size="8"; }
                    button #join-button type="submit" { "Join" }
                }
            }
            section.card {
                h2 { "Start an exercise on your own" }
                form #start-exercise method="post" action="/attempts" {
                    label { "Your name " input name="trainee" required; }
                    fieldset {
                        legend { "Drawn at random" }
                        label { "Seed (leave empty for any) " input name="seed" inputmode="numeric"; }
                    }
                    fieldset {
                        legend { "Or chosen by the trainer" }
                        label { "Product "
                            select name="product" {
                                @for p in Product::ALL { option value=(p.id()) { (p.display_name()) } }
                            }
                        }
                        label { " OS "
                            select name="os" {
                                @for o in Os::ALL { option value=(o.id()) { (o.display_name()) } }
                            }
                        }
                        label { " Causes (1 to 3, comma-separated: "
                            @for (i, c) in Cause::ALL.iter().enumerate() {
                                @if i > 0 { ", " } code { (c.id()) }
                            }
                            ") " input name="causes"; }
                    }
                    button #start type="submit" { "Start" }
                }
                p.note { "Preparing an exercise takes a few seconds: its service starts, the user signs in once, and then the trouble is made for real." }
            }
            section.card {
                h2 { "For the trainer: a cohort" }
                form #new-cohort method="post" action="/cohorts" {
                    label { "Name " input name="name"; }
                    label { " Causes (empty: any) " input name="causes"; }
                    label { " Products (" code { "lync2010" } ", " code { "lync2013" } "; empty: any) " input name="products"; }
                    label { " OSes (" @for (i, o) in Os::ALL.iter().enumerate() { @if i > 0 { ", " } code { (o.id()) } } "; empty: any) " input name="oses"; }
                    label { " Causes per exercise " input name="count" value="1" size="2"; }
                    label { " Seed (empty: any) " input name="seed" inputmode="numeric"; }
                    label { " Time limit in minutes " input name="time_limit_min" size="4"; }
                    label { " A hint costs " input name="hint_cost" value="10" size="3"; " points" }
                    button #create-cohort type="submit" { "Create the cohort" }
                }
                p.note { "Every trainee of a cohort gets the same exercise, drawn from its seed, so that their results compare." }
            }
            @if !unresumed.is_empty() {
                section.card #unresumed {
                    h2 { "Attempts this console could not take up again" }
                    p.note { "Their files are kept in the data folder." }
                    ul { @for (id, why) in unresumed { li { (id) ": " (why) } } }
                }
            }
            @if !rows.is_empty() {
                section.card {
                    h2 { "Attempts on this console" }
                    ul {
                        @for r in rows {
                            li { a href={ "/attempts/" (r.id) } { (r.id) } " · " (r.trainee) " · " (r.summary) }
                        }
                    }
                }
            }
        },
    )
}

pub(crate) fn desktop(a: &Attempt) -> Markup {
    let spec = &a.exercise.spec;
    let id = &a.id;
    let tool = |view: &str, label: &str| {
        html! {
            button.tool #{ "tool-" (view) } hx-get={ "/attempts/" (id) "/view/" (view) } hx-target="#panel" { (label) }
        }
    };
    page(
        &format!("Attempt {id} · {}", a.trainee),
        html! {
            section.ticket #ticket {
                h2 { "Ticket " (id) }
                p { strong { (a.user()) } " can't sign in to Lync since this morning. It worked yesterday." }
                p { "Their computer: " (spec.product.display_name()) " on " (spec.os.display_name()) "." }
            }
            div.desk {
                (sign_in_window(a))
                nav.tools {
                    h3 { "Look at the computer" }
                    (tool("about", "Lync: Help > About"))
                    (tool("certmgr", "Certificates (certmgr.msc)"))
                    (tool("credman", "Credential Manager"))
                    (tool("folder", "The Lync folder"))
                    (tool("datetime", "Date and Time"))
                    (tool("cmd", "Command prompt"))
                    @if spec.os == Os::Xp { (tool("rsa", "The Crypto\\RSA folder")) }
                    (tool("tools", "KB tools and updates"))
                    h3 { "When nothing on the computer helps" }
                    button.tool #second-account hx-post={ "/attempts/" (id) "/second-account" } hx-target="#panel" { "Sign in with another account here" }
                    button.tool #escalate hx-post={ "/attempts/" (id) "/step/escalate" } hx-target="#panel" { "Escalate to support" }
                    h3 { "Stuck?" }
                    button.tool #hint hx-post={ "/attempts/" (id) "/hint" } hx-target="#panel" { "A hint (costs " (a.hint_cost) " points)" }
                    h3 { "Done?" }
                    a.tool #debrief href={ "/attempts/" (id) "/debrief" } { "Debrief" }
                }
                section.panel #panel { p.note { "Choose what to look at." } }
            }
        },
    )
}

/// The Lync sign-in window: what the last sign-in showed, and the Sign In button.
pub(crate) fn sign_in_window(a: &Attempt) -> Markup {
    html! {
        section.window #signin {
            h2 { "Microsoft Lync" }
            p { "Sign-in address: " strong { (a.user()) } }
            @match &a.last {
                Some(Seen { error: None, .. }) => p.ok #signed-in { "Signed in as " (a.user()) },
                Some(Seen { text: Some(text), .. }) => p.error #signin-error { (text) },
                _ => {},
            }
            button #signin-button hx-post={ "/attempts/" (a.id) "/signin" } hx-target="#signin" hx-swap="outerHTML" hx-disabled-elt="this" { "Sign In" }
        }
    }
}

fn step_button(a: &Attempt, remedy: Remedy) -> Markup {
    html! {
        button.step #{ "step-" (remedy.id()) } hx-post={ "/attempts/" (a.id) "/step/" (remedy.id()) } hx-target="#panel" {
            (text::button(remedy, a.exercise.spec.os))
        }
    }
}

pub(crate) fn panel(a: &Attempt, panel: &Panel) -> Markup {
    match panel {
        Panel::About {
            product,
            build,
            sign_in_assistant,
        } => about(product, build, sign_in_assistant.as_deref()),
        Panel::Certmgr(store) => certmgr(a, store),
        Panel::Credman(vault) => credman(a, vault),
        Panel::Folder {
            location,
            endpoint,
            trace,
        } => folder(a, location, endpoint.as_ref(), trace),
        Panel::DateTime {
            machine,
            source,
            difference,
            ahead,
        } => date_time(a, (machine, source), difference, *ahead),
        Panel::Command => command(a),
        Panel::Rsa { location, files } => rsa(a, location, files),
        Panel::Tools => tools(a),
    }
}

fn about(product: &str, build: &str, sign_in_assistant: Option<&str>) -> Markup {
    html! {
        h3 { "About " (product) }
        p #about-build { "Version " (build) }
        @if let Some(sia) = sign_in_assistant {
            p #about-sia { "Microsoft Online Services Sign-In Assistant " (sia) }
        }
    }
}

fn certmgr(a: &Attempt, store: &Certmgr) -> Markup {
    html! {
        h3 { "Certificates - Current User > Personal > Certificates" }
        p.path { (store.location) }
        table #certmgr {
            tr { th { "Issued To" } th { "Issued By" } th { "Expiration Date" } th {} }
            @for row in &store.rows {
                tr {
                    td { (row.issued_to) }
                    td { (row.issued_by) }
                    td { @if let Some(why) = &row.unreadable { "cannot be read: " (why) } @else { (row.expires) } }
                    td { @if row.issued_by.contains("Communications Server") { (step_button(a, Remedy::DeleteCert)) } }
                }
            }
            @if store.rows.is_empty() { tr { td colspan="4" { "There are no items to show in this view." } } }
        }
    }
}

fn credman(a: &Attempt, vault: &Credman) -> Markup {
    html! {
        h3 { "Credential Manager > Windows Credentials > Generic Credentials" }
        p.path { (vault.location) }
        ul #credman {
            @for entry in &vault.entries {
                @match entry {
                    CredEntry::Generic { target, user, modified } => li {
                        code { (target) } " · " (user) " · modified " (modified) " "
                        @if target.starts_with("Microsoft_OC") { (step_button(a, Remedy::RemoveCredentials)) }
                    },
                    CredEntry::Unreadable { path, reason } => li { code { (path) } ": " (reason) },
                }
            }
            @if vault.entries.is_empty() { li { "No Generic Credentials." } }
        }
    }
}

fn folder(
    a: &Attempt,
    location: &str,
    endpoint: Option<&(String, Vec<String>)>,
    trace: &[String],
) -> Markup {
    html! {
        h3 { "The Lync folder" }
        p.path { (location) }
        @if let Some((folder, files)) = endpoint {
            p { "Folder " code #endpoint-folder { (folder) } ": " (files.join(", ")) " " (step_button(a, Remedy::DeleteEndpointCache)) }
        } @else {
            p { "No sip_ folder for " (a.user()) "." }
        }
        h4 { "The trace log (its end)" }
        pre #trace { @for line in trace { (line) "\n" } }
    }
}

fn date_time(
    a: &Attempt,
    (machine, source): (&str, &str),
    difference: &str,
    ahead: bool,
) -> Markup {
    html! {
        h3 { "Date and Time" }
        p { "This computer: " strong #machine-time { (machine) } }
        p { "Internet time (the time source): " strong #source-time { (source) } }
        p #skew { "This computer's clock is " (difference) " " @if ahead { "ahead" } @else { "behind" } "." }
        (step_button(a, Remedy::SyncTime))
    }
}

fn command(a: &Attempt) -> Markup {
    html! {
        h3 { "Command prompt" }
        pre #cmd-output { "Microsoft Windows\n" }
        form hx-post={ "/attempts/" (a.id) "/cmd" } hx-target="#cmd-output" hx-swap="beforeend" {
            label { "C:\\> " input #cmd-line name="line" autocomplete="off"; }
            button #cmd-run type="submit" { "Run" }
        }
    }
}

fn rsa(a: &Attempt, location: &str, files: &[String]) -> Markup {
    html! {
        h3 { "The RSA key folder" }
        p.path { (location) }
        p { @if files.is_empty() { "The folder is empty." } @else { (files.len()) " key container(s): " (files.join(", ")) } }
        (step_button(a, Remedy::DeleteRsaKey))
    }
}

fn tools(a: &Attempt) -> Markup {
    html! {
        h3 { "KB tools and updates" }
        ul {
            @for remedy in [Remedy::Fixit, Remedy::DeleteSigninInfo, Remedy::DesktopSetup, Remedy::UpdateClient, Remedy::Restart] {
                @if remedy.offered_on(a.exercise.spec.product, a.exercise.spec.os).is_ok() {
                    li { (step_button(a, remedy)) }
                }
            }
        }
    }
}

/// What a step did.
pub(crate) fn done(a: &Attempt, remedy: Remedy, did: &str) -> Markup {
    html! {
        div.done #done {
            p { strong { (text::button(remedy, a.exercise.spec.os)) } ": " (did) }
            @if remedy == Remedy::DeleteRsaKey { p { "The key folder is read when Lync starts: " (step_button(a, Remedy::Restart)) } }
            @if remedy != Remedy::Escalate { p.note { "Sign in again to see whether it helped." } }
        }
    }
}

/// One command's output, for the prompt's window.
pub(crate) fn command_output(_a: &Attempt, line: &str, output: &str) -> Markup {
    html! { "C:\\> " (line) "\n" (output) "\n" }
}

/// A hint, with what it cost.
pub(crate) fn hint(a: &Attempt, hint: Option<&str>) -> Markup {
    html! {
        div.done #hint-text {
            @match hint {
                Some(h) => { p { (h) } p.note { "This hint cost " (a.hint_cost) " points." } },
                None => p { "The user signs in: there is nothing to hint at." },
            }
        }
    }
}

/// The second-account check's result.
pub(crate) fn second_account(who: &str, seen: &Seen) -> Markup {
    html! {
        div.done #second-account-result {
            @match &seen.text {
                None => p { (who) " signs in on this computer: the computer is fine for another account." },
                Some(text) => p { (who) " cannot sign in either: " span.error { (text) } },
            }
        }
    }
}

fn describe(event: &Event) -> String {
    match event {
        Event::SignIn { error: None, .. } => "Sign In: signed in".into(),
        Event::SignIn {
            error: Some(e),
            reason: Some(r),
        } => format!("Sign In: {} ({r})", e.id()),
        Event::SignIn { error: Some(e), .. } => format!("Sign In: {}", e.id()),
        Event::Step { remedy, did } => format!("{}: {did}", remedy.id()),
        Event::View { view } => format!("looked at {view}"),
        Event::Hint { cost } => format!("a hint ({cost} points)"),
    }
}

pub(crate) fn debrief(a: &Attempt, d: &Debrief) -> Markup {
    let spec = &a.exercise.spec;
    let evidence = d.events.iter().find_map(|e| match e {
        Event::SignIn {
            error: Some(_),
            reason: Some(r),
        } => Some(r.clone()),
        _ => None,
    });
    page(
        &format!("Debrief of {} · {}", a.id, a.trainee),
        html! {
            section.card #score {
                h2 { "Score: " span #points { (d.score.points) } " / 100" }
                p #finished { @if d.score.finished { "Finished: the user can sign in again." } @else { "Not finished: the user still cannot sign in." } }
                p { "The causes: " @for (i, c) in spec.causes.iter().enumerate() { @if i > 0 { ", " } code { (c.id()) } } "." }
            }
            section.card #shortest {
                h3 { "The shortest KB path" }
                @if d.paths.escalate {
                    p #shortest-path { "No step on the computer restores sign-in: check with another account, then " code { "escalate" } "." }
                    p.kb { (text::kb_section(Remedy::Escalate, spec.product, spec.os)) }
                } @else {
                    @for path in &d.paths.paths {
                        p.shortest-path { @for (i, r) in path.iter().enumerate() { @if i > 0 { " → " } code { (r.id()) } } }
                        ul { @for r in path { li.kb { code { (r.id()) } ": " (text::kb_section(*r, spec.product, spec.os)) } } }
                    }
                }
                @if let Some(e) = &evidence { p #evidence { "The evidence the first sign-in left: " code { (e) } } }
            }
            section.card #trainee-path {
                h3 { "What you did" }
                table #events {
                    tr { th { "#" } th { "Action" } th { "Points" } th { "Why" } }
                    @for (i, e) in d.events.iter().enumerate() {
                        @let penalty = d.score.penalties.iter().find(|p| p.event == i);
                        tr.penalised[penalty.is_some()] {
                            td { (i + 1) }
                            td { (describe(e)) }
                            td { @if let Some(p) = penalty { "−" (p.points) } }
                            td.why { @if let Some(p) = penalty { (p.why) } @else if let Event::Step { remedy, .. } = e { (text::kb_section(*remedy, spec.product, spec.os)) } }
                        }
                    }
                }
            }
            p { a href={ "/attempts/" (a.id) } { "Back to the computer" } }
        },
    )
}

/// The board's table: one row per trainee, with its flags.
pub(crate) fn board_rows(code: &str, rows: &[BoardRow]) -> Markup {
    html! {
        table #board-table {
            tr { th { "Trainee" } th { "Steps" } th { "Last sign-in" } th { "Needs a look" } }
            @for r in rows {
                tr.flagged[r.destructive.is_some() || r.idle_min.is_some() || r.over_time_min.is_some()] #{ "row-" (r.attempt) } {
                    td { a href={ "/attempts/" (r.attempt) } { (r.trainee) } }
                    td { (r.steps) }
                    td.ok[r.signed_in] { (r.last_sign_in) }
                    td.flags {
                        @if let Some(d) = &r.destructive { span.flag { "destructive step: " (d) } " " }
                        @if let Some(m) = r.idle_min { span.flag { "no progress for " (m) " min" } " " }
                        @if let Some(m) = r.over_time_min { span.flag { "over the time limit by " (m) " min" } }
                    }
                }
            }
            @if rows.is_empty() { tr { td colspan="4" { "No one has joined yet: give them the code " strong { (code) } "." } } }
        }
    }
}

/// The trainer's live board.
pub(crate) fn board(cohort: &Cohort, rows: &[BoardRow]) -> Markup {
    let list = |items: Vec<&str>| {
        if items.is_empty() {
            "any".to_owned()
        } else {
            items.join(", ")
        }
    };
    page(
        &format!("Cohort {}", cohort.name),
        html! {
            section.card {
                h2 { (cohort.name) }
                p { "Join code: " strong #join-code { (cohort.code) } }
                p.note {
                    "Causes: " (list(cohort.causes.iter().map(|c| c.id()).collect()))
                    " · products: " (list(cohort.products.iter().map(|p| p.id()).collect()))
                    " · OSes: " (list(cohort.oses.iter().map(|o| o.id()).collect()))
                    " · " (cohort.count) " cause(s) · seed " (cohort.seed)
                    @if let Some(t) = cohort.time_limit_min { " · time limit " (t) " min" }
                    " · a hint costs " (cohort.hint_cost) " points"
                }
                p { a #results-link href={ "/cohorts/" (cohort.code) "/results" } { "Results" } }
            }
            section.card hx-ext="sse" sse-connect={ "/cohorts/" (cohort.code) "/stream" } {
                h3 { "Live board" }
                div #board sse-swap="board" { (board_rows(&cohort.code, rows)) }
            }
        },
    )
}

fn minutes(seconds: Option<i64>) -> String {
    seconds.map_or_else(|| "-".to_owned(), |s| format!("{}m{:02}s", s / 60, s % 60))
}

/// Results per trainee and per cause, with the exports.
pub(crate) fn results(
    cohort: &Cohort,
    trainees: &[TraineeResult],
    causes: &[CauseResult],
) -> Markup {
    page(
        &format!("Results of {}", cohort.name),
        html! {
            section.card {
                h2 { "Per trainee" }
                table #trainee-results {
                    tr { th { "Trainee" } th { "Points" } th { "Finished" } th { "Time" } th { "Wrong first step" } }
                    @for r in trainees {
                        tr {
                            td { a href={ "/attempts/" (r.attempt) "/debrief" } { (r.trainee) } }
                            td { (r.points) }
                            td { @if r.finished { "yes" } @else { "no" } }
                            td { (minutes(r.seconds)) }
                            td { (r.wrong_first_step.as_deref().unwrap_or("")) }
                        }
                    }
                }
            }
            section.card {
                h2 { "Per cause" }
                table #cause-results {
                    tr { th { "Cause" } th { "Attempts" } th { "Restored" } th { "Median time" } th { "Most common wrong first step" } }
                    @for c in causes {
                        tr {
                            td { code { (c.cause.id()) } }
                            td { (c.attempts) }
                            td { (format!("{:.0} %", c.restored * 100.0)) }
                            td { (minutes(c.median_seconds)) }
                            td { (c.most_common_wrong_first_step.as_deref().unwrap_or("")) }
                        }
                    }
                }
                p {
                    "Export: "
                    a #export-csv href={ "/cohorts/" (cohort.code) "/results.csv" } { "CSV" } " · "
                    a #export-json href={ "/cohorts/" (cohort.code) "/results.json" } { "JSON" }
                }
            }
        },
    )
}
