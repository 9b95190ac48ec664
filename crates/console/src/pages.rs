//! The console's pages and the fragments htmx swaps into them.

use crate::engine::{Ending, Event};
use lyncsim_client::views::{Certmgr, CredEntry, Credman};
use lyncsim_domain::{Cause, Os, Product, Remedy};
use lyncsim_lab::Seen;
use maud::{DOCTYPE, Markup, html};

use crate::attempt::{Attempt, Debrief, Panel, Progress};
use crate::cohort::{BoardRow, CauseResult, Cohort, TraineeResult};
use crate::text;

/// A form of the home page that was refused: what was typed, kept.
pub(crate) enum Refused {
    Join { trainee: String, code: String },
    Start(crate::attempt::Start),
    Cohort(crate::cohort::CohortForm),
}

/// A refused form and why.
pub(crate) struct FormError {
    pub(crate) form: Refused,
    pub(crate) message: String,
}

/// The reason a form was refused, inside it, for a screen reader too.
fn form_failure(message: &str) -> Markup {
    html! { p.failure role="alert" { strong { "That did not work: " } (message) } }
}

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
                meta name="viewport" content="width=device-width, initial-scale=1";
                // A refusal (4xx) or a failure (5xx) is swapped in like any answer: its
                // fragment says what went wrong, where the trainee looks.
                meta name="htmx-config" content=r#"{"responseHandling":[{"code":"204","swap":false},{"code":"[23]..","swap":true},{"code":"[45]..","swap":true,"error":true}]}"#;
                title { (title) " · lyncsim training" }
                link rel="stylesheet" href="/assets/console.css";
                script src="/assets/htmx.min.js" {}
                script src="/assets/htmx-sse.min.js" {}
            }
            // When the console cannot be reached (htmx's sendError, or the board's stream
            // failing), the page says so at once, and stops saying it once a request gets
            // through or the stream is open again (the board makes no requests of its own):
            // one of the two places where the page runs a line of its own.
            body hx-on::send-error="document.getElementById('offline').hidden = false"
                hx-on::sse-error="document.getElementById('offline').hidden = false"
                hx-on::sse-open="document.getElementById('offline').hidden = true"
                hx-on::after-request="if (!event.detail.failed) document.getElementById('offline').hidden = true" {
                header.top {
                    a href="/" { "lyncsim training" }
                    span { (title) }
                }
                div.failure #offline role="alert" hidden {
                    strong { "The training console cannot be reached. " }
                    "What you just did was not recorded. Check that lyncsim train is still running, then try again."
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

/// Joining a cohort; `kept`: what was typed when it was refused for `message`.
fn join_form(kept: Option<(&String, &String)>, message: &str) -> Markup {
    let empty = String::new();
    html! {
        section.card {
            h2 { "Join your trainer's cohort" }
            form #join method="post" action="/join" {
                @if kept.is_some() { (form_failure(message)) }
                label { "Your name " input name="trainee" required value=(kept.map_or(&empty, |j| j.0)); }
                label { " Join code " input name="code" required size="8" value=(kept.map_or(&empty, |j| j.1)); }
                button #join-button type="submit" { "Join" }
            }
        }
    }
}

/// Starting an exercise alone; `kept`: what was typed when it was refused for `message`.
fn start_form(kept: Option<&crate::attempt::Start>, message: &str) -> Markup {
    let empty = String::new();
    html! {
        section.card {
            h2 { "Start an exercise on your own" }
            form #start-exercise method="post" action="/attempts" {
                @if kept.is_some() { (form_failure(message)) }
                label { "Your name " input name="trainee" required value=(kept.map_or(&empty, |s| &s.trainee)); }
                fieldset {
                    legend { "Drawn at random" }
                    label { "Seed (leave empty for any) " input name="seed" inputmode="numeric" value=(kept.map_or(&empty, |s| &s.seed)); }
                }
                fieldset {
                    legend { "Or chosen by the trainer" }
                    label { "Product "
                        select name="product" {
                            @for p in Product::ALL { option value=(p.id()) selected[kept.is_some_and(|s| s.product == p.id())] { (p.display_name()) } }
                        }
                    }
                    label { " OS "
                        select name="os" {
                            @for o in Os::ALL { option value=(o.id()) selected[kept.is_some_and(|s| s.os == o.id())] { (o.display_name()) } }
                        }
                    }
                    label { " Causes (1 to 3, comma-separated: "
                        @for (i, c) in Cause::ALL.iter().enumerate() {
                            @if i > 0 { ", " } code { (c.id()) }
                        }
                        ") " input name="causes" value=(kept.map_or(&empty, |s| &s.causes)); }
                }
                button #start type="submit" { "Start" }
            }
            p.note { "Preparing an exercise takes a few seconds: its service starts, the user signs in once, and then the trouble is made for real." }
        }
    }
}

