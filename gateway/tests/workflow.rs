//! Task updates through the workflow rules: versions, transitions, actors, outcomes, propagation.

use crate::support;

use std::sync::Arc;

use reqwest::StatusCode;
use serde_json::{Value, json};
use support::{TestGateway, issue, referral};

const OUTCOME: &str = "https://signpost.example/fhir/CodeSystem/outcome-measure";
const TIMEPOINT: &str = "https://signpost.example/fhir/StructureDefinition/measure-timepoint";

fn version(resource: &Value) -> i64 {
    resource["meta"]["versionId"]
        .as_str()
        .and_then(|v| v.parse().ok())
        .expect("versionId")
}

fn score(code: &str, value: i64, timepoint: &str) -> Value {
    json!({"extension": [{"url": TIMEPOINT, "valueCode": timepoint}],
           "type": {"coding": [{"system": OUTCOME, "code": code}]}, "valueInteger": value})
}

#[tokio::test]
async fn updates_need_the_current_version_and_every_change_is_a_new_version() {
    let gw = TestGateway::spawn().await;
    let (_, task) = gw.referral_with_task().await;
    let mut accepted = task.clone();
    accepted["status"] = json!("accepted");

    let (status, _, outcome) = gw.put_task("riverside-lw", &accepted, None).await;
    assert_eq!(
        (status, issue(&outcome).0),
        (StatusCode::PRECONDITION_REQUIRED, "required")
    );
    let (status, _, outcome) = gw.put_task("riverside-lw", &accepted, Some(7)).await;
    assert_eq!(
        (status, issue(&outcome).0),
        (StatusCode::PRECONDITION_FAILED, "conflict")
    );
    let id = task["id"].as_str().expect("id");
    assert_eq!(
        version(&gw.get_as("riverside-lw", &format!("Task/{id}")).await.2),
        1,
        "a refused update changed the Task"
    );

    let (status, headers, v2) = gw.put_task("riverside-lw", &accepted, Some(1)).await;
    assert_eq!(status, StatusCode::OK, "{v2}");
    assert_eq!(headers["etag"], "W/\"2\"");
    assert_eq!((v2["status"].as_str(), version(&v2)), (Some("accepted"), 2));
    let (status, _, v3) = gw
        .patch_task(
            "riverside-lw",
            id,
            &json!([{"op": "replace", "path": "/status", "value": "in-progress"},
            {"op": "add", "path": "/businessStatus", "value": {"text": "first meeting booked"}}]),
            2,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{v3}");
    assert_eq!(
        (v3["status"].as_str(), version(&v3)),
        (Some("in-progress"), 3)
    );
    assert_eq!(v3["businessStatus"]["text"], "first meeting booked");

    let (_, _, history) = gw
        .get_as("riverside-gp", &format!("Task/{id}/_history"))
        .await;
    let statuses: Vec<&str> = history["entry"]
        .as_array()
        .expect("entries")
        .iter()
        .filter_map(|e| e["resource"]["status"].as_str())
        .collect();
    assert_eq!(statuses, vec!["in-progress", "accepted", "requested"]);
    let (_, _, v2_again) = gw
        .get_as("riverside-gp", &format!("Task/{id}/_history/2"))
        .await;
    assert_eq!(v2_again["status"], "accepted");

    let (status, _, outcome) = gw
        .patch_task(
            "riverside-lw",
            id,
            &json!([{"op": "test", "path": "/status", "value": "requested"}]),
            3,
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{outcome}");
}

#[tokio::test]
async fn forbidden_transitions_are_409_naming_both_statuses() {
    let gw = TestGateway::spawn().await;
    let (_, task) = gw.referral_with_task().await;
    for to in ["completed", "in-progress", "on-hold", "draft"] {
        let mut next = task.clone();
        next["status"] = json!(to);
        let (status, _, outcome) = gw.put_task("riverside-lw", &next, Some(1)).await;
        assert_eq!(status, StatusCode::CONFLICT, "requested -> {to}: {outcome}");
        let text = outcome["issue"][0]["diagnostics"]
            .as_str()
            .unwrap_or_default();
        assert!(
            text.contains("\"requested\"") && text.contains(&format!("\"{to}\"")),
            "{text}"
        );
        assert_eq!(issue(&outcome).1, "Task.status");
    }
    let accepted = gw.move_task("riverside-lw", &task, "accepted").await;
    let working = gw.move_task("riverside-lw", &accepted, "in-progress").await;
    let done = gw.move_task("riverside-lw", &working, "completed").await;
    for to in ["in-progress", "cancelled", "requested"] {
        let mut next = done.clone();
        next["status"] = json!(to);
        let (status, _, outcome) = gw
            .put_task(
                if to == "cancelled" {
                    "riverside-gp"
                } else {
                    "riverside-lw"
                },
                &next,
                Some(4),
            )
            .await;
        assert_eq!(status, StatusCode::CONFLICT, "completed -> {to}: {outcome}");
    }
    let mut bogus = done.clone();
    bogus["status"] = json!("finished");
    let (status, _, outcome) = gw.put_task("riverside-lw", &bogus, Some(4)).await;
    assert_eq!(
        (status, issue(&outcome)),
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            ("code-invalid", "Task.status")
        ),
        "{outcome}"
    );
}

#[tokio::test]
async fn each_party_makes_only_its_own_moves() {
    let gw = TestGateway::spawn().await;
    let (_, task) = gw.referral_with_task().await;
    let wrong = |client: &'static str, to: &'static str| {
        let mut next = task.clone();
        next["status"] = json!(to);
        (client, to, next)
    };
    for (client, to, next) in [
        wrong("riverside-gp", "accepted"),
        wrong("riverside-gp", "rejected"),
        wrong("riverside-lw", "cancelled"),
    ] {
        let (status, _, outcome) = gw.put_task(client, &next, Some(1)).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{client} -> {to}: {outcome}");
        assert_eq!(issue(&outcome).0, "forbidden");
    }
    // Not a party at all: the Task does not exist for them.
    let mut accepted = task.clone();
    accepted["status"] = json!("accepted");
    // Outsiders holding the update scope are told nothing exists; one without it is refused by scope first.
    for (outsider, expected) in [
        ("city-lw", StatusCode::NOT_FOUND),
        ("mill-lane-app", StatusCode::NOT_FOUND),
        ("hillside-gp", StatusCode::FORBIDDEN),
    ] {
        let (status, _, outcome) = gw.put_task(outsider, &accepted, Some(1)).await;
        assert_eq!(status, expected, "{outsider}: {outcome}");
    }
    // The GP may not report outcomes, nor may anyone re-point the Task.
    let mut outputs = task.clone();
    outputs["businessStatus"] = json!({"text": "seen"});
    assert_eq!(
        gw.put_task("riverside-gp", &outputs, Some(1)).await.0,
        StatusCode::FORBIDDEN
    );
    let mut repointed = task.clone();
    repointed["owner"]["identifier"]["value"] = json!("LWS002");
    let (status, _, outcome) = gw.put_task("riverside-lw", &repointed, Some(1)).await;
    assert_eq!(
        (status, issue(&outcome)),
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            ("business-rule", "Task.owner")
        )
    );
    let id = task["id"].as_str().expect("id");
    assert_eq!(
        version(&gw.get_as("riverside-lw", &format!("Task/{id}")).await.2),
        1
    );
    // The right party succeeds.
    let cancelled = gw.move_task("riverside-gp", &task, "cancelled").await;
    assert_eq!(cancelled["status"], "cancelled");
}

