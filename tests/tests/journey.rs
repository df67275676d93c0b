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
use support::{GatewayProcess, TestConfig};

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
    let mut journey = Journey::start().await;
    let lw_task = journey.gp_refers().await;
    journey.link_worker_accepts_and_starts_work(&lw_task).await;
    let debt_task = journey.link_worker_refers_onward().await;
    journey.debt_advice_declines(&debt_task).await;
    let lw_v6 = journey.walking_group_completes().await;
    journey.link_worker_completes_with_outcomes(&lw_v6).await;
    journey.the_gp_sees_the_referral_completed().await;
    journey.the_history_tells_the_whole_story().await;
    journey.a_search_by_nhs_number_is_refused().await;
    journey
        .token_less_requests_spell_the_person_in_their_paths()
        .await;
    journey.the_log_never_holds_the_persons_details();
    journey.every_delivery_was_unique();
}

/// Names the step a failure happened in: assertions inside a step say what, this says where.
struct Step(&'static str);

impl Drop for Step {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("the journey failed at step `{}`", self.0);
        }
    }
}

/// The gateway, the partners it pushes to and the parties calling it, and the ids each step
/// hands on to the next. Fields drop in order: the gateway is stopped before its directory goes.
struct Journey {
    gp: Party,
    lw: Party,
    vcs1: Party,
    vcs2: Party,
    gateway: GatewayProcess,
    gp_system: FhirPartner,
    lw_platform: FhirPartner,
    walking_group: FhirPartner,
    sr_id: String,
    lw_task_id: String,
    walk_task_id: String,
    _dir: tempfile::TempDir,
}

impl Journey {
    /// A gateway pushing to the GP system, the link-worker platform and the walking group (the
    /// debt advice service polls), and a token for each party.
    async fn start() -> Self {
        let _step = Step("start");
        let dir = tempfile::tempdir().expect("tempdir");
        let gp_system = FhirPartner::start().await.expect("gp");
        let lw_platform = FhirPartner::start().await.expect("lw");
        let walking_group = FhirPartner::start().await.expect("vcs1");
        let config = TestConfig::default()
            .pushed_to("A81001", &gp_system.url(), "")
            .pushed_to("LWS001", &lw_platform.url(), "")
            .pushed_to("VCS001", &walking_group.url(), "")
            .organisation("VCS002")
            .route("A81001", "LWS001")
            .client(
                dir.path(),
                "gp",
                "A81001",
                r#"["system/ServiceRequest.crs", "system/Task.rus"]"#,
            )
            .client(
                dir.path(),
                "lw",
                "LWS001",
                r#"["system/ServiceRequest.crs", "system/Task.rus"]"#,
            )
            .client(
                dir.path(),
                "vcs1",
                "VCS001",
                r#"["system/ServiceRequest.rs", "system/Task.rus"]"#,
            )
            .client(
                dir.path(),
                "vcs2",
                "VCS002",
                r#"["system/ServiceRequest.rs", "system/Task.rus"]"#,
            )
            .write(dir.path().join("journey.toml"));
        let gateway = GatewayProcess::start(&config, dir.path()).await;
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
        Self {
            gp,
            lw,
            vcs1,
            vcs2,
            gateway,
            gp_system,
            lw_platform,
            walking_group,
            sr_id: String::new(),
            lw_task_id: String::new(),
            walk_task_id: String::new(),
            _dir: dir,
        }
    }

    /// The GP system refers. The link-worker platform receives the Task; the GP sees it
    /// requested. Returns the link worker's Task.
    async fn gp_refers(&mut self) -> Value {
        let _step = Step("gp_refers");
        let (gp, gp_system, lw_platform, gateway) =
            (&self.gp, &self.gp_system, &self.lw_platform, &self.gateway);
        let sr = gp.post(REFERRAL.to_owned()).await;
        let sr_id = sr["id"].as_str().expect("id").to_owned();
        assert_eq!(version(&sr), 1);
        let lw_task =
            gp.get(&format!("Task?focus=ServiceRequest/{sr_id}")).await["entry"][0]["resource"]
                .clone();
        let lw_task_id = lw_task["id"].as_str().expect("id").to_owned();
        assert_eq!(
            (lw_task["status"].as_str(), version(&lw_task)),
            (Some("requested"), 1)
        );
        receives(
            lw_platform,
            &lw_task_id,
            1,
            "requested",
            "the link-worker platform",
            gateway,
        )
        .await;
        assert!(
            gp_system.received().is_empty(),
            "the GP is not told of its own referral"
        );
        self.sr_id = sr_id;
        self.lw_task_id = lw_task_id;
        lw_task
    }

