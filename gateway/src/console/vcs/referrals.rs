//! `GET /console/vcs/referrals`: the referrals to the volunteer's organisation, newest first.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use maud::html;
use serde_json::Value;

use super::referral::{Loaded, focus_of};
use super::view;
use crate::console::account::ConsoleRole;
use crate::console::acting::SignedIn;
use crate::console::page;
use crate::state::AppState;
use crate::workflow::worklist::owned_tasks;

/// The list: person, what was asked, when, status; each links to the referral's page.
pub async fn list(State(state): State<AppState>, signed_in: SignedIn) -> Response {
    let who = match signed_in.require(ConsoleRole::Vcs) {
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
        h1 { "Referrals to " (organisation) }
        @if rows.is_empty() {
            p { "There are no referrals yet. New referrals appear here as soon as they are made." }
        } @else {
            table class="nhsuk-table nhsuk-table--responsive" {
                caption class="nhsuk-table__caption" { "Newest first" }
                thead class="nhsuk-table__head" role="rowgroup" {
                    tr role="row" {
                        th role="columnheader" class="nhsuk-table__header" scope="col" { "Person" }
                        th role="columnheader" class="nhsuk-table__header" scope="col" { "Asked for" }
                        th role="columnheader" class="nhsuk-table__header" scope="col" { "Last changed" }
                        th role="columnheader" class="nhsuk-table__header" scope="col" { "Status" }
                    }
                }
                tbody class="nhsuk-table__body" {
                    @for row in &rows {
                        @let (label, colour) = view::status_tag(view::status(&row.task));
                        @let name = view::person_name(row.sr.as_ref()).unwrap_or_else(|| "Unnamed person".into());
                        tr role="row" class="nhsuk-table__row" {
                            td role="cell" class="nhsuk-table__cell" {
                                span class="nhsuk-table-responsive__heading" aria-hidden="true" { "Person " }
                                a href={ "/console/vcs/referrals/" (row.id) } { (name) }
                            }
                            td role="cell" class="nhsuk-table__cell" {
                                span class="nhsuk-table-responsive__heading" aria-hidden="true" { "Asked for " }
                                (view::asked(&row.task, row.sr.as_ref()))
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
            "Referrals",
            Some(&signed_in.account.name),
            Some(&signed_in.live.record.csrf),
            super::NAV,
            body,
        ),
    )
}
