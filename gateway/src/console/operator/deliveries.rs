//! `GET /console/operator/deliveries?state=`: the outbox by state, with attempts, the next
//! attempt and the partner's last answer; and one delivery's page, in any state.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use maud::{Markup, html};
use serde::Deserialize;

use super::view;
use crate::console::account::ConsoleRole;
use crate::console::acting::SignedIn;
use crate::console::page;
use crate::state::AppState;
use crate::store::{DeliveryRecord, DeliveryState};

/// Largest list shown, as the admin API's.
const MAX_LISTED: usize = 500;

/// The states, in the order an operator looks at them.
const STATES: &[DeliveryState] = &[
    DeliveryState::Dead,
    DeliveryState::Pending,
    DeliveryState::Delivered,
    DeliveryState::Discarded,
];

/// `?state=` of the list.
#[derive(Deserialize)]
pub struct Listing {
    state: Option<String>,
}

fn heading(state: DeliveryState) -> &'static str {
    match state {
        DeliveryState::Dead => "Dead: failed for good, waiting for an operator",
        DeliveryState::Pending => "Pending: waiting or being retried",
        DeliveryState::Delivered => "Delivered",
        DeliveryState::Discarded => "Discarded",
    }
}

/// The partner's name and ODS code.
pub fn partner(state: &AppState, delivery: &DeliveryRecord) -> String {
    match state.directory.organisation(&delivery.organisation) {
        Some(o) => format!("{} ({})", o.name, delivery.organisation),
        None => delivery.organisation.to_string(),
    }
}

/// `GET /console/operator/deliveries`.
pub async fn list(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Query(q): Query<Listing>,
) -> Response {
    if let Err(refused) = signed_in.require(ConsoleRole::Operator) {
        return refused;
    }
    let Some(wanted) = q
        .state
        .as_deref()
        .map_or(Some(DeliveryState::Dead), DeliveryState::parse)
    else {
        return page::not_found();
    };
    let deliveries = match state.store.list_deliveries(wanted, MAX_LISTED).await {
        Ok(d) => d,
        Err(e) => return page::unavailable(&e),
    };
    let headers = [
        "Partner",
        "Event",
        "Queued",
        "Attempts",
        "Next attempt",
        "Last answer",
        "Delivery",
    ];
    let rows: Vec<Vec<Markup>> = deliveries
        .iter()
        .map(|d| {
            vec![
                html! { (partner(&state, d)) br; span class="nhsuk-hint" { (d.adapter) } },
                html! { (d.event.as_str()) },
                html! { (view::when(&d.created)) },
                html! { (d.attempts) },
                html! { (d.next_attempt.as_deref().map(view::when).unwrap_or_else(|| "None".into())) },
                view::answer(d),
                html! {
                    a href={ "/console/operator/deliveries/" (d.id) } {
                        "Open" span class="nhsuk-u-visually-hidden" { " delivery " (d.id) }
                    }
                },
            ]
        })
        .collect();
    let body = html! {
        h1 { "Deliveries" }
        nav aria-label="Delivery states" {
            ul class="nhsuk-list nhsuk-u-margin-bottom-5" {
                @for s in STATES {
                    li {
                        @if *s == wanted {
                            a href={ "?state=" (s.as_str()) } aria-current="page" { strong { (heading(*s)) } }
                        } @else {
                            a href={ "?state=" (s.as_str()) } { (heading(*s)) }
                        }
                    }
                }
            }
        }
        @if rows.is_empty() {
            p { "No deliveries are " (wanted.as_str()) "." }
        } @else {
            (view::table(&format!("{} {} deliveries, oldest first", rows.len(), wanted.as_str()), &headers, &rows))
        }
    };
    page::respond(StatusCode::OK, view::frame(&signed_in, "Deliveries", body))
}

/// The delivery's facts as a summary list.
pub fn summary(state: &AppState, d: &DeliveryRecord) -> Markup {
    let row = |key: &str, value: Markup| {
        html! {
            div class="nhsuk-summary-list__row" {
                dt class="nhsuk-summary-list__key" { (key) }
                dd class="nhsuk-summary-list__value" { (value) }
            }
        }
    };
    html! {
        dl class="nhsuk-summary-list" {
            (row("State", view::state_tag(d.state)))
            (row("Partner", html! { (partner(state, d)) }))
            (row("Adapter", html! { (d.adapter) }))
            (row("Event", html! { (d.event.as_str()) }))
            (row("Task", html! {
                a href={ "/console/operator/timeline?q=" (view::task_id(d)) } { span class="nhsuk-u-text-break-word" { (d.task) } }
            }))
            (row("Queued", html! { (view::when(&d.created)) }))
            (row("Attempts", html! { (d.attempts) }))
            (row("Next attempt", html! { (d.next_attempt.as_deref().map(view::when).unwrap_or_else(|| "None".into())) }))
            (row("Last answer", view::answer(d)))
        }
    }
}

/// `GET /console/operator/deliveries/{id}`: one delivery; a dead one offers replay and discard.
pub async fn one(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Path(id): Path<String>,
) -> Response {
    if let Err(refused) = signed_in.require(ConsoleRole::Operator) {
        return refused;
    }
    let delivery = match state.store.delivery(&id).await {
        Ok(Some(d)) => d,
        Ok(None) => return page::not_found(),
        Err(e) => return page::unavailable(&e),
    };
    let body = html! {
        a class="nhsuk-back-link" href={ "/console/operator/deliveries?state=" (delivery.state.as_str()) } { "Back to deliveries" }
        h1 { span class="nhsuk-caption-l" { "Delivery" } span class="nhsuk-u-text-break-word" { (delivery.id) } }
        (summary(&state, &delivery))
        @if delivery.state == DeliveryState::Dead {
            div class="nhsuk-button-group" {
                a class="nhsuk-button" id="replay" href={ "/console/operator/deliveries/" (delivery.id) "/replay" } { "Replay delivery" }
                a class="nhsuk-button nhsuk-button--secondary" id="discard" href={ "/console/operator/deliveries/" (delivery.id) "/discard" } { "Discard delivery" }
            }
        }
    };
    page::respond(StatusCode::OK, view::frame(&signed_in, "Delivery", body))
}
