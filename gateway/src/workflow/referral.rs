//! A new referral: the ServiceRequest as stored, the link worker's Task, and the delivery announcing it.

use serde_json::value::RawValue;
use serde_json::{Map, Value, json};
use signpost_adapters::DeliveryEvent;
use signpost_profiles::{NHS_NUMBER_SYSTEM, ODS_SYSTEM, Referral};

use crate::config::Organisation;
use crate::routing::Directory;
use crate::search_index::index_entries;
use crate::store::{ChangeSet, Instant, OutboxEntry, ResourceWrite, StoredResource};

/// FHIR Task code for "fulfil the focal request" (http://hl7.org/fhir/CodeSystem/task-code).
const TASK_CODE_SYSTEM: &str = "http://hl7.org/fhir/CodeSystem/task-code";

/// Puts `resourceType`, `id` and `meta` (versionId, lastUpdated) first, keeping the rest as sent.
/// Any id the client sent is replaced: on create the server assigns ids.
pub fn with_identity(resource: &Value, id: &str, version: i64, at: Instant) -> Value {
    let mut out = Map::new();
    let source = resource.as_object().cloned().unwrap_or_default();
    out.insert(
        "resourceType".into(),
        source.get("resourceType").cloned().unwrap_or(Value::Null),
    );
    out.insert("id".into(), Value::String(id.to_owned()));
    let mut meta = source
        .get("meta")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    meta.insert("versionId".into(), Value::String(version.to_string()));
    meta.insert("lastUpdated".into(), Value::String(at.to_fhir()));
    out.insert("meta".into(), Value::Object(meta));
    for (k, v) in source {
        if !matches!(k.as_str(), "resourceType" | "id" | "meta") {
            out.insert(k, v);
        }
    }
    Value::Object(out)
}

fn organisation_reference(org: &Organisation) -> Value {
    json!({
        "type": "Organization",
        "identifier": {"system": ODS_SYSTEM, "value": org.ods.as_str()},
        "display": org.name,
    })
}

/// The link worker's Task for a new referral (HL7 Gravity referral Task shape).
fn new_task(
    id: &str,
    sr_id: &str,
    referral: &Referral,
    requester: &Organisation,
    owner: &Organisation,
    part_of: Option<&str>,
    at: Instant,
) -> Value {
    let now = at.to_fhir();
    let mut task = json!({
        "resourceType": "Task",
        "id": id,
        "meta": {"versionId": "1", "lastUpdated": now},
        "status": "requested",
        "intent": "order",
        "code": {"coding": [{"system": TASK_CODE_SYSTEM, "code": "fulfill", "display": "Fulfill the focal request"}]},
        "focus": {"reference": format!("ServiceRequest/{sr_id}")},
        "for": {"type": "Patient", "identifier": {"system": NHS_NUMBER_SYSTEM, "value": referral.nhs_number.as_str()}},
        "authoredOn": now,
        "lastModified": now,
        "requester": organisation_reference(requester),
        "owner": organisation_reference(owner),
    });
    if let Some(parent) = part_of {
        task["partOf"] = json!([{"reference": format!("Task/{parent}")}]);
    }
    task
}

fn write(resource: Value, id: &str, at: Instant) -> Result<ResourceWrite, serde_json::Error> {
    let index = index_entries(&resource);
    let rtype = resource["resourceType"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    Ok(ResourceWrite {
        resource: StoredResource {
            resource_type: rtype,
            id: id.to_owned(),
            version: 1,
            last_updated: at,
            body: RawValue::from_string(serde_json::to_string(&resource)?)?,
        },
        index,
    })
}

/// The change a new referral makes: its ServiceRequest, the owner's Task, and a delivery if the owner is pushed to.
pub struct NewReferral {
    /// Everything to commit in one transaction.
    pub changes: ChangeSet,
    /// The ServiceRequest as stored (what the caller gets back).
    pub service_request_id: String,
}

/// Builds the change set for an accepted referral.
pub fn new_referral(
    sr_json: &Value,
    referral: &Referral,
    owner: &Organisation,
    directory: &Directory,
    correlation_id: &str,
    part_of: Option<&str>,
    at: Instant,
) -> Result<NewReferral, serde_json::Error> {
    let sr_id = uuid::Uuid::now_v7().to_string();
    let task_id = uuid::Uuid::now_v7().to_string();
    // The requester was checked by routing; fall back to a bare reference rather than fail.
    let requester = directory
        .organisation(&referral.requester)
        .cloned()
        .unwrap_or_else(|| Organisation {
            ods: referral.requester.clone(),
            name: referral.requester.to_string(),
            role: crate::config::Role::Gp,
            adapter: None,
            capacity: None,
            charity: None,
        });
    let mut sr = with_identity(sr_json, &sr_id, 1, at);
    // The routed link-worker service is the performer: it makes the service party to the referral it must read.
    if !referral.performers.contains(&owner.ods) {
        let performer = organisation_reference(owner);
        match sr.get_mut("performer").and_then(Value::as_array_mut) {
            Some(list) => list.push(performer),
            None => sr["performer"] = Value::Array(vec![performer]),
        }
    }
    let task = new_task(&task_id, &sr_id, referral, &requester, owner, part_of, at);
    let outbox = directory
        .adapter(&owner.ods)
        .map(|adapter| OutboxEntry {
            id: uuid::Uuid::now_v7().to_string(),
            destination: owner.ods.clone(),
            adapter: adapter.kind().into(),
            event: DeliveryEvent::TaskCreated,
            task_id: task_id.clone(),
            task_version: 1,
            focus_id: sr_id.clone(),
            focus_version: 1,
            idempotency_key: uuid::Uuid::new_v4().to_string(),
            correlation_id: correlation_id.to_owned(),
            traceparent: crate::telemetry::traces::current_traceparent(),
        })
        .into_iter()
        .collect();
    Ok(NewReferral {
        changes: ChangeSet {
            writes: vec![write(sr, &sr_id, at)?, write(task, &task_id, at)?],
            outbox,
            condition: None,
            ..ChangeSet::default()
        },
        service_request_id: sr_id,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_goes_first_and_replaces_a_client_id() {
        let sr = json!({"resourceType": "ServiceRequest", "status": "active", "id": "client-chosen", "meta": {"profile": ["x"]}});
        let stored = with_identity(&sr, "abc", 1, Instant(0));
        let keys: Vec<&String> = stored.as_object().expect("object").keys().collect();
        assert_eq!(keys, ["resourceType", "id", "meta", "status"]);
        assert_eq!(stored["id"], "abc");
        assert_eq!(stored["meta"]["versionId"], "1");
        assert_eq!(stored["meta"]["profile"][0], "x");
    }
}