#[tokio::test]
async fn two_updates_racing_on_one_version_exactly_one_wins() {
    let gw = Arc::new(TestGateway::spawn().await);
    let (_, task) = gw.referral_with_task().await;
    gw.token("riverside-lw").await;
    let racers = [
        "accepted", "rejected", "accepted", "rejected", "received", "accepted",
    ]
    .map(|to| {
        let gw = gw.clone();
        let mut next = task.clone();
        next["status"] = json!(to);
        tokio::spawn(async move { gw.put_task("riverside-lw", &next, Some(1)).await.0 })
    });
    let mut statuses = Vec::new();
    for r in racers {
        statuses.push(r.await.expect("join"));
    }
    assert_eq!(
        statuses.iter().filter(|s| **s == StatusCode::OK).count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        statuses
            .iter()
            .filter(|s| **s == StatusCode::PRECONDITION_FAILED)
            .count(),
        5,
        "{statuses:?}"
    );
    let id = task["id"].as_str().expect("id");
    let (_, _, history) = gw
        .get_as("riverside-lw", &format!("Task/{id}/_history"))
        .await;
    assert_eq!(history["total"], 2);
}

#[tokio::test]
async fn completion_outcomes_are_checked_and_the_gp_sees_the_result() {
    let gw = TestGateway::spawn().await;
    let (sr, task) = gw.referral_with_task().await;
    let accepted = gw.move_task("riverside-lw", &task, "accepted").await;
    let working = gw.move_task("riverside-lw", &accepted, "in-progress").await;

    let mut bad = working.clone();
    bad["status"] = json!("completed");
    bad["output"] = json!([score("ons4-happiness", 11, "baseline"), {"type": {"coding": [{"system": "http://loinc.org", "code": "1-1"}]}, "valueInteger": 2}]);
    let (status, _, outcome) = gw.put_task("riverside-lw", &bad, Some(3)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{outcome}");
    let mut at: Vec<&str> = outcome["issue"]
        .as_array()
        .expect("issues")
        .iter()
        .filter_map(|i| i["expression"][0].as_str())
        .collect();
    at.sort_unstable();
    assert_eq!(
        at,
        vec!["Task.output[0].valueInteger", "Task.output[1].type"]
    );
    let sr_id = sr["id"].as_str().expect("id");
    assert_eq!(
        gw.get_as("riverside-gp", &format!("ServiceRequest/{sr_id}"))
            .await
            .2["status"],
        "active",
        "nothing changed"
    );

    let mut done = working.clone();
    done["status"] = json!("completed");
    done["output"] = json!([
        score("ons4-life-satisfaction", 4, "baseline"), score("ons4-life-satisfaction", 7, "follow-up"),
        score("ons4-worthwhile", 5, "baseline"), score("ons4-worthwhile", 7, "follow-up"),
        score("ons4-happiness", 3, "baseline"), score("ons4-happiness", 6, "follow-up"),
        score("ons4-anxiety", 8, "baseline"), score("ons4-anxiety", 4, "follow-up"),
        score("swemwbs-total", 17, "baseline"), score("swemwbs-total", 24, "follow-up"),
        score("ucla3-total", 8, "baseline"), score("ucla3-total", 5, "follow-up"),
        {"type": {"coding": [{"system": OUTCOME, "code": "vcs-service-attended"}]},
         "valueReference": {"identifier": {"system": "https://fhir.nhs.uk/Id/ods-organization-code", "value": "VCS001"}, "display": "Mill Lane Walking Group"}}
    ]);
    let (status, _, completed) = gw.put_task("riverside-lw", &done, Some(3)).await;
    assert_eq!(status, StatusCode::OK, "{completed}");
    let (_, _, gp_sr) = gw
        .get_as("riverside-gp", &format!("ServiceRequest/{sr_id}"))
        .await;
    assert_eq!(
        (gp_sr["status"].as_str(), version(&gp_sr)),
        (Some("completed"), 2)
    );
    let (_, _, gp_task) = gw
        .get_as(
            "riverside-gp",
            &format!("Task/{}", task["id"].as_str().expect("id")),
        )
        .await;
    assert_eq!(gp_task["output"].as_array().map(Vec::len), Some(13));
}

#[tokio::test]
async fn onward_referrals_hang_from_the_link_worker_task_and_a_gp_cancellation_reaches_them() {
    let gw = TestGateway::spawn().await;
    let (sr, task) = gw.referral_with_task().await;
    let sr_id = sr["id"].as_str().expect("id");
    let onward = |vcs: &str| {
        let mut body = referral();
        body["requester"] = json!({"identifier": {"system": "https://fhir.nhs.uk/Id/ods-organization-code", "value": "LWS001"}});
        body["performer"] = json!([{"identifier": {"system": "https://fhir.nhs.uk/Id/ods-organization-code", "value": vcs}}]);
        body["basedOn"] = json!([{"reference": format!("ServiceRequest/{sr_id}")}]);
        body["intent"] = json!("filler-order");
        body.to_string()
    };
    // Not before the link worker has accepted the referral.
    let (status, _, outcome) = gw
        .post_as("riverside-lw", "ServiceRequest", onward("VCS001"), &[])
        .await;
    assert_eq!(
        (status, issue(&outcome)),
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            ("business-rule", "ServiceRequest.basedOn[0]")
        )
    );
    gw.move_task("riverside-lw", &task, "accepted").await;
    // Only to a VCS organisation, and only from the link worker's own referral.
    let (status, _, _) = gw
        .post_as("riverside-lw", "ServiceRequest", onward("LWS002"), &[])
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, _, _) = gw
        .post_as(
            "city-lw",
            "ServiceRequest",
            onward("VCS001").replace("LWS001", "LWS002"),
            &[],
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);

    for vcs in ["VCS001", "VCS002"] {
        let (status, _, created) = gw
            .post_as("riverside-lw", "ServiceRequest", onward(vcs), &[])
            .await;
        assert_eq!(status, StatusCode::CREATED, "{created}");
    }
    let parent = format!("Task/{}", task["id"].as_str().expect("id"));
    let (_, _, children) = gw
        .get_as("riverside-lw", &format!("Task?part-of={parent}"))
        .await;
    assert_eq!(children["total"], 2);
    let (_, _, based_on) = gw
        .get_as(
            "riverside-lw",
            &format!("ServiceRequest?based-on=ServiceRequest/{sr_id}"),
        )
        .await;
    assert_eq!(based_on["total"], 2);
    let (_, _, mine) = gw
        .get_as("mill-lane-app", "Task?owner=VCS001&status=requested")
        .await;
    assert_eq!(mine["total"], 1);
    let vcs_task = mine["entry"][0]["resource"].clone();
    assert_eq!(vcs_task["partOf"][0]["reference"], parent);
    assert!(
        !vcs_task.to_string().contains("9434765919"),
        "the VCS Task carries no NHS number"
    );

    // VCS001 accepts: recorded on the link worker's Task.
    let vcs_accepted = gw.move_task("mill-lane-app", &vcs_task, "accepted").await;
    assert!(
        !vcs_accepted.to_string().contains("9434765919"),
        "the VCS gets its minimised view back"
    );
    let vcs_task_id = vcs_task["id"].as_str().expect("id");
    let (_, _, as_stored) = gw
        .get_as("riverside-lw", &format!("Task/{vcs_task_id}"))
        .await;
    assert_eq!(
        as_stored["for"]["identifier"]["value"], "9434765919",
        "what the VCS never saw was kept, not erased"
    );
    let (_, _, lw_task) = gw.get_as("riverside-lw", &parent).await;
    assert_eq!(version(&lw_task), 3);
    assert!(
        lw_task["note"]
            .to_string()
            .contains("Mill Lane Walking Group (VCS001) accepted"),
        "{lw_task}"
    );

    // The GP cancels: both open VCS Tasks are cancelled, the ServiceRequest revoked.
    let cancelled = gw.move_task("riverside-gp", &lw_task, "cancelled").await;
    assert_eq!(cancelled["status"], "cancelled");
    let (_, _, open) = gw
        .get_as(
            "riverside-lw",
            &format!("Task?part-of={parent}&status=requested,accepted,in-progress"),
        )
        .await;
    assert_eq!(open["total"], 0, "{open}");
    let (_, _, all) = gw
        .get_as(
            "riverside-lw",
            &format!("Task?part-of={parent}&status=cancelled"),
        )
        .await;
    assert_eq!(all["total"], 2);
    assert_eq!(
        gw.get_as("riverside-gp", &format!("ServiceRequest/{sr_id}"))
            .await
            .2["status"],
        "revoked"
    );
    let (_, _, onward_srs) = gw
        .get_as(
            "riverside-lw",
            &format!("ServiceRequest?based-on=ServiceRequest/{sr_id}&status=revoked"),
        )
        .await;
    assert_eq!(onward_srs["total"], 2);
}

