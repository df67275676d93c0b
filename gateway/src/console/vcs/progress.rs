//! The volunteer's decisions on a referral, each one form post made a Task change
//! ([`crate::console::task_change`]): decline with a reason, first attendance, outcome scores,
//! complete (accept is the one both roles share there).

use axum::Form;
use axum::extract::{Path, State};
use axum::response::Response;
use serde_json::{Value, json};
use signpost_profiles::ODS_SYSTEM;
use signpost_profiles::outcome_measure::{
    LONELINESS_SYSTEM, MEASURES, MeasureValue, OUTCOME_SYSTEM, PERSON_DECLINED,
    TIMEPOINT_EXTENSION, measure,
};

use super::referral::{Page, score_field};
use crate::console::acting::SignedIn;
use crate::console::posted::{Fields, field, problem};
use crate::console::task_change::{apply, refuse, with_status};
use crate::directory::capacity::{AT_CAPACITY_REASON_CODE, AT_CAPACITY_REASON_SYSTEM};
use crate::state::AppState;
use crate::store::now;

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
            return refuse::<Page>(&state, &signed_in, &id, fields, errors).await;
        }
        "other" => None,
        _ => {
            let errors = vec![problem("reason", "Select why you are declining")];
            return refuse::<Page>(&state, &signed_in, &id, fields, errors).await;
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
    apply::<Page>(&state, &signed_in, &id, fields, "reason", move |_, seen| {
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
            return refuse::<Page>(&state, &signed_in, &id, fields, errors).await;
        }
    };
    let author = signed_in.account.name.clone();
    apply::<Page>(&state, &signed_in, &id, fields, "attended-on", move |who, seen| {
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
        return refuse::<Page>(&state, &signed_in, &id, fields, errors).await;
    }
    let timepoint = field(&fields, "timepoint").to_owned();
    apply::<Page>(
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
    apply::<Page>(&state, &signed_in, &id, fields, "complete", |_, seen| {
        Ok((with_status(seen, "completed"), Vec::new()))
    })
    .await
}
