//! The service directory end to end: HealthcareService search and read as any party, a
//! provider declaring its capacity, and onward referrals to a service that has room or not.

use reqwest::StatusCode;
use serde_json::{Value, json};
use signpost_gateway::directory::capacity::{
    GRAVITY_CAPACITY_SYSTEM, GRAVITY_CAPACITY_URL, SIGNPOST_CAPACITY_URL,
};
use signpost_gateway::store::{Criterion, SearchQuery, SortOrder};
use signpost_gateway::workflow::import_directory::import_services;

use std::collections::HashMap;

use crate::support::{
    FHIR_JSON, ODS, Setup, TAXONOMY, TempPostgres, TestGateway, answer, directory_service,
    import_directory, issue, referral,
};

const FUTURE: &str = "2099-01-01T00:00:00Z";
const PAST: &str = "2020-01-01T00:00:00Z";

/// Walking (VCS001, S1, 1 place), Debt advice (VCS002, S1, full), Walking Two (VCS001, S1, 3
/// places), Gardening (VCS001, S2, room but another area), Stale walk (VCS002, S1, expired).
async fn directory(gw: &TestGateway) -> HashMap<String, String> {
    let entries = vec![
        directory_service(
            "walk",
            "Mill Lane Walking Group",
            "VCS001",
            "walking",
            "S1 2AB",
            Some(("capacity", Some(1), FUTURE)),
        ),
        directory_service(
            "debt",
            "Money and Debt Advice",
            "VCS002",
            "walking",
            "S1 4QQ",
            Some(("no-capacity", Some(0), FUTURE)),
        ),
        directory_service(
            "walk2",
            "Riverside Walking Two",
            "VCS001",
            "walking",
            "S1 9ZZ",
            Some(("capacity", Some(3), FUTURE)),
        ),
        directory_service(
            "garden",
            "Community Gardening",
            "VCS001",
            "walking",
            "S2 1AA",
            Some(("capacity", Some(5), FUTURE)),
        ),
        directory_service(
            "stale",
            "Stale Walking Club",
            "VCS002",
            "walking",
            "S1 3CD",
            Some(("capacity", Some(4), PAST)),
        ),
    ];
    import_directory(gw, entries).await
}