/// A trainer's new cohort; `kept`: what was typed when it was refused for `message`.
fn cohort_form(kept: Option<&crate::cohort::CohortForm>, message: &str) -> Markup {
    let empty = String::new();
    html! {
        section.card {
            h2 { "For the trainer: a cohort" }
            form #new-cohort method="post" action="/cohorts" {
                @if kept.is_some() { (form_failure(message)) }
                label { "Name " input name="name" value=(kept.map_or(&empty, |c| &c.name)); }
                label { " Causes (empty: any) " input name="causes" value=(kept.map_or(&empty, |c| &c.causes)); }
                label { " Products (" code { "lync2010" } ", " code { "lync2013" } "; empty: any) " input name="products" value=(kept.map_or(&empty, |c| &c.products)); }
                label { " OSes (" @for (i, o) in Os::ALL.iter().enumerate() { @if i > 0 { ", " } code { (o.id()) } } "; empty: any) " input name="oses" value=(kept.map_or(&empty, |c| &c.oses)); }
                label { " Causes per exercise " input name="count" size="2" value=(kept.map_or("1", |c| c.count.as_str())); }
                label { " Seed (empty: any) " input name="seed" inputmode="numeric" value=(kept.map_or(&empty, |c| &c.seed)); }
                label { " Time limit in minutes " input name="time_limit_min" size="4" value=(kept.map_or(&empty, |c| &c.time_limit_min)); }
                label { " A hint costs " input name="hint_cost" size="3" value=(kept.map_or("10", |c| c.hint_cost.as_str())); " points" }
                label { " " input type="checkbox" name="per_trainee" value="on" checked[kept.is_some_and(|c| !c.per_trainee.is_empty())]; " Each trainee draws their own exercise" }
                button #create-cohort type="submit" { "Create the cohort" }
            }
            p.note { "Every trainee of a cohort gets the same exercise, drawn from its seed, so that their results compare; or, ticked, each draws one of their own from the cohort's causes, products and OSes. The exercise is made once when the cohort is, to be sure it stops sign-in." }
        }
    }
}

pub(crate) fn home(
    rows: &[AttemptRow],
    unresumed: &[(String, String)],
    error: Option<&FormError>,
) -> Markup {
    let message = error.map(|e| e.message.as_str()).unwrap_or_default();
    let refused = error.map(|e| &e.form);
    page(
        "Exercises",
        html! {
            (join_form(match refused { Some(Refused::Join { trainee, code }) => Some((trainee, code)), _ => None }, message))
            (start_form(match refused { Some(Refused::Start(s)) => Some(s), _ => None }, message))
            (cohort_form(match refused { Some(Refused::Cohort(c)) => Some(c), _ => None }, message))
            @if !unresumed.is_empty() {
                section.card #unresumed {
                    h2 { "Attempts this console could not take up again" }
                    p.note { "Their files are kept in the data folder." }
                    ul { @for (id, why) in unresumed { li { (id) ": " (why) } } }
                }
            }
            @if !rows.is_empty() {
                section.card {
                    h2 { "Your attempts (this browser's)" }
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
    // The event log read once for the status and the tools.
    let progress = a.progress().unwrap_or_default();
    page(
        &format!("Attempt {} · {}", a.label(), a.trainee),
        html! {
            section.ticket #ticket {
                h2 { "Ticket" }
                p { strong { (a.user()) } " can't sign in to Lync since this morning. It worked yesterday." }
                p { "Their computer: " (spec.product.display_name()) " on " (spec.os.display_name()) "." }
                (status(a, &progress, false))
            }
            div.desk {
                // What a sign-in showed is announced to a screen reader as it comes.
                div aria-live="polite" { (sign_in_window(a)) }
                (tool_list(a, &progress, false))
                section.panel #panel aria-live="polite" { p.note { "Choose what to look at." } }
            }
        },
    )
}

/// `fragment`, the answer to something the trainee did, with the attempt's status and tools
/// drawn again out of band (htmx's `hx-swap-oob`): the time and the points spent, the end the
/// moment it comes, and nothing offered after it, without a reload.
pub(crate) fn with_status(a: &Attempt, fragment: Markup) -> Markup {
    let progress = a.progress().unwrap_or_default();
    html! {
        (fragment)
        (status(a, &progress, true))
        (tool_list(a, &progress, true))
    }
}

/// The attempt's status: the time used, the points spent on hints, and its end.
fn status(a: &Attempt, progress: &Progress, oob: bool) -> Markup {
    html! {
        div #attempt-status hx-swap-oob=[oob.then_some("true")] {
            p #status.note {
                "Time used: " (progress.minutes_used) " min"
                @if let Some(limit) = a.time_limit_min { " of " (limit) " min" }
                " · points spent on hints: " (progress.hint_points)
            }
            @if let Some(e) = progress.ending {
                p #ended.done role="status" {
                    (ended_text(e)) " The score stands. "
                    a href={ "/attempts/" (a.id) "/debrief" } { "See the debrief" }
                }
            }
        }
    }
}

