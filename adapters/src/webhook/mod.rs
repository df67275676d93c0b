//! `webhook`: a compact JSON event per Task change, signed per Standard Webhooks, for partners
//! whose system is a small web app rather than a FHIR server. The same secret verifies the
//! partner's status updates coming back ([`inbound`]).

mod config;
pub mod inbound;
pub mod signature;
#[cfg(test)]
mod tests;

use std::sync::Arc;

use async_trait::async_trait;
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

pub use config::{EXAMPLE, WebhookConfig};
pub use inbound::{
    CapacityUpdate, InboundError, Signed, SignedCapacityUpdate, SignedStatusUpdate, StatusUpdate,
    StatusUpdates,
};
pub use signature::{Secret, SignatureError, TOLERANCE};

use crate::registry::{AdapterConfigError, Registration, settings};
use crate::{Adapter, Delivery, DeliveryError, DeliveryEvent, Inbound, Outbound, Receipt, http};

/// The config `kind` of this adapter.
pub const KIND: &str = "webhook";

/// Its line in the registry.
pub const REGISTRATION: Registration = Registration {
    kind: KIND,
    build,
    example: EXAMPLE,
};

/// Delivers signed events to one partner.
pub struct Webhook {
    url: String,
    secret: Secret,
    client: reqwest::Client,
    timeout: std::time::Duration,
}

/// Builds both directions from the settings: signed events out, and the verifier of the
/// partner's status updates, with the one secret parsed once.
pub fn build(value: &Value) -> Result<Adapter, AdapterConfigError> {
    let config: WebhookConfig = settings(value)?;
    let secret = config.check()?;
    let client = http::client(None, config.timeout())?;
    Ok(Adapter {
        inbound: Some(Inbound::WebhookStatus(StatusUpdates::new(secret.clone()))),
        outbound: Arc::new(Webhook {
            timeout: config.timeout(),
            url: config.url,
            secret,
            client,
        }),
    })
}

/// The event body: what changed, with just enough of the referral to act on.
pub fn event(delivery: &Delivery, occurred_at: OffsetDateTime) -> Value {
    let task = &delivery.task;
    let focus = &delivery.focus;
    let kind = match delivery.event {
        DeliveryEvent::TaskCreated => "task.created",
        DeliveryEvent::TaskUpdated => "task.updated",
    };
    json!({
        "type": kind,
        "occurred_at": occurred_at.format(&Rfc3339).unwrap_or_default(),
        "task": {
            "id": task["id"],
            "version": task["meta"]["versionId"],
            "status": task["status"],
            "owner": task.pointer("/owner/identifier/value"),
            "requester": task.pointer("/requester/identifier/value"),
            "focus": {
                "id": focus["id"],
                "service": focus.pointer("/code/coding/0/display").or_else(|| focus.pointer("/code/text")),
                "reason": focus.pointer("/reasonCode/0/text"),
                "status": focus["status"],
            },
        },
    })
}

#[async_trait]
impl Outbound for Webhook {
    fn kind(&self) -> &'static str {
        KIND
    }

    fn timeout(&self) -> std::time::Duration {
        self.timeout
    }

    async fn deliver(&self, delivery: &Delivery) -> Result<Receipt, DeliveryError> {
        let now = OffsetDateTime::now_utc();
        let body = serde_json::to_vec(&event(delivery, now))
            .map_err(|e| DeliveryError::permanent(format!("could not serialise the event: {e}")))?;
        let timestamp = now.unix_timestamp();
        // The id is the delivery's idempotency key: the same on every retry; the timestamp and signature are fresh.
        let signature = self
            .secret
            .sign(&delivery.idempotency_key, timestamp, &body);
        let response = self
            .client
            .post(&self.url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header("webhook-id", &delivery.idempotency_key)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", signature)
            .header("X-Correlation-Id", &delivery.correlation_id)
            .headers(http::trace_headers(delivery))
            .body(body)
            .send()
            .await
            .map_err(|e| http::transport_error(&e))?;
        http::classify(response).await
    }
}
