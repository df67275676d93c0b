//! The volunteer's decisions on a referral, each one form post turned into the `update_task`
//! workflow command the FHIR API's `PUT /fhir/Task/{id}` runs: accept, decline with a reason,
//! first attendance, outcome scores, complete. Then POST-redirect-GET to the referral's page,
//! or the page again with the problems and what was entered.

use std::collections::HashMap;

use axum::Form;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde_json::{Value, json};
use signpost_profiles::ODS_SYSTEM;
use signpost_profiles::outcome_measure::{
    LONELINESS_SYSTEM, MEASURES, MeasureValue, OUTCOME_SYSTEM, PERSON_DECLINED,
    TIMEPOINT_EXTENSION, measure,
};

use super::referral::{Problems, render, score_field};
use crate::auth::{Interaction, Principal};
use crate::console::account::ConsoleRole;
use crate::console::acting::SignedIn;
use crate::console::page::{self, FieldError};
use crate::directory::capacity::{AT_CAPACITY_REASON_CODE, AT_CAPACITY_REASON_SYSTEM};
use crate::state::AppState;
use crate::store::now;
use crate::workflow::WorkflowError;
use crate::workflow::task_update::UpdateError;
use crate::workflow::update_task::{TaskChange, update_task};

/// A posted form, by field name.
type Fields = HashMap<String, String>;

fn field<'a>(fields: &'a Fields, name: &str) -> &'a str {
    fields.get(name).map(|v| v.trim()).unwrap_or("")
}

fn problem(field: &str, message: impl Into<String>) -> FieldError {
    FieldError {
        field: field.to_owned(),
        message: message.into(),
    }
}

