//! Telemetry: redacted logs, Prometheus metrics and OpenTelemetry traces.

mod correlation;
mod logs;
pub mod metrics;
mod redact;
pub mod refusals;
pub mod traces;

pub use correlation::{
    CORRELATION_HEADER, CorrelationMadeHere, IdHeaderError, REQUEST_ID_HEADER, correlation_id,
    request_id,
};
pub use logs::{ALLOWED_FIELDS, LogFormat, RedactingLayer};
pub use redact::redact;

use tracing_subscriber::EnvFilter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// Installs the global subscriber: `RUST_LOG` filters (default `info`), `format` shapes the log
/// lines, and spans go to `provider` (whose context is propagated to partners).
pub fn init(format: LogFormat, provider: &opentelemetry_sdk::trace::SdkTracerProvider) {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn"));
    let _ = tracing_subscriber::registry()
        .with(filter)
        .with(RedactingLayer::new(format, std::io::stderr))
        .with(traces::layer(provider))
        .try_init();
}
