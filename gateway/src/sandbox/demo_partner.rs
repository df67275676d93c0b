//! The sandbox's demo partners: webhook receivers served by the sandbox itself, so pushed
//! deliveries, a retry and a dead letter can be seen without running a partner system.
//!
//! The walking group's receiver asks for one retry of each message (503) before taking it; the
//! debt advice service's refuses the first delivery of each message (400), which makes it a dead
//! letter an operator can replay. Both verify the Standard Webhooks signature, as a real
//! receiver must.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use serde_json::Value;
use signpost_adapters::webhook::Secret;

use crate::config::Config;

/// Where the demo receivers listen, below the sandbox's base URL.
pub const PATH_PREFIX: &str = "/sandbox/partners/";

/// How a demo receiver answers the first delivery of each message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FirstAnswer {
    /// 503: try again later (a transient failure, retried with backoff).
    Busy,
    /// 400: refused (a permanent failure: the delivery is dead at once).
    Refuse,
}

/// The demo receivers' behaviour, by ODS code.
const BEHAVIOUR: &[(&str, FirstAnswer)] = &[
    ("VCS001", FirstAnswer::Busy),
    ("VCS002", FirstAnswer::Refuse),
];

struct Receiver {
    secret: Secret,
    first: FirstAnswer,
    /// `webhook-id`s seen: the first delivery of each is answered as `first` says.
    seen: Mutex<HashSet<String>>,
}

type Receivers = Arc<HashMap<String, Receiver>>;

/// The receivers for every organisation whose webhook points into the sandbox itself.
pub fn router(config: &Config) -> Router {
    let own = format!(
        "{}{PATH_PREFIX}",
        config.server.base_url.trim_end_matches('/')
    );
    let mut receivers = HashMap::new();
    for org in &config.organisations {
        let Some(adapter) = &org.adapter else {
            continue;
        };
        let settings = adapter.settings_json();
        let points_here = settings["url"]
            .as_str()
            .is_some_and(|url| url.starts_with(&own));
        let secret = settings["secret"]
            .as_str()
            .and_then(|s| Secret::parse(s).ok());
        let first = BEHAVIOUR
            .iter()
            .find(|(ods, _)| *ods == org.ods.as_str())
            .map(|(_, first)| *first);
        if let (true, Some(secret), Some(first)) = (points_here, secret, first) {
            receivers.insert(
                org.ods.as_str().to_owned(),
                Receiver {
                    secret,
                    first,
                    seen: Mutex::default(),
                },
            );
        }
    }
    Router::new()
        .route("/sandbox/partners/{ods}/webhook", post(receive))
        .with_state(Arc::new(receivers))
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

async fn receive(
    State(receivers): State<Receivers>,
    Path(ods): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, &'static str) {
    let Some(receiver) = receivers.get(&ods) else {
        return (StatusCode::NOT_FOUND, "no demo partner here");
    };
    let (Some(id), Some(timestamp), Some(signature)) = (
        header(&headers, "webhook-id"),
        header(&headers, "webhook-timestamp"),
        header(&headers, "webhook-signature"),
    ) else {
        return (StatusCode::UNAUTHORIZED, "unsigned");
    };
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    if let Err(e) = receiver.secret.verify(id, timestamp, &body, signature, now) {
        tracing::warn!(partner = %ods, error = %e, "demo partner: signature refused");
        return (StatusCode::UNAUTHORIZED, "bad signature");
    }
    let event: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let first_time = receiver
        .seen
        .lock()
        .map(|mut seen| seen.insert(id.to_owned()))
        .unwrap_or(false);
    let described = format!(
        "{} Task/{} v{} ({})",
        event["type"].as_str().unwrap_or("an event"),
        event["task"]["id"].as_str().unwrap_or("?"),
        event["task"]["version"].as_str().unwrap_or("?"),
        event["task"]["status"].as_str().unwrap_or("?"),
    );
    match (first_time, receiver.first) {
        (true, FirstAnswer::Busy) => {
            tracing::info!(partner = %ods, event = %described, "demo partner: busy, asks for a retry");
            (StatusCode::SERVICE_UNAVAILABLE, "busy: try again shortly")
        }
        (true, FirstAnswer::Refuse) => {
            tracing::info!(partner = %ods, event = %described, "demo partner: refuses the first delivery");
            (
                StatusCode::BAD_REQUEST,
                "refused: this demo partner refuses the first delivery of every message",
            )
        }
        (false, _) => {
            tracing::info!(partner = %ods, event = %described, "demo partner: received");
            (StatusCode::OK, "received")
        }
    }
}
