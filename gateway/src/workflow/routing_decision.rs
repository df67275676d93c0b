//! The record of a routing decision to a directory service: an AuditEvent (subtype
//! `routing-decision`) with the service, its capacity, category, area and ISO week, and the reason,
//! so operators can read every decision and commissioners can count unmet demand.

use serde_json::{Value, json};

use super::service_target::Decision;
use crate::audit::CLIENT_ID_SYSTEM;
use crate::auth::Principal;
use crate::directory::capacity::CapacityStatus;
use crate::search_index::index_entries;
use crate::store::{
    ChangeSet, Criterion, Instant, ResourceWrite, SearchQuery, Store, StoreError, StoredResource,
    now,
};

/// The code system of Signpost's AuditEvent subtypes.
pub const SUBTYPE_SYSTEM: &str = "https://signpost.example/fhir/CodeSystem/audit-event-subtype";
/// Subtype of a routing decision record.
pub const ROUTING_DECISION: &str = "routing-decision";
/// Subtype of a directory search that found nothing with room.
pub const NOTHING_WITH_ROOM: &str = "nothing-with-room";

/// The ISO week of an instant, e.g. `2026-W48`.
pub fn iso_week(at: Instant) -> String {
    let (year, week, _) = at.to_datetime().to_iso_week_date();
    format!("{year}-W{week:02}")
}

/// One `entity.detail` entry.
fn detail(kind: &str, value: &str) -> Value {
    json!({"type": kind, "valueString": value})
}

/// A demand record's details: categories, districts and the week, as unmet demand counts them.
pub fn demand_details(categories: &[String], districts: &[String], at: Instant) -> Vec<Value> {
    let mut details: Vec<Value> = categories.iter().map(|c| detail("category", c)).collect();
    details.extend(districts.iter().map(|d| detail("district", d)));
    details.push(detail("week", &iso_week(at)));
    details
}

/// Builds an AuditEvent of a Signpost subtype for `who`.
pub fn record(
    who: &Principal,
    subtype: &str,
    placed: bool,
    entities: Vec<Value>,
    reason: &str,
    at: Instant,
) -> Result<ResourceWrite, serde_json::Error> {
    let id = uuid::Uuid::now_v7().to_string();
    let body = json!({
        "resourceType": "AuditEvent",
        "id": id,
        "meta": {"versionId": "1", "lastUpdated": at.to_fhir()},
        "type": {"system": SUBTYPE_SYSTEM, "code": "directory", "display": "Service directory"},
        "subtype": [{"system": SUBTYPE_SYSTEM, "code": subtype}],
        "action": "E",
        "recorded": at.to_fhir(),
        "outcome": if placed { "0" } else { "4" },
        "outcomeDesc": reason,
        "agent": [{
            "who": {"identifier": {"system": CLIENT_ID_SYSTEM, "value": who.client_id}},
            "requestor": true,
            "policy": [format!("urn:signpost:organisation:{}", who.organisation)],
        }],
        "source": {"observer": {"display": "Signpost"}},
        "entity": entities,
    });
    Ok(ResourceWrite {
        index: index_entries(&body),
        resource: StoredResource {
            resource_type: "AuditEvent".into(),
            id,
            version: 1,
            last_updated: at,
            body: serde_json::value::to_raw_value(&body)?,
        },
    })
}

/// The record of a decision on an onward referral (`referral` the ServiceRequest when placed).
pub fn decision_record(
    who: &Principal,
    decision: &Decision,
    referral: Option<&str>,
    at: Instant,
) -> Result<ResourceWrite, serde_json::Error> {
    let mut details = demand_details(&decision.categories, &decision.districts, at);
    details.push(detail("capacity", decision.status.code()));
    if let Some(n) = decision.available {
        details.push(detail("available", &n.to_string()));
    }
    let mut entities = vec![json!({"what": {"reference": decision.service}, "detail": details})];
    if let Some(r) = referral {
        entities.push(json!({"what": {"reference": r}}));
    }
    record(
        who,
        ROUTING_DECISION,
        decision.placed,
        entities,
        &decision.reason,
        at,
    )
}

/// Records a directory search for services with room that found none, as demand the directory
/// could not meet (its categories and districts as asked). Other searches are not recorded here.
pub async fn note_search(
    store: &dyn Store,
    who: &Principal,
    query: &SearchQuery,
    total: i64,
) -> Result<(), StoreError> {
    let asked_room = query.criteria.iter().any(|c| {
        matches!(c, Criterion::Index { param: "capacity", any_of }
            if any_of.iter().any(|(_, code)| code == CapacityStatus::Capacity.code()))
    });
    if query.resource_type != "HealthcareService" || !asked_room || total > 0 {
        return Ok(());
    }
    let values = |name: &str| -> Vec<String> {
        query
            .criteria
            .iter()
            .filter_map(|c| match c {
                Criterion::Index { param, any_of } if *param == name => Some(any_of),
                _ => None,
            })
            .flatten()
            .map(|(system, code)| match system {
                Some(s) => format!("{s}|{code}"),
                None => code.clone(),
            })
            .collect()
    };
    let at = now();
    let details = demand_details(&values("service-category"), &values("postcode"), at);
    let entities =
        vec![json!({"what": {"display": "HealthcareService search"}, "detail": details})];
    let write = record(
        who,
        NOTHING_WITH_ROOM,
        false,
        entities,
        "no service with room matched",
        at,
    )
    .map_err(|e| StoreError::Corrupt(e.to_string()))?;
    store
        .commit(ChangeSet {
            writes: vec![write],
            ..ChangeSet::default()
        })
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weeks_are_iso_weeks() {
        // 2026-11-23 is the Monday of ISO week 48; 2027-01-01 is in 2026-W53.
        assert_eq!(iso_week(Instant(1_795_427_918_123_456)), "2026-W48");
        assert_eq!(iso_week(Instant(1_798_761_600_000_000)), "2026-W53");
    }
}
