//! Importing Open Referral UK feeds: the official ORUK 3.0 examples as a file, and a paged feed
//! (v3 and v1 shapes) served by a real local HTTP server, with broken records reported and the
//! valid ones imported; a service that leaves the feed becomes inactive, never deleted.

use std::sync::{Arc, Mutex};

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::get;
use serde_json::{Value, json};
use signpost_gateway::workflow::import_directory::import_feed;

use crate::support::TestGateway;

/// The shared fixtures folder (never edited; variants are made in the tests).
fn fixture(name: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/fixtures/openreferral-uk")
        .join(name)
}

fn read_fixture(name: &str) -> Value {
    serde_json::from_str(&std::fs::read_to_string(fixture(name)).expect("fixture")).expect("json")
}

#[tokio::test]
async fn the_official_oruk_3_service_imports_as_a_healthcare_service() {
    let gw = TestGateway::spawn().await;
    let report = import_feed(
        gw.store.as_ref(),
        &fixture("service_full.json").display().to_string(),
    )
    .await
    .expect("import");
    let original = read_fixture("service_full.json");
    // The example's location is at latitude 100, longitude 101: not on the Earth. The quality
    // report says so and the service is imported without that position (its postcode still
    // finds it; a wrong position would put it in the wrong place).
    let left_out: Vec<(Option<&str>, &str)> = report
        .left_out
        .iter()
        .map(|p| (p.record.as_deref(), p.element.as_str()))
        .collect();
    assert_eq!(
        (report.counts.created, report.problems.len(), left_out),
        (
            1,
            0,
            vec![(
                original["id"].as_str(),
                "service_at_locations[0].location.latitude"
            )]
        ),
        "{report:?}"
    );
    assert!(
        report.left_out[0].message.contains("latitude 100"),
        "{:?}",
        report.left_out
    );
    let (_, _, found) = gw
        .get_as("riverside-gp", "HealthcareService?name=counselling")
        .await;
    assert_eq!(found["total"], 1, "{found}");
    let service = &found["entry"][0]["resource"];
    assert!(
        service["contained"][0].get("position").is_none(),
        "{service}"
    );
    assert_eq!(service["name"], original["name"]);
    assert_eq!(service["identifier"][0]["value"], original["id"]);
    assert_eq!(service["active"], true);
    assert_eq!(
        service["providedBy"]["display"],
        original["organization"]["name"]
    );
    let postcode = original["service_at_locations"][0]["location"]["addresses"][0]["postal_code"]
        .as_str()
        .expect("postcode");
    assert_eq!(service["contained"][0]["address"]["postalCode"], postcode);
    let term = &original["attributes"][0]["taxonomy_term"];
    assert_eq!(service["category"][0]["coding"][0]["code"], term["id"]);
    // Imported again unchanged: nothing new is written.
    let again = import_feed(
        gw.store.as_ref(),
        &fixture("service_full.json").display().to_string(),
    )
    .await
    .expect("import");
    assert_eq!((again.counts.created, again.counts.unchanged), (0, 1));
    // The list shape of the same examples reads as a page.
    let list = import_feed(
        gw.store.as_ref(),
        &fixture("service_list.json").display().to_string(),
    )
    .await
    .expect("list");
    assert_eq!(list.problems.len(), 0, "{:?}", list.problems);
}

/// A feed served over HTTP: pages of listed records and full records by id.
#[derive(Clone)]
struct Feed {
    root: Value,
    v1: bool,
    pages: Arc<Mutex<Vec<Vec<Value>>>>,
}

async fn root(State(feed): State<Feed>) -> Json<Value> {
    Json(feed.root.clone())
}

async fn services(
    State(feed): State<Feed>,
    Query(q): Query<std::collections::HashMap<String, String>>,
) -> Json<Value> {
    let pages = feed.pages.lock().expect("lock").clone();
    let n: usize = q.get("page").and_then(|p| p.parse().ok()).unwrap_or(1);
    let records = pages.get(n - 1).cloned().unwrap_or_default();
    let last = n >= pages.len();
    Json(if feed.v1 {
        json!({"totalElements": 9, "totalPages": pages.len(), "number": n, "size": records.len(), "first": n == 1, "last": last, "content": records})
    } else {
        json!({"total_items": 9, "total_pages": pages.len(), "page_number": n, "size": records.len(), "first_page": n == 1, "last_page": last, "empty": records.is_empty(), "contents": records})
    })
}