/// The tools: what to look at, and, while the attempt is open, the second-account check,
/// escalating, hints and giving up.
fn tool_list(a: &Attempt, progress: &Progress, oob: bool) -> Markup {
    let (id, spec) = (&a.id, &a.exercise.spec);
    let open = progress.ending.is_none();
    let hints_left = a.hint_ladder().len().saturating_sub(progress.hints_taken);
    let tool = |view: &str, label: &str| {
        html! {
            button.tool #{ "tool-" (view) } hx-get={ "/attempts/" (id) "/view/" (view) } hx-target="#panel" { (label) }
        }
    };
    html! {
        nav.tools #tools hx-swap-oob=[oob.then_some("true")] {
            h3 { "Look at the computer" }
            (tool("about", "Lync: Help > About"))
            (tool("certmgr", "Certificates (certmgr.msc)"))
            (tool("credman", "Credential Manager"))
            (tool("folder", "The Lync folder"))
            (tool("datetime", "Date and Time"))
            (tool("cmd", "Command prompt"))
            @if spec.os == Os::Xp { (tool("rsa", "The Crypto\\RSA folder")) }
            (tool("tools", "KB tools and updates"))
            @if open {
                h3 { "When nothing on the computer helps" }
                button.tool #second-account hx-post={ "/attempts/" (id) "/second-account" } hx-target="#panel" { "Sign in with another account here" }
                button.tool #escalate hx-post={ "/attempts/" (id) "/step/escalate" } hx-target="#panel"
                    hx-confirm="Escalate to support? The attempt ends here: right if nothing on the computer can help." { "Escalate to support" }
                h3 { "Stuck?" }
                @if hints_left > 0 {
                    button.tool #hint hx-post={ "/attempts/" (id) "/hint" } hx-target="#panel"
                        hx-confirm={ "A hint costs " (a.hint_cost) " points of your score. Take one?" } {
                        "A hint (" (a.hint_cost) " points; " (hints_left) " left)"
                    }
                } @else {
                    p.note #no-hints { "No hints left." }
                }
                h3 { "Done?" }
                button.tool #give-up hx-post={ "/attempts/" (id) "/give-up" }
                    hx-confirm="Give up? The attempt ends unfinished, and the debrief shows the answer." { "Give up" }
            }
            a.tool #debrief href={ "/attempts/" (id) "/debrief" } { "Debrief" }
        }
    }
}