fn ids(bundle: &Value) -> Vec<String> {
    let mut out: Vec<String> = bundle["entry"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|e| {
                    e["resource"]["name"]
                        .as_str()
                        .unwrap_or_default()
                        .to_owned()
                })
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

#[tokio::test]
async fn any_party_searches_the_directory_by_category_area_name_organisation_and_capacity() {
    let gw = TestGateway::spawn().await;
    let keys = directory(&gw).await;
    // riverside-gp holds no HealthcareService scope: the directory needs none.
    let (status, _, found) = gw
        .get_as("riverside-gp", &format!("HealthcareService?service-category={TAXONOMY}|walking&postcode=S1%207XY&capacity=capacity"))
        .await;
    assert_eq!(status, StatusCode::OK, "{found}");
    assert_eq!(
        ids(&found),
        ["Mill Lane Walking Group", "Riverside Walking Two"],
        "the full, the stale and the other area's are left out"
    );
    let (_, _, by_name) = gw
        .get_as(
            "mill-lane-app",
            "HealthcareService?name=WALKING&organization=VCS002",
        )
        .await;
    assert_eq!(ids(&by_name), ["Stale Walking Club"]);
    let (_, _, unknown) = gw
        .get_as("riverside-lw", "HealthcareService?capacity=unknown")
        .await;
    assert_eq!(
        ids(&unknown),
        ["Stale Walking Club"],
        "an expired declaration is unknown"
    );
    let (_, _, full) = gw
        .get_as(
            "riverside-lw",
            "HealthcareService?capacity=no-capacity&active=true",
        )
        .await;
    assert_eq!(ids(&full), ["Money and Debt Advice"]);

    // Read shows the capacity as it holds now: stale is unknown, never capacity.
    let (status, headers, stale) = gw
        .get_as(
            "riverside-gp",
            &format!("HealthcareService/{}", keys["stale"]),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(headers.contains_key("etag"));
    assert_eq!(
        stale["extension"][0]["extension"][0]["valueCodeableConcept"]["coding"][0]["code"],
        "unknown"
    );

    // Paging: next links until every match is seen.
    let (_, _, page) = gw
        .get_as("riverside-gp", "HealthcareService?postcode=S1&_count=2")
        .await;
    assert_eq!(page["total"], 4);
    assert_eq!(page["entry"].as_array().map(Vec::len), Some(2));
    let next = page["link"]
        .as_array()
        .and_then(|l| l.iter().find(|l| l["relation"] == "next"))
        .expect("next link")["url"]
        .as_str()
        .expect("url")
        .to_owned();
    let (_, _, second) = gw.get_as("riverside-gp", &next).await;
    assert_eq!(second["entry"].as_array().map(Vec::len), Some(2));

    for bad in [
        "capacity=lots",
        "capacity=unknown,capacity",
        "postcode=12345",
        "name=two%20words",
    ] {
        let (status, _, outcome) = gw
            .get_as("riverside-gp", &format!("HealthcareService?{bad}"))
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {outcome}");
    }

    let (_, _, metadata) = answer(
        gw.http
            .get(format!("{}/metadata", gw.fhir))
            .send()
            .await
            .expect("metadata"),
    )
    .await;
    let hs = metadata["rest"][0]["resource"]
        .as_array()
        .expect("resources")
        .iter()
        .find(|r| r["type"] == "HealthcareService")
        .expect("HealthcareService declared")
        .clone();
    for param in [
        "name",
        "service-category",
        "service-type",
        "organization",
        "active",
        "postcode",
        "capacity",
    ] {
        assert!(
            hs["searchParam"]
                .as_array()
                .expect("params")
                .iter()
                .any(|p| p["name"] == param),
            "{param}"
        );
    }
}

async fn put_service(
    gw: &TestGateway,
    client: &str,
    body: &Value,
    version: &str,
) -> (StatusCode, Value) {
    let id = body["id"].as_str().expect("id");
    let (status, _, answer) = answer(
        gw.http
            .put(format!("{}/HealthcareService/{id}", gw.fhir))
            .bearer_auth(gw.token(client).await)
            .header("content-type", FHIR_JSON)
            .header("if-match", format!("W/\"{version}\""))
            .body(body.to_string())
            .send()
            .await
            .expect("put"),
    )
    .await;
    (status, answer)
}

#[tokio::test]
async fn a_provider_declares_its_own_services_capacity_and_nothing_else() {
    let gw = TestGateway::spawn().await;
    let keys = directory(&gw).await;
    let (_, _, walk) = gw
        .get_as(
            "walking-directory",
            &format!("HealthcareService/{}", keys["walk"]),
        )
        .await;
    let version = walk["meta"]["versionId"]
        .as_str()
        .expect("version")
        .to_owned();
    let mut declared = walk.clone();
    declared["extension"] = json!([
        {"url": GRAVITY_CAPACITY_URL, "extension": [{"url": "capacityStatus", "valueCodeableConcept": {"coding": [{"system": GRAVITY_CAPACITY_SYSTEM, "code": "waitlist"}]}}, {"url": "capacityNotes", "valueString": "Back in March"}]}
    ]);
    // Another organisation's client may not, even with the scope's letters: it is not the provider.
    let (status, outcome) = put_service(
        &gw,
        "walking-directory",
        &{
            let mut d = declared.clone();
            d["id"] = json!(keys["debt"]);
            d
        },
        "1",
    )
    .await;
    assert_eq!(
        (status, issue(&outcome)),
        (
            StatusCode::FORBIDDEN,
            ("forbidden", "HealthcareService.providedBy")
        )
    );
    // A client without system/HealthcareService.u may not.
    let (status, _) = put_service(&gw, "mill-lane-app", &declared, &version).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // The rest of the entry is the feed's.
    let (status, outcome) = put_service(
        &gw,
        "walking-directory",
        &{
            let mut d = declared.clone();
            d["name"] = json!("Renamed");
            d
        },
        &version,
    )
    .await;
    assert_eq!(
        (status, issue(&outcome)),
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            ("business-rule", "HealthcareService.name")
        )
    );
    // A bad code is named where it was sent.
    let (status, outcome) = put_service(
        &gw,
        "walking-directory",
        &{
            let mut d = declared.clone();
            d["extension"][0]["extension"][0]["valueCodeableConcept"]["coding"][0]["code"] =
                json!("plenty");
            d
        },
        &version,
    )
    .await;
    assert_eq!(
        (status, issue(&outcome).1),
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            "HealthcareService.extension[0].extension[0].valueCodeableConcept"
        )
    );

    let (status, stored) = put_service(&gw, "walking-directory", &declared, &version).await;
    assert_eq!(status, StatusCode::OK, "{stored}");
    let (_, _, waitlisted) = gw
        .get_as("riverside-lw", "HealthcareService?capacity=waitlist")
        .await;
    assert_eq!(ids(&waitlisted), ["Mill Lane Walking Group"]);
    let counts = stored["extension"]
        .as_array()
        .expect("ext")
        .iter()
        .find(|e| e["url"] == SIGNPOST_CAPACITY_URL)
        .expect("counts")
        .clone();
    let part = |name: &str| {
        counts["extension"]
            .as_array()
            .expect("parts")
            .iter()
            .find(|p| p["url"] == name)
            .cloned()
    };
    assert_eq!(part("source").expect("source")["valueCode"], "provider");
    assert!(
        part("expires").is_some(),
        "a declaration without expiry gets the default one"
    );
    // The old version is stale now.
    let (status, _) = put_service(&gw, "walking-directory", &declared, &version).await;
    assert_eq!(status, StatusCode::PRECONDITION_FAILED);
}

