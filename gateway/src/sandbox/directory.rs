//! The sandbox's small service directory: services of its two VCS organisations, one of them full,
//! so a link worker can see a refusal with the alternatives that have room.

use serde_json::{Value, json};

use crate::store::{Store, now};
use crate::workflow::WorkflowError;
use crate::workflow::import_directory::{ImportCounts, import_services};

/// The identifier system of the sandbox's own directory entries.
pub const SANDBOX_SERVICES: &str = "https://signpost.example/sandbox/services";
/// The category every sandbox service shares: an ORUK-style taxonomy term.
pub const CATEGORY: (&str, &str) = (
    "https://openreferraluk.org/taxonomy/sandbox",
    "social-activity",
);

/// (key, name, provider ODS, postcode, status, places available, maximum)
const SERVICES: &[(&str, &str, &str, &str, &str, u32, u32)] = &[
    (
        "walk-tuesday",
        "Mill Lane Tuesday Walk",
        "VCS001",
        "S1 2AB",
        "no-capacity",
        0,
        12,
    ),
    (
        "walk-saturday",
        "Mill Lane Saturday Strollers",
        "VCS001",
        "S1 4QQ",
        "capacity",
        6,
        15,
    ),
    (
        "money-cafe",
        "Money Worries Cafe",
        "VCS002",
        "S1 3CD",
        "capacity",
        3,
        8,
    ),
];

fn entry(
    (key, name, ods, postcode, status, available, maximum): (
        &str,
        &str,
        &str,
        &str,
        &str,
        u32,
        u32,
    ),
) -> Value {
    let at = now();
    json!({
        "resourceType": "HealthcareService",
        "identifier": [{"system": SANDBOX_SERVICES, "value": key}],
        "active": true,
        "providedBy": {"identifier": {"system": signpost_profiles::ODS_SYSTEM, "value": ods}},
        "category": [{"coding": [{"system": CATEGORY.0, "code": CATEGORY.1, "display": "Social activity"}]}],
        "type": [{"coding": [{"system": CATEGORY.0, "code": CATEGORY.1}]}],
        "name": name,
        "contained": [{"resourceType": "Location", "id": "loc0", "address": {"postalCode": postcode}}],
        "location": [{"reference": "#loc0"}],
        "extension": [
            {"url": crate::directory::capacity::GRAVITY_CAPACITY_URL, "extension": [{"url": "capacityStatus", "valueCodeableConcept": {"coding": [{"system": crate::directory::capacity::GRAVITY_CAPACITY_SYSTEM, "code": status}]}}]},
            {"url": crate::directory::capacity::SIGNPOST_CAPACITY_URL, "extension": [
                {"url": "available", "valueUnsignedInt": available},
                {"url": "maximum", "valueUnsignedInt": maximum},
                {"url": "source", "valueCode": "operator"},
                {"url": "asOf", "valueInstant": at.to_fhir()},
                {"url": "expires", "valueInstant": at.plus_millis(365 * 24 * 3600 * 1000).to_fhir()}
            ]}
        ]
    })
}

/// Writes the sandbox's directory (a restart keeps what providers declared since).
pub async fn seed(store: &dyn Store) -> Result<ImportCounts, WorkflowError> {
    let services: Vec<Value> = SERVICES.iter().map(|s| entry(*s)).collect();
    import_services(store, &services, Some(SANDBOX_SERVICES)).await
}
