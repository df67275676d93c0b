//! The FHIR API over real HTTP, with the real router and a real SQLite file.

use crate::support;

use std::sync::Arc;

use reqwest::StatusCode;
use serde_json::{Value, json};
use signpost_gateway::store::OutboxCounts;
use support::{FHIR_JSON, REFERRAL, TestGateway, issue, referral};

async fn spawn_gateway() -> TestGateway {
    TestGateway::spawn().await
}

#[tokio::test]
async fn a_referral_is_stored_with_its_task_and_delivery_in_one_go() {
    let gw = spawn_gateway().await;
    let (status, headers, sr) = gw.post_referral(REFERRAL).await;
    assert_eq!(status, StatusCode::CREATED, "{sr}");
    let id = sr["id"].as_str().expect("id");
    assert_eq!(headers["etag"], "W/\"1\"");
    assert_eq!(
        headers["location"].to_str().expect("ascii"),
        format!("http://gateway.test/fhir/ServiceRequest/{id}/_history/1")
    );
    assert!(headers.contains_key("last-modified"));
    assert_eq!(sr["meta"]["versionId"], "1");
    assert_eq!(sr["identifier"][0]["value"], "RS-2026-000184");

    let (status, _, bundle) = gw
        .get_as("riverside-gp", &format!("Task?focus=ServiceRequest/{id}"))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(bundle["total"], 1);
    let task = &bundle["entry"][0]["resource"];
    assert_eq!(task["status"], "requested");
    assert_eq!(task["intent"], "order");
    assert_eq!(task["focus"]["reference"], format!("ServiceRequest/{id}"));
    assert_eq!(task["for"]["identifier"]["value"], "9434765919");
    assert_eq!(task["requester"]["identifier"]["value"], "A81001");
    assert_eq!(task["owner"]["identifier"]["value"], "LWS001");

    let (srs, tasks, outbox) = gw.stored().await;
    assert_eq!(
        (srs, tasks, outbox.pending + outbox.delivered + outbox.dead),
        (1, 1, 1)
    );
}

#[tokio::test]
async fn a_named_link_worker_performer_owns_the_task_and_an_unpushed_owner_gets_no_delivery() {
    let gw = spawn_gateway().await;
    let mut sr = referral();
    sr["performer"] = json!([{"identifier": {"system": "https://fhir.nhs.uk/Id/ods-organization-code", "value": "LWS002"}}]);
    let (status, _, created) = gw.post_referral(sr.to_string()).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let (_, _, bundle) = gw
        .get_as("riverside-gp", "Task?owner=LWS002&status=requested")
        .await;
    assert_eq!(bundle["total"], 1);
    let (_, _, none) = gw.get_as("riverside-gp", "Task?owner=LWS001").await;
    assert_eq!(none["total"], 0);
    // LWS002 has no adapter: it polls, so nothing is queued for delivery.
    assert_eq!(
        gw.store.outbox_counts().await.expect("counts"),
        OutboxCounts::default()
    );
}

#[tokio::test]
async fn if_none_exist_returns_the_existing_referral_instead_of_a_second() {
    let gw = spawn_gateway().await;
    let condition = [(
        "if-none-exist",
        "identifier=https://fhir.riverside-surgery.example/referral|RS-2026-000184",
    )];
    let (first, _, created) = gw
        .post_as("riverside-gp", "ServiceRequest", REFERRAL, &condition)
        .await;
    let (second, headers, existing) = gw
        .post_as("riverside-gp", "ServiceRequest", REFERRAL, &condition)
        .await;
    assert_eq!(first, StatusCode::CREATED);
    assert_eq!(second, StatusCode::OK);
    assert_eq!(existing["id"], created["id"]);
    assert_eq!(headers["etag"], "W/\"1\"");
    let (srs, tasks, outbox) = gw.stored().await;
    assert_eq!((srs, tasks, outbox.pending), (1, 1, 1));
}

