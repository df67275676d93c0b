//! `GET /console/link-worker/referrals`: the referrals the link worker's organisation owns (the
//! Tasks from GP practices), newest change first, with their status.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use maud::{Markup, html};
use serde_json::Value;

use super::referral::status_tag;
use crate::console::account::ConsoleRole;
use crate::console::acting::SignedIn;
use crate::console::page;
use crate::console::table::table;
use crate::console::task_view::{organisation_name, owned_referrals, tag};
use crate::console::vcs::view;
use crate::state::AppState;

/// The list: person, who referred them, when, status; each links to the referral's page.
pub async fn list(State(state): State<AppState>, signed_in: SignedIn) -> Response {
    let who = match signed_in.require(ConsoleRole::LinkWorker) {
        Ok(who) => who,
        Err(refused) => return refused,
    };
    let rows = match owned_referrals(state.store.as_ref(), who).await {
        Ok(rows) => rows,
        Err(e) => return page::unavailable(&e),
    };
    let organisation = organisation_name(&state.directory, who);
    let headers = ["Person", "Referred by", "Last changed", "Status"];
    let cells: Vec<Vec<Markup>> = rows
        .iter()
        .map(|row| {
            let name =
                view::person_name(row.sr.as_ref()).unwrap_or_else(|| "Unnamed person".into());
            vec![
                html! { a href={ "/console/link-worker/referrals/" (row.id) } { (name) } },
                html! { (party(row.task.get("requester"))) },
                html! { (view::day(row.task.pointer("/meta/lastUpdated"))) },
                tag(status_tag(view::status(&row.task))),
            ]
        })
        .collect();
    let body = html! {
        h1 { span class="nhsuk-caption-l" { (organisation) } "Worklist" }
        @if rows.is_empty() {
            p { "There are no referrals yet. New referrals from GP practices appear here as soon as they are made." }
        } @else {
            (table("Referrals to you, newest first", &headers, &cells))
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