#[tokio::test]
async fn a_person_declining_is_recorded_with_the_snomed_code_and_the_gp_sees_it() {
    let gw = TestGateway::spawn().await;
    let (sr, task) = gw.referral_with_task().await;
    let declined = json!({"coding": [{"system": "http://snomed.info/sct", "code": "871711000000103"}],
                          "text": "Did not want to be referred"});

    let mut going_on = task.clone();
    going_on["status"] = json!("accepted");
    going_on["statusReason"] = declined.clone();
    let (status, _, outcome) = gw.put_task("riverside-lw", &going_on, Some(1)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{outcome}");
    assert_eq!(outcome["issue"][0]["expression"][0], "Task.statusReason");

    let mut rejected = task.clone();
    rejected["status"] = json!("rejected");
    rejected["statusReason"] = declined;
    let (status, _, stored) = gw.put_task("riverside-lw", &rejected, Some(1)).await;
    assert_eq!(status, StatusCode::OK, "{stored}");
    let (_, _, gp_task) = gw
        .get_as(
            "riverside-gp",
            &format!("Task/{}", task["id"].as_str().expect("id")),
        )
        .await;
    assert_eq!(
        gp_task["statusReason"]["coding"][0],
        json!({"system": "http://snomed.info/sct", "code": "871711000000103",
               "display": "Social prescribing declined"})
    );
    let (_, _, gp_sr) = gw
        .get_as(
            "riverside-gp",
            &format!("ServiceRequest/{}", sr["id"].as_str().expect("id")),
        )
        .await;
    assert_eq!(gp_sr["status"], "revoked");
}

#[tokio::test]
async fn wellbeing_totals_are_stored_under_their_snomed_codes_whichever_alias_was_sent() {
    let gw = TestGateway::spawn().await;
    let (_, task) = gw.referral_with_task().await;
    let accepted = gw.move_task("riverside-lw", &task, "accepted").await;
    let working = gw.move_task("riverside-lw", &accepted, "in-progress").await;
    let snomed = |code: &str, value: i64| {
        json!({"extension": [{"url": TIMEPOINT, "valueCode": "baseline"}],
               "type": {"coding": [{"system": "http://snomed.info/sct", "code": code}]}, "valueInteger": value})
    };

    let mut bad = working.clone();
    bad["status"] = json!("completed");
    bad["output"] = json!([snomed("885541000000103", 71), snomed("718426000", 13)]);
    let (status, _, outcome) = gw.put_task("riverside-lw", &bad, Some(3)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{outcome}");
    let at: Vec<&str> = outcome["issue"]
        .as_array()
        .expect("issues")
        .iter()
        .filter_map(|i| i["expression"][0].as_str())
        .collect();
    assert_eq!(
        at,
        vec!["Task.output[0].valueInteger", "Task.output[1].valueInteger"]
    );

    let mut done = working.clone();
    done["status"] = json!("completed");
    done["output"] = json!([
        snomed("960481000000107", 18),
        score("swemwbs-total", 22, "follow-up"),
        snomed("885541000000103", 40),
        snomed("718426000", 52),
        {"extension": [{"url": TIMEPOINT, "valueCode": "baseline"}],
         "type": {"coding": [{"system": OUTCOME, "code": "ons-loneliness"}]},
         "valueCodeableConcept": {"coding": [{"system": "https://signpost.example/fhir/CodeSystem/loneliness-frequency", "code": "some-of-the-time"}]}}
    ]);
    let (status, _, completed) = gw.put_task("riverside-lw", &done, Some(3)).await;
    assert_eq!(status, StatusCode::OK, "{completed}");
    let (_, _, gp_task) = gw
        .get_as(
            "riverside-gp",
            &format!("Task/{}", task["id"].as_str().expect("id")),
        )
        .await;
    let codes: Vec<&str> = gp_task["output"]
        .as_array()
        .expect("outputs")
        .iter()
        .filter_map(|o| o["type"]["coding"][0]["code"].as_str())
        .collect();
    assert_eq!(
        codes,
        vec![
            "718466001",
            "718466001",
            "718426000",
            "718426000",
            "ons-loneliness"
        ]
    );
}
