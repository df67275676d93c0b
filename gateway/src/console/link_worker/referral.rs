//! `GET /console/link-worker/referrals/{id}`: one referral as the link worker's organisation may
//! see it (what the GP sent: the link worker is its direct recipient), the onward referrals made
//! from it with their status and outcomes, and the forms its status allows.

use std::collections::HashMap;

use axum::extract::{Path, State};
use axum::response::Response;
use maud::{Markup, html};
use serde_json::Value;
use signpost_profiles::outcome_measure::{MeasureValue, TIMEPOINT_EXTENSION, measure};

use super::worklist::party;
use crate::console::account::ConsoleRole;
use crate::console::acting::SignedIn;
use crate::console::form;
use crate::console::page::{self, FieldError};
use crate::console::task_change::ReferralPage;
use crate::console::task_view::{hidden, summary_row as row, tag};
use crate::console::vcs::referral::{Loaded, Problems, load};
use crate::console::vcs::view;
use crate::state::AppState;
use crate::workflow::WorkflowError;
use crate::workflow::task_status::TaskStatus;
use crate::workflow::task_update::status_of;
use crate::workflow::worklist::onward_tasks;

/// A referral's page address.
pub fn href(id: &str) -> String {
    format!("/console/link-worker/referrals/{id}")
}

/// The link worker's page of one referral.
pub struct Page;

impl ReferralPage for Page {
    const ROLE: ConsoleRole = ConsoleRole::LinkWorker;

    fn href(id: &str) -> String {
        href(id)
    }

    async fn render(
        state: &AppState,
        signed_in: &SignedIn,
        id: &str,
        problems: Option<Problems>,
    ) -> Response {
        render(state, signed_in, id, problems).await
    }
}

/// A status in the link worker's words and the NHS tag colour it is shown in.
pub fn status_tag(code: &str) -> (&'static str, &'static str) {
    match code {
        "requested" | "received" => ("New", "nhsuk-tag--blue"),
        "accepted" => ("Accepted", "nhsuk-tag--aqua-green"),
        "ready" => ("Ready", "nhsuk-tag--aqua-green"),
        "in-progress" => ("In progress", "nhsuk-tag--green"),
        "on-hold" => ("On hold", "nhsuk-tag--yellow"),
        "completed" => ("Completed", "nhsuk-tag--grey"),
        "rejected" => ("Rejected", "nhsuk-tag--red"),
        "cancelled" => ("Cancelled", "nhsuk-tag--grey"),
        "failed" => ("Could not complete", "nhsuk-tag--red"),
        _ => ("Other", "nhsuk-tag--white"),
    }
}

/// One outcome recorded on a Task.
pub struct Recorded {
    /// The measure's preferred code.
    pub code: &'static str,
    /// The measure in words.
    pub measure: &'static str,
    /// The value as a form takes it back: the score, or the answer's code.
    pub raw: String,
    /// The value in words.
    pub shown: String,
    /// `baseline` or `follow-up`, if given.
    pub timepoint: Option<String>,
}

/// The outcome measures recorded on a Task, in its order; outputs of no known measure are left out.
pub fn recorded(task: &Value) -> Vec<Recorded> {
    task.get("output")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|o| {
            let coding = o.pointer("/type/coding/0")?;
            let found = measure(
                coding.get("system")?.as_str()?,
                coding.get("code")?.as_str()?,
            )?;
            let (raw, shown) = match found.value {
                MeasureValue::Score { .. } => {
                    let v = o.get("valueInteger")?.to_string();
                    (v.clone(), v)
                }
                MeasureValue::Answer(answers) => {
                    let code = o.pointer("/valueCodeableConcept/coding/0/code")?.as_str()?;
                    let answer = answers.iter().find(|a| a.code == code)?;
                    (answer.code.to_owned(), answer.display.to_owned())
                }
                MeasureValue::Organisation => {
                    let ods = o.pointer("/valueReference/identifier/value")?.as_str()?;
                    (ods.to_owned(), format!("Attended ({ods})"))
                }
            };
            let timepoint = o
                .get("extension")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .find(|e| e.get("url").and_then(Value::as_str) == Some(TIMEPOINT_EXTENSION))
                .and_then(|e| e.get("valueCode").and_then(Value::as_str))
                .map(str::to_owned);
            Some(Recorded {
                code: found.code.code,
                measure: found.code.display,
                raw,
                shown,
                timepoint,
            })
        })
        .collect()
}

/// The link worker's Task, its referral, and the onward Tasks made from it.
pub struct Referral {
    /// The Task and the GP's ServiceRequest.
    pub loaded: Loaded,
    /// Each onward referral's Task.
    pub onward: Vec<Value>,
}

