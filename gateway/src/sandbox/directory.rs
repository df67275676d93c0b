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
type Service = (
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    u32,
    u32,
);

/// Where each sandbox service meets (latitude, longitude), in central Sheffield, so a `near`
/// search has something to find.
const POSITIONS: [(f64, f64); 3] = [(53.3790, -1.4650), (53.3770, -1.4700), (53.3830, -1.4720)];

const SERVICES: &[Service] = &[
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
    (key, name, ods, postcode, status, available, maximum): Service,
    (latitude, longitude): (f64, f64),
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
        "contained": [{"resourceType": "Location", "id": "loc0", "address": {"postalCode": postcode},
            "position": {"latitude": latitude, "longitude": longitude}}],
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
    let services: Vec<Value> = SERVICES
        .iter()
        .zip(POSITIONS)
        .map(|(s, p)| entry(*s, p))
        .collect();
    import_services(store, &services, Some(SANDBOX_SERVICES)).await
}
