//! The referral journey the BaRS way, through the real router and store over HTTP: a GP system
//! sends the IG's REFREQ03 to `$process-message`; Signpost sends it on to a BaRS link-worker
//! platform; the link worker answers with `servicerequest-response` messages, refers onward to a
//! VCS provider over FHIR REST, and completes; the GP system is sent each answer as a BaRS
//! response naming its own request.

use crate::support;

use std::time::Duration;

use base64::Engine;
use reqwest::StatusCode;
use serde_json::{Value, json};
use signpost_conformance::simulators::FhirPartner;
use support::{Setup, TestGateway, answer};

const PATIENCE: Duration = Duration::from_secs(20);
const CORRELATION: &str = "7c1e2d3f-4a5b-4c6d-8e7f-9a0b1c2d3e4f";
const ODS: &str = "https://fhir.nhs.uk/Id/ods-organization-code";
const OUTCOME: &str = "https://signpost.example/fhir/CodeSystem/outcome-measure";
const RESPONSE_DEFINITION: &str =
    "https://fhir.nhs.uk/MessageDefinition/bars-message-servicerequest-response-referral";
/// REFREQ03's own `Bundle.id` and `MessageHeader.source.endpoint`.
const GP_MESSAGE: &str = "9ae77bb4-db12-42f3-a90c-733fe232f26c";
const GP_ENDPOINT: &str = "https://fhir.nhs.uk/Id/dos-service-id|2222222222";

/// REFREQ03 with the valid NHS number 9434765919, the sandbox practice A81001 as sender and the
/// link-worker service LWS001 as receiver; everything else as published.
fn refreq03_from_riverside() -> Value {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/fixtures/bars/bars-REFREQ03-referral.json");
    let mut m: Value =
        serde_json::from_str(&std::fs::read_to_string(path).expect("REFREQ03")).expect("json");
    m["entry"][6]["resource"]["identifier"][0]["value"] = json!("9434765919");
    m["entry"][12]["resource"]["identifier"][0]["value"] = json!("A81001");
    m["entry"][11]["resource"]["identifier"][0]["value"] = json!("LWS001");
    m
}

fn uuid() -> String {
    uuid::Uuid::new_v4().to_string()
}

async fn post_message(gw: &TestGateway, client: &str, message: &Value) -> (StatusCode, Value) {
    let request = gw
        .http
        .post(format!("{}/$process-message", gw.fhir))
        .bearer_auth(gw.token(client).await)
        .header("content-type", "application/fhir+json")
        .header("x-request-id", uuid())
        .header("x-correlation-id", CORRELATION)
        .body(message.to_string());
    let (status, _, body) = answer(request.send().await.expect("post")).await;
    (status, body)
}

fn of_type<'a>(message: &'a Value, rtype: &str) -> Vec<&'a Value> {
    message["entry"]
        .as_array()
        .map(|e| {
            e.iter()
                .map(|e| &e["resource"])
                .filter(|r| r["resourceType"] == rtype)
                .collect()
        })
        .unwrap_or_default()
}

fn resolve<'a>(message: &'a Value, reference: &Value) -> &'a Value {
    let target = reference["reference"]
        .as_str()
        .expect("a literal reference");
    message["entry"]
        .as_array()
        .and_then(|e| e.iter().find(|e| e["fullUrl"] == target))
        .map(|e| &e["resource"])
        .unwrap_or_else(|| panic!("{target} resolves to no entry"))
}

fn header(message: &Value) -> &Value {
    &message["entry"][0]["resource"]
}

fn decoded(raw: &str) -> Value {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(raw)
        .expect("base64");
    serde_json::from_slice(&bytes).expect("json")
}

/// The `servicerequest-response` message with the Task entry at `status` (the link worker's
/// platform answering), `edit` changing the Task further.
fn response_to(
    received: &Value,
    responds_to: &str,
    reason: &str,
    status: &str,
    edit: impl Fn(&mut Value),
) -> Value {
    let mut message = received.clone();
    message["id"] = json!(uuid());
    let h = &mut message["entry"][0]["resource"];
    let (sender, receiver) = (h["sender"].clone(), h["destination"][0]["receiver"].clone());
    h["id"] = json!(uuid());
    h["meta"]["profile"] = json!([
        "https://fhir.nhs.uk/StructureDefinition/BARSMessageHeader-servicerequest-response"
    ]);
    h["eventCoding"]["code"] = json!("servicerequest-response");
    h["definition"] = json!(RESPONSE_DEFINITION);
    h["reason"]["coding"][0]["code"] = json!(reason);
    h["sender"] = receiver;
    h["destination"] = json!([{"endpoint": "https://fhir.nhs.uk/Id/ods-organization-code|SIGNPOST", "receiver": sender}]);
    h["source"]["endpoint"] = json!("https://fhir.nhs.uk/Id/dos-service-id|2000123456");
    h["response"] = json!({"identifier": responds_to, "code": "ok"});
    for entry in message["entry"].as_array_mut().expect("entries") {
        if entry["resource"]["resourceType"] == "Task" {
            entry["resource"]["status"] = json!(status);
            edit(&mut entry["resource"]);
        }
    }
    message
}