/// Loads the Task `id` as `who` sees it, with its onward Tasks (audited).
pub async fn load_referral(
    state: &AppState,
    who: &crate::auth::Principal,
    id: &str,
) -> Result<Referral, WorkflowError> {
    let store = state.store.as_ref();
    let loaded = load(store, who, id).await?;
    let mut onward = Vec::new();
    for stored in onward_tasks(store, who, id).await? {
        let json = serde_json::from_str(stored.body.get()).map_err(|e| {
            crate::store::StoreError::Corrupt(format!("Task/{} is not JSON: {e}", stored.id))
        })?;
        onward.push(json);
    }
    Ok(Referral { loaded, onward })
}

/// `GET /console/link-worker/referrals/{id}`.
pub async fn page(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Path(id): Path<String>,
) -> Response {
    render(&state, &signed_in, &id, None).await
}

/// The referral's page, with a form's problems if it came back with any. Another
/// organisation's referral, or none, is the 404 page: nothing says whether it exists.
pub async fn render(
    state: &AppState,
    signed_in: &SignedIn,
    id: &str,
    problems: Option<Problems>,
) -> Response {
    let who = match signed_in.require(ConsoleRole::LinkWorker) {
        Ok(who) => who,
        Err(refused) => return refused,
    };
    let referral = match load_referral(state, who, id).await {
        Ok(r) => r,
        Err(WorkflowError::NotFound(_)) => return page::not_found(),
        Err(e) => return page::unavailable(&e),
    };
    let (status, errors, entered) = Problems::shown(problems);
    let loaded = &referral.loaded;
    let name = view::person_name(loaded.sr.as_ref()).unwrap_or_else(|| "Unnamed person".into());
    let csrf = &signed_in.live.record.csrf;
    let body = html! {
        (page::error_summary(&errors))
        a class="nhsuk-back-link" href=(super::START) { "Back to worklist" }
        h1 { span class="nhsuk-caption-l" { "Referral" } (name) }
        (summary(loaded))
        (notes(&loaded.task))
        (onward(&referral.onward))
        (forms(&referral, csrf, &errors, &entered))
    };
    page::respond(
        status,
        page::frame_with_nav(
            &format!("Referral for {name}"),
            Some(&signed_in.account.name),
            Some(csrf),
            super::NAV,
            body,
        ),
    )
}

fn patient(sr: Option<&Value>) -> Option<&Value> {
    sr?.get("contained")?
        .as_array()?
        .iter()
        .find(|r| r.get("resourceType").and_then(Value::as_str) == Some("Patient"))
}

fn texts<'a>(value: Option<&'a Value>, key: &str) -> Vec<&'a str> {
    value
        .and_then(|v| v.get(key))
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|n| n.get("text").and_then(Value::as_str))
        .collect()
}

/// What the GP sent: the person, how to reach them, why, and the GP's notes.
fn summary(loaded: &Loaded) -> Markup {
    let sr = loaded.sr.as_ref();
    let (label, colour) = status_tag(view::status(&loaded.task));
    let nhs_number = sr
        .and_then(|s| s.pointer("/subject/identifier/value"))
        .and_then(Value::as_str);
    let born = patient(sr)
        .and_then(|p| p.get("birthDate"))
        .and_then(Value::as_str);
    let address: Vec<String> = patient(sr)
        .and_then(|p| p.get("address"))
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|a| {
            let mut parts: Vec<&str> = a
                .get("line")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            for key in ["city", "postalCode"] {
                if let Some(v) = a.get(key).and_then(Value::as_str) {
                    parts.push(v);
                }
            }
            parts.join(", ")
        })
        .collect();
    let contacts = view::contacts(sr);
    let reasons = view::reasons(sr);
    let reason_texts = texts(sr, "reasonCode");
    let gp_notes = texts(sr, "note");
    html! {
        dl class="nhsuk-summary-list" {
            (row("Status", tag((label, colour))))
            (row("NHS number", html! { (nhs_number.unwrap_or("Not given")) }))
            (row("Date of birth", html! { (born.unwrap_or("Not given")) }))
            (row("Address", html! {
                @if address.is_empty() { "Not given" }
                @for a in &address { (a) br; }
            }))
            (row("Contact", html! {
                @if contacts.is_empty() { "None given" }
                @for c in &contacts { (c) br; }
            }))
            (row("Reason for referral", html! {
                @if reasons.is_empty() && reason_texts.is_empty() { "Not given" }
                @for r in &reasons { (r) br; }
                @for t in &reason_texts { (t) br; }
            }))
            (row("Notes from the referrer", html! {
                @if gp_notes.is_empty() { "None" }
                @for n in &gp_notes { (n) br; }
            }))
            (row("Referred by", html! { (party(loaded.task.get("requester"))) }))
            (row("Referred on", html! { (view::day(loaded.task.get("authoredOn"))) }))
        }
    }
}