/// The Lync sign-in window: what the last sign-in showed, and the Sign In button; the
/// password box when Lync asks for it (no password is saved).
pub(crate) fn sign_in_window(a: &Attempt) -> Markup {
    html! {
        section.window #signin {
            h2 { "Microsoft Lync" }
            p { "Sign-in address: " strong { (a.user()) } }
            @if a.asking {
                form #password-form hx-post={ "/attempts/" (a.id) "/signin" } hx-target="#signin" hx-swap="outerHTML" {
                    p #password-asked { "Lync needs the password to sign in." }
                    // The user says it only when asked, as on a support call: a password on
                    // the ticket would tell a changed one from the usual (and so the cause).
                    @if let Some(password) = a.exercise.password() {
                        p.note #user-password { "The user tells you their password: " code { (password) } }
                    }
                    label { "Password " input #password name="password" type="password" autocomplete="off" required; }
                    p.note { "Save my password (ticked)" }
                    button #signin-button type="submit" { "Sign In" }
                }
            } @else {
                @match &a.last {
                    Some(Seen { error: None, .. }) => p.ok #signed-in { "Signed in as " (a.user()) },
                    Some(Seen { text: Some(text), .. }) => p.error #signin-error { (text) },
                    _ => {},
                }
                button #signin-button hx-post={ "/attempts/" (a.id) "/signin" } hx-target="#signin" hx-swap="outerHTML" hx-disabled-elt="this" { "Sign In" }
            }
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

/// A view, in a region that takes the focus when it is shown (htmx focuses `autofocus`), so
/// that the next Tab reaches the view's own buttons, not the fourteen tools before them. The
/// command prompt focuses its input line instead.
pub(crate) fn panel(a: &Attempt, panel: &Panel) -> Markup {
    let focus = !matches!(panel, Panel::Command);
    html! {
        div.view tabindex="-1" autofocus[focus] role="region" aria-label="What you are looking at" {
            (view(a, panel))
        }
    }
}

fn view(a: &Attempt, panel: &Panel) -> Markup {
    match panel {
        Panel::About {
            product,
            build,
            sign_in_assistant,
        } => about(product, build, sign_in_assistant.as_deref()),
        Panel::Certmgr(store) => certmgr(a, store),
        Panel::Certificate(row) => certificate(a, row),
        Panel::Credman(vault) => credman(a, vault),
        Panel::Folder {
            location,
            endpoint,
            trace,
        } => folder(a, location, endpoint.as_ref(), trace),
        Panel::DateTime { machine, source } => date_time(a, (machine, source)),
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

/// certmgr.msc as the MMC console draws it: the console tree (the user's stores, Personal's
/// Certificates chosen) beside the list.
fn certmgr(a: &Attempt, store: &Certmgr) -> Markup {
    html! {
        h3 { "certmgr - [Certificates - Current User\\Personal\\Certificates]" }
        div.mmc {
            nav.mmc-tree aria-label="Console tree" {
                ul {
                    li { "Certificates - Current User"
                        ul {
                            li { "Personal" ul { li.chosen aria-current="true" { "Certificates" } } }
                            li { "Trusted Root Certification Authorities" }
                            li { "Enterprise Trust" }
                            li { "Intermediate Certification Authorities" }
                            li { "Trusted Publishers" }
                            li { "Untrusted Certificates" }
                        }
                    }
                }
            }
            div.mmc-list { (certmgr_list(a, store)) }
        }
    }
}

/// The Personal store's list, sorted by Issued By, with Delete.
fn certmgr_list(a: &Attempt, store: &Certmgr) -> Markup {
    html! {
        p.path { (store.location) }
        table #certmgr {
            tr { th { "Issued To" } th { "Issued By" } th { "Expiration Date" } th {} }
            @for row in &store.rows {
                tr {
                    td { @if row.unreadable.is_some() { "(unreadable certificate)" } @else {
                        button.link #{ "cert-" (row.thumbprint) } hx-get={ "/attempts/" (a.id) "/view/cert-" (row.thumbprint) } hx-target="#panel" { (row.issued_to) }
                    } }
                    td { (row.issued_by) }
                    // An unreadable certificate shows what certmgr's list can say of it, not the
                    // parser's error (the wording is lyncsim's own).
                    td { @if row.unreadable.is_some() { "This certificate is invalid." } @else { (windows_date(&row.expires)) } }
                    td { @if row.issued_by.contains("Communications Server") || row.unreadable.is_some() { (step_button(a, Remedy::DeleteCert)) } }
                }
            }
            @if store.rows.is_empty() { tr { td colspan="4" { "There are no items to show in this view." } } }
        }
    }
}

/// A date of the certificate dialog (`2026-12-02 20:05`) as Windows writes it (`12/2/2026`).
fn windows_date(date: &str) -> String {
    chrono::NaiveDateTime::parse_from_str(date, "%Y-%m-%d %H:%M")
        .map(|d| d.format("%-m/%-d/%Y").to_string())
        .unwrap_or_else(|_| date.to_owned())
}

/// A date of the Details tab (`2026-12-02 20:05`) as Windows writes it there
/// (`Wednesday, December 2, 2026 8:05 PM`).
fn windows_long_date(date: &str) -> String {
    chrono::NaiveDateTime::parse_from_str(date, "%Y-%m-%d %H:%M")
        .map(|d| d.format("%A, %B %-d, %Y %-I:%M %p").to_string())
        .unwrap_or_else(|_| date.to_owned())
}

/// The certificate dialog: General (its status, issued to, by, valid from-to), Details (the
/// fields a support person compares: serial number, public key, thumbprint) and Certification
/// Path (the chain Windows built from the machine's stores, and its status).
fn certificate(a: &Attempt, row: &lyncsim_client::views::CertRow) -> Markup {
    html! {
        div.dialog #certificate role="dialog" aria-label="Certificate" {
            h3 { "Certificate" }
            section #cert-general {
                h4 { "General" }
                p { strong { "Certificate Information" } }
                @if let Some(warning) = row.status.and_then(|s| s.general_text()) {
                    p #cert-general-status { (warning) }
                }
                p { "Issued to: " strong #cert-issued-to { (row.issued_to) } }
                p { "Issued by: " strong #cert-issued-by { (row.issued_by) } }
                p #cert-valid { "Valid from " (windows_date(&row.valid_from)) " to " (windows_date(&row.expires)) }
            }
            section #cert-details {
                h4 { "Details" }
                table {
                    tr { th { "Field" } th { "Value" } }
                    tr { td { "Version" } td { "V3" } }
                    tr { td { "Serial number" } td #cert-serial { (row.serial.to_ascii_lowercase()) } }
                    tr { td { "Issuer" } td { "CN = " (row.issued_by) } }
                    tr { td { "Valid from" } td { (windows_long_date(&row.valid_from)) } }
                    tr { td { "Valid to" } td { (windows_long_date(&row.expires)) } }
                    tr { td { "Subject" } td { "CN = " (row.issued_to) } }
                    tr { td { "Public key" } td { (row.public_key) } }
                    tr { td { "Thumbprint algorithm" } td { "sha1" } }
                    tr { td { "Thumbprint" } td #cert-thumbprint { (row.thumbprint.to_ascii_lowercase()) } }
                }
            }
            section #cert-path {
                h4 { "Certification Path" }
                (chain(&row.path))
                p { "Certificate status:" }
                p #cert-path-status { (row.status.map_or("", |s| s.path_text())) }
            }
            p { button.tool hx-get={ "/attempts/" (a.id) "/view/certmgr" } hx-target="#panel" { "OK" } }
        }
    }
}

/// The Certification Path's tree: each certificate under the one that issued it.
fn chain(path: &[String]) -> Markup {
    match path.split_first() {
        Some((top, rest)) => html! { ul.cert-chain { li { (top) (chain(rest)) } } },
        None => html! {},
    }
}

/// When a credential was written (RFC 3339) as Credential Manager writes it (`12/2/2026`).
fn windows_modified(rfc3339: &str) -> String {
    chrono::DateTime::parse_from_rfc3339(rfc3339)
        .map(|t| t.format("%-m/%-d/%Y").to_string())
        .unwrap_or_else(|_| rfc3339.to_owned())
}

/// Credential Manager, as the Control Panel shows it ("Stored User Names and Passwords" on
/// Windows XP): each generic credential opens to its address, user name, a hidden password
/// and Remove from vault.
fn credman(a: &Attempt, vault: &Credman) -> Markup {
    let xp = a.exercise.spec.os == Os::Xp;
    html! {
        h3 { @if xp { "Stored User Names and Passwords" } @else { "Credential Manager" } }
        p.path { @if xp { "Control Panel > User Accounts > Advanced > Manage Passwords" } @else { "Control Panel > User Accounts and Family Safety > Credential Manager" } }
        p { "Store credentials for automatic logon" }
        h4 { "Windows Credentials" }
        p.note { "No Windows credentials." }
        h4 { "Certificate-Based Credentials" }
        p.note { "No certificates." }
        h4 { "Generic Credentials" }
        ul #credman .vault {
            @for entry in &vault.entries {
                @match entry {
                    CredEntry::Generic { target, user, modified } => li {
                        details open {
                            summary { (target) " " span.note { "Modified: " (windows_modified(modified)) } }
                            dl {
                                dt { "Internet or network address:" } dd { (target) }
                                dt { "User name:" } dd { (user) }
                                dt { "Password:" } dd { "••••••••" }
                                dt { "Persistence:" } dd { "Enterprise" }
                            }
                            @if target.starts_with("Microsoft_OC") { (step_button(a, Remedy::RemoveCredentials)) }
                        }
                    },
                    CredEntry::Unreadable { path, .. } => li {
                        details open {
                            summary { (path.rsplit('\\').next().unwrap_or(path)) }
                            p { "This credential cannot be read." }
                            (step_button(a, Remedy::RemoveCredentials))
                        }
                    },
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
        h4 { "Tracing\\" (a.exercise.machine().profile().trace_file().file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()) " (its end)" }
        // Focusable, so that a keyboard can scroll it.
        pre #trace tabindex="0" aria-label="The trace log" { @for line in trace { (text::uccapi_line(line)) "\n" } }
    }
}

/// Date and Time: the computer's clock, and what its Internet time source says, side by side;
/// the trainee compares them, as a support person compares a clock with their own watch (the
/// window works out no difference).
fn date_time(a: &Attempt, (machine, source): (&str, &str)) -> Markup {
    html! {
        h3 { "Date and Time" }
        section.tab #date-tab {
            h4 { "Date and Time" }
            p { "Date and time: " strong #machine-time { (machine) } }
            p { "Time zone: (UTC) Coordinated Universal Time" }
        }
        section.tab #internet-time {
            h4 { "Internet Time" }
            p { "This computer is set to automatically synchronize with 'time.windows.com'." }
            p { "time.windows.com says it is " strong #source-time { (source) } "." }
            (step_button(a, Remedy::SyncTime))
        }
    }
}

/// The command prompt: cmd.exe's window, black and monospace, with its banner and prompt.
fn command(a: &Attempt) -> Markup {
    let m = a.exercise.machine().profile().machine();
    let (title, banner, prompt) = text::cmd_window(m.os, &m.windows_user);
    html! {
        div.console #cmd-window {
            div.titlebar { (title) }
            pre #cmd-output tabindex="0" aria-label="Command prompt" aria-live="polite" { (banner) "\n\n" }
            (command_form(a, &prompt, false))
        }
    }
}

/// The prompt's input line, empty, with the commands typed so far offered as its list
/// (`oob`: sent after a command's output, to replace the one that was used).
fn command_form(a: &Attempt, prompt: &str, oob: bool) -> Markup {
    html! {
        form #cmd-form hx-post={ "/attempts/" (a.id) "/cmd" } hx-target="#cmd-output" hx-swap="beforeend scroll:#cmd-output:bottom"
            hx-swap-oob=[oob.then_some("true")] {
            label.prompt for="cmd-line" { (prompt) }
            // Up brings back the last command, as cmd.exe's does (the list holds the newest
            // first); the console's other line of its own.
            input #cmd-line name="line" autocomplete="off" autofocus list="cmd-history" spellcheck="false"
                hx-on:keydown="if (event.key === 'ArrowUp') { const last = document.querySelector('#cmd-history option'); if (last) { this.value = last.value; event.preventDefault(); } }";
            datalist #cmd-history { @for c in a.commands.iter().rev() { option value=(c) {} } }
            button #cmd-run type="submit" { "Run" }
        }
    }
}

fn rsa(a: &Attempt, location: &str, files: &[String]) -> Markup {
    html! {
        h3 #rsa { "The RSA key folder" }
        p.path { (location) }
        p { @if files.is_empty() { "The folder is empty." } @else { (files.len()) " key container(s): " (files.join(", ")) } }
        (step_button(a, Remedy::DeleteRsaKey))
    }
}

fn tools(a: &Attempt) -> Markup {
    html! {
        h3 #tools { "KB tools and updates" }
        ul {
            @for remedy in [Remedy::Fixit, Remedy::DeleteSigninInfo, Remedy::DesktopSetup, Remedy::UpdateClient, Remedy::Restart] {
                @if remedy.offered_on(a.exercise.spec.product, a.exercise.spec.os).is_ok() {
                    li { (step_button(a, remedy)) }
                }
            }
        }
    }
}

/// How an ended attempt ended, in a sentence.
fn ended_text(ending: Ending) -> &'static str {
    match ending {
        Ending::SignedIn => "This attempt has ended: the user signed in again.",
        Ending::Escalated => "This attempt has ended: you escalated it to support.",
        Ending::GaveUp => "This attempt has ended: you gave up.",
    }
}

/// The debrief of an attempt still open: the answer waits until it ends.
pub(crate) fn debrief_closed(a: &Attempt) -> Markup {
    page(
        "Debrief",
        html! {
            section.card #debrief-closed {
                h2 { "The debrief opens when the attempt ends" }
                p { "Sign the user in, escalate to support, or give up: then the debrief shows the causes, the shortest KB path and your score." }
                p {
                    a href={ "/attempts/" (a.id) } { "Back to the computer" }
                }
            }
        },
    )
}

/// What a step did; a clock synchronised says it as Windows's Internet Time tab does.
pub(crate) fn done(a: &Attempt, remedy: Remedy, did: &str) -> Markup {
    let said = if remedy == Remedy::SyncTime {
        let now = a.exercise.machine().profile().machine().now();
        let at = chrono::DateTime::from_timestamp(now, 0).unwrap_or_default();
        format!(
            "The clock was successfully synchronized with time.windows.com on {} at {}.",
            at.format("%-m/%-d/%Y"),
            at.format("%-I:%M %p")
        )
    } else {
        did.to_owned()
    };
    html! {
        div.done #done {
            p { strong { (text::button(remedy, a.exercise.spec.os)) } ": " (said) }
            @if remedy == Remedy::DeleteRsaKey { p { "The key folder is read when Lync starts: " (step_button(a, Remedy::Restart)) } }
            @if remedy != Remedy::Escalate { p.note { "Sign in again to see whether it helped." } }
        }
    }
}

/// One command's output, for the prompt's window, and its input line again, empty.
pub(crate) fn command_output(a: &Attempt, line: &str, output: &str) -> Markup {
    let m = a.exercise.machine().profile().machine();
    let (_, _, prompt) = text::cmd_window(m.os, &m.windows_user);
    html! { (prompt) (line) "\n" (output) "\n" (command_form(a, &prompt, true)) }
}

/// A hint, with what it cost.
pub(crate) fn hint(a: &Attempt, hint: Option<&str>) -> Markup {
    html! {
        div.done #hint-text {
            @match hint {
                Some(h) => { p { (h) } p.note { "This hint cost " (a.hint_cost) " points." } },
                None => p { "No hints left: every hint of this exercise was given (this cost nothing)." },
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
        Event::GiveUp => "gave up".into(),
    }
}

/// What happened, and whether it was right.
fn verdict(d: &Debrief) -> String {
    match (d.score.ending, d.paths.escalate) {
        (Some(Ending::SignedIn), _) => "Finished: the user signs in again.".into(),
        (Some(Ending::Escalated), true) if d.score.finished => "Finished: escalated, correctly. No step on the computer restores sign-in while another account signs in on it: the user's directory account needs the administrator.".into(),
        (Some(Ending::Escalated), true) => "Not finished: escalated without the KB's check with a second account, which tells the account from the computer: support would have asked for it.".into(),
        (Some(Ending::Escalated), false) => "Not finished: escalated, but a step on the computer restores sign-in (see the shortest KB path): support would have sent it back.".into(),
        (Some(Ending::GaveUp), _) => "Not finished: given up; the user still cannot sign in.".into(),
        (None, _) => "Not finished: the attempt is still open; the user still cannot sign in.".into(),
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
        &format!("Debrief of {} · {}", a.label(), a.trainee),
        html! {
            section.card #score {
                h2 { "Score: " span #points { (d.score.points) } " / 100" }
                p #finished { (verdict(d)) }
                details #rule {
                    summary { "How the score is worked out" }
                    p { (text::SCORING_RULE) }
                }
            }
            section.card #causes {
                h3 { "What was wrong" }
                ul {
                    @for (c, found) in &d.evidence {
                        li.cause {
                            (text::cause_plain(*c)) " " span.note { "(" code { (c.id()) } ")" }
                            br; span.evidence { "The evidence: " (found) }
                        }
                    }
                }
            }
            section.card #shortest {
                h3 { "The shortest path in KB 2604176" }
                @if d.paths.escalate {
                    p #shortest-path { "No step on the computer restores sign-in: check with another account, then " code { "escalate" } "." }
                    p.kb { "KB 2604176, " (text::kb_heading(Remedy::Escalate)) ": " (text::kb_section(Remedy::Escalate, spec.product, spec.os)) }
                } @else {
                    @for path in &d.paths.paths {
                        p.shortest-path { @for (i, r) in path.iter().enumerate() { @if i > 0 { " → " } code { (r.id()) } } }
                        ul { @for r in path { li.kb { code { (r.id()) } ": KB 2604176, " (text::kb_heading(*r)) ": " (text::kb_section(*r, spec.product, spec.os)) } } }
                    }
                }
                @if let Some(e) = &evidence { p #evidence { "What the first sign-in's trace said: " code { (e) } } }
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
                            td.why { @if let Some(p) = penalty { (p.why) } @else if let Event::Step { remedy, .. } = e { "KB 2604176, " (text::kb_heading(*remedy)) } }
                        }
                    }
                }
            }
            p { a href={ "/attempts/" (a.id) } { "Back to the computer" } }
        },
    )
}

