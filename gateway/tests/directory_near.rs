//! Searching the directory by distance over HTTP: `near=latitude|longitude|distance|unit` (and
//! its chained spelling `location.near`) finds the services with a location within the distance,
//! nearest first, combined with the other parameters and paged; bad values are a 400 naming the
//! parameter.

use reqwest::StatusCode;
use serde_json::{Value, json};
use signpost_gateway::workflow::import_directory::import_feed;

use crate::support::{
    TAXONOMY, TestGateway, answer, at_position, directory_service, import_directory,
};

/// Sheffield's Peace Gardens, where every search here starts.
const CENTRE: &str = "53.3801|-1.4701";

/// A service at `position` (none: only a postcode), as an import writes it.
fn service(key: &str, name: &str, category: &str, position: Option<(f64, f64)>) -> Value {
    let service = directory_service(key, name, "VCS001", category, "S1 2HH", None);
    match position {
        Some((latitude, longitude)) => at_position(service, latitude, longitude),
        None => service,
    }
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
    import_directory(gw, entries).await;
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
async fn the_capability_statement_documents_near_and_distance() {
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
    let distance = metadata["rest"][0]["resource"]
        .as_array()
        .and_then(|r| r.iter().find(|r| r["type"] == "HealthcareService"))
        .and_then(|hs| hs["searchParam"].as_array())
        .and_then(|p| p.iter().find(|p| p["name"] == "distance"))
        .expect("distance declared");
    assert_eq!(distance["type"], "quantity");
    assert!(
        distance["documentation"]
            .as_str()
            .is_some_and(|d| d.contains("with postcode only")),
        "{distance}"
    );
}

/// The official ORUK 3.0 example service, moved: its own id and name, and its location at a UK
/// postcode and a position (the example's are "ABC 1234" and latitude 100, longitude 101, which
/// place it nowhere); everything else as published.
fn oruk_at(dir: &std::path::Path, key: &str, name: &str, postcode: &str, at: (f64, f64)) -> String {
    let fixture = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/fixtures/openreferral-uk/service_full.json");
    let mut service: Value =
        serde_json::from_str(&std::fs::read_to_string(fixture).expect("fixture")).expect("json");
    service["id"] = json!(key);
    service["name"] = json!(name);
    let location = &mut service["service_at_locations"][0]["location"];
    location["latitude"] = json!(at.0);
    location["longitude"] = json!(at.1);
    location["addresses"][0]["postal_code"] = json!(postcode);
    location["addresses"][0]["country"] = json!("GB");
    let path = dir.join(format!("{key}.json"));
    std::fs::write(&path, service.to_string()).expect("write");
    path.display().to_string()
}

/// Two places in S1 (their middle is [`CENTRE`]), one in S2 and one in Leeds, imported from
/// ORUK records; and the official example as published.
const PLACES: [(&str, &str, &str, (f64, f64)); 4] = [
    ("hall", "City Hall Choir", "S1 2HH", (53.3817, -1.4746)),
    (
        "library",
        "Central Library Readers",
        "S1 1XZ",
        (53.3785, -1.4656),
    ),
    (
        "park",
        "Sheaf Valley Park Walk",
        "S2 4SU",
        (53.3764, -1.4537),
    ),
    (
        "leeds",
        "Leeds Riverside Walk",
        "LS1 4DY",
        (53.7949, -1.5475),
    ),
];

#[tokio::test]
async fn a_postcode_and_distance_search_finds_services_around_where_the_directory_places_it() {
    let gw = TestGateway::spawn().await;
    for (key, name, postcode, at) in PLACES {
        let report = import_feed(
            gw.store.as_ref(),
            &oruk_at(&gw.dir, key, name, postcode, at),
        )
        .await
        .expect("import");
        assert_eq!(report.counts.created, 1, "{report:?}");
    }
    let official = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/fixtures/openreferral-uk/service_full.json");
    import_feed(gw.store.as_ref(), &official.display().to_string())
        .await
        .expect("official example");
    let search = |query: String| {
        let gw = &gw;
        async move {
            gw.get_as("riverside-lw", &format!("HealthcareService?{query}"))
                .await
        }
    };

    // An exact postcode, written any way: where the locations at it are.
    let (status, _, from_hall) = search("postcode=s12hh&distance=1".into()).await;
    assert_eq!(status, StatusCode::OK, "{from_hall}");
    assert_eq!(
        names(&from_hall),
        ["City Hall Choir", "Central Library Readers"]
    );
    let (_, _, at_hall) = search("postcode=S1%202HH&distance=400|m".into()).await;
    assert_eq!(
        names(&at_hall),
        ["City Hall Choir"],
        "from the hall itself, not the district's middle (0.35 km from both S1 places)"
    );
    let (_, _, wider) = search("postcode=S1%202HH&distance=2|km".into()).await;
    assert_eq!(
        names(&wider),
        [
            "City Hall Choir",
            "Central Library Readers",
            "Sheaf Valley Park Walk"
        ],
        "within the distance whatever the district, nearest first"
    );

    // A postcode no location is at: the middle of its district's located places, which is the
    // same search as near= from the mean of their coordinates.
    let (hall, library) = (PLACES[0].3, PLACES[1].3);
    let middle = ((hall.0 + library.0) / 2.0, (hall.1 + library.1) / 2.0);
    let (_, _, unknown_street) = search("postcode=S1%209ZZ&distance=1500|m".into()).await;
    let (_, _, near) = search(format!("near={}|{}|1500|m", middle.0, middle.1)).await;
    assert_eq!(names(&unknown_street), names(&near));
    // The two S1 places are equally far from their middle; the park is further.
    assert_eq!(names(&unknown_street).len(), 3, "{unknown_street}");
    assert_eq!(names(&unknown_street)[2], "Sheaf Valley Park Walk");
    let (_, _, middle_only) = search("postcode=S1%209ZZ&distance=400|m".into()).await;
    assert_eq!(names(&middle_only).len(), 2, "{middle_only}");
    let (_, _, district) = search("postcode=S2&distance=500|m".into()).await;
    assert_eq!(names(&district), ["Sheaf Valley Park Walk"]);

    // Without a distance, postcode is the district match it always was.
    let (_, _, in_s1) = search("postcode=S1%209ZZ".into()).await;
    let mut in_s1 = names(&in_s1);
    in_s1.sort_unstable();
    assert_eq!(in_s1, ["Central Library Readers", "City Hall Choir"]);

    // Where the data does not allow it, the answer says so rather than finding nothing.
    for (query, param, says) in [
        (
            "postcode=ZZ1%201ZZ&distance=5",
            "postcode",
            "no service in the directory has a location with a position at ZZ1 1ZZ",
        ),
        ("postcode=M1&distance=5", "postcode", "in the district M1"),
        // The official example's own postcode is not a UK one.
        ("postcode=ABC%201234&distance=5", "postcode", "\"ABC 1234\""),
        ("distance=5", "distance", "give postcode= as well"),
        (
            "postcode=S1&distance=far",
            "distance",
            "distance \"far\" is not a number",
        ),
        ("postcode=S1&distance=500|km", "distance", "at most 100"),
        (
            &format!("near={CENTRE}|5|km&postcode=S1&distance=5"),
            "distance",
            "near carries its own distance",
        ),
    ] {
        let (status, _, outcome) = search(query.to_owned()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}: {outcome}");
        assert_eq!(outcome["resourceType"], "OperationOutcome", "{query}");
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