#[tokio::test]
async fn racing_conditional_creates_make_one_referral() {
    let gw = Arc::new(spawn_gateway().await);
    let condition = [(
        "if-none-exist",
        "identifier=https://fhir.riverside-surgery.example/referral|RS-2026-000184",
    )];
    let posts = (0..12).map(|_| {
        let gw = gw.clone();
        tokio::spawn(async move {
            gw.post_as("riverside-gp", "ServiceRequest", REFERRAL, &condition)
                .await
                .0
        })
    });
    let mut statuses = Vec::new();
    for p in posts {
        statuses.push(p.await.expect("join"));
    }
    assert_eq!(
        statuses
            .iter()
            .filter(|s| **s == StatusCode::CREATED)
            .count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == StatusCode::OK).count(),
        11,
        "{statuses:?}"
    );
    assert_eq!(gw.stored().await.0, 1);
}

/// Posts a bad body and checks the status, the issue code and expression, and that nothing was stored.
async fn refused(
    gw: &TestGateway,
    body: impl Into<reqwest::Body>,
    status: StatusCode,
    code: &str,
    expression: &str,
) {
    let (got, headers, outcome) = gw.post_referral(body).await;
    assert_eq!(got, status, "{outcome}");
    assert!(
        headers["content-type"]
            .to_str()
            .expect("ascii")
            .starts_with(FHIR_JSON)
    );
    assert_eq!(issue(&outcome), (code, expression), "{outcome}");
    let (srs, tasks, outbox) = gw.stored().await;
    assert_eq!(
        (srs, tasks, outbox),
        (0, 0, OutboxCounts::default()),
        "a refused referral left something behind"
    );
}

#[tokio::test]
async fn malformed_json_is_400_structure() {
    let gw = spawn_gateway().await;
    refused(
        &gw,
        "{\"resourceType\": \"ServiceRequest\",",
        StatusCode::BAD_REQUEST,
        "structure",
        "",
    )
    .await;
}

#[tokio::test]
async fn a_wrong_or_unknown_resource_type_is_400() {
    let gw = spawn_gateway().await;
    let task = REFERRAL.replacen("\"ServiceRequest\"", "\"Task\"", 1);
    refused(
        &gw,
        task,
        StatusCode::BAD_REQUEST,
        "invalid",
        "resourceType",
    )
    .await;
    refused(
        &gw,
        "{\"resourceType\":\"Referral\"}",
        StatusCode::BAD_REQUEST,
        "invalid",
        "resourceType",
    )
    .await;
    refused(
        &gw,
        "[1,2]",
        StatusCode::BAD_REQUEST,
        "structure",
        "resourceType",
    )
    .await;
}

#[tokio::test]
async fn an_unknown_element_is_400_naming_it() {
    let gw = spawn_gateway().await;
    let mut sr = referral();
    sr["note"][0]["txt"] = json!("misspelt");
    refused(
        &gw,
        sr.to_string(),
        StatusCode::BAD_REQUEST,
        "structure",
        "ServiceRequest.note[0].txt",
    )
    .await;
}

#[tokio::test]
async fn a_repeated_member_name_is_400_naming_it() {
    let gw = spawn_gateway().await;
    let twice = REFERRAL.replacen(
        "\"subject\": {",
        "\"subject\": {\"identifier\": {\"value\": \"1\"},",
        1,
    );
    assert_ne!(twice, REFERRAL, "the example has a subject to repeat into");
    refused(
        &gw,
        twice,
        StatusCode::BAD_REQUEST,
        "structure",
        "ServiceRequest.subject.identifier",
    )
    .await;
}