/// The trainer's read-only view of an attempt: the ticket, what the trainee did so far (with
/// times), and once it has ended, the score and the verdict. No buttons.
pub(crate) fn watch(
    cohort: &Cohort,
    a: &Attempt,
    log: &[crate::engine::Logged],
    debrief: Option<&Debrief>,
) -> Markup {
    let spec = &a.exercise.spec;
    page(
        &format!("{} · {}", a.trainee, cohort.name),
        html! {
            section.card #watch {
                h2 { (a.trainee) " (read only)" }
                p { (a.user()) " · " (spec.product.display_name()) " on " (spec.os.display_name()) " · causes: "
                    @for (i, c) in spec.causes.iter().enumerate() { @if i > 0 { ", " } code { (c.id()) } } }
                @match debrief {
                    Some(d) => p #watch-score { "Ended. Score " strong { (d.score.points) } " / 100. " (verdict(d)) },
                    None => p #watch-score { "Still open: the score is given when it ends." },
                }
                table #watch-events {
                    tr { th { "Time" } th { "Action" } }
                    @for l in log {
                        tr { td { (l.at.get(11..19).unwrap_or(&l.at)) } td { (describe(&l.event)) } }
                    }
                }
                p { a href={ "/trainer/" (cohort.trainer_key) } { "Back to the board" } }
            }
        },
    )
}

