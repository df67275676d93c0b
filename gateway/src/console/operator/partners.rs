//! `GET /console/operator/partners`: each partner Signpost delivers to, with its adapter, its
//! circuit breaker as the delivery worker holds it, its oldest pending delivery and its dead count.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use maud::{Markup, html};

use super::view;
use crate::console::account::ConsoleRole;
use crate::console::acting::SignedIn;
use crate::console::page;
use crate::delivery::BreakerState;
use crate::state::AppState;

fn breaker(state: BreakerState) -> Markup {
    match state {
        BreakerState::Closed { failures: 0 } => {
            html! { strong class="nhsuk-tag nhsuk-tag--green" { "Closed" } }
        }
        BreakerState::Closed { failures } => html! {
            strong class="nhsuk-tag nhsuk-tag--yellow" { "Closed" } " " (failures) " failures in a row"
        },
        BreakerState::Open => html! {
            strong class="nhsuk-tag nhsuk-tag--red" { "Open" } " deliveries wait out the cool-down"
        },
        BreakerState::HalfOpen => html! {
            strong class="nhsuk-tag nhsuk-tag--orange" { "Half open" } " one trial delivery at a time"
        },
    }
}

/// `GET /console/operator/partners`.
pub async fn page(State(state): State<AppState>, signed_in: SignedIn) -> Response {
    if let Err(refused) = signed_in.require(ConsoleRole::Operator) {
        return refused;
    }
    let owed = match state.store.partner_outbox().await {
        Ok(o) => o,
        Err(e) => return page::unavailable(&e),
    };
    let now = std::time::Instant::now();
    // The configured partners first, then any the outbox still names that are no longer configured.
    let mut partners: Vec<_> = state
        .config
        .organisations
        .iter()
        .filter(|o| o.adapter.is_some())
        .map(|o| o.ods.clone())
        .collect();
    for o in &owed {
        if !partners.contains(&o.organisation) {
            partners.push(o.organisation.clone());
        }
    }
    let rows: Vec<Vec<Markup>> = {
        let breakers = state
            .breakers
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        partners
            .iter()
            .map(|ods| {
                let name = state
                    .directory
                    .organisation(ods)
                    .map_or_else(|| ods.to_string(), |o| format!("{} ({ods})", o.name));
                let adapter = state
                    .directory
                    .adapter(ods)
                    .map_or("none configured", |a| a.kind());
                let figures = owed.iter().find(|o| &o.organisation == ods);
                vec![
                    html! { (name) },
                    html! { (adapter) },
                    breaker(breakers.state(ods.as_str(), now)),
                    html! { (figures.map_or(0, |f| f.pending)) },
                    html! {
                        (figures.and_then(|f| f.oldest_pending).map(|at| view::when(&at.to_fhir())).unwrap_or_else(|| "None".into()))
                    },
                    html! {
                        @let dead = figures.map_or(0, |f| f.dead);
                        @if dead > 0 {
                            a href="/console/operator/deliveries?state=dead" { (dead) span class="nhsuk-u-visually-hidden" { " dead deliveries" } }
                        } @else { "0" }
                    },
                ]
            })
            .collect()
    };
    let headers = [
        "Partner",
        "Adapter",
        "Circuit breaker",
        "Pending",
        "Oldest pending",
        "Dead",
    ];
    let body = html! {
        h1 { "Partners' health" }
        @if rows.is_empty() {
            p { "No partner is configured with an adapter: every organisation polls Signpost." }
        } @else {
            (view::table("Partners Signpost delivers to", &headers, &rows))
        }
    };
    page::respond(StatusCode::OK, view::frame(&signed_in, "Partners", body))
}
