//! Searching the directory by distance over HTTP: `near=latitude|longitude|distance|unit` (and
//! its chained spelling `location.near`) finds the services with a location within the distance,
//! nearest first, combined with the other parameters and paged; bad values are a 400 naming the
//! parameter.

use reqwest::StatusCode;
use serde_json::{Value, json};
use signpost_gateway::workflow::import_directory::import_services;

use crate::support::{TestGateway, answer};

const ODS: &str = "https://fhir.nhs.uk/Id/ods-organization-code";
const TAXONOMY: &str = "https://openreferraluk.org/taxonomy/test";

/// Sheffield's Peace Gardens, where every search here starts.
const CENTRE: &str = "53.3801|-1.4701";

/// A service at `position` (none: only a postcode), as an import writes it.
fn service(key: &str, name: &str, category: &str, position: Option<(f64, f64)>) -> Value {
    let mut location =
        json!({"resourceType": "Location", "id": "loc0", "address": {"postalCode": "S1 2HH"}});
    if let Some((latitude, longitude)) = position {
        location["position"] = json!({"latitude": latitude, "longitude": longitude});
    }
    json!({
        "resourceType": "HealthcareService",
        "identifier": [{"system": "https://feed.test/services", "value": key}],
        "active": true,
        "providedBy": {"identifier": {"system": ODS, "value": "VCS001"}},
        "category": [{"coding": [{"system": TAXONOMY, "code": category}]}],
        "name": name,
        "contained": [location],
        "location": [{"reference": "#loc0"}],
    })
}

/// Five services: three in Sheffield at 0.3, 1.2 and 5.3 km from the centre, one in Leeds
/// (about 47 km), one with no position.
async fn directory(gw: &TestGateway) {
    let entries = vec![
        service(
            "meadowhall",
            "Meadowhall Walkers",
            "walking",
            Some((53.4138, -1.4133)),
        ),
        service(
            "hall",
            "City Hall Choir",
            "singing",
            Some((53.3817, -1.4746)),
        ),
        service(
            "park",
            "Sheaf Valley Park Walk",
            "walking",
            Some((53.3764, -1.4537)),
        ),
        service(
            "leeds",
            "Leeds Riverside Walk",
            "walking",
            Some((53.7949, -1.5475)),
        ),
        service("nowhere", "Walking Without a Map", "walking", None),
    ];
    let counts = import_services(
        gw.store.as_ref(),
        &entries,
        Some("https://feed.test/services"),
    )
    .await
    .expect("import");
    assert_eq!(counts.created, 5);
}

fn names(bundle: &Value) -> Vec<&str> {
    bundle["entry"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|e| e["resource"]["name"].as_str().unwrap_or_default())
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn services_within_a_distance_are_found_nearest_first() {
    let gw = TestGateway::spawn().await;
    directory(&gw).await;

    let (status, _, near) = gw
        .get_as(
            "riverside-lw",
            &format!("HealthcareService?near={CENTRE}|10|km"),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{near}");
    assert_eq!(
        names(&near),
        [
            "City Hall Choir",
            "Sheaf Valley Park Walk",
            "Meadowhall Walkers"
        ],
        "nearest first; Leeds is too far and a service without a position has no distance"
    );
    assert_eq!(near["total"], 3);

    // The chained spelling, a unit in metres, and another parameter alongside.
    let (_, _, chained) = gw
        .get_as(
            "riverside-gp",
            &format!("HealthcareService?location.near={CENTRE}|2000|m&service-category={TAXONOMY}|walking"),
        )
        .await;
    assert_eq!(names(&chained), ["Sheaf Valley Park Walk"], "{chained}");

    // Miles, and far enough for Leeds; the distance FHIR lets a client leave out is 5 km.
    let (_, _, wide) = gw
        .get_as(
            "riverside-gp",
            &format!("HealthcareService?near={CENTRE}|40|[mi_i]"),
        )
        .await;
    assert_eq!(
        names(&wide),
        [
            "City Hall Choir",
            "Sheaf Valley Park Walk",
            "Meadowhall Walkers",
            "Leeds Riverside Walk"
        ]
    );
    let (_, _, default) = gw
        .get_as("riverside-gp", &format!("HealthcareService?near={CENTRE}"))
        .await;
    assert_eq!(
        names(&default),
        ["City Hall Choir", "Sheaf Valley Park Walk"]
    );

    // Paged in distance order: the next link carries the point on.
    let (_, _, first) = gw
        .get_as(
            "riverside-gp",
            &format!("HealthcareService?near={CENTRE}|10|km&_count=2"),
        )
        .await;
    assert_eq!(names(&first), ["City Hall Choir", "Sheaf Valley Park Walk"]);
    assert_eq!(first["total"], 3);
    let next = first["link"]
        .as_array()
        .and_then(|l| l.iter().find(|l| l["relation"] == "next"))
        .and_then(|l| l["url"].as_str())
        .expect("next link")
        .to_owned();
    let (_, _, second) = gw.get_as("riverside-gp", &next).await;
    assert_eq!(names(&second), ["Meadowhall Walkers"], "{second}");
}

#[tokio::test]
async fn a_bad_near_value_is_refused_naming_the_parameter() {
    let gw = TestGateway::spawn().await;
    directory(&gw).await;
    for (query, param, says) in [
        ("near=100|101|5|km", "near", "latitude 100"),
        ("near=53.38", "near", "latitude|longitude|distance|unit"),
        ("near=north|-1.47|5|km", "near", "latitude \"north\""),
        ("near=53.38|-1.47|5|furlong", "near", "unit \"furlong\""),
        ("near=53.38|-1.47|500|km", "near", "at most 100"),
        (
            "near=53.38|-1.47|5|km&location.near=53.38|-1.47|5|km",
            "location.near",
            "one point",
        ),
        ("location=Location/loc0", "location", "near="),
    ] {
        let (status, _, outcome) = gw
            .get_as("riverside-gp", &format!("HealthcareService?{query}"))
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}: {outcome}");
        assert_eq!(outcome["resourceType"], "OperationOutcome");
        let diagnostics = outcome["issue"][0]["diagnostics"]
            .as_str()
            .unwrap_or_default();
        assert!(
            diagnostics.starts_with(&format!("search parameter {param}:"))
                && diagnostics.contains(says),
            "{query}: {diagnostics}"
        );
    }
}

#[tokio::test]
async fn the_capability_statement_documents_near() {
    let gw = TestGateway::spawn().await;
    let (_, _, metadata) = answer(
        gw.http
            .get(format!("{}/metadata", gw.fhir))
            .send()
            .await
            .expect("metadata"),
    )
    .await;
    let near = metadata["rest"][0]["resource"]
        .as_array()
        .and_then(|r| r.iter().find(|r| r["type"] == "HealthcareService"))
        .and_then(|hs| hs["searchParam"].as_array())
        .and_then(|p| p.iter().find(|p| p["name"] == "near"))
        .expect("near declared")
        .clone();
    assert_eq!(near["type"], "special");
    let documentation = near["documentation"].as_str().unwrap_or_default();
    assert!(
        documentation.contains("latitude|longitude|distance|unit")
            && documentation.contains("location.near"),
        "{documentation}"
    );
}
