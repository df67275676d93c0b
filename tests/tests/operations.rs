//! Operating the real binary: readiness, and a SIGTERM in the middle of load.

use crate::support;

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use signpost_conformance::simulators::FhirPartner;
use support::{GatewayProcess, write_config};

const REFERRAL: &str = signpost_profiles::examples::REFERRAL_FROM_GP;

#[tokio::test]
async fn readiness_reports_the_store_its_migrations_and_the_delivery_worker() {
    let dir = tempfile::tempdir().expect("tempdir");
    let partner = FhirPartner::start().await.expect("partner");
    let gateway =
        GatewayProcess::start(&write_config(dir.path(), &partner.url()), dir.path()).await;
    let base = gateway.fhir.trim_end_matches("/fhir").to_owned();
    let ready = reqwest::get(format!("{base}/readyz"))
        .await
        .expect("readyz");
    assert_eq!(ready.status(), reqwest::StatusCode::OK);
    let body: Value = ready.json().await.expect("json");
    assert_eq!(body["ready"], true);
    assert_eq!(body["store"], "ok");
    assert_eq!(body["delivery_worker"], "running");
    assert_eq!(
        reqwest::get(format!("{base}/healthz"))
            .await
            .expect("healthz")
            .status(),
        reqwest::StatusCode::OK
    );
}

#[tokio::test]
async fn refusals_are_logged_with_route_status_and_issue_codes_but_no_patient_data() {
    let dir = tempfile::tempdir().expect("tempdir");
    let partner = FhirPartner::start().await.expect("partner");
    let gateway =
        GatewayProcess::start(&write_config(dir.path(), &partner.url()), dir.path()).await;
    let token = gateway.gp_token(dir.path()).await;
    let http = reqwest::Client::new();
    let post = |content_type: &'static str, body: String| {
        http.post(format!("{}/ServiceRequest", gateway.fhir))
            .bearer_auth(&token)
            .header("content-type", content_type)
            .body(body)
            .send()
    };
    let mut invalid: Value = serde_json::from_str(REFERRAL).expect("example");
    invalid["status"] = Value::from("draft");
    invalid["intent"] = Value::from("wish");
    let unprocessable = post("application/fhir+json", invalid.to_string())
        .await
        .expect("post");
    assert_eq!(
        unprocessable.status(),
        reqwest::StatusCode::UNPROCESSABLE_ENTITY
    );
    let unsupported = post("text/plain", REFERRAL.to_owned()).await.expect("post");
    assert_eq!(
        unsupported.status(),
        reqwest::StatusCode::UNSUPPORTED_MEDIA_TYPE
    );

    let mut refusals = Vec::new();
    for _ in 0..50 {
        refusals = gateway
            .log()
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(|l| l.to_string().contains("request refused"))
            .collect();
        if refusals.len() >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let text = refusals
        .iter()
        .map(Value::to_string)
        .collect::<Vec<_>>()
        .join("\n");
    assert_eq!(refusals.len(), 2, "{}", gateway.log());
    for (line, status, code) in [
        (&refusals[0], "422", "value"),
        (&refusals[1], "415", "not-supported"),
    ] {
        let line = line.to_string();
        assert!(
            line.contains("\"POST\"") && line.contains("/fhir/{type}"),
            "{line}"
        );
        assert!(line.contains(status), "{line}");
        assert!(line.contains(code), "{line}");
    }
    for private in ["9434765919", "Okafor", "1948-03-14", "07700 900123"] {
        assert!(!text.contains(private), "{private} reached the log: {text}");
    }
}