#[tokio::test]
async fn a_malformed_primitive_is_400_naming_it_as_sent() {
    let gw = spawn_gateway().await;
    let mut sr = referral();
    sr["authoredOn"] = json!("yesterday");
    refused(
        &gw,
        sr.to_string(),
        StatusCode::BAD_REQUEST,
        "value",
        "ServiceRequest.authoredOn",
    )
    .await;
    let mut sr = referral();
    sr["contained"][0]["birthDate"] = json!("14/03/1948");
    refused(
        &gw,
        sr.to_string(),
        StatusCode::BAD_REQUEST,
        "value",
        "ServiceRequest.contained[0].birthDate",
    )
    .await;
}

#[tokio::test]
async fn an_nhs_number_written_with_spaces_is_refused_not_stored() {
    let gw = spawn_gateway().await;
    let spaced = REFERRAL.replace("9434765919", "943 476 5919");
    refused(
        &gw,
        spaced,
        StatusCode::UNPROCESSABLE_ENTITY,
        "value",
        "ServiceRequest.subject.identifier.value",
    )
    .await;
}

#[tokio::test]
async fn a_bad_nhs_number_is_422_naming_the_value() {
    let gw = spawn_gateway().await;
    let bad = REFERRAL.replace("9434765919", "9434765918");
    refused(
        &gw,
        bad,
        StatusCode::UNPROCESSABLE_ENTITY,
        "value",
        "ServiceRequest.subject.identifier.value",
    )
    .await;
}

#[tokio::test]
async fn every_profile_violation_is_reported_in_one_422() {
    let gw = spawn_gateway().await;
    let mut sr = referral();
    sr["priority"] = json!("whenever");
    sr["subject"]["identifier"]["value"] = json!("9434765918");
    sr["requester"]["reference"] = json!("Practitioner/dr-shah");
    sr["contained"][0]["gender"] = json!("F");
    sr["code"]["coding"][0]["code"] = json!("183524004");
    let (status, _, outcome) = gw.post_referral(sr.to_string()).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{outcome}");
    let issues: Vec<(&str, &str, &str)> = outcome["issue"]
        .as_array()
        .expect("issues")
        .iter()
        .map(|i| {
            (
                i["severity"].as_str().unwrap_or_default(),
                i["code"].as_str().unwrap_or_default(),
                i["expression"][0].as_str().unwrap_or_default(),
            )
        })
        .collect();
    for want in [
        ("error", "code-invalid", "ServiceRequest.priority"),
        ("error", "value", "ServiceRequest.subject.identifier.value"),
        ("error", "invalid", "ServiceRequest.requester.reference"),
        (
            "error",
            "code-invalid",
            "ServiceRequest.contained[0].gender",
        ),
        ("warning", "code-invalid", "ServiceRequest.code"),
    ] {
        assert!(issues.contains(&want), "{want:?} missing from {issues:?}");
    }
    let (srs, tasks, outbox) = gw.stored().await;
    assert_eq!((srs, tasks, outbox), (0, 0, OutboxCounts::default()));
}

#[tokio::test]
async fn an_empty_list_is_400_naming_it_and_the_gateway_keeps_serving() {
    let gw = spawn_gateway().await;
    let mut sr = referral();
    sr["identifier"] = json!([]);
    refused(
        &gw,
        sr.to_string(),
        StatusCode::BAD_REQUEST,
        "structure",
        "ServiceRequest.identifier",
    )
    .await;
    let (status, _, outcome) = gw.post_referral(REFERRAL).await;
    assert_eq!(status, StatusCode::CREATED, "{outcome}");
}

#[tokio::test]
async fn a_missing_requester_is_422_required() {
    let gw = spawn_gateway().await;
    let mut sr = referral();
    sr.as_object_mut().expect("object").remove("requester");
    refused(
        &gw,
        sr.to_string(),
        StatusCode::UNPROCESSABLE_ENTITY,
        "required",
        "ServiceRequest.requester",
    )
    .await;
}

