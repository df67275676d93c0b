//! Where a partner reports status back while the kit plays the gateway: Signpost's own
//! `PUT /fhir/Task/{id}` and `POST /webhooks/{ods}/status`, checked as Signpost checks them.

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{post, put};
use serde_json::Value;
use signpost_adapters::webhook::Secret;

/// One status report a partner sent, and what was wrong with it, if anything.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusReport {
    /// `PUT /fhir/Task/{id}` or `POST /webhooks/{ods}/status`.
    pub via: String,
    /// The Task it is about.
    pub task_id: String,
    /// The status it reports.
    pub status: String,
    /// Why the kit refused it (`None`: accepted).
    pub problem: Option<String>,
    /// The body as sent.
    pub body: String,
}

#[derive(Clone)]
struct Shared {
    reports: Arc<Mutex<Vec<StatusReport>>>,
    secret: Option<Arc<Secret>>,
}

/// Statuses a partner may report on a new Task.
const FIRST_MOVES: [&str; 3] = ["received", "accepted", "rejected"];

/// The running callback endpoint.
pub struct Callback {
    /// Its base URL, e.g. `http://127.0.0.1:9400`.
    pub url: String,
    reports: Arc<Mutex<Vec<StatusReport>>>,
}

impl Callback {
    /// Listens on `addr`; webhook reports are verified with `secret`.
    pub async fn start(addr: &str, secret: Option<Secret>) -> std::io::Result<Self> {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let url = format!("http://{}", listener.local_addr()?);
        let shared = Shared {
            reports: Arc::default(),
            secret: secret.map(Arc::new),
        };
        let reports = shared.reports.clone();
        let app = Router::new()
            .route("/fhir/Task/{id}", put(fhir_update))
            .route("/webhooks/{ods}/status", post(webhook_status))
            .with_state(shared);
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(Self { url, reports })
    }

    /// Reports received so far.
    pub fn reports(&self) -> Vec<StatusReport> {
        self.reports.lock().map(|r| r.clone()).unwrap_or_default()
    }
}

fn record(shared: &Shared, report: StatusReport) -> StatusCode {
    let status = if report.problem.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    if let Ok(mut reports) = shared.reports.lock() {
        reports.push(report);
    }
    status
}

async fn fhir_update(
    State(shared): State<Shared>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let text = String::from_utf8_lossy(&body).into_owned();
    let task: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
    let status = task["status"].as_str().unwrap_or_default().to_owned();
    let problem = if headers.get("if-match").and_then(|v| v.to_str().ok()) != Some("W/\"1\"") {
        Some("a Task update must carry If-Match: W/\"1\" (the version delivered)".to_owned())
    } else if task["id"].as_str() != Some(id.as_str()) {
        Some(format!("the body's id must be {id}"))
    } else if !FIRST_MOVES.contains(&status.as_str()) {
        Some(format!(
            "a requested Task can move to {}, not \"{status}\"",
            FIRST_MOVES.join(", ")
        ))
    } else {
        signpost_profiles::Validator::standard()
            .ok()
            .map(|v| v.validate(&task))
            .filter(|issues| signpost_profiles::has_errors(issues))
            .map(|issues| {
                format!(
                    "the Task breaks the Signpost Task profile: {}",
                    issues
                        .iter()
                        .map(|i| i.diagnostics.as_str())
                        .collect::<Vec<_>>()
                        .join("; ")
                )
            })
    };
    record(
        &shared,
        StatusReport {
            via: format!("PUT /fhir/Task/{id}"),
            task_id: id,
            status,
            problem,
            body: text,
        },
    )
}

async fn webhook_status(
    State(shared): State<Shared>,
    Path(ods): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let text = String::from_utf8_lossy(&body).into_owned();
    let json: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let signature = match &shared.secret {
        None => Err("the kit has no --webhook-secret to verify the signature with".to_owned()),
        Some(secret) => secret
            .verify(
                &header("webhook-id"),
                &header("webhook-timestamp"),
                &body,
                &header("webhook-signature"),
                now,
            )
            .map_err(|e| format!("the Standard Webhooks signature does not verify: {e}")),
    };
    let status = json["status"].as_str().unwrap_or_default().to_owned();
    let problem = match signature {
        Err(e) => Some(e),
        Ok(()) if !FIRST_MOVES.contains(&status.as_str()) => Some(format!(
            "a requested Task can move to {}, not \"{status}\"",
            FIRST_MOVES.join(", ")
        )),
        Ok(()) => None,
    };
    let task_id = json["task_id"].as_str().unwrap_or_default().to_owned();
    record(
        &shared,
        StatusReport {
            via: format!("POST /webhooks/{ods}/status"),
            task_id,
            status,
            problem,
            body: text,
        },
    )
}