/// The Task's notes: what happened to the onward referrals, in the providers' words.
fn notes(task: &Value) -> Markup {
    let notes: Vec<(String, &str)> = task
        .get("note")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|n| {
            Some((
                view::day(n.get("time")),
                n.get("text").and_then(Value::as_str)?,
            ))
        })
        .collect();
    html! {
        @if !notes.is_empty() {
            h2 { "What has happened" }
            ul class="nhsuk-list nhsuk-list--bullet" {
                @for (day, text) in &notes {
                    li { @if !day.is_empty() { (day) ": " } (text) }
                }
            }
        }
    }
}

/// The onward referrals: where each went, its status, and the outcomes its provider recorded.
fn onward(tasks: &[Value]) -> Markup {
    html! {
        h2 { "Onward referrals" }
        @if tasks.is_empty() {
            p { "None yet." }
        } @else {
            table class="nhsuk-table nhsuk-table--responsive" {
                caption class="nhsuk-table__caption nhsuk-u-visually-hidden" { "Onward referrals, oldest first" }
                thead class="nhsuk-table__head" role="rowgroup" {
                    tr role="row" {
                        th role="columnheader" class="nhsuk-table__header" scope="col" { "Provider" }
                        th role="columnheader" class="nhsuk-table__header" scope="col" { "Status" }
                        th role="columnheader" class="nhsuk-table__header" scope="col" { "Outcomes recorded" }
                    }
                }
                tbody class="nhsuk-table__body" {
                    @for task in tasks {
                        @let (label, colour) = status_tag(view::status(task));
                        @let outcomes = recorded(task);
                        tr role="row" class="nhsuk-table__row" {
                            td role="cell" class="nhsuk-table__cell" {
                                span class="nhsuk-table-responsive__heading" aria-hidden="true" { "Provider " }
                                (party(task.get("owner")))
                            }
                            td role="cell" class="nhsuk-table__cell" {
                                span class="nhsuk-table-responsive__heading" aria-hidden="true" { "Status " }
                                (tag((label, colour)))
                                @if let Some(why) = task.pointer("/statusReason/text").and_then(Value::as_str) {
                                    br; (why)
                                }
                            }
                            td role="cell" class="nhsuk-table__cell" {
                                span class="nhsuk-table-responsive__heading" aria-hidden="true" { "Outcomes recorded " }
                                @if outcomes.is_empty() { "None" }
                                @for r in &outcomes {
                                    (r.measure) ": " (r.shown)
                                    @if let Some(t) = &r.timepoint { " (" (t) ")" }
                                    br;
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn forms(
    referral: &Referral,
    csrf: &str,
    errors: &[FieldError],
    entered: &HashMap<String, String>,
) -> Markup {
    let loaded = &referral.loaded;
    let action = |what: &str| format!("{}/{what}", href(&loaded.id));
    let got = |field: &str| entered.get(field).map(String::as_str).unwrap_or("");
    let status = status_of(&loaded.task);
    html! {
        @if matches!(status, Some(TaskStatus::Requested | TaskStatus::Received)) {
            h2 { "Accept or reject" }
            form method="post" action=(action("accept")) novalidate {
                (hidden(csrf, loaded.version))
                button class="nhsuk-button" id="accept" type="submit" { "Accept referral" }
            }
            form method="post" action=(action("reject")) novalidate {
                (hidden(csrf, loaded.version))
                (form::textarea("reason", "Why are you rejecting this referral?", Some("The referrer is told"), got("reason"), errors))
                button class="nhsuk-button nhsuk-button--secondary" id="reject" type="submit" { "Reject referral" }
            }
        }
        @if status.is_some_and(TaskStatus::may_refer_onward) {
            h2 { "Refer onward" }
            p { "Find a service in the directory, with whether it has room, and refer the person to it." }
            a class="nhsuk-button" id="refer" href=(action("refer")) { "Find a service" }
        }
        @if status == Some(TaskStatus::Accepted) {
            h2 { "Working with the person" }
            form method="post" action=(action("start")) novalidate {
                (hidden(csrf, loaded.version))
                p { "Mark the referral as in progress once you are working with the person. You complete it from there." }
                button class="nhsuk-button nhsuk-button--secondary" id="start" type="submit" { "Mark as in progress" }
            }
        }
        @if status == Some(TaskStatus::InProgress) {
            (super::complete::form(referral, csrf, errors, entered))
        }
    }
}
