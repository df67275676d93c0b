//! Tenancy: a client sees only resources its organisation is party to, and a VCS provider
//! sees a minimised view. Every read path goes through here.

use std::borrow::Cow;

use serde_json::value::RawValue;
use serde_json::{Map, Value, json};
use signpost_profiles::NHS_NUMBER_SYSTEM;

use super::Principal;
use crate::config::Role;
use crate::search_index::{index_entries, party_params};
use crate::store::{Criterion, SearchQuery, StoredResource};

/// Resource types everyone with the right scope sees whole: the operator's audit trail, and the
/// service directory (it holds no patient data, and every party needs to find services).
fn is_operational(resource_type: &str) -> bool {
    matches!(resource_type, "AuditEvent" | "HealthcareService")
}

/// Whether the principal's organisation is named on the resource (requester, owner, performer).
pub fn may_see(principal: &Principal, resource: &StoredResource) -> bool {
    if is_operational(&resource.resource_type) {
        return true;
    }
    let Ok(json) = serde_json::from_str::<Value>(resource.body.get()) else {
        return false;
    };
    let party = principal.party();
    let params = party_params(&resource.resource_type);
    index_entries(&json)
        .iter()
        .any(|e| params.contains(&e.param) && e.value == party)
}

/// Narrows a search to resources the principal's organisation is party to, so neither entries nor `total` reveal others.
pub fn restrict(principal: &Principal, query: &mut SearchQuery) {
    if !is_operational(&query.resource_type) {
        query.criteria.push(Criterion::IndexedUnderAny {
            params: party_params(&query.resource_type),
            value: principal.party(),
        });
    }
}

/// What the principal is shown of a resource it may see.
pub fn view<'a>(principal: &Principal, resource: &'a StoredResource) -> Cow<'a, StoredResource> {
    if principal.role != Role::Vcs || is_operational(&resource.resource_type) {
        return Cow::Borrowed(resource);
    }
    let Ok(json) = serde_json::from_str::<Value>(resource.body.get()) else {
        return Cow::Borrowed(resource);
    };
    let minimised = minimise_for_vcs(&json);
    match serde_json::to_string(&minimised)
        .ok()
        .and_then(|s| RawValue::from_string(s).ok())
    {
        Some(body) => Cow::Owned(StoredResource {
            body,
            ..resource.clone()
        }),
        None => Cow::Borrowed(resource),
    }
}

/// What the principal is shown of a resource's JSON.
pub fn view_json(principal: &Principal, resource: &Value) -> Value {
    if principal.role == Role::Vcs {
        minimise_for_vcs(resource)
    } else {
        resource.clone()
    }
}

/// Of a Task, what a VCS provider receives besides its references (which lose their display).
const VCS_TASK: &[&str] = &[
    "resourceType",
    "id",
    "meta",
    "status",
    "statusReason",
    "businessStatus",
    "intent",
    "priority",
    "code",
    "description",
    "authoredOn",
    "lastModified",
    "note",
    "input",
    "output",
];

fn keep(object: &Value, allowed: &[&str]) -> Value {
    let kept: Map<String, Value> = object
        .as_object()
        .map(|o| {
            o.iter()
                .filter(|(k, _)| allowed.contains(&k.as_str()))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect()
        })
        .unwrap_or_default();
    Value::Object(kept)
}

/// `f` applied to `value`, or to each item if it is a list; `None` drops the item.
fn each(value: &Value, f: impl Fn(&Value) -> Option<Value>) -> Option<Value> {
    match value {
        Value::Array(items) => {
            let kept: Vec<Value> = items.iter().filter_map(f).collect();
            (!kept.is_empty()).then_some(Value::Array(kept))
        }
        one => f(one),
    }
}

fn string(value: &Value) -> Option<Value> {
    value.is_string().then(|| value.clone())
}

/// An identifier: its system and value only (no `type.text`, `assigner.display`).
fn identifier(value: &Value) -> Option<Value> {
    Some(keep(value, &["system", "value"])).filter(|v| v.get("value").is_some())
}

/// A reference: where it points, by `reference` and `identifier`; its `display`, free text
/// that systems fill with "Name (NHS 943 476 5919, DOB ...)", is dropped.
fn reference(value: &Value, with_identifier: bool) -> Option<Value> {
    let mut out = Map::new();
    for key in ["reference", "type"] {
        if let Some(v) = value.get(key).and_then(string) {
            out.insert(key.into(), v);
        }
    }
    if with_identifier && let Some(id) = value.get("identifier").and_then(identifier) {
        out.insert("identifier".into(), id);
    }
    (!out.is_empty()).then_some(Value::Object(out))
}

/// A code: system and code, without the display text the sender chose.
fn coding(value: &Value) -> Option<Value> {
    Some(keep(value, &["system", "version", "code"])).filter(|v| v.get("code").is_some())
}

/// A CodeableConcept as codes only: its `text` and the codings' `display` are the sender's free
/// text, where an NHS number, a birth date or an address can hide from any pattern.
fn concept(value: &Value) -> Option<Value> {
    let codings = value.get("coding").and_then(|c| each(c, coding))?;
    Some(json!({ "coding": codings }))
}

