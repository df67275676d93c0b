//! The service directory across processes: `signpost directory import FILE` of an official Open
//! Referral UK example (a variant naming a registered provider), the provider's capacity
//! declaration, and link workers on two PostgreSQL replicas racing for the last place.

use std::path::Path;

use serde_json::{Value, json};

use crate::support::{self, GatewayProcess, TempPostgres, TestConfig};

const ODS: &str = "https://fhir.nhs.uk/Id/ods-organization-code";
const REFERRAL: &str = signpost_profiles::examples::REFERRAL_FROM_GP;

/// The official ORUK 3.0 full service, changed only in its organisation's identifiers: an ODS
/// code of the test's VCS provider, so the import can name a registered provider.
fn oruk_variant(dir: &Path) -> std::path::PathBuf {
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/fixtures/openreferral-uk/service_full.json");
    let mut service: Value =
        serde_json::from_str(&std::fs::read_to_string(fixture).expect("fixture")).expect("json");
    service["organization"]["organization_identifiers"] = json!([{"identifier_scheme": "ODS", "identifier_type": "ODS code", "identifier": "VCS001"}]);
    let path = dir.join("oruk-service.json");
    std::fs::write(&path, service.to_string()).expect("write");
    path
}

async fn send(request: reqwest::RequestBuilder) -> (u16, Value) {
    let response = request.send().await.expect("request");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn link_workers_on_two_postgres_replicas_racing_for_the_last_place_exactly_one_wins() {
    let dir = tempfile::tempdir().expect("tempdir");
    let dir = dir.path();
    let db = TempPostgres::create().await;
    let url = db.url.clone();
    let config = TestConfig::default()
        .organisation("A81001")
        .organisation("LWS001")
        .organisation("VCS001")
        .route("A81001", "LWS001")
        .client(
            dir,
            "gp",
            "A81001",
            r#"["system/ServiceRequest.crs", "system/Task.rs"]"#,
        )
        .client(
            dir,
            "lw",
            "LWS001",
            r#"["system/ServiceRequest.crs", "system/Task.rus"]"#,
        )
        .client(
            dir,
            "vcs",
            "VCS001",
            r#"["system/HealthcareService.u", "system/Task.rus"]"#,
        )
        .write(dir.join("signpost.toml"));

    // The directory is imported by the command, into the database both replicas share.
    let import = std::process::Command::new(support::binary())
        .args(["directory", "import"])
        .arg(oruk_variant(dir))
        .arg("--config")
        .arg(&config)
        .env("SIGNPOST_STORE_URL", &url)
        .current_dir(dir)
        .output()
        .expect("run import");
    let report: Value = serde_json::from_slice(&import.stdout).expect("a JSON report");
    assert!(
        import.status.success(),
        "{report} {}",
        String::from_utf8_lossy(&import.stderr)
    );
    assert_eq!(report["created"], 1);

    let env = [
        ("SIGNPOST_STORE_URL", url.as_str()),
        ("SIGNPOST_SERVER_BASE_URL", "http://signpost.test"),
    ];
    let a = GatewayProcess::start_with(&config, dir, &env).await;
    let b = GatewayProcess::start_with(&config, dir, &env).await;
    let http = reqwest::Client::new();
    let gp = a
        .token_for(dir, "gp", "system/ServiceRequest.crs system/Task.rs")
        .await;
    let lw_a = a
        .token_for(dir, "lw", "system/ServiceRequest.crs system/Task.rus")
        .await;
    let lw_b = b
        .token_for(dir, "lw", "system/ServiceRequest.crs system/Task.rus")
        .await;
    let vcs = a.token_for(dir, "vcs", "system/HealthcareService.u").await;

    // The provider declares one place left.
    let (_, found) = send(
        http.get(format!("{}/HealthcareService?organization=VCS001", a.fhir))
            .bearer_auth(&gp),
    )
    .await;
    let mut service = found["entry"][0]["resource"].clone();
    let id = service["id"].as_str().expect("imported service").to_owned();
    // Added beside the feed's own extensions (its website), which the provider may not change.
    let mut extensions = service["extension"].as_array().cloned().unwrap_or_default();
    extensions.extend([
        json!({"url": "http://hl7.org/fhir/us/sdoh-clinicalcare/StructureDefinition/SDOHCC-ExtensionHealthcareServiceCapacityStatus",
         "extension": [{"url": "capacityStatus", "valueCodeableConcept": {"coding": [{"system": "http://hl7.org/fhir/us/sdoh-clinicalcare/CodeSystem/SDOHCC-CodeSystemTemporaryCodes", "code": "capacity"}]}}]}),
        json!({"url": "https://signpost.example/fhir/StructureDefinition/service-capacity",
         "extension": [{"url": "available", "valueUnsignedInt": 1}, {"url": "maximum", "valueUnsignedInt": 12}]}),
    ]);
    service["extension"] = Value::Array(extensions);
    let (status, declared) = send(
        http.put(format!("{}/HealthcareService/{id}", b.fhir))
            .bearer_auth(&vcs)
            .header("content-type", "application/fhir+json")
            .header("if-match", "W/\"1\"")
            .body(service.to_string()),
    )
    .await;
    assert_eq!(status, 200, "{declared}");

    // A referral, accepted by the link worker.
    let (status, sr) = send(
        http.post(format!("{}/ServiceRequest", a.fhir))
            .bearer_auth(&gp)
            .header("content-type", "application/fhir+json")
            .body(REFERRAL),
    )
    .await;
    assert_eq!(status, 201, "{sr}");
    let sr_id = sr["id"].as_str().expect("id").to_owned();
    let (_, tasks) = send(
        http.get(format!("{}/Task?focus=ServiceRequest/{sr_id}", a.fhir))
            .bearer_auth(&lw_a),
    )
    .await;
    let mut task = tasks["entry"][0]["resource"].clone();
    task["status"] = json!("accepted");
    let (status, _) = send(
        http.put(format!(
            "{}/Task/{}",
            a.fhir,
            task["id"].as_str().expect("id")
        ))
        .bearer_auth(&lw_a)
        .header("content-type", "application/fhir+json")
        .header("if-match", "W/\"1\"")
        .body(task.to_string()),
    )
    .await;
    assert_eq!(status, 200);

    let mut onward: Value = serde_json::from_str(REFERRAL).expect("json");
    onward["requester"] = json!({"identifier": {"system": ODS, "value": "LWS001"}});
    onward["performer"] = json!([{"reference": format!("HealthcareService/{id}")}]);
    onward["basedOn"] = json!([{"reference": format!("ServiceRequest/{sr_id}")}]);
    onward["intent"] = json!("filler-order");
    let race = |fhir: String, token: String| {
        let request = http
            .post(format!("{fhir}/ServiceRequest"))
            .bearer_auth(token)
            .header("content-type", "application/fhir+json")
            .body(onward.to_string());
        async move { send(request).await }
    };
    let answers = tokio::join!(
        race(a.fhir.clone(), lw_a.clone()),
        race(b.fhir.clone(), lw_b.clone()),
        race(a.fhir.clone(), lw_a.clone()),
        race(b.fhir.clone(), lw_b.clone()),
        race(a.fhir.clone(), lw_a.clone()),
        race(b.fhir.clone(), lw_b.clone()),
    );
    let statuses = [
        answers.0.0,
        answers.1.0,
        answers.2.0,
        answers.3.0,
        answers.4.0,
        answers.5.0,
    ];
    assert_eq!(
        statuses.iter().filter(|s| **s == 201).count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 409).count(),
        5,
        "{statuses:?}"
    );
    let (_, vcs_tasks) = send(
        http.get(format!("{}/Task?owner=VCS001", b.fhir))
            .bearer_auth(&lw_b),
    )
    .await;
    assert_eq!(
        vcs_tasks["total"], 1,
        "one onward Task, owned by the service's provider"
    );
}