/// The messages the GP system has accepted whose Task entry is at `status`.
fn gp_messages_at(gp: &FhirPartner, status: &str) -> Vec<Value> {
    gp.received()
        .into_iter()
        .filter(|r| {
            r.accepted
                && of_type(&r.body, "Task")
                    .first()
                    .is_some_and(|t| t["status"] == status)
        })
        .map(|r| r.body)
        .collect()
}

async fn gp_is_told(gp: &FhirPartner, status: &str) -> Value {
    assert!(
        gp.wait_until(PATIENCE, |_| !gp_messages_at(gp, status).is_empty())
            .await,
        "the GP system was never sent {status}: {:?}",
        gp.received()
            .iter()
            .map(|r| r.body.to_string())
            .collect::<Vec<_>>()
    );
    let message = gp_messages_at(gp, status).remove(0);
    let h = header(&message);
    assert_eq!(h["eventCoding"]["code"], "servicerequest-response");
    assert_eq!(h["definition"], RESPONSE_DEFINITION);
    assert_eq!(
        h["response"],
        json!({"identifier": GP_MESSAGE, "code": "ok"}),
        "the GP's own request is named"
    );
    assert_eq!(
        h["destination"][0]["endpoint"], GP_ENDPOINT,
        "sent where the GP's message said to reply"
    );
    assert_eq!(
        resolve(&message, &h["sender"])["identifier"][0]["value"],
        "LWS001"
    );
    assert_eq!(
        resolve(&message, &h["destination"][0]["receiver"])["identifier"][0]["value"],
        "A81001"
    );
    assert_ne!(message["id"], GP_MESSAGE);
    let delivered = gp
        .received()
        .into_iter()
        .find(|r| r.body == message)
        .expect("delivery");
    assert_eq!(
        decoded(delivered.header("nhsd-target-identifier").expect("target")),
        json!({"system": "https://fhir.nhs.uk/Id/dos-service-id", "value": "2222222222"})
    );
    assert_eq!(delivered.correlation_id.as_deref(), Some(CORRELATION));
    message
}