#[tokio::test]
async fn a_practice_with_no_route_is_422_business_rule() {
    let gw = spawn_gateway().await;
    let other = REFERRAL.replace("\"A81001\"", "\"A81002\"");
    let (status, _, outcome) = gw
        .post_as("hillside-gp", "ServiceRequest", other, &[])
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{outcome}");
    assert_eq!(
        issue(&outcome),
        ("business-rule", "ServiceRequest.performer")
    );
    let (srs, tasks, outbox) = gw.stored().await;
    assert_eq!((srs, tasks, outbox), (0, 0, OutboxCounts::default()));
}

#[tokio::test]
async fn a_body_over_one_mebibyte_is_413() {
    let gw = spawn_gateway().await;
    let mut sr = referral();
    sr["note"][0]["text"] = json!("x".repeat(1024 * 1024 + 1));
    refused(
        &gw,
        sr.to_string(),
        StatusCode::PAYLOAD_TOO_LARGE,
        "too-long",
        "",
    )
    .await;
}

#[tokio::test]
async fn too_deep_nesting_is_400() {
    let gw = spawn_gateway().await;
    let deep = format!(
        "{{\"resourceType\":\"ServiceRequest\",\"note\":{}{}}}",
        "[".repeat(300),
        "]".repeat(300)
    );
    refused(&gw, deep, StatusCode::BAD_REQUEST, "structure", "").await;
}

#[tokio::test]
async fn a_body_that_is_not_json_is_415() {
    let gw = spawn_gateway().await;
    let response = gw
        .http
        .post(format!("{}/ServiceRequest", gw.fhir))
        .bearer_auth(gw.token("riverside-gp").await)
        .header("content-type", "application/xml")
        .body("<ServiceRequest/>")
        .send()
        .await
        .expect("post");
    assert_eq!(response.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let outcome: Value = response.json().await.expect("json");
    assert_eq!(issue(&outcome).0, "not-supported");
    assert_eq!(gw.stored().await.0, 0);
}

#[tokio::test]
async fn read_vread_and_history_serve_versions_with_etags() {
    let gw = spawn_gateway().await;
    let (_, _, sr) = gw.post_referral(REFERRAL).await;
    let id = sr["id"].as_str().expect("id");
    let (status, headers, read) = gw
        .get_as("riverside-gp", &format!("ServiceRequest/{id}"))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers["etag"], "W/\"1\"");
    assert_eq!(read, sr);
    let (status, _, v1) = gw
        .get_as("riverside-gp", &format!("ServiceRequest/{id}/_history/1"))
        .await;
    assert_eq!((status, &v1), (StatusCode::OK, &sr));
    let (status, _, history) = gw
        .get_as("riverside-gp", &format!("ServiceRequest/{id}/_history"))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(history["type"], "history");
    assert_eq!(history["entry"][0]["response"]["etag"], "W/\"1\"");
    let (status, _, missing) = gw
        .get_as("riverside-gp", &format!("ServiceRequest/{id}/_history/2"))
        .await;
    assert_eq!(
        (status, issue(&missing).0),
        (StatusCode::NOT_FOUND, "not-found")
    );
    let (status, _, missing) = gw.get_as("riverside-gp", "Task/does-not-exist").await;
    assert_eq!(
        (status, issue(&missing).0),
        (StatusCode::NOT_FOUND, "not-found")
    );
    let (status, _, unknown) = gw.get_as("riverside-gp", "Patient/1").await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{unknown}");
}