    /// The link worker accepts and starts work; the GP system hears each change, the platform
    /// does not hear its own.
    async fn link_worker_accepts_and_starts_work(&self, lw_task: &Value) {
        let _step = Step("link_worker_accepts_and_starts_work");
        let (lw, gp_system, lw_platform, gateway) =
            (&self.lw, &self.gp_system, &self.lw_platform, &self.gateway);
        let lw_task_id = &self.lw_task_id;
        let accepted = lw
            .update(lw_task, |t| t["status"] = json!("accepted"))
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
            gp_system,
            lw_task_id,
            2,
            "accepted",
            "the GP system",
            gateway,
        )
        .await;
        receives(
            gp_system,
            lw_task_id,
            3,
            "in-progress",
            "the GP system",
            gateway,
        )
        .await;
        assert_eq!(
            tasks_received(lw_platform).len(),
            1,
            "the platform is not told of its own changes"
        );
    }

    /// Onward referrals: the walking group is pushed to; the debt advice service polls.
    /// Returns the debt advice service's Task.
    async fn link_worker_refers_onward(&mut self) -> Value {
        let _step = Step("link_worker_refers_onward");
        let (lw, vcs1, vcs2, walking_group, gateway) = (
            &self.lw,
            &self.vcs1,
            &self.vcs2,
            &self.walking_group,
            &self.gateway,
        );
        let (sr_id, lw_task_id) = (&self.sr_id, &self.lw_task_id);
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
            walking_group,
            &walk_task_id,
            1,
            "requested",
            "the walking group",
            gateway,
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
        self.walk_task_id = walk_task_id;
        debt_task
    }

    /// The debt advice service declines; the link-worker Task records it and both upstream
    /// parties hear.
    async fn debt_advice_declines(&self, debt_task: &Value) {
        let _step = Step("debt_advice_declines");
        let (lw, vcs2, gp_system, lw_platform, gateway) = (
            &self.lw,
            &self.vcs2,
            &self.gp_system,
            &self.lw_platform,
            &self.gateway,
        );
        let lw_task_id = &self.lw_task_id;
        let declined = vcs2
            .update(debt_task, |t| {
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
            lw_platform,
            debt_task["id"].as_str().expect("id"),
            2,
            "rejected",
            "the link-worker platform",
            gateway,
        )
        .await;
        receives(
            lw_platform,
            lw_task_id,
            4,
            "in-progress",
            "the link-worker platform",
            gateway,
        )
        .await;
        receives(
            gp_system,
            lw_task_id,
            4,
            "in-progress",
            "the GP system",
            gateway,
        )
        .await;
    }

    /// The walking group accepts, runs and completes its part. Returns the link worker's Task.
    async fn walking_group_completes(&self) -> Value {
        let _step = Step("walking_group_completes");
        let (lw, vcs1, gp_system, lw_platform, gateway) = (
            &self.lw,
            &self.vcs1,
            &self.gp_system,
            &self.lw_platform,
            &self.gateway,
        );
        let (lw_task_id, walk_task_id) = (&self.lw_task_id, &self.walk_task_id);
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
            lw_platform,
            walk_task_id,
            4,
            "completed",
            "the link-worker platform",
            gateway,
        )
        .await;
        receives(
            gp_system,
            lw_task_id,
            6,
            "in-progress",
            "the GP system",
            gateway,
        )
        .await;
        lw_v6
    }

    /// The link worker completes with the outcome measures; the GP's referral completes.
    async fn link_worker_completes_with_outcomes(&self, lw_v6: &Value) {
        let _step = Step("link_worker_completes_with_outcomes");
        let (lw, gp_system, gateway) = (&self.lw, &self.gp_system, &self.gateway);
        let lw_task_id = &self.lw_task_id;
        let done = lw
            .update(lw_v6, |t| {
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
            gp_system,
            lw_task_id,
            7,
            "completed",
            "the GP system",
            gateway,
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
    }

    async fn the_gp_sees_the_referral_completed(&self) {
        let _step = Step("the_gp_sees_the_referral_completed");
        let (gp, vcs1) = (&self.gp, &self.vcs1);
        let (sr_id, lw_task_id, walk_task_id) = (&self.sr_id, &self.lw_task_id, &self.walk_task_id);
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
    }

    /// The history of the link worker's Task tells the whole story.
    async fn the_history_tells_the_whole_story(&self) {
        let _step = Step("the_history_tells_the_whole_story");
        let (gp, lw_task_id) = (&self.gp, &self.lw_task_id);
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
    }

    /// A refused request naming the person by NHS number: refusals are logged, but not that.
    async fn a_search_by_nhs_number_is_refused(&self) {
        let _step = Step("a_search_by_nhs_number_is_refused");
        let vcs1 = &self.vcs1;
        let (status, _) = vcs1
            .send(vcs1.http.get(format!(
                "{}/AuditEvent?entity-identifier=https://fhir.nhs.uk/Id/nhs-number|{NHS_NUMBER}",
                vcs1.fhir
            )))
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN);
    }

    /// Requests without a token naming the person in their path and query, percent-encoded.
    async fn token_less_requests_spell_the_person_in_their_paths(&self) {
        let _step = Step("token_less_requests_spell_the_person_in_their_paths");
        let encoded =
            |text: &str| -> String { text.bytes().map(|b| format!("%{b:02X}")).collect() };
        let http = &self.vcs1.http;
        for url in [
            format!(
                "{}/ServiceRequest?subject:identifier=https://fhir.nhs.uk/Id/nhs-number%7C{}",
                self.vcs1.fhir,
                encoded(NHS_NUMBER)
            ),
            format!(
                "{}/Patient/{}",
                self.vcs1.fhir,
                encoded("Margaret Okafor 1948-03-14 S1 2AB")
            ),
        ] {
            let status = http.get(&url).send().await.expect("send").status();
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{url}");
        }
    }

    /// The gateway's log (JSON lines outside the sandbox) never holds the person's details.
    fn the_log_never_holds_the_persons_details(&self) {
        let _step = Step("the_log_never_holds_the_persons_details");
        let gateway = &self.gateway;
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
        let leaked = support::patient_data_in(&log);
        assert!(leaked.is_empty(), "the log holds {leaked:?}");
    }

    /// Every delivery to each partner was unique.
    fn every_delivery_was_unique(&self) {
        let _step = Step("every_delivery_was_unique");
        let (gp_system, lw_platform, walking_group) =
            (&self.gp_system, &self.lw_platform, &self.walking_group);
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
}
