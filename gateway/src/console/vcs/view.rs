//! Reading the minimised Task and ServiceRequest a volunteer is shown into words for a page.

use serde_json::Value;
use signpost_profiles::terms;

/// The person's name from the referral's contained Patient (given names, then family name).
pub fn person_name(sr: Option<&Value>) -> Option<String> {
    let patient = patient(sr?)?;
    let name = patient.pointer("/name/0")?;
    let mut parts: Vec<&str> = name
        .get("given")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    if let Some(family) = name.get("family").and_then(Value::as_str) {
        parts.push(family);
    }
    (!parts.is_empty()).then(|| parts.join(" "))
}

/// How to reach the person: each telecom as "phone: 07700 900123".
pub fn contacts(sr: Option<&Value>) -> Vec<String> {
    sr.and_then(patient)
        .and_then(|p| p.get("telecom"))
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|t| {
            let value = t.get("value").and_then(Value::as_str)?;
            Some(match t.get("system").and_then(Value::as_str) {
                Some(system) => format!("{system}: {value}"),
                None => value.to_owned(),
            })
        })
        .collect()
}

fn patient(sr: &Value) -> Option<&Value> {
    sr.get("contained")?
        .as_array()?
        .iter()
        .find(|r| r.get("resourceType").and_then(Value::as_str) == Some("Patient"))
}

/// A CodeableConcept's codes in Signpost's words (the sender's own texts are not in the view).
fn concept_words(concept: &Value) -> Vec<String> {
    concept
        .get("coding")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|c| {
            let system = c.get("system").and_then(Value::as_str).unwrap_or_default();
            let code = c.get("code").and_then(Value::as_str)?;
            Some(
                terms::display(system, code)
                    .map(str::to_owned)
                    .unwrap_or_else(|| format!("code {code}")),
            )
        })
        .collect()
}

/// Why the person was referred: the reason codes in words.
pub fn reasons(sr: Option<&Value>) -> Vec<String> {
    sr.and_then(|s| s.get("reasonCode"))
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .flat_map(concept_words)
        .collect()
}

/// What is asked of the organisation: the Task's description, else the referral's code in words.
pub fn asked(task: &Value, sr: Option<&Value>) -> String {
    if let Some(description) = task.get("description").and_then(Value::as_str) {
        return description.to_owned();
    }
    sr.and_then(|s| s.get("code"))
        .map(concept_words)
        .filter(|w| !w.is_empty())
        .map(|w| w.join("; "))
        .unwrap_or_else(|| "Social prescribing support".to_owned())
}

/// The Task's status code.
pub fn status(task: &Value) -> &str {
    task.get("status")
        .and_then(Value::as_str)
        .unwrap_or("unknown")
}

/// A status in words and the NHS tag colour it is shown in.
pub fn status_tag(code: &str) -> (&'static str, &'static str) {
    match code {
        "requested" | "received" => ("New", "nhsuk-tag--blue"),
        "accepted" => ("Accepted", "nhsuk-tag--aqua-green"),
        "in-progress" => ("Attending", "nhsuk-tag--green"),
        "on-hold" => ("On hold", "nhsuk-tag--yellow"),
        "completed" => ("Completed", "nhsuk-tag--grey"),
        "rejected" => ("Declined", "nhsuk-tag--red"),
        "cancelled" => ("Cancelled", "nhsuk-tag--grey"),
        "failed" => ("Could not complete", "nhsuk-tag--red"),
        _ => ("Other", "nhsuk-tag--white"),
    }
}

/// The date part of a FHIR instant or dateTime (`2026-12-02T10:00:00Z` -> `2026-12-02`).
pub fn day(value: Option<&Value>) -> String {
    value
        .and_then(Value::as_str)
        .map(|v| v.chars().take(10).collect())
        .unwrap_or_default()
}