#[tokio::test]
async fn search_pages_with_total_and_next_links() {
    let gw = spawn_gateway().await;
    for n in 0..5 {
        let body = REFERRAL.replace("RS-2026-000184", &format!("RS-2026-00{n}"));
        assert_eq!(gw.post_referral(body).await.0, StatusCode::CREATED);
    }
    let (status, _, page1) = gw
        .get_as(
            "riverside-gp",
            "Task?owner=LWS001&status=requested&_count=2",
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(page1["type"], "searchset");
    assert_eq!(page1["total"], 5);
    assert_eq!(page1["entry"].as_array().map(Vec::len), Some(2));
    let mut seen: Vec<String> = Vec::new();
    let mut page = page1;
    loop {
        seen.extend(
            page["entry"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|e| e["resource"]["id"].as_str().unwrap_or_default().to_owned()),
        );
        let next = page["link"]
            .as_array()
            .and_then(|l| l.iter().find(|l| l["relation"] == "next"))
            .map(|l| l["url"].as_str().unwrap_or_default().to_owned());
        match next {
            Some(url) => {
                page = gw.get_as("riverside-gp", &url).await.2;
            }
            None => break,
        }
    }
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), 5, "paging must visit every Task once");

    let (_, _, by_identifier) = gw
        .get_as(
            "riverside-gp",
            "ServiceRequest?identifier=https://fhir.riverside-surgery.example/referral|RS-2026-003",
        )
        .await;
    assert_eq!(by_identifier["total"], 1);
    assert_eq!(
        by_identifier["entry"][0]["resource"]["identifier"][0]["value"],
        "RS-2026-003"
    );
    let (_, _, by_patient) = gw
        .get_as(
            "riverside-gp",
            "ServiceRequest?subject:identifier=https://fhir.nhs.uk/Id/nhs-number|9434765919",
        )
        .await;
    assert_eq!(by_patient["total"], 5);
    let (_, _, none) = gw.get_as("riverside-gp", "Task?status=completed").await;
    assert_eq!(none["total"], 0);
    let (status, _, refused) = gw.get_as("riverside-gp", "Task?colour=red").await;
    assert_eq!(
        (status, issue(&refused).0),
        (StatusCode::BAD_REQUEST, "invalid")
    );
}

#[tokio::test]
async fn metadata_lists_what_is_implemented() {
    let gw = spawn_gateway().await;
    let (status, _, cs) = gw.get_as("riverside-gp", "metadata").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(cs["resourceType"], "CapabilityStatement");
    assert_eq!(cs["fhirVersion"], "4.0.1");
    let resources = cs["rest"][0]["resource"].as_array().expect("resources");
    let sr = resources
        .iter()
        .find(|r| r["type"] == "ServiceRequest")
        .expect("ServiceRequest");
    let interactions: Vec<&str> = sr["interaction"]
        .as_array()
        .expect("interactions")
        .iter()
        .filter_map(|i| i["code"].as_str())
        .collect();
    assert!(
        interactions.contains(&"create") && interactions.contains(&"search-type"),
        "{interactions:?}"
    );
    let task = resources
        .iter()
        .find(|r| r["type"] == "Task")
        .expect("Task");
    let params: Vec<&str> = task["searchParam"]
        .as_array()
        .expect("params")
        .iter()
        .filter_map(|p| p["name"].as_str())
        .collect();
    for want in ["owner", "status", "focus", "part-of", "_lastUpdated"] {
        assert!(params.contains(&want), "{want} missing from {params:?}");
    }
    let task_interactions: Vec<&str> = task["interaction"]
        .as_array()
        .expect("interactions")
        .iter()
        .filter_map(|i| i["code"].as_str())
        .collect();
    assert!(
        !task_interactions.contains(&"create"),
        "Task create is not offered"
    );
    assert_eq!(
        sr["profile"],
        "https://signpost.example/fhir/StructureDefinition/SignpostServiceRequest"
    );
    assert_eq!(
        task["profile"],
        "https://signpost.example/fhir/StructureDefinition/SignpostTask"
    );
}

#[tokio::test]
async fn unsupported_methods_and_routes_answer_with_an_operation_outcome() {
    let gw = spawn_gateway().await;
    let response = gw
        .http
        .delete(format!("{}/Task/x", gw.fhir))
        .send()
        .await
        .expect("delete");
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
    let outcome: Value = response.json().await.expect("json");
    assert_eq!(issue(&outcome).0, "not-supported");
    let (status, _, outcome) = gw.post_as("riverside-gp", "Task", "{}", &[]).await;
    assert_eq!(
        (status, issue(&outcome).0),
        (StatusCode::METHOD_NOT_ALLOWED, "not-supported")
    );
}

