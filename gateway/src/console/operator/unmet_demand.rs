//! `GET /console/operator/unmet-demand`: the unmet-demand report as a table, its small counts
//! suppressed and the rest rounded under the `[reports]` disclosure policy, which it names,
//! exactly as `/admin/unmet-demand`.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use maud::{Markup, html};

use super::view;
use crate::console::account::ConsoleRole;
use crate::console::acting::SignedIn;
use crate::console::page;
use crate::state::AppState;
use crate::workflow::unmet_demand::unmet_demand;

fn count(n: Option<u64>) -> Markup {
    match n {
        Some(n) => html! { (n) },
        None => html! { "Suppressed" },
    }
}

/// `GET /console/operator/unmet-demand`.
pub async fn page(State(state): State<AppState>, signed_in: SignedIn) -> Response {
    if let Err(refused) = signed_in.require(ConsoleRole::Operator) {
        return refused;
    }
    let report = match unmet_demand(state.store.as_ref(), state.config.reports.policy.0).await {
        Ok(r) => r,
        Err(e) => return page::unavailable(&e),
    };
    let rows: Vec<Vec<Markup>> = report
        .rows
        .iter()
        .map(|r| {
            vec![
                html! { span class="nhsuk-u-text-break-word" { (r.category) } },
                html! { (r.district) },
                html! { (r.week) },
                count(r.refused_for_capacity),
                count(r.searches_without_room),
            ]
        })
        .collect();
    let headers = [
        "Category",
        "District",
        "Week",
        "Refused for capacity",
        "Searches without room",
    ];
    let body = html! {
        h1 { "Unmet demand" }
        p {
            "Onward referrals refused because the service was full, and directory searches that found nothing with room. "
            "Counts under " (report.disclosure_threshold) " are suppressed; the others are rounded to the nearest " (report.round_to)
            " (disclosure policy " strong { (report.policy) } ")."
        }
        @if rows.is_empty() {
            p { "No unmet demand has been recorded." }
        } @else {
            (view::table("Per service category, postcode district and ISO week", &headers, &rows))
        }
    };
    page::respond(
        StatusCode::OK,
        view::frame(&signed_in, "Unmet demand", body),
    )
}
