//! The link worker's decisions on a referral, each one form post made a Task change
//! ([`crate::console::task_change`]): reject with a reason, and mark as in progress (accept is
//! the one both roles share there).

use axum::Form;
use axum::extract::{Path, State};
use axum::response::Response;
use serde_json::json;

use super::referral::Page;
use crate::console::acting::SignedIn;
use crate::console::posted::{Fields, field, problem};
use crate::console::task_change::{apply, refuse, with_status};
use crate::state::AppState;

/// `POST .../reject`: the reason in the link worker's words, for the referrer.
pub async fn reject(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Path(id): Path<String>,
    Form(fields): Form<Fields>,
) -> Response {
    let reason = field(&fields, "reason").to_owned();
    if reason.is_empty() {
        let errors = vec![problem("reason", "Say why you are rejecting the referral")];
        return refuse::<Page>(&state, &signed_in, &id, fields, errors).await;
    }
    apply::<Page>(&state, &signed_in, &id, fields, "reason", move |_, seen| {
        let mut next = with_status(seen, "rejected");
        next["statusReason"] = json!({ "text": reason });
        Ok((next, Vec::new()))
    })
    .await
}

/// `POST .../start`: the link worker is working with the person.
pub async fn start(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Path(id): Path<String>,
    Form(fields): Form<Fields>,
) -> Response {
    apply::<Page>(&state, &signed_in, &id, fields, "start", |_, seen| {
        Ok((with_status(seen, "in-progress"), Vec::new()))
    })
    .await
}
