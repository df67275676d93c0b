//! Telemetry: redacted logs and Prometheus metrics.

mod logs;
pub mod metrics;
mod redact;

pub use logs::{ALLOWED_FIELDS, LogFormat, RedactingLayer};
pub use redact::redact;

use tracing_subscriber::EnvFilter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// Installs the global logger: `RUST_LOG` filters (default `info`), `format` shapes the lines.
pub fn init_logs(format: LogFormat) {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn"));
    let _ = tracing_subscriber::registry()
        .with(filter)
        .with(RedactingLayer::new(format, std::io::stderr))
        .try_init();
}
