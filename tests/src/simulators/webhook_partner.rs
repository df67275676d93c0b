//! A VCS provider's app that speaks only webhooks: it checks the signature on each event and,
//! when told where, reports accepting each new referral with a signed status message.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use serde_json::{Value, json};
use signpost_adapters::webhook::Secret;

/// How the simulated app behaves.
struct Behaviour {
    /// Verifies incoming events and signs outgoing status messages.
    secret: Secret,
    /// Signs status messages with this instead (a partner with the wrong secret).
    wrong_secret: Option<Secret>,
    /// `{base}/webhooks/{ods}/status` to report to, if any.
    report_to: Option<String>,
    /// Its ODS code.
    ods: String,
    /// Event bodies received with a valid signature.
    events: Vec<Value>,
}

/// A running webhook partner.
#[derive(Clone)]
pub struct WebhookPartner {
    addr: SocketAddr,
    behaviour: Arc<Mutex<Behaviour>>,
}

fn sign(secret: &Secret, body: &[u8]) -> (String, String, String) {
    let id = format!("msg_{}", uuid::Uuid::new_v4().simple());
    let timestamp = time::OffsetDateTime::now_utc().unix_timestamp();
    let signature = secret.sign(&id, timestamp, body);
    (id, timestamp.to_string(), signature)
}

async fn event(
    State(behaviour): State<Arc<Mutex<Behaviour>>>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let report = {
        let Ok(mut b) = behaviour.lock() else {
            return StatusCode::INTERNAL_SERVER_ERROR;
        };
        if b.secret
            .verify(
                &header("webhook-id"),
                &header("webhook-timestamp"),
                &body,
                &header("webhook-signature"),
                now,
            )
            .is_err()
        {
            return StatusCode::UNAUTHORIZED;
        }
        let json: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        b.events.push(json.clone());
        match (&b.report_to, json["type"].as_str()) {
            (Some(base), Some("task.created")) => {
                let message =
                    json!({"task_id": json["task"]["id"], "status": "accepted"}).to_string();
                let signer = b.wrong_secret.as_ref().unwrap_or(&b.secret);
                let (id, timestamp, signature) = sign(signer, message.as_bytes());
                Some((
                    format!("{base}/webhooks/{}/status", b.ods),
                    message,
                    id,
                    timestamp,
                    signature,
                ))
            }
            _ => None,
        }
    };
    if let Some((url, message, id, timestamp, signature)) = report {
        // Reported after answering, as a real app would from its own queue.
        tokio::spawn(async move {
            let _ = reqwest::Client::new()
                .post(url)
                .header("content-type", "application/json")
                .header("webhook-id", id)
                .header("webhook-timestamp", timestamp)
                .header("webhook-signature", signature)
                .body(message)
                .send()
                .await;
        });
    }
    StatusCode::NO_CONTENT
}

impl WebhookPartner {
    /// Starts the app on 127.0.0.1; events are taken at `/events`.
    pub async fn start(secret: &str, ods: &str) -> std::io::Result<Self> {
        let secret = Secret::parse(secret).map_err(|e| std::io::Error::other(e.to_string()))?;
        let behaviour = Arc::new(Mutex::new(Behaviour {
            secret,
            wrong_secret: None,
            report_to: None,
            ods: ods.to_owned(),
            events: Vec::new(),
        }));
        let app = Router::new()
            .route("/events", post(event))
            .with_state(behaviour.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        tokio::spawn(async move { axum::serve(listener, app).await });
        Ok(Self { addr, behaviour })
    }

    /// Where events go.
    pub fn url(&self) -> String {
        format!("http://{}/events", self.addr)
    }

    /// Reports status to the gateway at `base` from now on.
    pub fn report_to(&self, base: &str) {
        if let Ok(mut b) = self.behaviour.lock() {
            b.report_to = Some(base.trim_end_matches('/').to_owned());
        }
    }

    /// Signs status messages with another secret from now on (a misconfigured partner).
    pub fn sign_with(&self, wrong: &str) -> Result<(), String> {
        let secret = Secret::parse(wrong).map_err(|e| e.to_string())?;
        if let Ok(mut b) = self.behaviour.lock() {
            b.wrong_secret = Some(secret);
        }
        Ok(())
    }

    /// Events received with a valid signature.
    pub fn events(&self) -> Vec<Value> {
        self.behaviour
            .lock()
            .map(|b| b.events.clone())
            .unwrap_or_default()
    }
}
