//! `GET /console/vcs/referrals/{id}`: one referral as the volunteer's organisation may see it
//! (the minimised view), with the forms its status allows.

use std::collections::HashMap;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use maud::{Markup, html};
use serde_json::Value;
use signpost_profiles::outcome_measure::{
    LONELINESS_ANSWERS, MEASURES, MeasureValue, TIMEPOINT_EXTENSION, measure,
};

use super::view;
use crate::audit;
use crate::auth::{Interaction, Principal};
use crate::console::account::ConsoleRole;
use crate::console::acting::SignedIn;
use crate::console::form;
use crate::console::page::{self, FieldError};
use crate::console::task_change::ReferralPage;
use crate::console::task_view::{hidden, summary_row as row, tag};
use crate::state::AppState;
use crate::store::{Store, StoreError};
use crate::workflow::WorkflowError;
use crate::workflow::propagation::reference_id;
use crate::workflow::visible::visible;

/// The volunteer's page of one referral.
pub struct Page;

impl ReferralPage for Page {
    const ROLE: ConsoleRole = ConsoleRole::Vcs;

    fn href(id: &str) -> String {
        format!("/console/vcs/referrals/{id}")
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

/// A Task and the referral it is for, as the volunteer sees them.
pub struct Loaded {
    /// The Task's id.
    pub id: String,
    /// Its version, which the forms carry back.
    pub version: i64,
    /// Its view.
    pub task: Value,
    /// The ServiceRequest's view, if the Task names one the organisation may see.
    pub sr: Option<Value>,
}

/// A form that came back with problems: the errors, what was entered, and the answer's status.
pub struct Problems {
    /// Each problem, linked from the summary.
    pub errors: Vec<FieldError>,
    /// What was entered, by field name, shown again.
    pub entered: HashMap<String, String>,
    /// 422 for the form's content, 409 for a change that crossed another.
    pub status: StatusCode,
}

impl Problems {
    /// What a page shows: the answer's status, the problems, and what was entered; a page
    /// drawn afresh (no problems) is 200 with empty fields.
    pub fn shown(problems: Option<Self>) -> (StatusCode, Vec<FieldError>, HashMap<String, String>) {
        match problems {
            Some(p) => (p.status, p.errors, p.entered),
            None => (StatusCode::OK, Vec::new(), HashMap::new()),
        }
    }
}

/// The referral a Task is for, as `who` sees it (audited as a read).
pub async fn focus_of(
    store: &dyn Store,
    who: &Principal,
    task: &Value,
) -> Result<Option<Value>, WorkflowError> {
    let Some(sr_id) = reference_id(task.get("focus"), "ServiceRequest") else {
        return Ok(None);
    };
    let stored = match visible(store, who, "ServiceRequest", &sr_id).await {
        Ok(stored) => stored,
        Err(WorkflowError::NotFound(_)) => return Ok(None),
        Err(e) => return Err(e),
    };
    audit::access(
        store,
        who,
        Interaction::Read,
        &format!("ServiceRequest/{sr_id}"),
    )
    .await?;
    let shown = crate::auth::tenancy::view(who, &stored);
    let json = serde_json::from_str(shown.body.get())
        .map_err(|e| StoreError::Corrupt(format!("ServiceRequest/{sr_id} is not JSON: {e}")))?;
    Ok(Some(json))
}

/// The Task `id` and its referral as `who` sees them (audited); `NotFound` when it may not.
pub async fn load(store: &dyn Store, who: &Principal, id: &str) -> Result<Loaded, WorkflowError> {
    let stored = visible(store, who, "Task", id).await?;
    audit::access(store, who, Interaction::Read, &format!("Task/{id}")).await?;
    let shown = crate::auth::tenancy::view(who, &stored);
    let task: Value = serde_json::from_str(shown.body.get())
        .map_err(|e| StoreError::Corrupt(format!("Task/{id} is not JSON: {e}")))?;
    let sr = focus_of(store, who, &task).await?;
    Ok(Loaded {
        id: id.to_owned(),
        version: stored.version,
        task,
        sr,
    })
}

/// `GET /console/vcs/referrals/{id}`.
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
    let who = match signed_in.require(ConsoleRole::Vcs) {
        Ok(who) => who,
        Err(refused) => return refused,
    };
    let loaded = match load(state.store.as_ref(), who, id).await {
        Ok(loaded) => loaded,
        Err(WorkflowError::NotFound(_)) => return page::not_found(),
        Err(e) => return page::unavailable(&e),
    };
    let (status, errors, entered) = Problems::shown(problems);
    let name = view::person_name(loaded.sr.as_ref()).unwrap_or_else(|| "Unnamed person".into());
    let body = html! {
        (page::error_summary(&errors))
        a class="nhsuk-back-link" href=(super::START) { "Back to referrals" }
        h1 { span class="nhsuk-caption-l" { "Referral" } (name) }
        (summary(&loaded))
        (outputs(&loaded.task))
        (forms(&loaded, &signed_in.live.record.csrf, &errors, &entered))
    };
    page::respond(
        status,
        page::frame_with_nav(
            &format!("Referral for {name}"),
            Some(&signed_in.account.name),
            Some(&signed_in.live.record.csrf),
            super::NAV,
            body,
        ),
    )
}

fn summary(loaded: &Loaded) -> Markup {
    let sr = loaded.sr.as_ref();
    let (label, colour) = view::status_tag(view::status(&loaded.task));
    let contacts = view::contacts(sr);
    let reasons = view::reasons(sr);
    html! {
        dl class="nhsuk-summary-list" {
            (row("Status", tag((label, colour))))
            (row("Contact", html! {
                @if contacts.is_empty() { "None given" }
                @for c in &contacts { (c) br; }
            }))
            (row("Reason for referral", html! {
                @if reasons.is_empty() { "Not given" }
                @for r in &reasons { (r) br; }
            }))
            (row("Asked for", html! { (view::asked(&loaded.task, sr)) }))
            (row("Referred on", html! { (view::day(loaded.task.get("authoredOn"))) }))
        }
    }
}

/// The outcomes recorded so far.
fn outputs(task: &Value) -> Markup {
    let recorded: Vec<(String, String, String)> = task
        .get("output")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|o| {
            let coding = o.pointer("/type/coding/0")?;
            let found = measure(
                coding.get("system")?.as_str()?,
                coding.get("code")?.as_str()?,
            )?;
            let value = match found.value {
                MeasureValue::Score { .. } => o.get("valueInteger")?.to_string(),
                MeasureValue::Answer(answers) => {
                    let code = o.pointer("/valueCodeableConcept/coding/0/code")?.as_str()?;
                    answers.iter().find(|a| a.code == code)?.display.to_owned()
                }
                MeasureValue::Organisation => "Attended".to_owned(),
            };
            let when = o
                .get("extension")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .find(|e| e.get("url").and_then(Value::as_str) == Some(TIMEPOINT_EXTENSION))
                .and_then(|e| e.get("valueCode").and_then(Value::as_str))
                .unwrap_or("")
                .to_owned();
            Some((found.code.display.to_owned(), value, when))
        })
        .collect();
    html! {
        @if !recorded.is_empty() {
            h2 { "Recorded" }
            table class="nhsuk-table" {
                thead class="nhsuk-table__head" {
                    tr class="nhsuk-table__row" {
                        th class="nhsuk-table__header" scope="col" { "Measure" }
                        th class="nhsuk-table__header" scope="col" { "Value" }
                        th class="nhsuk-table__header" scope="col" { "Time point" }
                    }
                }
                tbody class="nhsuk-table__body" {
                    @for (what, value, when) in &recorded {
                        tr class="nhsuk-table__row" {
                            td class="nhsuk-table__cell" { (what) }
                            td class="nhsuk-table__cell" { (value) }
                            td class="nhsuk-table__cell" { (when) }
                        }
                    }
                }
            }
        }
    }
}

