//! `GET /console/vcs/referrals`: the referrals to the volunteer's organisation, newest first.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use maud::{Markup, html};

use super::view;
use crate::console::account::ConsoleRole;
use crate::console::acting::SignedIn;
use crate::console::page;
use crate::console::table::table;
use crate::console::task_view::{organisation_name, owned_referrals, tag};
use crate::state::AppState;

/// The list: person, what was asked, when, status; each links to the referral's page.
pub async fn list(State(state): State<AppState>, signed_in: SignedIn) -> Response {
    let who = match signed_in.require(ConsoleRole::Vcs) {
        Ok(who) => who,
        Err(refused) => return refused,
    };
    let rows = match owned_referrals(state.store.as_ref(), who).await {
        Ok(rows) => rows,
        Err(e) => return page::unavailable(&e),
    };
    let organisation = organisation_name(&state.directory, who);
    let headers = ["Person", "Asked for", "Last changed", "Status"];
    let cells: Vec<Vec<Markup>> = rows
        .iter()
        .map(|row| {
            let name =
                view::person_name(row.sr.as_ref()).unwrap_or_else(|| "Unnamed person".into());
            vec![
                html! { a href={ "/console/vcs/referrals/" (row.id) } { (name) } },
                html! { (view::asked(&row.task, row.sr.as_ref())) },
                html! { (view::day(row.task.pointer("/meta/lastUpdated"))) },
                tag(view::status_tag(view::status(&row.task))),
            ]
        })
        .collect();
    let body = html! {
        h1 { "Referrals to " (organisation) }
        @if rows.is_empty() {
            p { "There are no referrals yet. New referrals appear here as soon as they are made." }
        } @else {
            (table("Newest first", &headers, &cells))
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
