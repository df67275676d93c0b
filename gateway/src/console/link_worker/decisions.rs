//! The link worker's decisions on a referral, each one form post turned into the `update_task`
//! workflow command the FHIR API's `PUT /fhir/Task/{id}` runs: accept, reject with a reason, and
//! mark as in progress. Then POST-redirect-GET to the referral's page, or the page again with the
//! problems and what was entered.

use std::collections::HashMap;

use axum::Form;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde_json::{Value, json};

use super::referral::{href, render};
use crate::auth::{Interaction, Principal};
use crate::console::account::ConsoleRole;
use crate::console::acting::SignedIn;
use crate::console::page::{self, FieldError};
use crate::console::vcs::progress::{IssuePlaces, problems_of};
use crate::console::vcs::referral::Problems;
use crate::state::AppState;
use crate::workflow::WorkflowError;
use crate::workflow::update_task::{TaskChange, update_task};

/// A posted form, by field name.
pub type Fields = HashMap<String, String>;

/// A posted field, trimmed; empty when absent.
pub fn field<'a>(fields: &'a Fields, name: &str) -> &'a str {
    fields.get(name).map(|v| v.trim()).unwrap_or("")
}

/// One problem with a field.
pub fn problem(field: &str, message: impl Into<String>) -> FieldError {
    FieldError {
        field: field.to_owned(),
        message: message.into(),
    }
}

/// What an edit proposes: the Task, and (index in `Task.output`, field) of each output it added.
pub type Proposal = (Value, Vec<(usize, String)>);

/// Checks the session, the CSRF token and the version, then runs `update_task` as the link worker.
pub async fn apply(
    state: &AppState,
    signed_in: &SignedIn,
    id: &str,
    fields: Fields,
    anchor: &str,
    edit: impl Fn(&Principal, &Value) -> Result<Proposal, WorkflowError>,
) -> Response {
    let who = match signed_in.require(ConsoleRole::LinkWorker) {
        Ok(who) => who,
        Err(refused) => return refused,
    };
    if let Err(refused) = signed_in.check_csrf(fields.get("csrf").map(String::as_str)) {
        return refused;
    }
    // A form of ours always carries the version it was drawn from; without it, it is not ours.
    let Ok(expected) = field(&fields, "version").parse::<i64>() else {
        return page::forbidden();
    };
    if !who.scopes.allows("Task", Interaction::Update) {
        return page::not_found();
    }
    let change = TaskChange {
        id: id.to_owned(),
        expected: Some(expected),
        correlation_id: uuid::Uuid::new_v4().to_string(),
        once: None,
    };
    let added = std::sync::Mutex::new(Vec::new());
    let result = update_task(state.services(), who, change, |seen| {
        let (next, outputs) = edit(who, seen)?;
        if let Ok(mut slot) = added.lock() {
            *slot = outputs;
        }
        Ok(next)
    })
    .await;
    match result {
        Ok(_) => Redirect::to(&href(id)).into_response(),
        Err(e) => {
            let outputs = added.lock().map(|a| a.clone()).unwrap_or_default();
            let map = IssuePlaces { outputs, anchor };
            match problems_of(e, &map, fields) {
                Ok(problems) => render(state, signed_in, id, Some(problems)).await,
                Err(page) => page,
            }
        }
    }
}

/// The form's own problems (nothing sent to the workflow): the page again with them.
pub async fn refuse(
    state: &AppState,
    signed_in: &SignedIn,
    id: &str,
    fields: Fields,
    errors: Vec<FieldError>,
) -> Response {
    if let Err(refused) = signed_in.check_csrf(fields.get("csrf").map(String::as_str)) {
        return refused;
    }
    let problems = Problems {
        errors,
        entered: fields,
        status: StatusCode::UNPROCESSABLE_ENTITY,
    };
    render(state, signed_in, id, Some(problems)).await
}

/// The Task as seen, with another status.
pub fn with_status(seen: &Value, status: &str) -> Value {
    let mut next = seen.clone();
    next["status"] = json!(status);
    next
}

/// `POST .../accept`.
pub async fn accept(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Path(id): Path<String>,
    Form(fields): Form<Fields>,
) -> Response {
    apply(&state, &signed_in, &id, fields, "accept", |_, seen| {
        Ok((with_status(seen, "accepted"), Vec::new()))
    })
    .await
}

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
        return refuse(&state, &signed_in, &id, fields, errors).await;
    }
    apply(&state, &signed_in, &id, fields, "reason", move |_, seen| {
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
    apply(&state, &signed_in, &id, fields, "start", |_, seen| {
        Ok((with_status(seen, "in-progress"), Vec::new()))
    })
    .await
}
