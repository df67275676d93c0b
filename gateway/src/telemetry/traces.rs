//! Traces: W3C trace context in from callers, through the outbox, and out to partners, so one
//! trace runs from a GP system's post to a VCS partner's receipt. Exported over OTLP only when
//! an endpoint is configured; context is propagated either way.

use std::collections::HashMap;

use axum::extract::{MatchedPath, Request};
use axum::http::{HeaderMap, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;
use opentelemetry::propagation::{Extractor, TextMapPropagator};
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::WithExportConfig;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing::Instrument;
use tracing_opentelemetry::OpenTelemetrySpanExt;

use crate::telemetry::{
    CORRELATION_HEADER, CorrelationMadeHere, REQUEST_ID_HEADER, correlation_id,
};

/// A tracer provider: OTLP over HTTP to `endpoint` when given, otherwise ids and propagation only.
pub fn provider(endpoint: Option<&str>) -> anyhow::Result<SdkTracerProvider> {
    let resource = Resource::builder()
        .with_service_name("signpost")
        .with_attribute(opentelemetry::KeyValue::new(
            "service.version",
            env!("CARGO_PKG_VERSION"),
        ))
        .build();
    let mut builder = SdkTracerProvider::builder().with_resource(resource);
    if let Some(endpoint) = endpoint {
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_endpoint(format!("{}/v1/traces", endpoint.trim_end_matches('/')))
            .build()?;
        builder = builder.with_batch_exporter(exporter);
    }
    Ok(builder.build())
}

/// The OpenTelemetry layer for a provider.
pub fn layer<S>(provider: &SdkTracerProvider) -> impl tracing_subscriber::Layer<S>
where
    S: tracing::Subscriber + for<'span> tracing_subscriber::registry::LookupSpan<'span>,
{
    opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
    opentelemetry::global::set_tracer_provider(provider.clone());
    tracing_opentelemetry::layer().with_tracer(provider.tracer("signpost"))
}

struct Headers<'a>(&'a HeaderMap);

impl Extractor for Headers<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }
    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(|k| k.as_str()).collect()
    }
}

/// The current span's context as a W3C `traceparent`, to store with a delivery or send on.
pub fn current_traceparent() -> Option<String> {
    let mut carrier: HashMap<String, String> = HashMap::new();
    TraceContextPropagator::new().inject_context(&tracing::Span::current().context(), &mut carrier);
    carrier.remove("traceparent")
}

/// Makes `span` a child of a stored `traceparent`.
pub fn continue_trace(span: &tracing::Span, traceparent: Option<&str>) {
    if let Some(tp) = traceparent {
        let carrier = HashMap::from([("traceparent".to_owned(), tp.to_owned())]);
        let _ = span.set_parent(TraceContextPropagator::new().extract(&carrier));
    }
}

/// Every request runs in a span whose parent is the caller's `traceparent`. Its `X-Correlation-Id`
/// (taken in, or made when none was sent) and its `X-Request-Id` are echoed on every answer,
/// refusals included; an id that is not a UUID is left as sent for the route to refuse.
pub async fn trace_request(mut request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let mut echoed: Vec<(&'static str, HeaderValue)> = Vec::new();
    if !request.headers().contains_key(CORRELATION_HEADER) {
        request.extensions_mut().insert(CorrelationMadeHere);
    }
    match correlation_id(request.headers()) {
        Ok(correlation) => {
            if let Ok(v) = HeaderValue::from_str(&correlation) {
                request.headers_mut().insert(CORRELATION_HEADER, v.clone());
                echoed.push((CORRELATION_HEADER, v));
            }
        }
        Err(_) => echoed.extend(
            request
                .headers()
                .get(CORRELATION_HEADER)
                .map(|v| (CORRELATION_HEADER, v.clone())),
        ),
    }
    echoed.extend(
        request
            .headers()
            .get(REQUEST_ID_HEADER)
            .map(|v| (REQUEST_ID_HEADER, v.clone())),
    );
    let method = request.method().clone();
    let span = tracing::info_span!("request", method = %method, route = %route);
    let _ = span.set_parent(TraceContextPropagator::new().extract(&Headers(request.headers())));
    let mut response = next.run(request).instrument(span.clone()).await;
    span.in_scope(|| super::refusals::log(&method, &route, &response));
    for (name, value) in echoed {
        response.headers_mut().insert(name, value);
    }
    response
}