#[tokio::test]
async fn sigterm_under_load_answers_completely_and_loses_nothing_acknowledged() {
    let dir = tempfile::tempdir().expect("tempdir");
    let partner = FhirPartner::start().await.expect("partner");
    let config = write_config(dir.path(), &partner.url());
    let mut gateway = GatewayProcess::start(&config, dir.path()).await;
    let token = gateway.gp_token(dir.path()).await;
    let url = format!("{}/ServiceRequest", gateway.fhir);

    let acknowledged: Arc<Mutex<HashSet<String>>> = Arc::default();
    let incomplete: Arc<Mutex<Vec<String>>> = Arc::default();
    let mut clients = Vec::new();
    for client in 0..6 {
        let (url, token, acknowledged, incomplete) = (
            url.clone(),
            token.clone(),
            acknowledged.clone(),
            incomplete.clone(),
        );
        clients.push(tokio::spawn(async move {
            let http = reqwest::Client::new();
            for n in 0..10_000 {
                let body = REFERRAL.replace("RS-2026-000184", &format!("RS-T-{client}-{n}"));
                let sent = http
                    .post(&url)
                    .bearer_auth(&token)
                    .header("content-type", "application/fhir+json")
                    .body(body)
                    .send()
                    .await;
                let Ok(response) = sent else { break };
                let status = response.status();
                match response
                    .text()
                    .await
                    .map(|t| serde_json::from_str::<Value>(&t))
                {
                    Ok(Ok(json)) if status == reqwest::StatusCode::CREATED => {
                        acknowledged
                            .lock()
                            .expect("lock")
                            .insert(json["id"].as_str().unwrap_or_default().to_owned());
                    }
                    Ok(Ok(json)) if json["resourceType"] == "OperationOutcome" => {}
                    other => incomplete
                        .lock()
                        .expect("lock")
                        .push(format!("{status}: {other:?}")),
                }
            }
        }));
    }
    while acknowledged.lock().expect("lock").len() < 30 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let clean_exit = tokio::task::spawn_blocking(move || {
        let clean = gateway.terminate();
        (clean, gateway.log())
    })
    .await
    .expect("join");
    for c in clients {
        let _ = c.await;
    }
    assert!(
        clean_exit.0,
        "SIGTERM did not end in exit 0:\n{}",
        clean_exit.1
    );
    assert!(
        incomplete.lock().expect("lock").is_empty(),
        "half answers: {:?}",
        incomplete.lock().expect("lock")
    );
    let acknowledged = acknowledged.lock().expect("lock").clone();

    // Everything acknowledged is stored, and delivered once the gateway is back.
    let gateway = GatewayProcess::start(&config, dir.path()).await;
    let token = gateway.gp_token(dir.path()).await;
    let http = reqwest::Client::new();
    for id in &acknowledged {
        let response = http
            .get(format!("{}/ServiceRequest/{id}", gateway.fhir))
            .bearer_auth(&token)
            .send()
            .await
            .expect("get");
        assert_eq!(
            response.status(),
            reqwest::StatusCode::OK,
            "{id} was acknowledged but is gone"
        );
    }
    let delivered = partner
        .wait_until(Duration::from_secs(30), |_| {
            let focuses: HashSet<String> = partner
                .accepted_tasks()
                .iter()
                .filter_map(|t| {
                    t["focus"]["reference"]
                        .as_str()
                        .map(|r| r.trim_start_matches("ServiceRequest/").to_owned())
                })
                .collect();
            acknowledged.is_subset(&focuses)
        })
        .await;
    assert!(
        delivered,
        "not every acknowledged referral was delivered:\n{}",
        gateway.log()
    );
}

/// The value of the first sample line of `name` whose labels include all of `labels`.
fn sample(metrics: &str, name: &str, labels: &[&str]) -> Option<f64> {
    metrics
        .lines()
        .filter(|l| l.starts_with(&format!("{name}{{")) || l.starts_with(&format!("{name} ")))
        .find(|l| labels.iter().all(|label| l.contains(label)))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

#[tokio::test]
async fn metrics_count_requests_tokens_and_deliveries() {
    let dir = tempfile::tempdir().expect("tempdir");
    let partner = FhirPartner::start().await.expect("partner");
    let gateway =
        GatewayProcess::start(&write_config(dir.path(), &partner.url()), dir.path()).await;
    let token = gateway.gp_token(dir.path()).await;
    let http = reqwest::Client::new();
    for body in [
        REFERRAL.to_owned(),
        REFERRAL.replace("RS-2026-000184", "RS-M-2"),
        REFERRAL.replace("9434765919", "9434765918"),
    ] {
        http.post(format!("{}/ServiceRequest", gateway.fhir))
            .bearer_auth(&token)
            .header("content-type", "application/fhir+json")
            .body(body)
            .send()
            .await
            .expect("post");
    }
    assert!(
        partner
            .wait_until(Duration::from_secs(20), |_| partner.accepted_tasks().len()
                == 2)
            .await
    );
    let base = gateway.fhir.trim_end_matches("/fhir").to_owned();
    // Deliveries are counted right after the partner answers and marked delivered in the store
    // just after that: give the worker a moment to do both.
    let mut metrics = String::new();
    for _ in 0..100 {
        metrics = reqwest::get(format!("{base}/metrics"))
            .await
            .expect("metrics")
            .text()
            .await
            .expect("text");
        let counted = sample(
            &metrics,
            "signpost_deliveries_total",
            &["outcome=\"delivered\""],
        )
        .is_some_and(|v| v >= 2.0);
        if counted && sample(&metrics, "signpost_outbox_pending", &[]) == Some(0.0) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let created = [
        "route=\"/fhir/{type}\"",
        "method=\"POST\"",
        "status=\"201\"",
    ];
    assert_eq!(
        sample(&metrics, "http_requests_total", &created),
        Some(2.0),
        "{metrics}"
    );
    let refused = ["route=\"/fhir/{type}\"", "status=\"422\""];
    assert_eq!(
        sample(&metrics, "http_requests_total", &refused),
        Some(1.0),
        "{metrics}"
    );
    assert!(
        sample(
            &metrics,
            "http_request_duration_seconds_count",
            &["route=\"/fhir/{type}\""]
        )
        .is_some_and(|v| v >= 3.0),
        "{metrics}"
    );
    assert_eq!(
        sample(
            &metrics,
            "signpost_token_requests_total",
            &["outcome=\"granted\""]
        ),
        Some(1.0),
        "{metrics}"
    );
    assert_eq!(
        sample(
            &metrics,
            "signpost_deliveries_total",
            &["adapter=\"fhir-rest\"", "outcome=\"delivered\""]
        ),
        Some(2.0),
        "{metrics}"
    );
    assert_eq!(
        sample(&metrics, "signpost_outbox_pending", &[]),
        Some(0.0),
        "{metrics}"
    );
    assert_eq!(
        sample(&metrics, "signpost_outbox_dead", &[]),
        Some(0.0),
        "{metrics}"
    );
    assert!(
        !metrics.contains("9434765919"),
        "metrics carry no identifiers"
    );
}
