//! `fhir-rest`: writes the Task and its ServiceRequest to the partner's FHIR server
//! as one transaction Bundle of conditional-free PUTs, so a retry overwrites rather than duplicates.

mod config;
#[cfg(test)]
mod tests;

use std::sync::Arc;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use serde_json::value::RawValue;

pub use config::{EXAMPLE, FhirRestConfig};

use crate::registry::{AdapterConfigError, Registration, settings};
use crate::{Adapter, Delivery, DeliveryError, Outbound, Receipt, StoredDelivery, http};

/// The config `kind` of this adapter.
pub const KIND: &str = "fhir-rest";

/// Its line in the registry.
pub const REGISTRATION: Registration = Registration {
    kind: KIND,
    build,
    example: EXAMPLE,
};

/// Delivers to a partner's FHIR R4 server.
pub struct FhirRest {
    config: FhirRestConfig,
    client: reqwest::Client,
}

/// Builds the adapter from its settings; FHIR REST partners send nothing back through it.
pub fn build(value: &Value) -> Result<Adapter, AdapterConfigError> {
    let config: FhirRestConfig = settings(value)?;
    config.check()?;
    Ok(Adapter::outbound_only(Arc::new(FhirRest::new(config)?)))
}

impl FhirRest {
    /// An adapter for one partner.
    pub fn new(config: FhirRestConfig) -> Result<Self, AdapterConfigError> {
        let client = http::client(Some(config.connect_timeout()), config.timeout())?;
        Ok(Self { config, client })
    }
}

/// The transaction Bundle, borrowing the resources it carries as the store holds them: written
/// straight to the request body, so a delivery neither reads the Task and ServiceRequest into
/// trees nor copies them into a second one (reading, dropping and writing those trees was about
/// 6% of the gateway's CPU while delivering, issue 27).
#[derive(Debug, Serialize)]
pub struct TransactionBundle<'a> {
    #[serde(rename = "resourceType")]
    resource_type: &'static str,
    #[serde(rename = "type")]
    kind: &'static str,
    entry: [Entry<'a>; 2],
}

/// One `PUT` of the Bundle.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Entry<'a> {
    full_url: String,
    resource: &'a RawValue,
    request: Request,
}

/// What addresses a resource on the partner's server; the rest of it is skipped unread.
#[derive(Deserialize)]
struct Address {
    #[serde(rename = "resourceType", default)]
    resource_type: Option<String>,
    #[serde(default)]
    id: Option<String>,
}

/// An entry's request.
#[derive(Debug, Serialize)]
struct Request {
    method: &'static str,
    url: String,
}

/// The transaction Bundle: the ServiceRequest first so the Task's focus resolves on the partner's server.
///
/// Each `fullUrl` is absolute, the partner's base plus type and id: R4 requires an absolute URL
/// there (a relative one is invalid), and relative references such as the Task's
/// `ServiceRequest/{id}` then resolve against that base. A resource without its type or id
/// cannot be addressed, so it is refused rather than sent as `ServiceRequest/`.
pub fn transaction_bundle<'a>(
    delivery: &'a StoredDelivery,
    base: &str,
) -> Result<TransactionBundle<'a>, DeliveryError> {
    let base = base.trim_end_matches('/');
    let entry = |resource: &'a RawValue, what: &str| {
        let address: Address = serde_json::from_str(resource.get()).map_err(|e| {
            DeliveryError::permanent(format!(
                "the {what} in the delivery cannot be addressed on the partner's server: {e}"
            ))
        })?;
        let missing = |name: &str| {
            DeliveryError::permanent(format!(
                "the {what} in the delivery has no {name}; it cannot be addressed on the partner's server"
            ))
        };
        let rtype = (address.resource_type)
            .filter(|v| !v.is_empty())
            .ok_or_else(|| missing("resourceType"))?;
        let id = (address.id)
            .filter(|v| !v.is_empty())
            .ok_or_else(|| missing("id"))?;
        Ok::<_, DeliveryError>(Entry {
            full_url: format!("{base}/{rtype}/{id}"),
            resource,
            request: Request {
                method: "PUT",
                url: format!("{rtype}/{id}"),
            },
        })
    };
    Ok(TransactionBundle {
        resource_type: "Bundle",
        kind: "transaction",
        entry: [
            entry(&delivery.focus, "ServiceRequest")?,
            entry(&delivery.task, "Task")?,
        ],
    })
}

#[async_trait]
impl Outbound for FhirRest {
    fn kind(&self) -> &'static str {
        KIND
    }

    fn timeout(&self) -> std::time::Duration {
        self.config.timeout()
    }

    async fn deliver(&self, delivery: &Delivery) -> Result<Receipt, DeliveryError> {
        let stored = delivery.stored().map_err(|e| {
            DeliveryError::permanent(format!("could not write the resources out: {e}"))
        })?;
        self.deliver_stored(&stored).await
    }

    async fn deliver_stored(&self, delivery: &StoredDelivery) -> Result<Receipt, DeliveryError> {
        let bundle = transaction_bundle(delivery, &self.config.url)?;
        let body = serde_json::to_vec(&bundle).map_err(|e| {
            DeliveryError::permanent(format!("could not serialise the bundle: {e}"))
        })?;
        let response = self
            .client
            .post(self.config.url.trim_end_matches('/'))
            .header(reqwest::header::CONTENT_TYPE, "application/fhir+json")
            .header(reqwest::header::ACCEPT, "application/fhir+json")
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
