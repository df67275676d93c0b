//! `--role link-worker` and `--role vcs`: the kit plays the gateway against a partner's endpoint,
//! delivering Tasks through the same adapters Signpost uses.

mod callback;
mod checks;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use signpost_adapters::{Delivery, DeliveryEvent, Outbound, Receipt};

pub use callback::{Callback, StatusReport};
pub use checks::CHECKS;

use super::check::{Failure, fail};
use super::http::Exchange;
use super::runner::Context;

/// How to reach the partner and what to expect of it.
pub struct PartnerTarget {
    /// The adapter kind (`fhir-rest`, `bars`, `webhook`).
    pub kind: String,
    /// The partner's endpoint, as configured for that adapter.
    pub url: String,
    /// The adapter, built from the partner's settings.
    pub adapter: Arc<dyn Outbound>,
    /// The partner organisation's ODS code (the Tasks' owner).
    pub ods: String,
    /// Where status reports are received, when the partner is expected to send them.
    pub callback: Option<Callback>,
    /// How long to wait for a status report.
    pub status_timeout: Duration,
}

/// What every partner check runs with.
pub struct PartnerContext {
    /// The partner.
    pub target: Arc<PartnerTarget>,
    log: Mutex<Vec<Exchange>>,
}

impl Context for PartnerContext {
    fn exchanges(&self) -> Vec<Exchange> {
        self.log.lock().map(|l| l.clone()).unwrap_or_default()
    }
}

/// A fresh context per check.
pub fn contexts(target: PartnerTarget) -> impl Fn() -> PartnerContext {
    let target = Arc::new(target);
    move || PartnerContext {
        target: target.clone(),
        log: Mutex::default(),
    }
}

/// A referral and its Task for the partner, as Signpost would deliver them.
pub struct Referral {
    /// The Task (version 1, requested).
    pub task: Value,
    /// Its focus.
    pub focus: Value,
}

impl PartnerContext {
    /// A new referral Task owned by the partner.
    pub fn referral(&self) -> Referral {
        let task_id = uuid::Uuid::now_v7().to_string();
        let sr_id = uuid::Uuid::now_v7().to_string();
        let mut focus: Value = serde_json::from_str(signpost_profiles::examples::REFERRAL_FROM_GP)
            .unwrap_or(Value::Null);
        focus["id"] = json!(sr_id);
        focus["meta"] = json!({"versionId": "1"});
        let now = time::OffsetDateTime::now_utc()
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default();
        let task = json!({
            "resourceType": "Task",
            "id": task_id,
            "meta": {"versionId": "1", "lastUpdated": now},
            "status": "requested",
            "intent": "order",
            "code": {"coding": [{"system": "http://hl7.org/fhir/CodeSystem/task-code", "code": "fulfill"}]},
            "focus": {"reference": format!("ServiceRequest/{sr_id}")},
            "for": {"type": "Patient", "identifier": {"system": "https://fhir.nhs.uk/Id/nhs-number", "value": "9434765919"}},
            "authoredOn": now,
            "lastModified": now,
            "requester": {"type": "Organization", "identifier": {"system": "https://fhir.nhs.uk/Id/ods-organization-code", "value": "A81001"}},
            "owner": {"type": "Organization", "identifier": {"system": "https://fhir.nhs.uk/Id/ods-organization-code", "value": self.target.ods}},
        });
        Referral { task, focus }
    }

    /// A delivery of `task` (with its focus) for `event`; `key` is the idempotency key.
    pub fn delivery(
        &self,
        referral: &Referral,
        event: DeliveryEvent,
        key: &str,
        attempt: u32,
    ) -> Delivery {
        Delivery {
            id: key.to_owned(),
            idempotency_key: key.to_owned(),
            correlation_id: uuid::Uuid::new_v4().to_string(),
            destination: self.target.ods.clone(),
            event,
            task: referral.task.clone(),
            focus: referral.focus.clone(),
            attempt,
            traceparent: None,
        }
    }