/// Of the person: their name and how to reach them, nothing of the GP record.
fn patient(value: &Value) -> Option<Value> {
    let mut out = Map::new();
    out.insert("resourceType".into(), json!("Patient"));
    if let Some(id) = value.get("id").and_then(string) {
        out.insert("id".into(), id);
    }
    // Name parts only: `name.text` is free text the sender wrote.
    if let Some(names) = value
        .get("name")
        .and_then(|n| each(n, |n| Some(keep(n, &["use", "family", "given", "prefix"]))))
    {
        out.insert("name".into(), names);
    }
    if let Some(telecom) = value
        .get("telecom")
        .and_then(|t| each(t, |t| Some(keep(t, &["system", "value", "use"]))))
    {
        out.insert("telecom".into(), telecom);
    }
    Some(Value::Object(out))
}

/// A ServiceRequest as a VCS provider receives it, built element by element from an allow-list:
/// who to contact, why, and what is asked of them (DESIGN.md sections 5 and 13).
fn service_request_for_vcs(sr: &Value) -> Value {
    let mut out = Map::new();
    let mut put = |key: &str, value: Option<Value>| {
        if let Some(v) = value {
            out.insert(key.to_owned(), v);
        }
    };
    let get = |key: &str| sr.get(key);
    for key in [
        "resourceType",
        "id",
        "status",
        "intent",
        "priority",
        "authoredOn",
        "occurrenceDateTime",
    ] {
        put(key, get(key).and_then(string));
    }
    put(
        "meta",
        get("meta").map(|m| keep(m, &["versionId", "lastUpdated", "profile"])),
    );
    put(
        "occurrencePeriod",
        get("occurrencePeriod").map(|p| keep(p, &["start", "end"])),
    );
    put(
        "contained",
        get("contained").and_then(|c| {
            each(c, |r| {
                (r.get("resourceType").and_then(Value::as_str) == Some("Patient"))
                    .then(|| patient(r))
                    .flatten()
            })
        }),
    );
    // Only the referral's own business identifier, the first the requester gave: others may
    // be anything, an NHS number among them.
    put(
        "identifier",
        get("identifier")
            .and_then(|ids| match ids {
                Value::Array(list) => list.first(),
                one => Some(one),
            })
            .and_then(identifier)
            .map(|id| Value::Array(vec![id])),
    );
    put(
        "basedOn",
        get("basedOn").and_then(|b| each(b, |r| reference(r, true))),
    );
    put("category", get("category").and_then(|c| each(c, concept)));
    put("code", get("code").and_then(concept));
    // The person by the contained Patient only: never their NHS number.
    put("subject", get("subject").and_then(|r| reference(r, false)));
    put(
        "requester",
        get("requester").and_then(|r| reference(r, true)),
    );
    put(
        "performer",
        get("performer").and_then(|p| each(p, |r| reference(r, true))),
    );
    put(
        "reasonCode",
        get("reasonCode").and_then(|c| each(c, concept)),
    );
    Value::Object(out)
}

/// A Task as a VCS provider receives it: its own elements, references without their display,
/// and the person without their NHS number.
fn task_for_vcs(resource: &Value) -> Value {
    let mut task = keep(resource, VCS_TASK);
    let Some(out) = task.as_object_mut() else {
        return task;
    };
    for key in ["focus", "requester", "owner"] {
        if let Some(r) = resource.get(key).and_then(|r| reference(r, true)) {
            out.insert(key.into(), r);
        }
    }
    for key in ["basedOn", "partOf"] {
        if let Some(r) = resource
            .get(key)
            .and_then(|list| each(list, |r| reference(r, true)))
        {
            out.insert(key.into(), r);
        }
    }
    if let Some(patient) = resource.get("for") {
        let nhs_number = patient
            .get("identifier")
            .and_then(|i| i.get("system"))
            .and_then(Value::as_str)
            == Some(NHS_NUMBER_SYSTEM);
        if let Some(r) = reference(patient, !nhs_number) {
            out.insert("for".into(), r);
        }
    }
    task
}

/// Strips a referral down to what a VCS provider needs (DESIGN.md section 5): no NHS number,
/// date of birth, address, clinical notes, display texts or other contained resources.
pub fn minimise_for_vcs(resource: &Value) -> Value {
    match resource.get("resourceType").and_then(Value::as_str) {
        Some("ServiceRequest") => service_request_for_vcs(resource),
        Some("Task") => task_for_vcs(resource),
        _ => resource.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_vcs_sees_name_contact_and_reason_only() {
        let sr: Value =
            serde_json::from_str(signpost_profiles::examples::REFERRAL_FROM_GP).expect("example");
        let view = minimise_for_vcs(&sr).to_string();
        for hidden in [
            "9434765919",
            "1948-03-14",
            "Mill Lane",
            "S1 2AB",
            "female",
            "Prefers phone contact",
            // Free text, where anything can hide: the VCS gets the reason as codes.
            "Lonely since bereavement",
            "Riverside Surgery",
        ] {
            assert!(!view.contains(hidden), "{hidden} leaked: {view}");
        }
        for shown in [
            "Okafor",
            "Margaret",
            "07700 900123",
            "871731000000106",
            "267076002",
        ] {
            assert!(view.contains(shown), "{shown} missing: {view}");
        }
    }

    #[test]
    fn a_vcs_task_does_not_carry_the_nhs_number() {
        let task = json!({"resourceType": "Task", "status": "requested",
            "for": {"type": "Patient", "identifier": {"system": NHS_NUMBER_SYSTEM, "value": "9434765919"}}});
        assert!(!minimise_for_vcs(&task).to_string().contains("9434765919"));
    }
}
