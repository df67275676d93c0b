//! Tenancy: a client sees only resources its organisation is party to, and a VCS provider
//! sees a minimised view. Every read path goes through here.

use std::borrow::Cow;

use serde_json::value::RawValue;
use serde_json::{Map, Value};
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

/// Top-level elements a VCS provider receives: who to contact, why, and what is asked of them.
const VCS_SERVICE_REQUEST: &[&str] = &[
    "resourceType",
    "id",
    "meta",
    "contained",
    "identifier",
    "basedOn",
    "status",
    "intent",
    "category",
    "priority",
    "code",
    "subject",
    "authoredOn",
    "requester",
    "performer",
    "reasonCode",
    "occurrenceDateTime",
    "occurrencePeriod",
];
const VCS_TASK: &[&str] = &[
    "resourceType",
    "id",
    "meta",
    "identifier",
    "basedOn",
    "partOf",
    "status",
    "statusReason",
    "businessStatus",
    "intent",
    "priority",
    "code",
    "description",
    "focus",
    "for",
    "authoredOn",
    "lastModified",
    "requester",
    "owner",
    "note",
    "input",
    "output",
];
/// Of the person: their name and how to reach them, nothing of the GP record.
const VCS_PATIENT: &[&str] = &["resourceType", "id", "name", "telecom"];

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

/// Strips a referral down to what a VCS provider needs (DESIGN.md section 5): no NHS number,
/// date of birth, address, clinical notes or other contained resources.
pub fn minimise_for_vcs(resource: &Value) -> Value {
    match resource.get("resourceType").and_then(Value::as_str) {
        Some("ServiceRequest") => {
            let mut sr = keep(resource, VCS_SERVICE_REQUEST);
            if let Some(contained) = sr.get("contained").and_then(Value::as_array) {
                let patients: Vec<Value> = contained
                    .iter()
                    .filter(|r| r.get("resourceType").and_then(Value::as_str) == Some("Patient"))
                    .map(|p| keep(p, VCS_PATIENT))
                    .collect();
                sr["contained"] = Value::Array(patients);
            }
            if let Some(subject) = sr.get_mut("subject").and_then(Value::as_object_mut) {
                subject.remove("identifier");
            }
            sr
        }
        Some("Task") => {
            let mut task = keep(resource, VCS_TASK);
            if let Some(patient) = task.get_mut("for").and_then(Value::as_object_mut)
                && patient
                    .get("identifier")
                    .and_then(|i| i.get("system"))
                    .and_then(Value::as_str)
                    == Some(NHS_NUMBER_SYSTEM)
            {
                patient.remove("identifier");
            }
            task
        }
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
        ] {
            assert!(!view.contains(hidden), "{hidden} leaked: {view}");
        }
        for shown in [
            "Okafor",
            "Margaret",
            "07700 900123",
            "Lonely since bereavement",
            "871731000000106",
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