#[tokio::test]
async fn the_root_lists_the_endpoints_and_a_wrong_address_names_the_fhir_base() {
    let gw = spawn_gateway().await;
    let http = reqwest::Client::new();
    let index: Value = http
        .get(format!("{}/", gw.base))
        .send()
        .await
        .expect("GET /")
        .json()
        .await
        .expect("json");
    assert_eq!(index["fhir_base"], "http://gateway.test/fhir");
    assert_eq!(index["token_endpoint"], "http://gateway.test/auth/token");

    // A client configured with the server's address instead of its FHIR base.
    for (path, hint) in [
        ("metadata", "http://gateway.test/fhir/metadata"),
        (
            "ServiceRequest?status=active",
            "http://gateway.test/fhir/ServiceRequest",
        ),
    ] {
        let response = http
            .get(format!("{}/{path}", gw.base))
            .send()
            .await
            .expect("get");
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{path}");
        let outcome: Value = response.json().await.expect("OperationOutcome");
        assert_eq!(outcome["resourceType"], "OperationOutcome");
        assert_eq!(issue(&outcome).0, "not-found");
        let diagnostics = outcome["issue"][0]["diagnostics"]
            .as_str()
            .unwrap_or_default();
        assert!(diagnostics.contains(hint), "{path}: {outcome}");
    }
}

#[tokio::test]
async fn a_referral_coded_other_than_social_prescribing_is_accepted_with_a_warning() {
    let gw = spawn_gateway().await;
    let mut sr = referral();
    sr["code"] = json!({"coding": [{"system": "http://snomed.info/sct", "code": "3457005", "display": "Patient referral"}]});

    let (status, headers, created) = gw.post_referral(sr.to_string()).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["resourceType"], "ServiceRequest");
    let warning = headers
        .get("warning")
        .and_then(|v| v.to_str().ok())
        .expect("a Warning header");
    assert!(
        warning.starts_with("299 signpost \"") && warning.contains("social-prescribing-referral"),
        "{warning}"
    );

    let mut again = sr.clone();
    again["identifier"][0]["value"] = json!("RS-2026-000185");
    let (status, headers, outcome) = gw
        .post_as(
            "riverside-gp",
            "ServiceRequest",
            again.to_string(),
            &[("prefer", "return=OperationOutcome")],
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{outcome}");
    assert_eq!(outcome["resourceType"], "OperationOutcome", "{outcome}");
    assert!(headers.contains_key("location"));
    let warnings: Vec<&Value> = outcome["issue"]
        .as_array()
        .expect("issues")
        .iter()
        .filter(|i| i["severity"] == "warning")
        .collect();
    assert_eq!(warnings.len(), 1, "{outcome}");
    assert_eq!(warnings[0]["expression"][0], "ServiceRequest.code");
    assert!(
        warnings[0]["diagnostics"]
            .as_str()
            .is_some_and(|d| d.contains("871731000000106")),
        "{outcome}"
    );

    // The social prescribing code itself draws no warning.
    let mut plain = referral();
    plain["identifier"][0]["value"] = json!("RS-2026-000186");
    let (status, headers, _) = gw.post_referral(plain.to_string()).await;
    assert_eq!(status, StatusCode::CREATED);
    assert!(!headers.contains_key("warning"));
}

