//! A change to a Task posted from a referral's page, as the volunteer's and the link worker's
//! pages both make it: the form post checked, turned into the `update_task` workflow command the
//! FHIR API's `PUT /fhir/Task/{id}` runs, then POST-redirect-GET to the page, or the page again
//! with the problems placed at their fields and what was entered.

use axum::Form;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde_json::{Value, json};

use super::account::ConsoleRole;
use super::acting::SignedIn;
use super::page::{self, FieldError};
use super::posted::{Fields, problem};
use super::vcs::referral::Problems;
use crate::auth::{Interaction, Principal};
use crate::state::AppState;
use crate::workflow::WorkflowError;
use crate::workflow::task_update::UpdateError;
use crate::workflow::update_task::{TaskChange, update_task};

/// A role's page of one referral, which its Task forms post from and come back to.
pub(in crate::console) trait ReferralPage {
    /// The console role whose page it is.
    const ROLE: ConsoleRole;

    /// The page's address.
    fn href(id: &str) -> String;

    /// The page, with the problems of a form posted from it.
    async fn render(
        state: &AppState,
        signed_in: &SignedIn,
        id: &str,
        problems: Option<Problems>,
    ) -> Response;
}

/// What an edit proposes: the Task, and (index in `Task.output`, field) of each output it added.
pub(in crate::console) type Proposal = (Value, Vec<(usize, String)>);

/// Where an issue the workflow raised is shown: the field of the output it names, else `anchor`.
struct IssuePlaces<'a> {
    /// (index in `Task.output`, field) of each output this form added.
    pub outputs: Vec<(usize, String)>,
    /// The field for problems that name no added output.
    pub anchor: &'a str,
}

impl IssuePlaces<'_> {
    fn field_for(&self, expression: Option<&str>) -> (String, bool) {
        let Some(rest) = expression.and_then(|e| e.strip_prefix("Task.output[")) else {
            return (self.anchor.to_owned(), false);
        };
        let index: Option<usize> = rest.split(']').next().and_then(|i| i.parse().ok());
        let timepoint = rest.ends_with("].extension");
        match self.outputs.iter().find(|(i, _)| Some(*i) == index) {
            Some(_) if timepoint => ("timepoint".to_owned(), true),
            Some((_, field)) => (field.clone(), false),
            None => (self.anchor.to_owned(), false),
        }
    }
}

// The refusal is the page the handler answers with at once; boxing it would gain nothing.
#[allow(clippy::result_large_err)]
/// What the person sees for a refused command: the form's problems, or a whole page.
fn problems_of(
    error: WorkflowError,
    map: &IssuePlaces<'_>,
    entered: Fields,
) -> Result<Problems, Response> {
    let (status, errors) = match error {
        WorkflowError::Unprocessable(issues)
        | WorkflowError::Update(UpdateError::Invalid(issues)) => {
            let mut errors: Vec<FieldError> = Vec::new();
            for issue in issues
                .iter()
                .filter(|i| i.severity == signpost_profiles::Severity::Error)
            {
                let (field, timepoint) = map.field_for(issue.expression.as_deref());
                let message = if timepoint {
                    "Select when these scores were taken".to_owned()
                } else {
                    issue.diagnostics.clone()
                };
                if !errors
                    .iter()
                    .any(|e| e.field == field && e.message == message)
                {
                    errors.push(problem(&field, message));
                }
            }
            (StatusCode::UNPROCESSABLE_ENTITY, errors)
        }
        WorkflowError::Update(UpdateError::Transition(refusal)) => (
            StatusCode::CONFLICT,
            vec![problem(
                map.anchor,
                format!("This cannot be done now: {refusal}"),
            )],
        ),
        WorkflowError::StaleVersion { .. } | WorkflowError::ChainKeptChanging => (
            StatusCode::CONFLICT,
            vec![problem(
                map.anchor,
                "This referral changed while you had it open: check it and try again",
            )],
        ),
        WorkflowError::NotFound(_) => return Err(page::not_found()),
        WorkflowError::Forbidden { message, .. } => {
            (StatusCode::FORBIDDEN, vec![problem(map.anchor, message)])
        }
        other => return Err(page::unavailable(&other)),
    };
    Ok(Problems {
        errors,
        entered,
        status,
    })
}

/// Checks the session, the CSRF token and the version, then runs `update_task` as the person.
pub(in crate::console) async fn apply<P: ReferralPage>(
    state: &AppState,
    signed_in: &SignedIn,
    id: &str,
    fields: Fields,
    anchor: &str,
    edit: impl Fn(&Principal, &Value) -> Result<Proposal, WorkflowError>,
) -> Response {
    let (who, expected) =
        match signed_in.check_versioned_post(P::ROLE, &fields, "Task", Interaction::Update) {
            Ok(checked) => checked,
            Err(refused) => return refused,
        };
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
        Ok(_) => Redirect::to(&P::href(id)).into_response(),
        Err(e) => {
            let outputs = added.lock().map(|a| a.clone()).unwrap_or_default();
            let map = IssuePlaces { outputs, anchor };
            match problems_of(e, &map, fields) {
                Ok(problems) => P::render(state, signed_in, id, Some(problems)).await,
                Err(page) => page,
            }
        }
    }
}

/// The form's own problems (nothing sent to the workflow): the page again with them.
pub(in crate::console) async fn refuse<P: ReferralPage>(
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
    P::render(state, signed_in, id, Some(problems)).await
}

/// The Task as seen, with another status.
pub(in crate::console) fn with_status(seen: &Value, status: &str) -> Value {
    let mut next = seen.clone();
    next["status"] = json!(status);
    next
}

/// `POST .../accept` on either role's referral page: the Task accepted, as it stands.
pub(in crate::console) async fn accept<P: ReferralPage>(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Path(id): Path<String>,
    Form(fields): Form<Fields>,
) -> Response {
    apply::<P>(&state, &signed_in, &id, fields, "accept", |_, seen| {
        Ok((with_status(seen, "accepted"), Vec::new()))
    })
    .await
}
