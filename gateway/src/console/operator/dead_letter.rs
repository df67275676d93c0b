//! Replaying and discarding a dead delivery: a confirmation page saying what will happen, then
//! a CSRF-checked form post that runs the same workflow command as `/admin`.

use axum::Form;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use maud::html;
use serde::Deserialize;

use super::{deliveries, view};
use crate::console::account::ConsoleRole;
use crate::console::acting::SignedIn;
use crate::console::page;
use crate::state::AppState;
use crate::store::DeliveryState;
use crate::workflow::dead_letters::{self, DeadLetterError, Replayed};

/// Which decision.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Decision {
    Replay,
    Discard,
}

impl Decision {
    fn path(self) -> &'static str {
        match self {
            Decision::Replay => "replay",
            Decision::Discard => "discard",
        }
    }
}

async fn confirm(state: AppState, signed_in: SignedIn, id: String, decision: Decision) -> Response {
    if let Err(refused) = signed_in.require(ConsoleRole::Operator) {
        return refused;
    }
    let delivery = match state.store.delivery(&id).await {
        Ok(Some(d)) => d,
        Ok(None) => return page::not_found(),
        Err(e) => return page::unavailable(&e),
    };
    let back = format!("/console/operator/deliveries/{id}");
    let (title, what, button) = match decision {
        Decision::Replay => (
            "Replay this delivery?",
            "Signpost will send this version of the Task to the partner again, with a fresh set of attempts, before the later deliveries of the same Task that it held back. If the partner already holds a later version, it is discarded instead, so the partner never receives an older version.",
            "Yes, replay it",
        ),
        Decision::Discard => (
            "Discard this delivery?",
            "The partner will not be sent this version of the Task. The later deliveries of the same Task that it held back go on. The delivery stays on record as discarded.",
            "Yes, discard it",
        ),
    };
    let body = html! {
        a class="nhsuk-back-link" href=(back) { "Back to the delivery" }
        h1 { (title) }
        (deliveries::summary(&state, &delivery))
        @if delivery.state == DeliveryState::Dead {
            div class="nhsuk-warning-callout" {
                h2 class="nhsuk-warning-callout__label" { span role="text" { span class="nhsuk-u-visually-hidden" { "Important: " } "What happens" } }
                p { (what) }
            }
            form method="post" action={ (back) "/" (decision.path()) } novalidate {
                input type="hidden" name="csrf" value=(signed_in.live.record.csrf);
                div class="nhsuk-button-group" {
                    button class={ "nhsuk-button" @if decision == Decision::Discard { " nhsuk-button--warning" } } id="confirm" type="submit" { (button) }
                    a class="nhsuk-link" href=(back) { "No, go back" }
                }
            }
        } @else {
            p { "This delivery is " (delivery.state.as_str()) ", not dead: there is nothing to " (decision.path()) "." }
        }
    };
    page::respond(StatusCode::OK, view::frame(&signed_in, title, body))
}

/// `GET /console/operator/deliveries/{id}/replay`.
pub async fn confirm_replay(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Path(id): Path<String>,
) -> Response {
    confirm(state, signed_in, id, Decision::Replay).await
}

/// `GET /console/operator/deliveries/{id}/discard`.
pub async fn confirm_discard(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Path(id): Path<String>,
) -> Response {
    confirm(state, signed_in, id, Decision::Discard).await
}

/// The confirmation as posted.
#[derive(Deserialize)]
pub struct Confirmed {
    /// Absent from a forged form: then refused like a wrong token, not as a malformed form.
    csrf: Option<String>,
}

async fn decide(
    state: AppState,
    signed_in: SignedIn,
    id: String,
    decision: Decision,
    form: Confirmed,
) -> Response {
    let who = match signed_in.check_post(ConsoleRole::Operator, form.csrf.as_deref(), None) {
        Ok(who) => who,
        Err(refused) => return refused,
    };
    let store = state.store.as_ref();
    let done = match decision {
        Decision::Replay => dead_letters::replay(store, &state.outbox_wake, who, &id)
            .await
            .map(|r| r == Replayed::Queued),
        Decision::Discard => dead_letters::discard(store, &state.outbox_wake, who, &id)
            .await
            .map(|()| true),
    };
    match done {
        Ok(_) => Redirect::to(&format!("/console/operator/deliveries/{id}")).into_response(),
        Err(DeadLetterError::NotOperator | DeadLetterError::Unknown(_)) => page::not_found(),
        Err(DeadLetterError::NotDead { .. }) => page::respond(
            StatusCode::CONFLICT,
            view::frame(
                &signed_in,
                "Nothing was done",
                html! {
                    h1 { "Nothing was done" }
                    p { "This delivery is no longer dead: someone else may have replayed or discarded it." }
                    p { a href={ "/console/operator/deliveries/" (id) } { "See the delivery as it is now" } }
                    p { a href=(super::START) { "Back to the dead deliveries" } }
                },
            ),
        ),
        Err(DeadLetterError::Store(e)) => page::unavailable(&e),
    }
}

/// `POST /console/operator/deliveries/{id}/replay`.
pub async fn replay(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Path(id): Path<String>,
    Form(form): Form<Confirmed>,
) -> Response {
    decide(state, signed_in, id, Decision::Replay, form).await
}

/// `POST /console/operator/deliveries/{id}/discard`.
pub async fn discard(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Path(id): Path<String>,
    Form(form): Form<Confirmed>,
) -> Response {
    decide(state, signed_in, id, Decision::Discard, form).await
}