/// Where an issue the workflow raised is shown: the field of the output it names, else `anchor`.
pub(in crate::console) struct IssuePlaces<'a> {
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
pub(in crate::console) fn problems_of(
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

/// Checks the session, the CSRF token and the version, then runs `update_task` as the volunteer.
async fn apply(
    state: &AppState,
    signed_in: &SignedIn,
    id: &str,
    fields: Fields,
    anchor: &str,
    edit: impl Fn(&Principal, &Value) -> Result<(Value, Vec<(usize, String)>), WorkflowError>,
) -> Response {
    let who = match signed_in.require(ConsoleRole::Vcs) {
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
        Ok(_) => Redirect::to(&format!("/console/vcs/referrals/{id}")).into_response(),
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
async fn refuse(
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

fn with_status(seen: &Value, status: &str) -> Value {
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

/// `POST .../decline`: the reason as a code where there is one (at capacity: the service's
/// capacity follows; the person declined: SNOMED CT), with the volunteer's words.
pub async fn decline(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Path(id): Path<String>,
    Form(fields): Form<Fields>,
) -> Response {
    let reason = field(&fields, "reason").to_owned();
    let details = field(&fields, "details").to_owned();
    let coding = match reason.as_str() {
        "at-capacity" => Some(
            json!({"system": AT_CAPACITY_REASON_SYSTEM, "code": AT_CAPACITY_REASON_CODE, "display": "At capacity"}),
        ),
        "person-declined" => Some(
            json!({"system": PERSON_DECLINED.system, "code": PERSON_DECLINED.code, "display": PERSON_DECLINED.display}),
        ),
        "other" if details.is_empty() => {
            let errors = vec![problem("details", "Say why you are declining")];
            return refuse(&state, &signed_in, &id, fields, errors).await;
        }
        "other" => None,
        _ => {
            let errors = vec![problem("reason", "Select why you are declining")];
            return refuse(&state, &signed_in, &id, fields, errors).await;
        }
    };
    let mut status_reason = serde_json::Map::new();
    if let Some(coding) = coding {
        status_reason.insert("coding".into(), json!([coding]));
    }
    if !details.is_empty() {
        status_reason.insert("text".into(), json!(details));
    }
    let status_reason = Value::Object(status_reason);
    apply(&state, &signed_in, &id, fields, "reason", move |_, seen| {
        let mut next = with_status(seen, "rejected");
        next["statusReason"] = status_reason.clone();
        Ok((next, Vec::new()))
    })
    .await
}

/// `POST .../attendance`: the person came: the Task is under way, and it records the service
/// attended (an outcome measure) and the date in a note.
pub async fn attendance(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Path(id): Path<String>,
    Form(fields): Form<Fields>,
) -> Response {
    let format = time::macros::format_description!("[year]-[month]-[day]");
    let entered = field(&fields, "attended-on");
    let date = match time::Date::parse(entered, &format) {
        Ok(date) => date,
        Err(_) => {
            let message = if entered.is_empty() {
                "Enter the date the person first attended"
            } else {
                "Enter a real date, for example 27 3 2026"
            };
            let errors = vec![problem("attended-on", message)];
            return refuse(&state, &signed_in, &id, fields, errors).await;
        }
    };
    let author = signed_in.account.name.clone();
    apply(&state, &signed_in, &id, fields, "attended-on", move |who, seen| {
        let mut next = with_status(seen, "in-progress");
        push(&mut next, "output", json!({
            "type": {"coding": [{"system": OUTCOME_SYSTEM, "code": "vcs-service-attended"}]},
            "valueReference": {"identifier": {"system": ODS_SYSTEM, "value": who.organisation.to_string()}}
        }));
        push(&mut next, "note", json!({
            "authorString": author,
            "time": now().to_fhir(),
            "text": format!("First attended on {date}")
        }));
        Ok((next, Vec::new()))
    })
    .await
}

fn push(task: &mut Value, key: &str, item: Value) {
    match task.get_mut(key).and_then(Value::as_array_mut) {
        Some(list) => list.push(item),
        None => task[key] = json!([item]),
    }
}

/// `POST .../scores`: each score entered becomes a `Task.output` with its time point; the
/// ranges are the workflow's to check, and its problems come back to the fields.
pub async fn scores(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Path(id): Path<String>,
    Form(fields): Form<Fields>,
) -> Response {
    let mut errors = Vec::new();
    let mut entered: Vec<(String, Value)> = Vec::new();
    for m in MEASURES {
        if !matches!(m.value, MeasureValue::Score { .. }) {
            continue;
        }
        let name = score_field(m.code.code);
        let raw = field(&fields, &name);
        if raw.is_empty() {
            continue;
        }
        match raw.parse::<i64>() {
            Ok(v) => entered.push((name, json!({
                "type": {"coding": [{"system": m.code.system, "code": m.code.code, "display": m.code.display}]},
                "valueInteger": v
            }))),
            Err(_) => errors.push(problem(&name, format!("Enter the {} as a whole number, like 7", m.code.display))),
        }
    }
    let lonely = field(&fields, "loneliness");
    if !lonely.is_empty() {
        let question = measure(OUTCOME_SYSTEM, "ons-loneliness");
        if let Some(q) = question {
            entered.push(("loneliness".into(), json!({
                "type": {"coding": [{"system": q.code.system, "code": q.code.code, "display": q.code.display}]},
                "valueCodeableConcept": {"coding": [{"system": LONELINESS_SYSTEM, "code": lonely}]}
            })));
        }
    }
    if entered.is_empty() && errors.is_empty() {
        let first = MEASURES
            .iter()
            .find(|m| matches!(m.value, MeasureValue::Score { .. }))
            .map(|m| score_field(m.code.code))
            .unwrap_or_else(|| "timepoint".into());
        errors.push(problem(&first, "Enter at least one score"));
    }
    if !errors.is_empty() {
        return refuse(&state, &signed_in, &id, fields, errors).await;
    }
    let timepoint = field(&fields, "timepoint").to_owned();
    apply(
        &state,
        &signed_in,
        &id,
        fields,
        "timepoint",
        move |_, seen| {
            let mut next = seen.clone();
            let existing = next
                .get("output")
                .and_then(Value::as_array)
                .map_or(0, Vec::len);
            let mut added = Vec::new();
            for (i, (name, output)) in entered.iter().enumerate() {
                let mut output = output.clone();
                if !timepoint.is_empty() {
                    output["extension"] =
                        json!([{"url": TIMEPOINT_EXTENSION, "valueCode": timepoint}]);
                }
                push(&mut next, "output", output);
                added.push((existing + i, name.clone()));
            }
            Ok((next, added))
        },
    )
    .await
}

/// `POST .../complete`.
pub async fn complete(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Path(id): Path<String>,
    Form(fields): Form<Fields>,
) -> Response {
    apply(&state, &signed_in, &id, fields, "complete", |_, seen| {
        Ok((with_status(seen, "completed"), Vec::new()))
    })
    .await
}
