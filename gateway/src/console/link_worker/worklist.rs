//! `GET /console/link-worker/referrals`: the referrals the link worker's organisation owns (the
//! Tasks from GP practices), newest change first, with their status.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use maud::html;
use serde_json::Value;

use super::referral::status_tag;
use crate::console::account::ConsoleRole;
use crate::console::acting::SignedIn;
use crate::console::page;
use crate::console::vcs::referral::{Loaded, focus_of};
use crate::console::vcs::view;
use crate::state::AppState;
use crate::workflow::worklist::owned_tasks;

/// The list: person, who referred them, when, status; each links to the referral's page.
pub async fn list(State(state): State<AppState>, signed_in: SignedIn) -> Response {
    let who = match signed_in.require(ConsoleRole::LinkWorker) {
        Ok(who) => who,
        Err(refused) => return refused,
    };
    let store = state.store.as_ref();
    let tasks = match owned_tasks(store, who).await {
        Ok(tasks) => tasks,
        Err(e) => return page::unavailable(&e),
    };
    let mut rows = Vec::with_capacity(tasks.len());
    for stored in &tasks {
        let Ok(task) = serde_json::from_str::<Value>(stored.body.get()) else {
            tracing::error!(task = %stored.id, "a stored Task is not JSON");
            continue;
        };
        let sr = match focus_of(store, who, &task).await {
            Ok(sr) => sr,
            Err(e) => return page::unavailable(&e),
        };
        rows.push(Loaded {
            id: stored.id.clone(),
            version: stored.version,
            task,
            sr,
        });
    }
    let organisation = state
        .directory
        .organisation(&who.organisation)
        .map(|o| o.name.clone())
        .unwrap_or_else(|| who.organisation.to_string());
    let body = html! {
        h1 { span class="nhsuk-caption-l" { (organisation) } "Worklist" }
        @if rows.is_empty() {
            p { "There are no referrals yet. New referrals from GP practices appear here as soon as they are made." }
        } @else {
            table class="nhsuk-table nhsuk-table--responsive" {
                caption class="nhsuk-table__caption" { "Referrals to you, newest first" }
                thead class="nhsuk-table__head" role="rowgroup" {
                    tr role="row" {
                        th role="columnheader" class="nhsuk-table__header" scope="col" { "Person" }
                        th role="columnheader" class="nhsuk-table__header" scope="col" { "Referred by" }
                        th role="columnheader" class="nhsuk-table__header" scope="col" { "Last changed" }
                        th role="columnheader" class="nhsuk-table__header" scope="col" { "Status" }
                    }
                }
                tbody class="nhsuk-table__body" {
                    @for row in &rows {
                        @let (label, colour) = status_tag(view::status(&row.task));
                        @let name = view::person_name(row.sr.as_ref()).unwrap_or_else(|| "Unnamed person".into());
                        tr role="row" class="nhsuk-table__row" {
                            td role="cell" class="nhsuk-table__cell" {
                                span class="nhsuk-table-responsive__heading" aria-hidden="true" { "Person " }
                                a href={ "/console/link-worker/referrals/" (row.id) } { (name) }
                            }
                            td role="cell" class="nhsuk-table__cell" {
                                span class="nhsuk-table-responsive__heading" aria-hidden="true" { "Referred by " }
                                (party(row.task.get("requester")))
                            }
                            td role="cell" class="nhsuk-table__cell" {
                                span class="nhsuk-table-responsive__heading" aria-hidden="true" { "Last changed " }
                                (view::day(row.task.pointer("/meta/lastUpdated")))
                            }
                            td role="cell" class="nhsuk-table__cell" {
                                span class="nhsuk-table-responsive__heading" aria-hidden="true" { "Status " }
                                strong class={ "nhsuk-tag " (colour) } { (label) }
                            }
                        }
                    }
                }
            }
        }
    };
    page::respond(
        StatusCode::OK,
        page::frame_with_nav(
            "Worklist",
            Some(&signed_in.account.name),
            Some(&signed_in.live.record.csrf),
            super::NAV,
            body,
        ),
    )
}

/// An organisation reference in words: its display, else its ODS code.
pub fn party(reference: Option<&Value>) -> String {
    let Some(reference) = reference else {
        return "Not given".to_owned();
    };
    let ods = reference
        .pointer("/identifier/value")
        .and_then(Value::as_str);
    match (reference.get("display").and_then(Value::as_str), ods) {
        (Some(name), Some(ods)) => format!("{name} ({ods})"),
        (Some(name), None) => name.to_owned(),
        (None, Some(ods)) => ods.to_owned(),
        (None, None) => "Not given".to_owned(),
    }
}
