//! `GET /console/operator/timeline?q=`: a referral's timeline, found by any of its ids (a
//! ServiceRequest's, a Task's, a delivery's) or a business identifier's value.

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use maud::{Markup, html};
use serde::Deserialize;

use super::view;
use crate::console::account::ConsoleRole;
use crate::console::acting::SignedIn;
use crate::console::page::{self, FieldError};
use crate::state::AppState;
use crate::workflow::WorkflowError;
use crate::workflow::timeline::{Happened, Timeline, timeline};

/// `?q=` as typed.
#[derive(Deserialize)]
pub struct Find {
    q: Option<String>,
}

fn search_form(q: &str, errors: &[FieldError]) -> Markup {
    let error = errors.first();
    html! {
        form method="get" action="/console/operator/timeline" novalidate {
            div class={ "nhsuk-form-group" @if error.is_some() { " nhsuk-form-group--error" } } {
                label class="nhsuk-label" for="q" { "Referral to find" }
                div class="nhsuk-hint" id="q-hint" {
                    "A ServiceRequest, Task or delivery id, the referrer's identifier for the referral, or the id of the BaRS message it came in"
                }
                @if let Some(e) = error {
                    span class="nhsuk-error-message" id="q-error" {
                        span class="nhsuk-u-visually-hidden" { "Error: " } (e.message)
                    }
                }
                input class={ "nhsuk-input" @if error.is_some() { " nhsuk-input--error" } }
                    id="q" name="q" type="search" spellcheck="false" value=(q)
                    aria-describedby={ "q-hint" @if error.is_some() { " q-error" } };
            }
            button class="nhsuk-button" type="submit" { "Find referral" }
        }
    }
}

fn entries(found: &Timeline) -> Markup {
    let headers = ["When", "What", "Details"];
    let rows: Vec<Vec<Markup>> = found
        .entries
        .iter()
        .map(|e| {
            let (what, details) = match &e.happened {
                Happened::Version {
                    resource,
                    version,
                    status,
                    party,
                } => (
                    html! { span class="nhsuk-u-text-break-word" { (resource) } " version " (version) },
                    html! { "Status " strong { (status) } @if !party.is_empty() { ", for " (party) } },
                ),
                Happened::Delivery(d) => (
                    html! {
                        "Delivery to " (d.organisation) " (" (d.adapter) ") of "
                        span class="nhsuk-u-text-break-word" { (d.task) }
                    },
                    html! {
                        (view::state_tag(d.state)) " after " (view::attempts(d.attempts)) ". "
                        (view::answer(d)) " "
                        a href={ "/console/operator/deliveries/" (d.id) } {
                            "Open" span class="nhsuk-u-visually-hidden" { " delivery " (d.id) }
                        }
                    },
                ),
                Happened::Decision {
                    service,
                    placed,
                    reason,
                    capacity,
                } => (
                    html! { "Routing decision: " span class="nhsuk-u-text-break-word" { (service) } },
                    html! {
                        @if *placed { "Placed" } @else { "Not placed" }
                        " (capacity " (capacity) "): " (reason)
                    },
                ),
            };
            vec![html! { (view::when(&e.at)) }, what, details]
        })
        .collect();
    view::table("Oldest first", &headers, &rows)
}

/// `GET /console/operator/timeline`.
pub async fn page(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Query(find): Query<Find>,
) -> Response {
    let who = match signed_in.require(ConsoleRole::Operator) {
        Ok(who) => who,
        Err(refused) => return refused,
    };
    let q = find.q.as_deref().map(str::trim).unwrap_or("");
    let found = if q.is_empty() {
        None
    } else {
        match timeline(state.store.as_ref(), who, q).await {
            Ok(found) => Some(found),
            Err(WorkflowError::Forbidden { .. }) => return page::not_found(),
            Err(e) => return page::unavailable(&e),
        }
    };
    let errors = match &found {
        Some(None) => vec![FieldError {
            field: "q".into(),
            message: format!("No referral has the id or identifier {q}"),
        }],
        _ => Vec::new(),
    };
    let status = if errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::NOT_FOUND
    };
    let body = html! {
        (page::error_summary(&errors))
        h1 { "Referral timeline" }
        (search_form(q, &errors))
        @if let Some(Some(t)) = &found {
            h2 { "Timeline of " span class="nhsuk-u-text-break-word" { (t.referral) } }
            (entries(t))
        }
    };
    page::respond(status, view::frame(&signed_in, "Referral timeline", body))
}
