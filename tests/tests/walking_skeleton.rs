//! A referral travels from a GP system through the real `signpost` binary to a link-worker platform.

use crate::support;

use std::collections::HashSet;
use std::time::Duration;

use serde_json::Value;
use signpost_conformance::simulators::FhirPartner;
use support::{GatewayProcess, write_config};

const REFERRAL: &str = signpost_profiles::examples::REFERRAL_FROM_GP;
const PATIENCE: Duration = Duration::from_secs(20);

/// A correlation id (a UUID, as Signpost requires) of each referral's own.
fn correlation_for(identifier: &str) -> String {
    let n = identifier.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    format!(
        "{:08x}-0000-4000-8000-{:012x}",
        n >> 32,
        n & 0xffff_ffff_ffff
    )
}

async fn post_referral(
    gateway: &GatewayProcess,
    dir: &std::path::Path,
    identifier: &str,
) -> (reqwest::StatusCode, Value) {
    let body = REFERRAL.replace("RS-2026-000184", identifier);
    let response = reqwest::Client::new()
        .post(format!("{}/ServiceRequest", gateway.fhir))
        .bearer_auth(gateway.gp_token(dir).await)
        .header("content-type", "application/fhir+json")
        .header("x-correlation-id", correlation_for(identifier))
        .body(body)
        .send()
        .await
        .expect("post");
    (
        response.status(),
        response.json().await.unwrap_or(Value::Null),
    )
}

#[tokio::test]
async fn the_task_arrives_at_the_link_worker_with_owner_focus_and_patient() {
    let dir = tempfile::tempdir().expect("tempdir");
    let partner = FhirPartner::start().await.expect("partner");
    let gateway =
        GatewayProcess::start(&write_config(dir.path(), &partner.url()), dir.path()).await;

    let (status, sr) = post_referral(&gateway, dir.path(), "RS-1").await;
    assert_eq!(status, reqwest::StatusCode::CREATED, "{sr}");
    assert!(
        partner
            .wait_until(PATIENCE, |r| r.iter().any(|r| r.accepted))
            .await,
        "nothing delivered:\n{}",
        gateway.log()
    );

    let received = partner.received();
    assert_eq!(received.len(), 1);
    let delivery = &received[0];
    assert_eq!(
        delivery.correlation_id.as_deref(),
        Some(correlation_for("RS-1").as_str())
    );
    assert!(delivery.request_id.is_some());
    assert_eq!(delivery.body["type"], "transaction");
    let task = &partner.accepted_tasks()[0];
    assert_eq!(task["owner"]["identifier"]["value"], "LWS001");
    assert_eq!(task["requester"]["identifier"]["value"], "A81001");
    assert_eq!(
        task["focus"]["reference"],
        format!("ServiceRequest/{}", sr["id"].as_str().expect("id"))
    );
    assert_eq!(
        task["for"]["identifier"]["system"],
        "https://fhir.nhs.uk/Id/nhs-number"
    );
    assert_eq!(task["for"]["identifier"]["value"], "9434765919");
    let delivered_sr = &delivery.body["entry"][0]["resource"];
    assert_eq!(delivered_sr["id"], sr["id"]);
    assert_eq!(delivered_sr["subject"]["identifier"]["value"], "9434765919");
}

#[tokio::test]
async fn a_partner_failing_twice_gets_the_task_on_the_third_attempt_with_one_idempotency_key() {
    let dir = tempfile::tempdir().expect("tempdir");
    let partner = FhirPartner::start().await.expect("partner");
    partner.fail_next(2);
    let gateway =
        GatewayProcess::start(&write_config(dir.path(), &partner.url()), dir.path()).await;

    let (status, _) = post_referral(&gateway, dir.path(), "RS-2").await;
    assert_eq!(status, reqwest::StatusCode::CREATED);
    assert!(
        partner
            .wait_until(PATIENCE, |r| r.iter().any(|r| r.accepted))
            .await,
        "never delivered:\n{}",
        gateway.log()
    );
    // Give a wrongly repeated delivery the chance to show itself.
    tokio::time::sleep(Duration::from_millis(500)).await;

    let received = partner.received();
    assert_eq!(
        received.iter().map(|r| r.accepted).collect::<Vec<_>>(),
        vec![false, false, true]
    );
    let keys: HashSet<_> = received.iter().map(|r| r.request_id.clone()).collect();
    assert_eq!(
        keys.len(),
        1,
        "the idempotency key changed between retries: {keys:?}"
    );
    assert_eq!(partner.accepted_tasks().len(), 1);
}

#[tokio::test]
async fn referrals_acknowledged_before_a_crash_are_delivered_after_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let partner = FhirPartner::start().await.expect("partner");
    partner.set_down(true);
    let config = write_config(dir.path(), &partner.url());

    let mut gateway = GatewayProcess::start(&config, dir.path()).await;
    let mut acknowledged = HashSet::new();
    for n in 0..8 {
        let (status, sr) = post_referral(&gateway, dir.path(), &format!("RS-crash-{n}")).await;
        assert_eq!(status, reqwest::StatusCode::CREATED);
        acknowledged.insert(sr["id"].as_str().expect("id").to_owned());
    }
    assert!(
        partner.wait_until(PATIENCE, |r| !r.is_empty()).await,
        "no delivery was even attempted"
    );
    gateway.kill();
    assert!(partner.accepted_tasks().is_empty());

    partner.set_down(false);
    let gateway = GatewayProcess::start(&config, dir.path()).await;
    let all_delivered = partner
        .wait_until(PATIENCE, |_| {
            let focuses: HashSet<String> = partner
                .accepted_tasks()
                .iter()
                .filter_map(|t| {
                    t["focus"]["reference"]
                        .as_str()
                        .map(|r| r.trim_start_matches("ServiceRequest/").to_owned())
                })
                .collect();
            focuses == acknowledged
        })
        .await;
    assert!(
        all_delivered,
        "not every acknowledged referral was delivered after the restart:\n{}",
        gateway.log()
    );

    // And each is still readable from the store.
    let http = reqwest::Client::new();
    let token = gateway.gp_token(dir.path()).await;
    for id in &acknowledged {
        let response = http
            .get(format!("{}/ServiceRequest/{id}", gateway.fhir))
            .bearer_auth(&token)
            .send()
            .await
            .expect("get");
        let status = response.status();
        assert_eq!(
            status,
            reqwest::StatusCode::OK,
            "{id}: {}",
            response.text().await.unwrap_or_default()
        );
    }
}