async fn service(
    State(feed): State<Feed>,
    Path(id): Path<String>,
) -> Result<Json<Value>, StatusCode> {
    let pages = feed.pages.lock().expect("lock").clone();
    pages
        .into_iter()
        .flatten()
        .find(|r| r["id"] == id.as_str())
        .filter(|r| r["name"] != "gone-404")
        .map(Json)
        .ok_or(StatusCode::NOT_FOUND)
}

async fn serve(feed: Feed) -> String {
    let app = axum::Router::new()
        .route("/", get(root))
        .route("/services", get(services))
        .route("/services/{id}", get(service))
        .with_state(feed);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}")
}

/// A variant of the official full service: another id and name, and a location on the Earth
/// (the example's coordinates are not; the official example's own test covers that).
fn variant(id: &str, name: &str) -> Value {
    let mut s = read_fixture("service_full.json");
    s["id"] = json!(id);
    s["name"] = json!(name);
    s["service_at_locations"][0]["location"]["latitude"] = json!(53.3801);
    s["service_at_locations"][0]["location"]["longitude"] = json!(-1.4701);
    s
}

async fn paged_feed_with_broken_records(v1: bool) {
    let gw = TestGateway::spawn().await;
    let mut no_name = variant("b-no-name", "x");
    no_name.as_object_mut().expect("object").remove("name");
    let mut bad_status = variant("d-bad-status", "Bad Status Club");
    bad_status["status"] = json!("open-ish");
    let pages = vec![
        vec![variant("a-walk", "Walking Group"), no_name],
        vec![variant("c-garden", "Gardening Club"), bad_status],
        vec![variant("e-missing", "gone-404")],
    ];
    let feed = Feed {
        root: if v1 {
            json!({"name": "a v1 feed"})
        } else {
            json!({"version": "3.0", "profile": "UK"})
        },
        v1,
        pages: Arc::new(Mutex::new(pages)),
    };
    let url = serve(feed.clone()).await;
    let report = import_feed(gw.store.as_ref(), &url).await.expect("import");
    assert_eq!(report.version, Some(if v1 { "v1" } else { "v3" }));
    assert_eq!(report.counts.created, 2, "{report:?}");
    let mut problems: Vec<(Option<&str>, &str)> = report
        .problems
        .iter()
        .map(|p| (p.record.as_deref(), p.element.as_str()))
        .collect();
    problems.sort();
    assert_eq!(
        problems,
        [
            (Some("b-no-name"), "name"),
            (Some("d-bad-status"), "status"),
            (Some("e-missing"), "(record)")
        ]
    );

    // The feed's coordinates were kept: both services are found by distance.
    let (_, _, near) = gw
        .get_as("riverside-lw", "HealthcareService?near=53.38|-1.47|1|km")
        .await;
    assert_eq!(near["total"], 2, "{near}");

    // The walking group leaves the feed: inactive, still readable.
    feed.pages.lock().expect("lock")[0].remove(0);
    let again = import_feed(gw.store.as_ref(), &url).await.expect("import");
    assert_eq!(
        (again.counts.deactivated, again.counts.unchanged),
        (1, 1),
        "{again:?}"
    );
    let (_, _, inactive) = gw
        .get_as("riverside-lw", "HealthcareService?active=false")
        .await;
    assert_eq!(inactive["total"], 1);
    assert_eq!(inactive["entry"][0]["resource"]["name"], "Walking Group");
    let (_, _, active) = gw
        .get_as("riverside-lw", "HealthcareService?active=true")
        .await;
    assert_eq!(active["total"], 1);
}

#[tokio::test]
async fn a_paged_v3_feed_imports_its_valid_records_and_reports_the_rest() {
    paged_feed_with_broken_records(false).await;
}

#[tokio::test]
async fn a_paged_v1_feed_is_read_in_its_own_page_shape() {
    paged_feed_with_broken_records(true).await;
}