#[tokio::test]
async fn id_headers_that_are_not_uuids_are_refused_and_valid_ones_echoed_on_refusals() {
    let gw = spawn_gateway().await;
    let correlation = "0f8e2a34-5b6c-4d7e-8f90-a1b2c3d4e5f6";
    let request_id = "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d";
    for (name, value, named) in [
        ("x-correlation-id", "xyz", "X-Correlation-Id"),
        ("x-request-id", "req-1", "X-Request-Id"),
    ] {
        let (status, headers, outcome) = gw
            .post_as("riverside-gp", "ServiceRequest", REFERRAL, &[(name, value)])
            .await;
        assert_eq!(
            (status, issue(&outcome)),
            (StatusCode::BAD_REQUEST, ("invalid", named)),
            "{outcome}"
        );
        assert_eq!(headers[name], value, "echoed as sent");
    }
    assert_eq!(
        gw.stored().await,
        (0, 0, OutboxCounts::default()),
        "nothing is done, nor passed on, with an unchecked id"
    );

    let ids = [
        ("x-correlation-id", correlation),
        ("x-request-id", request_id),
    ];
    let mut bad = referral();
    bad["subject"]["identifier"]["value"] = json!("9434765918");
    let (status, headers, _) = gw
        .post_as("riverside-gp", "ServiceRequest", bad.to_string(), &ids)
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(headers["x-correlation-id"], correlation);
    assert_eq!(headers["x-request-id"], request_id);
    let (status, headers, _) = gw
        .post_as("riverside-gp", "ServiceRequest", "{", &ids)
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(headers["x-request-id"], request_id);
    assert_eq!(headers["x-correlation-id"], correlation);
}

#[tokio::test]
async fn the_capability_statement_declares_what_can_match_by_real_names() {
    let gw = spawn_gateway().await;
    let (_, _, cs) = gw.get_as("riverside-gp", "metadata").await;
    let resource = |t: &str| {
        cs["rest"][0]["resource"]
            .as_array()
            .expect("resources")
            .iter()
            .find(|r| r["type"] == t)
            .cloned()
            .expect("declared")
    };
    let params = |t: &str| -> Vec<(String, String)> {
        resource(t)["searchParam"]
            .as_array()
            .expect("params")
            .iter()
            .map(|p| {
                (
                    p["name"].as_str().unwrap_or_default().to_owned(),
                    p["type"].as_str().unwrap_or_default().to_owned(),
                )
            })
            .collect()
    };
    let sr = params("ServiceRequest");
    assert!(
        sr.contains(&("subject".into(), "reference".into())),
        "{sr:?}"
    );
    for t in ["ServiceRequest", "Task", "AuditEvent"] {
        let declared = params(t);
        assert!(
            declared.iter().all(|(name, _)| !name.contains(':')),
            "a modifier in a name: {declared:?}"
        );
        for common in [
            ("_count", "number"),
            ("_sort", "special"),
            ("_lastUpdated", "date"),
        ] {
            assert!(
                declared.contains(&(common.0.into(), common.1.into())),
                "{t} lacks {common:?}"
            );
        }
    }
    let task = params("Task");
    assert!(!task.iter().any(|(n, _)| n == "based-on"), "{task:?}");
    // What is not declared is refused, never silently ignored.
    let (status, _, _) = gw
        .get_as("riverside-gp", "Task?based-on=ServiceRequest/x")
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(cs["patchFormat"], json!(["application/json-patch+json"]));
    let messages: Vec<(&str, &str)> = cs["messaging"][0]["supportedMessage"]
        .as_array()
        .expect("messages")
        .iter()
        .map(|m| {
            (
                m["mode"].as_str().unwrap_or_default(),
                m["definition"].as_str().unwrap_or_default(),
            )
        })
        .collect();
    assert!(messages.contains(&(
        "receiver",
        "https://fhir.nhs.uk/MessageDefinition/bars-message-servicerequest-request-referral"
    )));
    assert!(
        !messages.iter().any(|(_, d)| d.ends_with("-validation")),
        "validation requests are not taken: {messages:?}"
    );
    let rule = cs["messaging"][0]["documentation"].as_str().expect("rule");
    assert!(rule.contains("871731000000106"), "{rule}");
}
