//! Completing the link worker's Task with the outcome measures (defined once in
//! `signpost_profiles::outcome_measure`), at the start and later: the form, prefilled from what
//! the onward providers recorded, and its post, the `update_task` command the FHIR API's
//! `PUT /fhir/Task/{id}` runs. The ranges are the workflow's to check; its problems come back to
//! the fields.

use std::collections::HashMap;

use axum::Form;
use axum::extract::{Path, State};
use axum::response::Response;
use maud::{Markup, html};
use serde_json::{Value, json};
use signpost_profiles::outcome_measure::{
    LONELINESS_ANSWERS, LONELINESS_SYSTEM, MEASURES, Measure, MeasureValue, TIMEPOINT_EXTENSION,
    TIMEPOINTS,
};

use super::referral::{Page, Referral, href, recorded};
use crate::console::acting::SignedIn;
use crate::console::form;
use crate::console::page::FieldError;
use crate::console::posted::{Fields, field, problem};
use crate::console::task_change::{apply, refuse, with_status};
use crate::state::AppState;

/// The field a measure's value at a time point is entered in.
fn field_for(timepoint: &str, code: &str) -> String {
    format!("{timepoint}-{code}")
}

fn when(timepoint: &str) -> &'static str {
    if timepoint == "baseline" {
        "at the start (baseline)"
    } else {
        "later (follow-up)"
    }
}

/// The measures a person answers: scores and the loneliness question, not the services attended.
fn asked() -> impl Iterator<Item = &'static Measure> {
    MEASURES
        .iter()
        .filter(|m| !matches!(m.value, MeasureValue::Organisation))
}

/// What the onward providers recorded, by field: the latest value of each measure and time point.
fn prefill(onward: &[Value]) -> HashMap<String, String> {
    let mut values = HashMap::new();
    for task in onward {
        for r in recorded(task) {
            if let Some(t) = &r.timepoint {
                values.insert(field_for(t, r.code), r.raw);
            }
        }
    }
    values
}

/// The completion form, shown while the Task is in progress.
pub fn form(
    referral: &Referral,
    csrf: &str,
    errors: &[FieldError],
    entered: &HashMap<String, String>,
) -> Markup {
    let loaded = &referral.loaded;
    let from_providers = prefill(&referral.onward);
    // A form that came back shows what was entered; a fresh one what the providers recorded.
    let value = |f: &str| -> String {
        if entered.is_empty() {
            from_providers.get(f).cloned().unwrap_or_default()
        } else {
            entered.get(f).cloned().unwrap_or_default()
        }
    };
    let answers: Vec<(&str, &str)> = std::iter::once(("", "Not asked"))
        .chain(LONELINESS_ANSWERS.iter().map(|a| (a.code, a.display)))
        .collect();
    html! {
        h2 { "Complete with outcome measures" }
        @if !from_providers.is_empty() {
            div class="nhsuk-inset-text" {
                span class="nhsuk-u-visually-hidden" { "Information: " }
                p { "Filled in from what the services recorded. Check them with the person before you complete." }
            }
        }
        form method="post" action={ (href(&loaded.id)) "/complete" } novalidate {
            input type="hidden" name="csrf" value=(csrf);
            input type="hidden" name="version" value=(loaded.version);
            @for timepoint in TIMEPOINTS {
                fieldset class="nhsuk-fieldset" {
                    legend class="nhsuk-fieldset__legend nhsuk-fieldset__legend--m" {
                        "Scores " (when(timepoint))
                    }
                    @for m in asked() {
                        @let id = field_for(timepoint, m.code.code);
                        @match m.value {
                            MeasureValue::Score { min, max } => {
                                (form::number(&id, m.code.display, Some(&format!("A whole number from {min} to {max}; leave empty if not asked")), &value(&id), errors))
                            }
                            _ => {
                                (form::select(&id, m.code.display, &answers, &value(&id), errors))
                            }
                        }
                    }
                }
            }
            p { "Completing ends the referral: the referrer reads these outcomes." }
            button class="nhsuk-button" id="complete" type="submit" { "Complete referral" }
        }
    }
}

/// `POST .../complete`: each value entered becomes a `Task.output` with its time point, and the
/// Task is completed.
pub async fn complete(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Path(id): Path<String>,
    Form(fields): Form<Fields>,
) -> Response {
    let mut errors = Vec::new();
    let mut outputs: Vec<(String, Value)> = Vec::new();
    for timepoint in TIMEPOINTS {
        for m in asked() {
            let name = field_for(timepoint, m.code.code);
            let raw = field(&fields, &name);
            if raw.is_empty() {
                continue;
            }
            let coding =
                json!([{"system": m.code.system, "code": m.code.code, "display": m.code.display}]);
            let extension = json!([{"url": TIMEPOINT_EXTENSION, "valueCode": timepoint}]);
            match m.value {
                MeasureValue::Score { .. } => match raw.parse::<i64>() {
                    Ok(v) => outputs.push((
                        name,
                        json!({"extension": extension, "type": {"coding": coding}, "valueInteger": v}),
                    )),
                    Err(_) => errors.push(problem(
                        &name,
                        format!("Enter the {} as a whole number, like 7", m.code.display),
                    )),
                },
                _ => outputs.push((
                    name,
                    json!({"extension": extension, "type": {"coding": coding},
                           "valueCodeableConcept": {"coding": [{"system": LONELINESS_SYSTEM, "code": raw}]}}),
                )),
            }
        }
    }
    if outputs.is_empty() && errors.is_empty() {
        let first = asked()
            .next()
            .map(|m| field_for(TIMEPOINTS[0], m.code.code))
            .unwrap_or_else(|| "complete".into());
        errors.push(problem(&first, "Enter at least one outcome score"));
    }
    if !errors.is_empty() {
        return refuse::<Page>(&state, &signed_in, &id, fields, errors).await;
    }
    apply::<Page>(
        &state,
        &signed_in,
        &id,
        fields,
        "complete",
        move |_, seen| {
            let mut next = with_status(seen, "completed");
            let existing = next
                .get("output")
                .and_then(Value::as_array)
                .map_or(0, Vec::len);
            let mut added = Vec::new();
            let mut all: Vec<Value> = next
                .get("output")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            for (i, (name, output)) in outputs.iter().enumerate() {
                all.push(output.clone());
                added.push((existing + i, name.clone()));
            }
            next["output"] = Value::Array(all);
            Ok((next, added))
        },
    )
    .await
}
