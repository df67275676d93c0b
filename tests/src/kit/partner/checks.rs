//! The checks a link-worker platform or VCS provider must pass.

use std::time::Instant;

use serde_json::json;
use signpost_adapters::DeliveryEvent;

use super::PartnerContext;
use crate::kit::check::{Body, Check, fail};
use crate::kit::http::Exchange;
use crate::kit::runner::skip;

/// Every partner check.
pub static CHECKS: &[Check<PartnerContext>] = &[
    Check {
        id: "partner.accepts-new-task",
        title: "a new referral Task is acknowledged with a 2xx",
        requirement: "README, Delivery and adapters: adapters (fhir-rest transaction, BaRS $process-message, Standard Webhooks)",
        run: accepts_new_task,
    },
    Check {
        id: "partner.duplicate-is-idempotent",
        title: "the same delivery sent twice is acknowledged both times",
        requirement: "README, Delivery and adapters: at-least-once delivery, receivers drop duplicates (PUT by id, X-Request-Id, webhook-id)",
        run: duplicate_is_idempotent,
    },
    Check {
        id: "partner.accepts-update",
        title: "a change to a Task it holds (cancelled by the referrer) is acknowledged",
        requirement: "README, The referral journey: status flows down the chain",
        run: accepts_update,
    },
    Check {
        id: "partner.reports-status",
        title: "the partner reports accepting or declining the referral, correctly, within the time limit",
        requirement: "README, The referral journey and Delivery and adapters: status flows back (FHIR Task update with If-Match, or a signed Standard Webhooks status message)",
        run: reports_status,
    },
];

fn accepts_new_task(cx: &PartnerContext) -> Body<'_> {
    Box::pin(async move {
        cx.deliver_new(&cx.referral(), "a new Task").await?;
        Ok(())
    })
}

fn duplicate_is_idempotent(cx: &PartnerContext) -> Body<'_> {
    Box::pin(async move {
        let referral = cx.referral();
        let key = uuid::Uuid::new_v4().to_string();
        cx.deliver(
            &cx.delivery(&referral, DeliveryEvent::TaskCreated, &key, 1),
            "the first delivery",
        )
        .await?;
        cx.deliver(
            &cx.delivery(&referral, DeliveryEvent::TaskCreated, &key, 2),
            "the same delivery again",
        )
        .await?;
        Ok(())
    })
}

fn accepts_update(cx: &PartnerContext) -> Body<'_> {
    Box::pin(async move {
        let mut referral = cx.referral();
        cx.deliver_new(&referral, "a new Task").await?;
        referral.task["status"] = json!("cancelled");
        referral.task["meta"]["versionId"] = json!("2");
        referral.task["statusReason"] = json!({"text": "The person no longer wants the referral"});
        cx.deliver(
            &cx.delivery(
                &referral,
                DeliveryEvent::TaskUpdated,
                &uuid::Uuid::new_v4().to_string(),
                1,
            ),
            "the cancelled Task",
        )
        .await?;
        Ok(())
    })
}

fn reports_status(cx: &PartnerContext) -> Body<'_> {
    Box::pin(async move {
        let Some(callback) = &cx.target.callback else {
            return Err(skip(
                "run with --status-back to check that the partner reports status",
            ));
        };
        let referral = cx.referral();
        let task_id = referral.task["id"].as_str().unwrap_or_default().to_owned();
        cx.deliver_new(&referral, "a new Task").await?;
        let started = Instant::now();
        loop {
            let reports: Vec<_> = callback
                .reports()
                .into_iter()
                .filter(|r| r.task_id == task_id)
                .collect();
            if let Some(report) = reports.first() {
                if let Ok(mut log) = cx.log.lock() {
                    log.extend(reports.iter().map(|r| Exchange {
                        request: format!("partner → kit: {}", r.via),
                        request_headers: Vec::new(),
                        request_body: r.body.clone(),
                        status: Some(if r.problem.is_some() { 422 } else { 200 }),
                        response_body: r.problem.clone().unwrap_or_default(),
                    }));
                }
                return match &report.problem {
                    None => Ok(()),
                    Some(problem) => Err(fail("a correct status report", problem.clone())),
                };
            }
            if started.elapsed() > cx.target.status_timeout {
                return Err(fail(
                    format!(
                        "a status report for Task/{task_id} within {} s at {}",
                        cx.target.status_timeout.as_secs(),
                        callback.url
                    ),
                    "none arrived",
                ));
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    })
}