#[tokio::test]
async fn a_bars_referral_goes_to_a_bars_link_worker_on_to_a_vcs_and_its_outcome_back_to_the_gp() {
    let (gp_system, lw_platform, walking_group) = (
        FhirPartner::start().await.expect("gp"),
        FhirPartner::start().await.expect("lw"),
        FhirPartner::start().await.expect("vcs"),
    );
    let gw = TestGateway::spawn_setup(Setup {
        adapters: vec![
            ("A81001", format!("kind = \"bars\"\nurl = \"{}\"\ntarget_identifier = \"A81001-gp\"\n", gp_system.url())),
            ("LWS001", format!("kind = \"bars\"\nurl = \"{}\"\ntarget_identifier = \"2000123456\"\napi_version = \"1.4.0\"\n", lw_platform.url())),
            ("VCS001", format!("kind = \"fhir-rest\"\nurl = \"{}\"\n", walking_group.url())),
        ],
        delivery: "poll_interval_ms = 20\n".into(),
        ..Setup::default()
    })
    .await;

    // 1. The GP system sends REFREQ03.
    let (status, sr) = post_message(&gw, "riverside-gp", &refreq03_from_riverside()).await;
    assert_eq!(status, StatusCode::CREATED, "{sr}");
    let sr_id = sr["id"].as_str().expect("id").to_owned();
    let kept: Vec<&str> = sr["contained"]
        .as_array()
        .expect("contained")
        .iter()
        .filter_map(|r| r["resourceType"].as_str())
        .collect();
    assert_eq!(
        kept,
        [
            "Patient",
            "Encounter",
            "CarePlan",
            "Practitioner",
            "PractitionerRole",
            "Consent"
        ],
        "{sr}"
    );
    assert!(!sr.to_string().contains("urn:uuid:"), "{sr}");
    assert!(
        !sr.to_string().contains("constipation"),
        "the CarePlan's free text is not kept: {sr}"
    );

    // 2. The link-worker platform is sent a BaRS referral built to the MessageDefinition.
    assert!(
        lw_platform
            .wait_until(PATIENCE, |r| r.iter().any(|r| r.accepted))
            .await,
        "nothing sent to the link worker"
    );
    let delivered = lw_platform.received().remove(0);
    let request = delivered.body.clone();
    let h = header(&request);
    assert_eq!(h["eventCoding"]["code"], "servicerequest-request");
    assert_eq!(h["reason"]["coding"][0]["code"], "new");
    assert_eq!(
        h["definition"],
        "https://fhir.nhs.uk/MessageDefinition/bars-message-servicerequest-request-referral"
    );
    assert_eq!(
        h["destination"][0]["endpoint"],
        "https://fhir.nhs.uk/Id/dos-service-id|2000123456"
    );
    // Every type the referral MessageDefinition requires (min >= 1), with its minimum.
    for (rtype, min) in [
        ("MessageHeader", 1),
        ("ServiceRequest", 1),
        ("Patient", 1),
        ("Encounter", 1),
        ("CarePlan", 1),
        ("Organization", 2),
        ("Practitioner", 1),
        ("PractitionerRole", 1),
        ("Consent", 1),
        ("HealthcareService", 1),
    ] {
        assert!(of_type(&request, rtype).len() >= min, "{rtype}: {request}");
    }
    let lw_sr = resolve(&request, &h["focus"][0]);
    assert_eq!(
        resolve(&request, &lw_sr["encounter"])["identifier"][0]["value"],
        "sender1234"
    );
    assert_eq!(
        resolve(&request, &lw_sr["basedOn"][0])["resourceType"],
        "CarePlan"
    );
    assert_eq!(
        of_type(&request, "Practitioner")[0]["identifier"][0]["value"],
        "PT2489",
        "the requesting clinician"
    );
    assert_eq!(
        resolve(
            &request,
            &of_type(&request, "PractitionerRole")[0]["practitioner"]
        ),
        of_type(&request, "Practitioner")[0]
    );
    assert_eq!(
        of_type(&request, "Consent")[0]["category"][0]["coding"][0]["code"],
        "DRC"
    );
    assert_eq!(
        resolve(&request, &of_type(&request, "Consent")[0]["patient"])["identifier"][0]["value"],
        "9434765919"
    );
    assert_eq!(
        delivered.header("accept"),
        Some("application/fhir+json; version=1.4.0")
    );
    assert_eq!(
        decoded(delivered.header("nhsd-target-identifier").expect("target"))["value"],
        "2000123456"
    );
    assert_eq!(
        decoded(
            delivered
                .header("nhsd-requesting-software")
                .expect("software")
        )["deviceName"][0]["name"],
        "Signpost"
    );
    assert_eq!(delivered.correlation_id.as_deref(), Some(CORRELATION));
    let lw_task_id = of_type(&request, "Task")[0]["id"]
        .as_str()
        .expect("task id")
        .to_owned();
    let request_id = request["id"].as_str().expect("Bundle.id").to_owned();

    // 3. A response naming a message Signpost never sent is refused; nothing changes.
    let stray = response_to(&request, &uuid(), "new", "accepted", |_| {});
    let (status, outcome) = post_message(&gw, "riverside-lw", &stray).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{outcome}");
    assert_eq!(outcome["issue"][0]["code"], "business-rule");
    assert_eq!(
        outcome["issue"][0]["expression"][0],
        "Bundle.entry[0].resource.response.identifier"
    );
    let (_, _, task) = gw
        .get_as("riverside-lw", &format!("Task/{lw_task_id}"))
        .await;
    assert_eq!(
        (task["status"].as_str(), task["meta"]["versionId"].as_str()),
        (Some("requested"), Some("1"))
    );

    // 4. The link worker accepts and starts work, the BaRS way; the GP system hears each.
    let accepted = response_to(&request, &request_id, "new", "accepted", |_| {});
    let (status, task) = post_message(&gw, "riverside-lw", &accepted).await;
    assert_eq!(status, StatusCode::OK, "{task}");
    assert_eq!(
        (task["status"].as_str(), task["meta"]["versionId"].as_str()),
        (Some("accepted"), Some("2"))
    );
    gp_is_told(&gp_system, "accepted").await;
    let working = response_to(&request, &request_id, "update", "in-progress", |t| {
        t["businessStatus"] = json!({"text": "first conversation held"})
    });
    let (status, task) = post_message(&gw, "riverside-lw", &working).await;
    assert_eq!(status, StatusCode::OK, "{task}");
    assert_eq!(task["businessStatus"]["text"], "first conversation held");
    let told = gp_is_told(&gp_system, "in-progress").await;
    assert_eq!(header(&told)["reason"]["coding"][0]["code"], "update");

    // 5. Onward to the walking group over FHIR REST; it completes with an outcome.
    let mut onward = support::referral();
    onward["requester"] = json!({"identifier": {"system": ODS, "value": "LWS001"}});
    onward["performer"] = json!([{"identifier": {"system": ODS, "value": "VCS001"}}]);
    onward["basedOn"] = json!([{"reference": format!("ServiceRequest/{sr_id}")}]);
    onward["intent"] = json!("filler-order");
    let (status, _, _) = gw
        .post_as("riverside-lw", "ServiceRequest", onward.to_string(), &[])
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let (_, _, children) = gw
        .get_as("riverside-lw", &format!("Task?part-of=Task/{lw_task_id}"))
        .await;
    let walk = children["entry"][0]["resource"].clone();
    assert_eq!(walk["owner"]["identifier"]["value"], "VCS001");
    assert!(
        walking_group
            .wait_until(PATIENCE, |_| !walking_group.accepted_tasks().is_empty())
            .await,
        "the walking group was sent nothing"
    );
    let sent = walking_group.received().remove(0).body.to_string();
    assert!(
        !sent.contains("9434765919") && !sent.contains("PT2489"),
        "the VCS is sent more than it needs: {sent}"
    );
    let walk_id = walk["id"].as_str().expect("id");
    let (_, _, walk) = gw.get_as("mill-lane-app", &format!("Task/{walk_id}")).await;
    let accepted = gw.move_task("mill-lane-app", &walk, "accepted").await;
    let running = gw
        .move_task("mill-lane-app", &accepted, "in-progress")
        .await;
    let mut done = running.clone();
    done["status"] = json!("completed");
    done["output"] = json!([{"type": {"coding": [{"system": OUTCOME, "code": "vcs-service-attended"}]}, "valueReference": {"identifier": {"system": ODS, "value": "VCS001"}, "display": "Mill Lane Walking Group"}}]);
    let version = running["meta"]["versionId"]
        .as_str()
        .and_then(|v| v.parse().ok());
    let (status, _, _) = gw.put_task("mill-lane-app", &done, version).await;
    assert_eq!(status, StatusCode::OK);
    let (_, _, lw_task) = gw
        .get_as("riverside-lw", &format!("Task/{lw_task_id}"))
        .await;
    assert!(
        lw_task["note"]
            .to_string()
            .contains("Mill Lane Walking Group (VCS001) completed"),
        "{lw_task}"
    );

    // 6. The link worker completes with the outcome; the GP system is sent it, naming its request.
    let completed = response_to(&request, &request_id, "update", "completed", |t| {
        t["output"] = json!([{"type": {"coding": [{"system": OUTCOME, "code": "vcs-service-attended"}]}, "valueReference": {"identifier": {"system": ODS, "value": "VCS001"}}}]);
    });
    let (status, task) = post_message(&gw, "riverside-lw", &completed).await;
    assert_eq!(status, StatusCode::OK, "{task}");
    assert_eq!(task["status"], "completed");
    let told = gp_is_told(&gp_system, "completed").await;
    let task_entry = of_type(&told, "Task")[0];
    assert_eq!(
        task_entry["output"][0]["type"]["coding"][0]["code"],
        "vcs-service-attended"
    );
    assert_eq!(
        resolve(&told, &header(&told)["focus"][0])["status"],
        "completed"
    );
    let (_, _, gp_sr) = gw
        .get_as("riverside-gp", &format!("ServiceRequest/{sr_id}"))
        .await;
    assert_eq!(gp_sr["status"], "completed");

    // 7. The link worker made the onward referral over REST, so BaRS has no request message for
    // the walking group's progress to answer: none is queued for it (it would only die), and
    // nothing in the whole journey became a dead letter.
    let pending_settled = async {
        for _ in 0..200 {
            if deliveries(&gw, "pending").await["count"] == 0 {
                return true;
            }
            tokio::time::sleep(std::time::Duration::from_millis(25)).await;
        }
        false
    };
    assert!(pending_settled.await, "deliveries still pending");
    let dead = deliveries(&gw, "dead").await;
    assert_eq!(dead["count"], 0, "{dead}");
    let delivered = deliveries(&gw, "delivered").await;
    let to_lw_about_walk: Vec<&Value> = delivered["deliveries"]
        .as_array()
        .expect("deliveries")
        .iter()
        .filter(|d| {
            d["organisation"] == "LWS001"
                && d["task"]
                    .as_str()
                    .is_some_and(|t| t.starts_with(&format!("Task/{walk_id}/")))
        })
        .collect();
    assert!(to_lw_about_walk.is_empty(), "{to_lw_about_walk:?}");
}

async fn deliveries(gw: &TestGateway, state: &str) -> Value {
    gw.http
        .get(format!("{}/admin/deliveries?state={state}", gw.base))
        .bearer_auth(gw.token("operator").await)
        .send()
        .await
        .expect("deliveries")
        .json()
        .await
        .expect("a JSON listing")
}