/// The board's table: one row per trainee, with its flags.
pub(crate) fn board_rows(cohort: &Cohort, rows: &[BoardRow]) -> Markup {
    let (code, key) = (&cohort.code, &cohort.trainer_key);
    html! {
        table #board-table {
            tr { th { "Trainee" } th { "Exercise" } th { "Steps" } th { "Last sign-in" } th { "Ended" } th { "Needs a look" } }
            @for r in rows {
                tr.flagged[!r.destructive.is_empty() || r.idle_min.is_some() || r.over_time_min.is_some()] #{ "row-" (r.attempt) } {
                    td { a href={ "/trainer/" (key) "/attempts/" (r.attempt) } { (r.trainee) } }
                    td { (r.exercise) }
                    td { (r.steps) }
                    td.ok[r.signed_in] { (r.last_sign_in) }
                    td { (r.ended.as_deref().unwrap_or("")) }
                    td.flags {
                        @for d in &r.destructive { span.flag { "destructive step: " (d) } " " }
                        @if let Some(m) = r.idle_min { span.flag { "no progress for " (m) " min" } " " }
                        @if let Some(m) = r.over_time_min { span.flag { "over the time limit by " (m) " min" } }
                    }
                }
            }
            @if rows.is_empty() { tr { td colspan="6" { "No one has joined yet: give them the code " strong { (code) } "." } } }
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
                    @if cohort.per_trainee { " · each trainee draws their own exercise" }
                }
                p.note { "This page's address is yours alone: it shows every trainee's attempt. Give the trainees the join code." }
                p { a #results-link href={ "/trainer/" (cohort.trainer_key) "/results" } { "Results" } }
            }
            section.card hx-ext="sse" sse-connect={ "/trainer/" (cohort.trainer_key) "/stream" } {
                h3 { "Live board" }
                div #board sse-swap="board" { (board_rows(cohort, rows)) }
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
                    tr { th { "Trainee" } th { "Points" } th { "Finished" } th { "Ended" } th { "Time" } th { "Hints" } th { "Wrong first step" } }
                    @for r in trainees {
                        tr {
                            td { a href={ "/trainer/" (cohort.trainer_key) "/attempts/" (r.attempt) } { (r.trainee) } }
                            td { (r.points) }
                            td { @if r.finished { "yes" } @else { "no" } }
                            td { (r.ending.map_or("open", |e| e.id())) }
                            td { (minutes(r.seconds)) }
                            td { (r.hints) }
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
                    a #export-csv href={ "/trainer/" (cohort.trainer_key) "/results.csv" } { "CSV" } " · "
                    a #export-json href={ "/trainer/" (cohort.trainer_key) "/results.json" } { "JSON" }
                }
            }
        },
    )
}
