//! The pieces operator pages share: the frame with the operator's links, the console's table,
//! and how deliveries read.

use maud::{Markup, html};

use crate::console::acting::SignedIn;
use crate::console::page;
pub use crate::console::table::table;
use crate::store::{DeliveryRecord, DeliveryState};

/// A whole operator page.
pub fn frame(signed_in: &SignedIn, title: &str, body: Markup) -> Markup {
    page::frame_with_nav(
        title,
        Some(&signed_in.account.name),
        Some(&signed_in.live.record.csrf),
        super::NAV,
        body,
    )
}

/// A delivery state as an NHS tag.
pub fn state_tag(state: DeliveryState) -> Markup {
    let (label, colour) = match state {
        DeliveryState::Pending => ("Pending", "nhsuk-tag--blue"),
        DeliveryState::Delivered => ("Delivered", "nhsuk-tag--green"),
        DeliveryState::Dead => ("Dead", "nhsuk-tag--red"),
        DeliveryState::Discarded => ("Discarded", "nhsuk-tag--grey"),
    };
    html! { strong class={ "nhsuk-tag " (colour) } { (label) } }
}

/// A FHIR instant shown to the second, in UTC (`2026-12-03T11:00:00.123456Z` -> `2026-12-03 11:00:00`).
pub fn when(instant: &str) -> String {
    instant
        .chars()
        .take(19)
        .collect::<String>()
        .replace('T', " ")
}

/// The Task id of a delivery (`Task/{id}/_history/{n}`).
pub fn task_id(delivery: &DeliveryRecord) -> &str {
    delivery
        .task
        .strip_prefix("Task/")
        .and_then(|t| t.split('/').next())
        .unwrap_or(&delivery.task)
}

/// What the partner answered: that it took the delivery (and any failure before that), or
/// its last refusal.
pub fn answer(delivery: &DeliveryRecord) -> Markup {
    html! {
        span class="nhsuk-u-text-break-word" {
            @if let Some(at) = &delivery.delivered {
                "Accepted " (when(at)) "."
                @if let Some(e) = &delivery.last_error { " Before that: " (e) }
            } @else if let Some(e) = &delivery.last_error {
                (e)
            } @else {
                "No answer yet"
            }
        }
    }
}

/// "1 attempt", "2 attempts".
pub fn attempts(n: i64) -> String {
    if n == 1 {
        "1 attempt".to_owned()
    } else {
        format!("{n} attempts")
    }
}