/// The field a score of `code` is entered in.
pub fn score_field(code: &str) -> String {
    format!("score-{code}")
}

/// The decline reasons offered: (value, label).
pub const DECLINE_REASONS: &[(&str, &str)] = &[
    (
        "at-capacity",
        "We are full and cannot take anyone new (marks the service full)",
    ),
    (
        "person-declined",
        "The person does not want social prescribing",
    ),
    ("other", "Another reason (say below)"),
];

fn forms(
    loaded: &Loaded,
    csrf: &str,
    errors: &[FieldError],
    entered: &HashMap<String, String>,
) -> Markup {
    let action = |what: &str| format!("/console/vcs/referrals/{}/{what}", loaded.id);
    let got = |field: &str| entered.get(field).map(String::as_str).unwrap_or("");
    let status = view::status(&loaded.task);
    let attended = loaded
        .task
        .get("output")
        .and_then(Value::as_array)
        .is_some_and(|outputs| {
            outputs.iter().any(|o| {
                o.pointer("/type/coding/0/code").and_then(Value::as_str)
                    == Some("vcs-service-attended")
            })
        });
    html! {
        @if matches!(status, "requested" | "received") {
            h2 { "Accept or decline" }
            form method="post" action=(action("accept")) novalidate {
                (hidden(csrf, loaded.version))
                button class="nhsuk-button" id="accept" type="submit" { "Accept referral" }
            }
            form method="post" action=(action("decline")) novalidate {
                (hidden(csrf, loaded.version))
                (form::radios("reason", "Why are you declining?", DECLINE_REASONS, got("reason"), errors))
                (form::textarea("details", "Details", Some("Shared with the link worker who referred the person"), got("details"), errors))
                button class="nhsuk-button nhsuk-button--secondary" type="submit" { "Decline referral" }
            }
        }
        @if status == "accepted" && !attended {
            h2 { "First attendance" }
            form method="post" action=(action("attendance")) novalidate {
                (hidden(csrf, loaded.version))
                (form::date("attended-on", "Date the person first attended", None, got("attended-on"), errors))
                button class="nhsuk-button" type="submit" { "Record attendance" }
            }
        }
        @if matches!(status, "accepted" | "in-progress") {
            h2 { "Outcome scores" }
            form method="post" action=(action("scores")) novalidate {
                (hidden(csrf, loaded.version))
                (form::radios("timepoint", "When were these taken?", &[("baseline", "At the start (baseline)"), ("follow-up", "Later (follow-up)")], got("timepoint"), errors))
                @for m in MEASURES {
                    @if let MeasureValue::Score { min, max } = m.value {
                        @let field = score_field(m.code.code);
                        (form::number(&field, m.code.display, Some(&format!("A whole number from {min} to {max}; leave empty if not asked")), got(&field), errors))
                    }
                }
                @let answers: Vec<(&str, &str)> = std::iter::once(("", "Not asked")).chain(LONELINESS_ANSWERS.iter().map(|a| (a.code, a.display))).collect();
                (form::select("loneliness", "How often do you feel lonely?", &answers, got("loneliness"), errors))
                button class="nhsuk-button" type="submit" { "Save scores" }
            }
        }
        @if status == "in-progress" {
            h2 { "Finish" }
            form method="post" action=(action("complete")) novalidate {
                (hidden(csrf, loaded.version))
                p { "Complete the referral when the person has finished with your service. The link worker is told." }
                button class="nhsuk-button" id="complete" type="submit" { "Complete referral" }
            }
        }
    }
}