/// An accepted link-worker Task and a function making onward referrals from it.
async fn accepted_referral(gw: &TestGateway) -> String {
    let (sr, task) = gw.referral_with_task().await;
    gw.move_task("riverside-lw", &task, "accepted").await;
    sr["id"].as_str().expect("id").to_owned()
}

fn onward(sr_id: &str, service_id: &str, waitlist: bool) -> String {
    let mut body = referral();
    body["requester"] = json!({"identifier": {"system": ODS, "value": "LWS001"}});
    body["performer"] = json!([{"reference": format!("HealthcareService/{service_id}")}]);
    body["basedOn"] = json!([{"reference": format!("ServiceRequest/{sr_id}")}]);
    body["intent"] = json!("filler-order");
    if waitlist {
        body["extension"] = json!([{"url": "https://signpost.example/fhir/StructureDefinition/accept-waitlist", "valueBoolean": true}]);
    }
    body.to_string()
}

#[tokio::test]
async fn an_onward_referral_to_a_service_goes_to_its_provider_and_a_full_one_is_refused_with_alternatives()
 {
    let gw = TestGateway::spawn().await;
    let keys = directory(&gw).await;
    let sr_id = accepted_referral(&gw).await;

    let (status, _, created) = gw
        .post_as(
            "riverside-lw",
            "ServiceRequest",
            onward(&sr_id, &keys["walk"], false),
            &[],
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let (_, _, tasks) = gw
        .get_as("mill-lane-app", "Task?owner=VCS001&status=requested")
        .await;
    assert_eq!(tasks["total"], 1, "the provider organisation owns the Task");
    let note = tasks["entry"][0]["resource"]["note"][0]["text"]
        .as_str()
        .expect("decision note");
    assert!(note.contains("1 place(s) free"), "{note}");

    // That was the last place: the service is now full and the next referral is refused.
    let (status, _, outcome) = gw
        .post_as(
            "riverside-lw",
            "ServiceRequest",
            onward(&sr_id, &keys["walk"], false),
            &[],
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{outcome}");
    assert_eq!(
        issue(&outcome),
        ("business-rule", "ServiceRequest.performer[0].reference")
    );
    let alternatives: Vec<&str> = outcome["issue"].as_array().expect("issues")[1..]
        .iter()
        .map(|i| i["diagnostics"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(alternatives.len(), 1, "{alternatives:?}");
    assert!(
        alternatives[0].contains(&keys["walk2"]) && alternatives[0].contains("3 place(s)"),
        "same category and area, with room: {alternatives:?}"
    );

    // A waiting list only when the link worker accepts one.
    let (_, _, debt) = gw
        .get_as(
            "riverside-lw",
            &format!("HealthcareService/{}", keys["debt"]),
        )
        .await;
    assert_eq!(debt["name"], "Money and Debt Advice");
    let (status, _, _) = gw
        .post_as(
            "riverside-lw",
            "ServiceRequest",
            onward(&sr_id, &keys["debt"], true),
            &[],
        )
        .await;
    assert_eq!(
        status,
        StatusCode::CONFLICT,
        "no-capacity is not a waiting list"
    );

    // Refused referrals leave nothing behind but the decision records.
    let (srs, tasks, _) = gw.stored().await;
    assert_eq!((srs, tasks), (2, 2));
    let (_, _, decisions) = gw
        .get_as("operator", "AuditEvent?subtype=routing-decision&_count=50")
        .await;
    assert_eq!(decisions["total"], 3, "{decisions}");
    let refused = decisions["entry"]
        .as_array()
        .expect("entries")
        .iter()
        .filter(|e| e["resource"]["outcome"] == "4")
        .count();
    assert_eq!(refused, 2);
}

#[tokio::test]
async fn two_link_workers_racing_for_the_last_place_one_wins() {
    let gw = TestGateway::spawn().await;
    let keys = directory(&gw).await;
    let sr_id = accepted_referral(&gw).await;
    let body = onward(&sr_id, &keys["walk"], false);
    let race = || gw.post_as("riverside-lw", "ServiceRequest", body.clone(), &[]);
    let (a, b, c, d, e, f) = tokio::join!(race(), race(), race(), race(), race(), race());
    let answers = [a, b, c, d, e, f];
    let won = answers
        .iter()
        .filter(|(s, _, _)| *s == StatusCode::CREATED)
        .count();
    let refused = answers
        .iter()
        .filter(|(s, _, _)| *s == StatusCode::CONFLICT)
        .count();
    assert_eq!(
        (won, refused),
        (1, 5),
        "{:?}",
        answers.iter().map(|a| a.0).collect::<Vec<_>>()
    );
    let (_, _, walk) = gw
        .get_as(
            "riverside-lw",
            &format!("HealthcareService/{}", keys["walk"]),
        )
        .await;
    assert_eq!(
        walk["extension"][0]["extension"][0]["valueCodeableConcept"]["coding"][0]["code"],
        "no-capacity"
    );
}

/// Rounds of the race between replicas: each round another service's last place.
const RACE_ROUNDS: usize = 20;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn link_workers_on_two_postgres_replicas_racing_for_the_last_place_one_wins_every_round() {
    let database = TempPostgres::create().await;
    let a = TestGateway::spawn_setup(Setup {
        store: Some(database.url.clone()),
        ..Setup::default()
    })
    .await;
    let b = a.replica().await;
    let entries = (0..RACE_ROUNDS)
        .map(|round| {
            directory_service(
                &format!("last-{round}"),
                &format!("Last Place Walk {round}"),
                "VCS001",
                "walking",
                "S1 2AB",
                Some(("capacity", Some(1), FUTURE)),
            )
        })
        .collect();
    let keys = import_directory(&a, entries).await;
    let sr_id = accepted_referral(&a).await;
    // Tokens first, so that each round's two requests leave together.
    for gw in [&a, &b] {
        gw.token("riverside-lw").await;
    }

    let mut winners = HashMap::new();
    for round in 0..RACE_ROUNDS {
        let service_id = &keys[&format!("last-{round}")];
        let body = onward(&sr_id, service_id, false);
        let (on_a, on_b) = tokio::join!(
            a.post_as("riverside-lw", "ServiceRequest", body.clone(), &[]),
            b.post_as("riverside-lw", "ServiceRequest", body.clone(), &[]),
        );
        let (won, refused) = match (on_a.0, on_b.0) {
            (StatusCode::CREATED, StatusCode::CONFLICT) => (&on_a.2, &on_b.2),
            (StatusCode::CONFLICT, StatusCode::CREATED) => (&on_b.2, &on_a.2),
            other => panic!("round {round}: {other:?}\n{}\n{}", on_a.2, on_b.2),
        };
        assert_eq!(
            issue(refused),
            ("business-rule", "ServiceRequest.performer[0].reference"),
            "round {round}"
        );
        let referral = won["id"].as_str().expect("created referral").to_owned();
        winners.insert(format!("HealthcareService/{service_id}"), referral);
    }

    // Either replica sees the same: one Task per service, every service full.
    let (_, _, tasks) = b
        .get_as("mill-lane-app", "Task?owner=VCS001&_count=0")
        .await;
    assert_eq!(
        tasks["total"], RACE_ROUNDS,
        "one onward Task per last place"
    );
    for service_id in keys.values() {
        let (_, _, stored) = b
            .get_as("riverside-lw", &format!("HealthcareService/{service_id}"))
            .await;
        assert_eq!(
            counted(&stored),
            ("no-capacity".into(), Some(0)),
            "{stored}"
        );
    }

    // Per service, one decision placed the winner's referral and one refused the other as full.
    let (_, _, decisions) = a
        .get_as(
            "operator",
            &format!(
                "AuditEvent?subtype=routing-decision&_count={}",
                2 * RACE_ROUNDS + 1
            ),
        )
        .await;
    assert_eq!(decisions["total"], 2 * RACE_ROUNDS, "{decisions}");
    let mut per_service: HashMap<String, Vec<(String, Option<String>, String)>> = HashMap::new();
    for entry in decisions["entry"].as_array().expect("entries") {
        let record = &entry["resource"];
        let service = record["entity"][0]["what"]["reference"]
            .as_str()
            .expect("service")
            .to_owned();
        let capacity = record["entity"][0]["detail"]
            .as_array()
            .and_then(|d| d.iter().find(|d| d["type"] == "capacity"))
            .and_then(|d| d["valueString"].as_str())
            .expect("capacity detail")
            .to_owned();
        let referral = record["entity"][1]["what"]["reference"]
            .as_str()
            .map(|r| r.trim_start_matches("ServiceRequest/").to_owned());
        per_service.entry(service).or_default().push((
            record["outcome"].as_str().expect("outcome").to_owned(),
            referral,
            capacity,
        ));
    }
    assert_eq!(per_service.len(), RACE_ROUNDS);
    for (service, mut records) in per_service {
        records.sort();
        assert_eq!(
            records,
            [
                (
                    "0".to_owned(),
                    Some(winners[&service].clone()),
                    "capacity".to_owned()
                ),
                ("4".to_owned(), None, "no-capacity".to_owned()),
            ],
            "{service}"
        );
    }
}

#[tokio::test]
async fn unmet_demand_counts_refusals_and_searches_without_room_and_suppresses_small_counts() {
    // Counts under 5 suppressed, the rest rounded to 5: five refusals show as 5.
    let gw = TestGateway::spawn_with("[reports]\npolicy = \"nhs-digital-mental-health\"\n").await;
    let keys = directory(&gw).await;
    let sr_id = accepted_referral(&gw).await;
    for expected in [StatusCode::CREATED]
        .into_iter()
        .chain([StatusCode::CONFLICT; 5])
    {
        let (status, _, body) = gw
            .post_as(
                "riverside-lw",
                "ServiceRequest",
                onward(&sr_id, &keys["walk"], false),
                &[],
            )
            .await;
        assert_eq!(status, expected, "{body}");
    }
    let (_, _, none) = gw
        .get_as(
            "riverside-lw",
            "HealthcareService?capacity=capacity&postcode=S9",
        )
        .await;
    assert_eq!(none["total"], 0);
    // A link worker is no operator.
    let (status, _, _) = gw
        .get_as("riverside-lw", &format!("{}/admin/unmet-demand", gw.base))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _, report) = gw
        .get_as("operator", &format!("{}/admin/unmet-demand", gw.base))
        .await;
    assert_eq!(status, StatusCode::OK, "{report}");
    let rows = report["rows"].as_array().expect("rows");
    let refused = rows.iter().find(|r| r["district"] == "S1").expect("S1 row");
    assert_eq!(refused["category"], format!("{TAXONOMY}|walking"));
    assert_eq!(refused["refused_for_capacity"], 5);
    assert_eq!(report["policy"], "nhs-digital-mental-health");
    assert!(refused["week"].as_str().is_some_and(|w| w.contains("-W")));
    let searched = rows.iter().find(|r| r["district"] == "S9").expect("S9 row");
    assert_eq!(
        (
            searched["searches_without_room"].clone(),
            searched["suppressed"].clone()
        ),
        (Value::Null, json!(true)),
        "one search is below the threshold of 5"
    );
}

fn counted(service: &Value) -> (String, Option<u64>) {
    let status =
        service["extension"][0]["extension"][0]["valueCodeableConcept"]["coding"][0]["code"]
            .as_str()
            .expect("status")
            .to_owned();
    let available = service["extension"][1]["extension"]
        .as_array()
        .and_then(|parts| parts.iter().find(|p| p["url"] == "available"))
        .and_then(|p| p["valueUnsignedInt"].as_u64());
    (status, available)
}

#[tokio::test]
async fn a_place_comes_back_when_the_task_ends_and_an_at_capacity_decline_marks_the_service_full() {
    let gw = TestGateway::spawn().await;
    let keys = directory(&gw).await;
    let sr_id = accepted_referral(&gw).await;
    let walk2 = format!("HealthcareService/{}", keys["walk2"]);
    let (status, _, _) = gw
        .post_as(
            "riverside-lw",
            "ServiceRequest",
            onward(&sr_id, &keys["walk2"], false),
            &[],
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let (_, _, service) = gw.get_as("riverside-lw", &walk2).await;
    assert_eq!(counted(&service), ("capacity".into(), Some(2)));

    // The provider declines for another reason: the place is given back.
    let (_, _, mine) = gw
        .get_as("mill-lane-app", "Task?owner=VCS001&status=requested")
        .await;
    let task = mine["entry"][0]["resource"].clone();
    gw.move_task("mill-lane-app", &task, "rejected").await;
    let (_, _, service) = gw.get_as("riverside-lw", &walk2).await;
    assert_eq!(counted(&service), ("capacity".into(), Some(3)));

    // Declined "at capacity" (Signpost's reason code): Signpost learns the service is full.
    let (status, _, _) = gw
        .post_as(
            "riverside-lw",
            "ServiceRequest",
            onward(&sr_id, &keys["walk2"], false),
            &[],
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let (_, _, mine) = gw
        .get_as("mill-lane-app", "Task?owner=VCS001&status=requested")
        .await;
    let mut task = mine["entry"][0]["resource"].clone();
    task["statusReason"] = json!({"coding": [{"system": "https://signpost.example/fhir/CodeSystem/decline-reason", "code": "at-capacity"}], "text": "We are full"});
    gw.move_task("mill-lane-app", &task, "rejected").await;
    let (_, _, service) = gw.get_as("riverside-lw", &walk2).await;
    assert_eq!(counted(&service), ("no-capacity".into(), Some(0)));
    let (status, _, _) = gw
        .post_as(
            "riverside-lw",
            "ServiceRequest",
            onward(&sr_id, &keys["walk2"], false),
            &[],
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
}

/// Two services declared in the config: one with room, one full.
const DECLARED: &str = r#"
[[directory.service]]
id = "chat-cafe"
name = "Riverside Chat Cafe"
provider = "VCS001"
category = ["https://openreferraluk.org/taxonomy/test|walking"]
postcode = "S1 5XY"
capacity = "capacity"
available = 2
maximum = 8

[[directory.service]]
id = "full-walk"
name = "Full Walking Club"
provider = "VCS002"
category = ["https://openreferraluk.org/taxonomy/test|walking"]
coverage = ["S1"]
capacity = "no-capacity"
available = 0
maximum = 4
"#;

#[tokio::test]
async fn services_declared_in_the_config_are_in_the_directory_at_start_and_route_like_any_other() {
    let gw = TestGateway::spawn_with(DECLARED).await;
    let (status, _, found) = gw
        .get_as(
            "riverside-lw",
            "HealthcareService?service-category=https://openreferraluk.org/taxonomy/test|walking&postcode=S1&capacity=capacity",
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{found}");
    assert_eq!(found["total"], 1, "{found}");
    let cafe = &found["entry"][0]["resource"];
    assert_eq!(cafe["name"], "Riverside Chat Cafe");
    let counts = cafe["extension"]
        .as_array()
        .expect("extensions")
        .iter()
        .find(|e| e["url"] == SIGNPOST_CAPACITY_URL)
        .expect("counts");
    let source = counts["extension"]
        .as_array()
        .expect("sub-extensions")
        .iter()
        .find(|e| e["url"] == "source")
        .expect("source");
    assert_eq!(source["valueCode"], "operator");

    let (_, _, full) = gw
        .get_as(
            "riverside-lw",
            "HealthcareService?identifier=https://signpost.example/fhir/NamingSystem/operator-service|full-walk",
        )
        .await;
    let full_id = full["entry"][0]["resource"]["id"]
        .as_str()
        .expect("declared full service")
        .to_owned();
    let sr_id = accepted_referral(&gw).await;
    let (status, _, outcome) = gw
        .post_as(
            "riverside-lw",
            "ServiceRequest",
            onward(&sr_id, &full_id, false),
            &[],
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{outcome}");
    let alternatives: Vec<&str> = outcome["issue"].as_array().expect("issues")[1..]
        .iter()
        .map(|i| i["diagnostics"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(alternatives.len(), 1, "{alternatives:?}");
    assert!(
        alternatives[0].contains("Riverside Chat Cafe") && alternatives[0].contains("2 place(s)"),
        "{alternatives:?}"
    );

    // A restart loads the same config again: nothing is duplicated.
    let again = gw.restart().await;
    let (_, _, all) = again.get_as("riverside-gp", "HealthcareService").await;
    assert_eq!(all["total"], 2, "{all}");
}

async fn imported_id(gw: &TestGateway, key: &str) -> String {
    let (_, _, found) = gw
        .get_as(
            "riverside-lw",
            &format!("HealthcareService?identifier=https://feed.test/services|{key}"),
        )
        .await;
    found["entry"][0]["resource"]["id"]
        .as_str()
        .expect("imported")
        .to_owned()
}

/// A group with no ODS code, registered as a charity; the gateway's tenant key for it is the
/// code the operator gave it.
const CHARITY_ORG: &str = r#"
[[organisation]]
ods = "VCS003"
name = "Northside Befriending (charity 1123456)"
role = "vcs"
charity = "GB-CHC-1123456"
"#;

#[tokio::test]
async fn a_service_whose_provider_is_named_by_charity_number_routes_its_task_to_that_provider() {
    let gw = TestGateway::spawn_with(CHARITY_ORG).await;
    // As an ORUK import maps an organisation identified only by its charity number.
    let mut befriending = directory_service(
        "befriend",
        "Northside Befriending",
        "unused",
        "walking",
        "S1 7AA",
        Some(("capacity", Some(2), FUTURE)),
    );
    befriending["providedBy"] =
        json!({"identifier": {"system": "https://org-id.guide/list/GB-CHC", "value": "1123456"}});
    let mut unregistered = befriending.clone();
    unregistered["identifier"][0]["value"] = json!("other");
    unregistered["providedBy"]["identifier"]["value"] = json!("9999999");
    import_services(
        gw.store.as_ref(),
        &[befriending, unregistered],
        Some("https://feed.test/services"),
    )
    .await
    .expect("import");
    let (befriend_id, other_id) = (
        imported_id(&gw, "befriend").await,
        imported_id(&gw, "other").await,
    );
    let sr_id = accepted_referral(&gw).await;

    let (status, _, created) = gw
        .post_as(
            "riverside-lw",
            "ServiceRequest",
            onward(&sr_id, &befriend_id, false),
            &[],
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let owned = gw
        .store
        .search(&SearchQuery {
            resource_type: "Task".into(),
            criteria: vec![Criterion::Index {
                param: "owner",
                any_of: vec![(None, "Organization/VCS003".into())],
            }],
            count: 10,
            offset: 0,
            sort: SortOrder::default(),
        })
        .await
        .expect("search");
    assert_eq!(owned.total, 1, "the charity's organisation owns the Task");

    // A charity number no configured organisation holds is refused like an unknown provider.
    let (status, _, outcome) = gw
        .post_as(
            "riverside-lw",
            "ServiceRequest",
            onward(&sr_id, &other_id, false),
            &[],
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{outcome}");
    assert_eq!(
        issue(&outcome),
        ("business-rule", "ServiceRequest.performer[0].reference")
    );
}
