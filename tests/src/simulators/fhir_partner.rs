//! A partner's endpoint (a link-worker platform's FHIR server, a GP system, a charity's webhook
//! receiver) that records what Signpost delivers and can be told to fail, refuse or hang.

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
    /// The body as JSON (a transaction Bundle for `fhir-rest`, an event for `webhook`).
    pub body: Value,
    /// The body exactly as sent.
    pub raw: Vec<u8>,
    /// Whether the partner answered 2xx.
    pub accepted: bool,
    /// Every header, lower-case names.
    pub headers: Vec<(String, String)>,
}

impl Received {
    /// A header's value.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

struct Behaviour {
    fail_next: u32,
    down: bool,
    failure: (StatusCode, String),
    delay: Duration,
    received: Vec<Received>,
    /// The 2xx answer's body instead of the usual one.
    acknowledgement: Option<String>,
}

impl Default for Behaviour {
    fn default() -> Self {
        Self {
            fail_next: 0,
            down: false,
            failure: (StatusCode::SERVICE_UNAVAILABLE, String::new()),
            delay: Duration::ZERO,
            received: Vec::new(),
            acknowledgement: None,
        }
    }
}

/// A running simulated partner.
#[derive(Clone)]
pub struct FhirPartner {
    addr: SocketAddr,
    behaviour: Arc<Mutex<Behaviour>>,
}

fn lock(m: &Mutex<Behaviour>) -> MutexGuard<'_, Behaviour> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Records the request at once (so a hung partner is seen to have received it), then answers.
async fn receive(
    State(behaviour): State<Arc<Mutex<Behaviour>>>,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, String) {
    let (answer, delay) = {
        let mut b = lock(&behaviour);
        let accepted = if b.down {
            false
        } else if b.fail_next > 0 {
            b.fail_next -= 1;
            false
        } else {
            true
        };
        let header = |name: &str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        b.received.push(Received {
            request_id: header("x-request-id"),
            correlation_id: header("x-correlation-id"),
            body: serde_json::from_slice(&body).unwrap_or(Value::Null),
            raw: body.to_vec(),
            accepted,
            headers: headers
                .iter()
                .filter_map(|(k, v)| {
                    v.to_str()
                        .ok()
                        .map(|v| (k.as_str().to_owned(), v.to_owned()))
                })
                .collect(),
        });
        let answer = if accepted {
            // A BaRS receiver's synchronous answer echoes the message (BaRS API example
            // `ValidationRequest (HTTP Response)`); a FHIR server's transaction answer is not checked.
            let json = &b
                .received
                .last()
                .map(|r| r.body.clone())
                .unwrap_or(Value::Null);
            let body = match &b.acknowledgement {
                Some(fixed) => fixed.clone(),
                None if json["type"] == "message" => String::from_utf8_lossy(&body).into_owned(),
                None => "{}".to_owned(),
            };
            (StatusCode::OK, body)
        } else {
            b.failure.clone()
        };
        (answer, b.delay)
    };
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    answer
}

impl FhirPartner {
    /// Starts the partner on an ephemeral port of 127.0.0.1; it takes POSTs at `/fhir`.
    pub async fn start() -> std::io::Result<Self> {
        let behaviour = Arc::new(Mutex::new(Behaviour::default()));
        let app = Router::new()
            .route("/fhir", post(receive))
            .route("/fhir/$process-message", post(receive))
            .with_state(behaviour.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        tokio::spawn(async move { axum::serve(listener, app).await });
        Ok(Self { addr, behaviour })
    }

    /// Its URL (a FHIR base for `fhir-rest`, an endpoint for `webhook`).
    pub fn url(&self) -> String {
        format!("http://{}/fhir", self.addr)
    }

    /// Fail the next `n` requests.
    pub fn fail_next(&self, n: u32) {
        lock(&self.behaviour).fail_next = n;
    }

    /// How failures are answered (default 503 with an empty body).
    pub fn fail_with(&self, status: u16, body: &str) {
        lock(&self.behaviour).failure = (
            StatusCode::from_u16(status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE),
            body.to_owned(),
        );
    }

    /// Acknowledge with this body (default: a message echoed, `{}` otherwise).
    pub fn acknowledge_with(&self, body: &str) {
        lock(&self.behaviour).acknowledgement = Some(body.to_owned());
    }

    /// Wait this long before answering each request (a hung partner).
    pub fn delay(&self, delay: Duration) {
        lock(&self.behaviour).delay = delay;
    }

    /// While down, answer every request with the failure answer.
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
