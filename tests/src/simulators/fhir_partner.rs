//! A partner's FHIR server (e.g. a link-worker platform) that records what Signpost delivers
//! and can be told to fail, to exercise retries.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use serde_json::Value;

/// One request the partner received.
#[derive(Debug, Clone)]
pub struct Received {
    /// `X-Request-Id`: the idempotency key.
    pub request_id: Option<String>,
    /// `X-Correlation-Id`.
    pub correlation_id: Option<String>,
    /// The body (a transaction Bundle for `fhir-rest`).
    pub body: Value,
    /// Whether the partner answered 2xx.
    pub accepted: bool,
}

#[derive(Default)]
struct Behaviour {
    fail_next: u32,
    down: bool,
    received: Vec<Received>,
}

/// A running simulated FHIR server.
#[derive(Clone)]
pub struct FhirPartner {
    addr: SocketAddr,
    behaviour: Arc<Mutex<Behaviour>>,
}

async fn receive(
    State(behaviour): State<Arc<Mutex<Behaviour>>>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let mut b = lock(&behaviour);
    let accepted = if b.down {
        false
    } else if b.fail_next > 0 {
        b.fail_next -= 1;
        false
    } else {
        true
    };
    b.received.push(Received {
        request_id: header("x-request-id"),
        correlation_id: header("x-correlation-id"),
        body: serde_json::from_slice(&body).unwrap_or(Value::Null),
        accepted,
    });
    if accepted {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    }
}

fn lock(m: &Mutex<Behaviour>) -> MutexGuard<'_, Behaviour> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl FhirPartner {
    /// Starts the server on an ephemeral port of 127.0.0.1.
    pub async fn start() -> std::io::Result<Self> {
        let behaviour = Arc::new(Mutex::new(Behaviour::default()));
        let app = Router::new()
            .route("/fhir", post(receive))
            .with_state(behaviour.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        tokio::spawn(async move { axum::serve(listener, app).await });
        Ok(Self { addr, behaviour })
    }

    /// Its FHIR base URL.
    pub fn url(&self) -> String {
        format!("http://{}/fhir", self.addr)
    }

    /// Answer 503 to the next `n` requests.
    pub fn fail_next(&self, n: u32) {
        lock(&self.behaviour).fail_next = n;
    }

    /// While down, answer 503 to everything.
    pub fn set_down(&self, down: bool) {
        lock(&self.behaviour).down = down;
    }

    /// Everything received so far.
    pub fn received(&self) -> Vec<Received> {
        lock(&self.behaviour).received.clone()
    }

    /// The Tasks in accepted deliveries, one per distinct idempotency key.
    pub fn accepted_tasks(&self) -> Vec<Value> {
        let mut seen = std::collections::HashSet::new();
        self.received()
            .into_iter()
            .filter(|r| r.accepted && seen.insert(r.request_id.clone()))
            .filter_map(|r| {
                r.body["entry"].as_array().and_then(|entries| {
                    entries
                        .iter()
                        .map(|e| &e["resource"])
                        .find(|res| res["resourceType"] == "Task")
                        .cloned()
                })
            })
            .collect()
    }

    /// Waits until `done` holds for what was received, or the timeout passes.
    pub async fn wait_until(&self, timeout: Duration, done: impl Fn(&[Received]) -> bool) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if done(&self.received()) {
                return true;
            }
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }
}