    /// Delivers `referral`'s Task as new, under a fresh idempotency key.
    pub async fn deliver_new(&self, referral: &Referral, what: &str) -> Result<Receipt, Failure> {
        let key = uuid::Uuid::new_v4().to_string();
        self.deliver(
            &self.delivery(referral, DeliveryEvent::TaskCreated, &key, 1),
            what,
        )
        .await
    }

    /// Delivers through the adapter, recording what was sent and the partner's answer.
    pub async fn deliver(&self, delivery: &Delivery, what: &str) -> Result<Receipt, Failure> {
        let result = self.target.adapter.deliver(delivery).await;
        let (status, answer) = match &result {
            Ok(receipt) => (Some(receipt.status), String::new()),
            Err(e) => (None, e.record()),
        };
        if let Ok(mut log) = self.log.lock() {
            log.push(Exchange {
                request: format!(
                    "{} {} delivery of Task/{} v{} ({}, attempt {}) to {}",
                    self.target.kind,
                    delivery.event.as_str(),
                    delivery.task["id"].as_str().unwrap_or_default(),
                    delivery.task["meta"]["versionId"]
                        .as_str()
                        .unwrap_or_default(),
                    delivery.idempotency_key,
                    delivery.attempt,
                    self.target.url
                ),
                request_headers: Vec::new(),
                request_body: delivery.task.to_string(),
                status,
                response_body: answer.clone(),
            });
        }
        let receipt = result.map_err(|_| fail(format!("{what}: a 2xx acknowledgement"), answer))?;
        if self.target.kind == "bars" {
            // The Bundle.id the adapter gave the message it sent.
            let sent = signpost_adapters::bars::bundle_id(delivery)
                .map_err(|e| fail(format!("{what}: a BaRS message"), e.to_string()))?;
            if let Some(problem) = bars_acknowledgement_problem(&sent, receipt.answer.as_deref()) {
                return Err(fail(
                    format!(
                        "{what}: a BaRS acknowledgement (the message echoed, a servicerequest-response to Bundle {sent}, or an OperationOutcome without errors)"
                    ),
                    problem,
                ));
            }
        }
        Ok(receipt)
    }
}

/// What is wrong with a BaRS receiver's 2xx answer to the message whose Bundle.id is `sent`, if
/// anything. A BaRS receiver answers with a message (its synchronous response echoes the
/// request, as the BaRS API's own example does; a response message names the request in
/// `MessageHeader.response.identifier`) or an OperationOutcome; an empty or non-FHIR body is not
/// an acknowledgement the sender can rely on.
pub fn bars_acknowledgement_problem(sent: &str, answer: Option<&str>) -> Option<String> {
    let Some(answer) = answer else {
        return Some("an empty body".into());
    };
    let Ok(json) = serde_json::from_str::<Value>(answer) else {
        return Some(format!("a body that is not JSON: {answer}"));
    };
    match json["resourceType"].as_str() {
        Some("Bundle") => {
            let header = &json["entry"][0]["resource"];
            if json["type"] != "message" || header["resourceType"] != "MessageHeader" {
                return Some(format!(
                    "a Bundle that is not a message with its MessageHeader first: {answer}"
                ));
            }
            let event = header["eventCoding"]["code"].as_str();
            let names_it = match event {
                Some("servicerequest-response") => header["response"]["identifier"] == sent,
                _ => json["id"] == sent,
            };
            (!names_it).then(|| {
                format!(
                    "a {} message that does not answer Bundle {sent}: {answer}",
                    event.unwrap_or("(no event)")
                )
            })
        }
        Some("OperationOutcome") => {
            let errors = json["issue"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|i| matches!(i["severity"].as_str(), Some("error" | "fatal")));
            errors.then(|| format!("an OperationOutcome with errors: {answer}"))
        }
        _ => Some(format!(
            "a body that is not a FHIR message or OperationOutcome: {answer}"
        )),
    }
}
