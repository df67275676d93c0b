//! Prometheus metrics: one recorder per process, rendered by `GET /metrics`.

use std::sync::OnceLock;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::HeaderMap;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use crate::state::AppState;

/// Latency buckets in seconds: from a fast read to a slow partner.
const BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// The process's recorder, installed on first use.
pub fn handle() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let builder = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), BUCKETS)
            .unwrap_or_else(|_| PrometheusBuilder::new());
        match builder.install_recorder() {
            Ok(handle) => handle,
            // Another recorder is installed (embedded use): render ours without making it global.
            Err(_) => PrometheusBuilder::new().build_recorder().handle(),
        }
    })
}

/// Counts and times every request by route template (never the raw path, which holds ids).
pub async fn track(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().to_string();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let response = next.run(request).await;
    let status = response.status().as_u16().to_string();
    metrics::counter!("http_requests_total", "method" => method.clone(), "route" => route.clone(), "status" => status).increment(1);
    metrics::histogram!("http_request_duration_seconds", "method" => method, "route" => route)
        .record(started.elapsed().as_secs_f64());
    response
}

/// A token was granted or refused (`reason`: the OAuth error code).
pub fn token(outcome: &'static str, reason: &'static str) {
    metrics::counter!("signpost_token_requests_total", "outcome" => outcome, "reason" => reason)
        .increment(1);
}

/// A delivery attempt ended (`delivered`, `retry`, `dead`).
pub fn delivery(adapter: &str, outcome: &'static str) {
    metrics::counter!("signpost_deliveries_total", "adapter" => adapter.to_owned(), "outcome" => outcome).increment(1);
}

/// A partner's circuit breaker opened (true) or closed (false).
pub fn breaker(partner: &str, open: bool) {
    metrics::gauge!("signpost_circuit_breaker_open", "partner" => partner.to_owned())
        .set(if open { 1.0 } else { 0.0 });
}

/// `GET /metrics`: the outbox gauges are read from the store at scrape time.
/// With `server.metrics_token` set, only a scraper sending it as a bearer token is answered.
pub async fn render(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if let Some(expected) = &state.config.server.metrics_token {
        let sent = headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or_default();
        if aws_lc_rs::constant_time::verify_slices_are_equal(sent.as_bytes(), expected.as_bytes())
            .is_err()
        {
            return crate::fhir::ApiError::new(
                axum::http::StatusCode::UNAUTHORIZED,
                signpost_profiles::Issue::error(
                    signpost_profiles::IssueType::Login,
                    "/metrics needs the bearer token configured as server.metrics_token",
                ),
            )
            .with_challenge("Bearer realm=\"signpost-metrics\"".into())
            .into_response();
        }
    }
    if let Ok(counts) = state.store.outbox_counts().await {
        metrics::gauge!("signpost_outbox_pending").set(counts.pending as f64);
        metrics::gauge!("signpost_outbox_dead").set(counts.dead as f64);
        let age = counts
            .oldest_pending
            .map_or(0.0, |t| (crate::store::now().0 - t.0).max(0) as f64 / 1e6);
        metrics::gauge!("signpost_outbox_oldest_pending_age_seconds").set(age);
    }
    (
        [("content-type", "text/plain; version=0.0.4")],
        handle().render(),
    )
        .into_response()
}
