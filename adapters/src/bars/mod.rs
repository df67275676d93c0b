//! `bars`: NHS Booking and Referral Standard messaging. Each delivery is a FHIR message Bundle
//! (MessageHeader first) posted to the receiver's `$process-message`, with the BaRS headers.
//! Everything in the message is derived from the delivery, so a retry is byte-identical and
//! carries the same `X-Request-Id`, as BaRS requires of a retry.

mod config;
pub mod inbound;
mod message;
#[cfg(test)]
mod tests;

use std::sync::Arc;

use async_trait::async_trait;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};

pub use config::{BarsConfig, EXAMPLE};
pub use message::{
    BUNDLE_PROFILE, CANCELLED_DEFINITION, CATEGORY_SYSTEM, Direction, EVENT_SYSTEM, MessageError,
    Party, REASON_SYSTEM, REFERRAL_DEFINITION, REQUEST_HEADER_PROFILE, RESPONSE_DEFINITION,
    RESPONSE_HEADER_PROFILE, SERVICE_REQUEST_PROFILE, bundle_id, destination, direction, message,
    request_message_id, sender,
};

use crate::registry::{AdapterConfigError, Registration, settings};
use crate::{Adapter, Delivery, DeliveryError, Receipt, http};

/// The config `kind` of this adapter.
pub const KIND: &str = "bars";

/// Its line in the registry.
pub const REGISTRATION: Registration = Registration {
    kind: KIND,
    build,
    example: EXAMPLE,
};
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

/// Signpost as a product, the same in every installation: the BaRS API asks that the
/// requesting software's identifier be consistent across instances of a product.
pub const SOFTWARE_ID: &str = "urn:uuid:5b0e6d2a-8c1f-4a57-9b3e-0c6f2d9a7e41";

/// `Accept`: FHIR JSON and the BaRS API version (the API takes its version from this header).
pub fn accept(config: &BarsConfig) -> String {
    format!("application/fhir+json; version={}", config.api_version)
}

/// `NHSD-Requesting-Software`: Base64 of a FHIR Device naming Signpost and its version.
pub fn requesting_software() -> String {
    STANDARD.encode(
        json!({
            "resourceType": "Device",
            "identifier": [{"system": "urn:ietf:rfc:3986", "value": SOFTWARE_ID}],
            "deviceName": [{"name": "Signpost", "type": "manufacturer-name"}],
            "version": [{"value": env!("CARGO_PKG_VERSION")}],
        })
        .to_string(),
    )
}

/// `NHSD-End-User-Organisation`: Base64 of a FHIR Organization, the one the message is sent for.
pub fn end_user_organisation(party: &Party) -> String {
    let mut org = json!({"resourceType": "Organization", "identifier": [party.identifier]});
    if let Some(name) = &party.name {
        org["name"] = json!(name);
    }
    STANDARD.encode(org.to_string())
}

/// `NHSD-Target-Identifier`: Base64 of `{"value": ..., "system": ...}` for where the message goes.
pub fn target_identifier(delivery: &Delivery, config: &BarsConfig) -> String {
    let (system, value) = destination(delivery, config);
    STANDARD.encode(json!({"value": value, "system": system}).to_string())
}

#[async_trait]
impl crate::Outbound for Bars {
    fn kind(&self) -> &'static str {
        KIND
    }

    fn timeout(&self) -> std::time::Duration {
        self.config.timeout()
    }

    /// A BaRS response names the request message it answers: a requester whose referral did not
    /// come as a BaRS message cannot be sent one.
    fn can_announce(&self, task: &Value, focus: &Value, destination: &str) -> bool {
        let is = |element: &str| task[element]["identifier"]["value"].as_str() == Some(destination);
        is("owner")
            || !is("requester")
            || message::kept(focus, inbound::REQUEST_MESSAGE_EXTENSION).is_some()
    }

    async fn deliver(&self, delivery: &Delivery) -> Result<Receipt, DeliveryError> {
        let unsendable = |e: MessageError| {
            DeliveryError::permanent(format!("cannot build the BaRS message: {e}"))
        };
        let bundle = message(delivery, &self.config).map_err(unsendable)?;
        let body = serde_json::to_vec(&bundle).map_err(|e| {
            DeliveryError::permanent(format!("could not serialise the message: {e}"))
        })?;
        let on_behalf_of = sender(delivery).map_err(unsendable)?;
        let response = self
            .client
            .post(format!(
                "{}/$process-message",
                self.config.url.trim_end_matches('/')
            ))
            .header(reqwest::header::CONTENT_TYPE, "application/fhir+json")
            .header(reqwest::header::ACCEPT, accept(&self.config))
            .header(
                "NHSD-Target-Identifier",
                target_identifier(delivery, &self.config),
            )
            .header("NHSD-Requesting-Software", requesting_software())
            .header(
                "NHSD-End-User-Organisation",
                end_user_organisation(&on_behalf_of),
            )
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
