//! The whole referral journey through the real `signpost` binary, with simulated partners:
//! a GP system and a link-worker platform and one VCS provider that are pushed to (FHIR servers),
//! and a second VCS provider that polls. After each step: what each party sees and receives.

use crate::support;

use std::collections::HashSet;
use std::path::Path;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use signpost_conformance::simulators::FhirPartner;
use support::{GatewayProcess, client_block};

const REFERRAL: &str = signpost_profiles::examples::REFERRAL_FROM_GP;
const ODS: &str = "https://fhir.nhs.uk/Id/ods-organization-code";
const OUTCOME: &str = "https://signpost.example/fhir/CodeSystem/outcome-measure";
const TIMEPOINT: &str = "https://signpost.example/fhir/StructureDefinition/measure-timepoint";
const NHS_NUMBER: &str = "9434765919";
const PATIENCE: Duration = Duration::from_secs(20);

/// A party calling the gateway with its own token.
struct Party {
    token: String,
    fhir: String,
    http: reqwest::Client,
}

impl Party {
    async fn new(gateway: &GatewayProcess, dir: &Path, client: &str, scope: &str) -> Self {
        Self {
            token: gateway.token_for(dir, client, scope).await,
            fhir: gateway.fhir.clone(),
            http: reqwest::Client::new(),
        }
    }

