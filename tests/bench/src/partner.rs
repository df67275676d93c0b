//! A link-worker platform's FHIR endpoint that notes when each referral first reaches it: the far
//! end of the delivery lag.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Instant;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;

type Receipts = Arc<Mutex<HashMap<String, Instant>>>;

/// A running partner on 127.0.0.1.
#[derive(Clone)]
pub struct Partner {
    url: String,
    receipts: Receipts,
}

fn lock(receipts: &Receipts) -> MutexGuard<'_, HashMap<String, Instant>> {
    receipts.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The ServiceRequest id of a `fhir-rest` delivery: its first entry is `PUT ServiceRequest/{id}`.
fn service_request_id(bundle: &serde_json::Value) -> Option<String> {
    bundle["entry"]
        .as_array()?
        .iter()
        .filter_map(|e| e["request"]["url"].as_str())
        .find_map(|url| url.strip_prefix("ServiceRequest/"))
        .map(str::to_owned)
}

async fn receive(State(receipts): State<Receipts>, body: Bytes) -> StatusCode {
    let at = Instant::now();
    match serde_json::from_slice(&body)
        .ok()
        .as_ref()
        .and_then(service_request_id)
    {
        Some(id) => {
            lock(&receipts).entry(id).or_insert(at);
            StatusCode::OK
        }
        None => StatusCode::BAD_REQUEST,
    }
}

impl Partner {
    /// Starts on an ephemeral port; deliveries go to [`url`](Self::url).
    pub async fn start() -> std::io::Result<Self> {
        let receipts = Receipts::default();
        let app = Router::new()
            .route("/fhir", post(receive))
            .with_state(receipts.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}/fhir", listener.local_addr()?);
        tokio::spawn(async move { axum::serve(listener, app).await });
        Ok(Self { url, receipts })
    }

    /// A partner when the target delivers to one (`wanted`), none when its link worker polls.
    pub async fn start_if(wanted: bool) -> std::io::Result<Option<Self>> {
        Ok(if wanted {
            Some(Self::start().await?)
        } else {
            None
        })
    }

    /// Its FHIR base, for the `fhir-rest` adapter.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// When the referral with this ServiceRequest id first arrived.
    pub fn received(&self, service_request: &str) -> Option<Instant> {
        lock(&self.receipts).get(service_request).copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_service_request_in_a_transaction() {
        let bundle = serde_json::json!({"resourceType": "Bundle", "entry": [
            {"request": {"method": "PUT", "url": "ServiceRequest/s1"}},
            {"request": {"method": "PUT", "url": "Task/t1"}}
        ]});
        assert_eq!(service_request_id(&bundle).as_deref(), Some("s1"));
        assert_eq!(service_request_id(&serde_json::json!({})), None);
    }
}
