//! `bars`: NHS Booking and Referral Standard messaging. Each delivery is a FHIR message Bundle
//! (MessageHeader first) posted to the receiver's `$process-message`, with the BaRS headers.
//! Everything in the message is derived from the delivery, so a retry is byte-identical and
//! carries the same `X-Request-Id`, as BaRS requires of a retry.

mod config;
pub mod inbound;
#[cfg(test)]
mod tests;

use std::sync::Arc;

use async_trait::async_trait;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};

pub use config::{BarsConfig, EXAMPLE};

use crate::registry::{AdapterConfigError, Registration, settings};
use crate::{Adapter, Delivery, DeliveryError, DeliveryEvent, Receipt, http};

/// The config `kind` of this adapter.
pub const KIND: &str = "bars";

/// Its line in the registry.
pub const REGISTRATION: Registration = Registration {
    kind: KIND,
    build,
    example: EXAMPLE,
};
/// BaRS message events (https://fhir.nhs.uk/CodeSystem/message-events-bars).
pub const EVENT_SYSTEM: &str = "https://fhir.nhs.uk/CodeSystem/message-events-bars";
/// BaRS message reasons (https://fhir.nhs.uk/CodeSystem/message-reason-bars).
pub const REASON_SYSTEM: &str = "https://fhir.nhs.uk/CodeSystem/message-reason-bars";
/// The referral request MessageDefinition.
pub const REFERRAL_DEFINITION: &str =
    "https://fhir.nhs.uk/MessageDefinition/bars-message-servicerequest-request-referral";

/// Delivers to one BaRS receiver.
pub struct Bars {
    config: BarsConfig,
    client: reqwest::Client,
}

/// Builds the adapter from its settings. A BaRS receiver answers each message synchronously;
/// the messages a GP system sends Signpost are read by [`inbound`], whoever sends them.
pub fn build(value: &Value) -> Result<Adapter, AdapterConfigError> {
    let config: BarsConfig = settings(value)?;
    config.check()?;
    let client = http::client(None, config.timeout())?;
    Ok(Adapter::outbound_only(Arc::new(Bars { config, client })))
}

fn entry(resource: &Value) -> Value {
    json!({"fullUrl": format!("urn:uuid:{}", resource["id"].as_str().unwrap_or_default()), "resource": resource})
}

/// The message Bundle: MessageHeader, then the ServiceRequest (its focus) and the Task.
pub fn message(delivery: &Delivery, config: &BarsConfig) -> Value {
    let sr_id = delivery.focus["id"].as_str().unwrap_or_default();
    // A cancelled or ended referral is an update; BaRS carries the cancellation in ServiceRequest.status.
    let reason = match delivery.event {
        DeliveryEvent::TaskCreated => "new",
        DeliveryEvent::TaskUpdated => "update",
    };
    let timestamp = delivery
        .task
        .pointer("/meta/lastUpdated")
        .cloned()
        .unwrap_or(Value::Null);
    let header = json!({
        "resourceType": "MessageHeader",
        "id": delivery.idempotency_key,
        "eventCoding": {"system": EVENT_SYSTEM, "code": "servicerequest-request"},
        "destination": [{"endpoint": format!("{}|{}", config.target_system, config.target_identifier)}],
        "source": {"name": "Signpost", "software": "Signpost", "version": env!("CARGO_PKG_VERSION"), "endpoint": config.source_endpoint},
        "reason": {"coding": [{"system": REASON_SYSTEM, "code": reason}]},
        "focus": [{"reference": format!("urn:uuid:{sr_id}")}],
        "definition": REFERRAL_DEFINITION,
    });
    json!({
        "resourceType": "Bundle",
        "id": delivery.id,
        "meta": {"profile": ["https://fhir.nhs.uk/StructureDefinition/BARSBundleMessage"]},
        "type": "message",
        "timestamp": timestamp,
        "entry": [
            {"fullUrl": format!("urn:uuid:{}", delivery.idempotency_key), "resource": header},
            entry(&delivery.focus),
            entry(&delivery.task),
        ],
    })
}

/// `NHSD-Target-Identifier`: Base64 of `{"value": ..., "system": ...}`.
pub fn target_identifier(config: &BarsConfig) -> String {
    STANDARD.encode(
        json!({"value": config.target_identifier, "system": config.target_system}).to_string(),
    )
}

#[async_trait]
impl crate::Outbound for Bars {
    fn kind(&self) -> &'static str {
        KIND
    }

    fn timeout(&self) -> std::time::Duration {
        self.config.timeout()
    }

    async fn deliver(&self, delivery: &Delivery) -> Result<Receipt, DeliveryError> {
        let body = serde_json::to_vec(&message(delivery, &self.config)).map_err(|e| {
            DeliveryError::permanent(format!("could not serialise the message: {e}"))
        })?;
        let software = STANDARD.encode(
            json!({"resourceType": "Device", "deviceName": [{"name": "Signpost", "type": "manufacturer-name"}],
                   "version": [{"value": env!("CARGO_PKG_VERSION")}]})
            .to_string(),
        );
        let requester = delivery
            .task
            .pointer("/requester")
            .cloned()
            .unwrap_or(Value::Null);
        let end_user = STANDARD.encode(
            json!({"resourceType": "Organization", "identifier": [requester["identifier"]], "name": requester["display"]}).to_string(),
        );
        let response = self
            .client
            .post(format!(
                "{}/$process-message",
                self.config.url.trim_end_matches('/')
            ))
            .header(reqwest::header::CONTENT_TYPE, "application/fhir+json")
            .header(reqwest::header::ACCEPT, "application/fhir+json")
            .header("NHSD-Target-Identifier", target_identifier(&self.config))
            .header("NHSD-Requesting-Software", software)
            .header("NHSD-End-User-Organisation", end_user)
            .header("X-Request-Id", &delivery.idempotency_key)
            .header("X-Correlation-Id", &delivery.correlation_id)
            .headers(http::trace_headers(delivery))
            .body(body)
            .send()
            .await
            .map_err(|e| http::transport_error(&e))?;
        http::classify(response).await
    }
}