    async fn send(&self, request: reqwest::RequestBuilder) -> (StatusCode, Value) {
        let response = request
            .bearer_auth(&self.token)
            .send()
            .await
            .expect("request");
        let status = response.status();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    async fn get(&self, path: &str) -> Value {
        let (status, body) = self
            .send(self.http.get(format!("{}/{path}", self.fhir)))
            .await;
        assert_eq!(status, StatusCode::OK, "GET {path}: {body}");
        body
    }

    async fn post(&self, body: String) -> Value {
        let request = self
            .http
            .post(format!("{}/ServiceRequest", self.fhir))
            .header("content-type", "application/fhir+json")
            .body(body);
        let (status, created) = self.send(request).await;
        assert_eq!(status, StatusCode::CREATED, "{created}");
        created
    }

    /// Changes a Task as this party; returns the new version.
    async fn update(&self, task: &Value, edit: impl Fn(&mut Value)) -> Value {
        let mut next = task.clone();
        edit(&mut next);
        let id = task["id"].as_str().expect("id");
        let request = self
            .http
            .put(format!("{}/Task/{id}", self.fhir))
            .header("content-type", "application/fhir+json")
            .header("if-match", format!("W/\"{}\"", version(task)))
            .body(next.to_string());
        let (status, updated) = self.send(request).await;
        assert_eq!(status, StatusCode::OK, "{updated}");
        updated
    }
}

fn version(resource: &Value) -> i64 {
    resource["meta"]["versionId"]
        .as_str()
        .and_then(|v| v.parse().ok())
        .expect("versionId")
}

/// (Task id, version, status) of every Task a partner has accepted, in arrival order.
fn tasks_received(partner: &FhirPartner) -> Vec<(String, i64, String)> {
    partner
        .accepted_tasks()
        .iter()
        .map(|t| {
            (
                t["id"].as_str().unwrap_or_default().to_owned(),
                version(t),
                t["status"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

async fn receives(
    partner: &FhirPartner,
    task_id: &str,
    v: i64,
    status: &str,
    who: &str,
    gateway: &GatewayProcess,
) {
    let want = (task_id.to_owned(), v, status.to_owned());
    let arrived = partner
        .wait_until(PATIENCE, |_| tasks_received(partner).contains(&want))
        .await;
    assert!(
        arrived,
        "{who} never received Task/{task_id} v{v} {status}; got {:?}\n{}",
        tasks_received(partner),
        gateway.log()
    );
}

fn score(code: &str, value: i64, timepoint: &str) -> Value {
    json!({"extension": [{"url": TIMEPOINT, "valueCode": timepoint}], "type": {"coding": [{"system": OUTCOME, "code": code}]}, "valueInteger": value})
}

#[tokio::test]
async fn a_referral_travels_to_two_vcs_providers_and_the_outcome_comes_back_to_the_gp() {
    let dir = tempfile::tempdir().expect("tempdir");
    let gp_system = FhirPartner::start().await.expect("gp");
    let lw_platform = FhirPartner::start().await.expect("lw");
    let walking_group = FhirPartner::start().await.expect("vcs1");
    let adapter =
        |url: String| format!("[organisation.adapter]\nkind = \"fhir-rest\"\nurl = \"{url}\"\n");
    let config = format!(
        "[store]\nurl = \"sqlite://signpost.db\"\n[delivery]\nbackoff_base_ms = 20\nbackoff_max_ms = 200\npoll_interval_ms = 50\n\
         [[organisation]]\nods = \"A81001\"\nname = \"Riverside Surgery\"\nrole = \"gp\"\n{}\
         [[organisation]]\nods = \"LWS001\"\nname = \"Riverside Social Prescribing Service\"\nrole = \"link-worker\"\n{}\
         [[organisation]]\nods = \"VCS001\"\nname = \"Mill Lane Walking Group\"\nrole = \"vcs\"\n{}\
         [[organisation]]\nods = \"VCS002\"\nname = \"Sheffield Money and Debt Advice\"\nrole = \"vcs\"\n\
         [[route]]\nfrom = \"A81001\"\nto = \"LWS001\"\n{}{}{}{}",
        adapter(gp_system.url()),
        adapter(lw_platform.url()),
        adapter(walking_group.url()),
        client_block(
            dir.path(),
            "gp",
            "A81001",
            r#"["system/ServiceRequest.crs", "system/Task.rus"]"#
        ),
        client_block(
            dir.path(),
            "lw",
            "LWS001",
            r#"["system/ServiceRequest.crs", "system/Task.rus"]"#
        ),
        client_block(
            dir.path(),
            "vcs1",
            "VCS001",
            r#"["system/ServiceRequest.rs", "system/Task.rus"]"#
        ),
        client_block(
            dir.path(),
            "vcs2",
            "VCS002",
            r#"["system/ServiceRequest.rs", "system/Task.rus"]"#
        ),
    );
    std::fs::write(dir.path().join("journey.toml"), config).expect("config");
    let gateway = GatewayProcess::start(&dir.path().join("journey.toml"), dir.path()).await;
    let gp = Party::new(
        &gateway,
        dir.path(),
        "gp",
        "system/ServiceRequest.crs system/Task.rus",
    )
    .await;
    let lw = Party::new(
        &gateway,
        dir.path(),
        "lw",
        "system/ServiceRequest.crs system/Task.rus",
    )
    .await;
    let vcs1 = Party::new(
        &gateway,
        dir.path(),
        "vcs1",
        "system/ServiceRequest.rs system/Task.rus",
    )
    .await;
    let vcs2 = Party::new(
        &gateway,
        dir.path(),
        "vcs2",
        "system/ServiceRequest.rs system/Task.rus",
    )
    .await;

    // 1. The GP system refers. The link-worker platform receives the Task; the GP sees it requested.
    let sr = gp.post(REFERRAL.to_owned()).await;
    let sr_id = sr["id"].as_str().expect("id").to_owned();
    assert_eq!(version(&sr), 1);
    let lw_task =
        gp.get(&format!("Task?focus=ServiceRequest/{sr_id}")).await["entry"][0]["resource"].clone();
    let lw_task_id = lw_task["id"].as_str().expect("id").to_owned();
    assert_eq!(
        (lw_task["status"].as_str(), version(&lw_task)),
        (Some("requested"), 1)
    );
    receives(
        &lw_platform,
        &lw_task_id,
        1,
        "requested",
        "the link-worker platform",
        &gateway,
    )
    .await;
    assert!(
        gp_system.received().is_empty(),
        "the GP is not told of its own referral"
    );

    // 2. The link worker accepts and starts work; the GP system hears each change, the platform does not hear its own.
    let accepted = lw
        .update(&lw_task, |t| t["status"] = json!("accepted"))
        .await;
    assert_eq!(version(&accepted), 2);
    let working = lw
        .update(&accepted, |t| {
            t["status"] = json!("in-progress");
            t["businessStatus"] = json!({"text": "first conversation held"});
        })
        .await;
    assert_eq!(version(&working), 3);
    receives(
        &gp_system,
        &lw_task_id,
        2,
        "accepted",
        "the GP system",
        &gateway,
    )
    .await;
    receives(
        &gp_system,
        &lw_task_id,
        3,
        "in-progress",
        "the GP system",
        &gateway,
    )
    .await;
    assert_eq!(
        tasks_received(&lw_platform).len(),
        1,
        "the platform is not told of its own changes"
    );

    // 3. Onward referrals: the walking group is pushed to; the debt advice service polls.
    let onward = |vcs: &str| {
        let mut body: Value = serde_json::from_str(REFERRAL).expect("example");
        body["requester"] = json!({"identifier": {"system": ODS, "value": "LWS001"}});
        body["performer"] = json!([{"identifier": {"system": ODS, "value": vcs}}]);
        body["basedOn"] = json!([{"reference": format!("ServiceRequest/{sr_id}")}]);
        body["intent"] = json!("filler-order");
        body.to_string()
    };
    lw.post(onward("VCS001")).await;
    lw.post(onward("VCS002")).await;
    let children = lw
        .get(&format!(
            "Task?part-of=Task/{lw_task_id}&_sort=_lastUpdated"
        ))
        .await;
    assert_eq!(children["total"], 2);
    let walk_task_id = children["entry"][0]["resource"]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    receives(
        &walking_group,
        &walk_task_id,
        1,
        "requested",
        "the walking group",
        &gateway,
    )
    .await;
    let pushed = walking_group
        .received()
        .last()
        .map(|r| r.body.to_string())
        .unwrap_or_default();
    assert!(
        !pushed.contains(NHS_NUMBER) && !pushed.contains("1948-03-14"),
        "the walking group was sent more than it needs"
    );
    assert!(
        pushed.contains("07700 900123"),
        "the walking group needs a way to contact the person"
    );

    let polled = vcs2.get("Task?owner=VCS002&status=requested").await;
    assert_eq!(polled["total"], 1);
    let debt_task = polled["entry"][0]["resource"].clone();
    assert!(!polled.to_string().contains(NHS_NUMBER));
    assert_eq!(
        vcs1.get("Task?owner=VCS002").await["total"],
        0,
        "one VCS provider never sees another's work"
    );

    // 4. The debt advice service declines; the link-worker Task records it and both upstream parties hear.
    let declined = vcs2
        .update(&debt_task, |t| {
            t["status"] = json!("rejected");
            t["statusReason"] = json!({"text": "No appointments until the spring"});
        })
        .await;
    assert_eq!(version(&declined), 2);
    let lw_v4 = lw.get(&format!("Task/{lw_task_id}")).await;
    assert_eq!(version(&lw_v4), 4);
    assert!(
        lw_v4["note"]
            .to_string()
            .contains("Sheffield Money and Debt Advice (VCS002) declined"),
        "{lw_v4}"
    );
    assert!(
        lw_v4["note"]
            .to_string()
            .contains("No appointments until the spring")
    );
    receives(
        &lw_platform,
        debt_task["id"].as_str().expect("id"),
        2,
        "rejected",
        "the link-worker platform",
        &gateway,
    )
    .await;
    receives(
        &lw_platform,
        &lw_task_id,
        4,
        "in-progress",
        "the link-worker platform",
        &gateway,
    )
    .await;
    receives(
        &gp_system,
        &lw_task_id,
        4,
        "in-progress",
        "the GP system",
        &gateway,
    )
    .await;

    // 5. The walking group accepts, runs and completes its part.
    let walk_task = vcs1.get(&format!("Task/{walk_task_id}")).await;
    let walk_accepted = vcs1
        .update(&walk_task, |t| t["status"] = json!("accepted"))
        .await;
    let walk_running = vcs1
        .update(&walk_accepted, |t| t["status"] = json!("in-progress"))
        .await;
    let walk_done = vcs1
        .update(&walk_running, |t| {
            t["status"] = json!("completed");
            t["output"] = json!([{"type": {"coding": [{"system": OUTCOME, "code": "vcs-service-attended"}]},
                "valueReference": {"identifier": {"system": ODS, "value": "VCS001"}, "display": "Mill Lane Walking Group"}}]);
        })
        .await;
    assert_eq!(version(&walk_done), 4);
    let lw_v6 = lw.get(&format!("Task/{lw_task_id}")).await;
    assert_eq!(
        version(&lw_v6),
        6,
        "accepted and completed are recorded; in-progress is not news upstream"
    );
    assert!(
        lw_v6["note"]
            .to_string()
            .contains("Mill Lane Walking Group (VCS001) completed")
    );
    receives(
        &lw_platform,
        &walk_task_id,
        4,
        "completed",
        "the link-worker platform",
        &gateway,
    )
    .await;
    receives(
        &gp_system,
        &lw_task_id,
        6,
        "in-progress",
        "the GP system",
        &gateway,
    )
    .await;

    // 6. The link worker completes with the outcome measures; the GP's referral completes.
    let done = lw
        .update(&lw_v6, |t| {
            t["status"] = json!("completed");
            t["output"] = json!([
                score("ons4-life-satisfaction", 4, "baseline"), score("ons4-life-satisfaction", 7, "follow-up"),
                score("swemwbs-total", 17, "baseline"), score("swemwbs-total", 24, "follow-up"),
                score("ucla3-total", 8, "baseline"), score("ucla3-total", 5, "follow-up"),
                {"type": {"coding": [{"system": OUTCOME, "code": "vcs-service-attended"}]},
                 "valueReference": {"identifier": {"system": ODS, "value": "VCS001"}}}
            ]);
        })
        .await;
    assert_eq!(version(&done), 7);
    receives(
        &gp_system,
        &lw_task_id,
        7,
        "completed",
        "the GP system",
        &gateway,
    )
    .await;
    let final_delivery = gp_system
        .received()
        .into_iter()
        .rev()
        .find(|r| r.accepted && r.body.to_string().contains("\"completed\""))
        .expect("completion delivered");
    let delivered_sr = &final_delivery.body["entry"][0]["resource"];
    assert_eq!(
        (delivered_sr["status"].as_str(), version(delivered_sr)),
        (Some("completed"), 2),
        "the GP system is sent its completed referral"
    );

    let gp_sr = gp.get(&format!("ServiceRequest/{sr_id}")).await;
    assert_eq!(
        (gp_sr["status"].as_str(), version(&gp_sr)),
        (Some("completed"), 2)
    );
    let gp_view = gp.get(&format!("Task/{lw_task_id}")).await;
    assert_eq!(gp_view["output"].as_array().map(Vec::len), Some(7));
    assert_eq!(
        vcs1.get(&format!("Task/{walk_task_id}")).await["status"],
        "completed"
    );
    // The history of the link worker's Task tells the whole story.
    let history = gp.get(&format!("Task/{lw_task_id}/_history")).await;
    let story: Vec<&str> = history["entry"]
        .as_array()
        .expect("entries")
        .iter()
        .rev()
        .filter_map(|e| e["resource"]["status"].as_str())
        .collect();
    assert_eq!(
        story,
        vec![
            "requested",
            "accepted",
            "in-progress",
            "in-progress",
            "in-progress",
            "in-progress",
            "completed"
        ]
    );
    // A refused request naming the person by NHS number: refusals are logged, but not that.
    let (status, _) = vcs1
        .send(vcs1.http.get(format!(
            "{}/AuditEvent?entity-identifier=https://fhir.nhs.uk/Id/nhs-number|{NHS_NUMBER}",
            vcs1.fhir
        )))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // The gateway's log (JSON lines outside the sandbox) never holds the person's details.
    let log = gateway.log();
    assert!(
        log.lines().any(|l| l.contains("\"referral accepted\"")),
        "no log lines captured:\n{log}"
    );
    assert!(
        log.lines()
            .all(|l| serde_json::from_str::<Value>(l).is_ok()),
        "not JSON lines:\n{log}"
    );
    for private in [
        NHS_NUMBER,
        "Okafor",
        "Margaret",
        "1948-03-14",
        "12 Mill Lane",
        "S1 2AB",
        "07700 900123",
        "Lonely since bereavement",
        "Prefers phone",
    ] {
        assert!(!log.contains(private), "{private} reached the log");
    }

    // Every delivery to each partner was unique.
    for (who, partner) in [
        ("GP", &gp_system),
        ("LW", &lw_platform),
        ("VCS001", &walking_group),
    ] {
        let keys: Vec<_> = partner
            .received()
            .iter()
            .filter(|r| r.accepted)
            .map(|r| r.request_id.clone())
            .collect();
        let unique: HashSet<_> = keys.iter().collect();
        assert_eq!(keys.len(), unique.len(), "{who} received a duplicate");
    }
}
