//! Logs: JSON lines outside the sandbox, readable lines in it. The one place that decides what
//! a log line may contain: only allow-listed fields are written, and their values (and the
//! message) pass through [`redact`]. A careless `tracing::info!(name = ...)` is dropped here.

use std::fmt::Write as _;
use std::io::Write as _;

use serde_json::{Map, Value};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::{Context, Layer};

use super::redact::redact;

/// Field names a log line may carry: operational identifiers and outcomes, never patient data.
pub const ALLOWED_FIELDS: &[&str] = &[
    "message",
    "error",
    "detail",
    "destination",
    "delivery",
    "attempt",
    "retry_in_ms",
    "task",
    "from",
    "to",
    "service_request",
    "owner",
    "client",
    "target",
    "outcome",
    "scope",
    "reason",
    "listen",
    "method",
    "route",
    "status",
    "issues",
    "partner",
    "event",
];

/// How lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// One JSON object per line.
    Json,
    /// Human-readable lines.
    Text,
}

/// The logging layer.
pub struct RedactingLayer<W> {
    format: LogFormat,
    writer: W,
}

impl<W> RedactingLayer<W> {
    /// Writes events to `writer` in `format`.
    pub fn new(format: LogFormat, writer: W) -> Self {
        Self { format, writer }
    }
}

#[derive(Default)]
struct Fields(Vec<(&'static str, String)>);

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if ALLOWED_FIELDS.contains(&field.name()) {
            self.0.push((field.name(), redact(&format!("{value:?}"))));
        }
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        if ALLOWED_FIELDS.contains(&field.name()) {
            self.0.push((field.name(), redact(value)));
        }
    }
}

impl<S: Subscriber, W: for<'a> MakeWriter<'a> + 'static> Layer<S> for RedactingLayer<W> {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let mut fields = Fields::default();
        event.record(&mut fields);
        let meta = event.metadata();
        let now = OffsetDateTime::now_utc()
            .format(&Rfc3339)
            .unwrap_or_default();
        let line = match self.format {
            LogFormat::Json => {
                let mut object = Map::new();
                object.insert("timestamp".into(), Value::String(now));
                object.insert("level".into(), Value::String(meta.level().to_string()));
                object.insert("target".into(), Value::String(meta.target().to_owned()));
                for (name, value) in fields.0 {
                    object.insert(name.to_owned(), Value::String(value));
                }
                let mut line = Value::Object(object).to_string();
                line.push('\n');
                line
            }
            LogFormat::Text => {
                let message = fields
                    .0
                    .iter()
                    .find(|(n, _)| *n == "message")
                    .map(|(_, v)| v.clone())
                    .unwrap_or_default();
                let mut line = format!("{now} {:>5} {}: {message}", meta.level(), meta.target());
                for (name, value) in fields.0.iter().filter(|(n, _)| *n != "message") {
                    let _ = write!(line, " {name}={value}");
                }
                line.push('\n');
                line
            }
        };
        let _ = self.writer.make_writer().write_all(line.as_bytes());
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use tracing_subscriber::layer::SubscriberExt;

    use super::*;

    #[derive(Clone, Default)]
    struct Capture(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Capture {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0
                .lock()
                .map_err(|_| std::io::Error::other("poisoned"))?
                .extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl<'a> MakeWriter<'a> for Capture {
        type Writer = Capture;
        fn make_writer(&'a self) -> Self::Writer {
            self.clone()
        }
    }

    fn logged(format: LogFormat, emit: impl FnOnce()) -> String {
        let capture = Capture::default();
        let subscriber =
            tracing_subscriber::registry().with(RedactingLayer::new(format, capture.clone()));
        tracing::subscriber::with_default(subscriber, emit);
        let bytes = capture.0.lock().map(|b| b.clone()).unwrap_or_default();
        String::from_utf8_lossy(&bytes).into_owned()
    }

    #[test]
    fn fields_outside_the_allow_list_never_reach_the_log() {
        for format in [LogFormat::Json, LogFormat::Text] {
            let out = logged(format, || {
                let family = "Okafor";
                let birth_date = "1948-03-14";
                tracing::info!(family, birth_date, task = "Task/t1", "referral accepted");
            });
            assert!(
                out.contains("referral accepted") && out.contains("Task/t1"),
                "{out}"
            );
            assert!(
                !out.contains("Okafor") && !out.contains("1948-03-14"),
                "{out}"
            );
        }
    }

    #[test]
    fn allowed_fields_are_scrubbed_of_identifiers() {
        let out = logged(LogFormat::Json, || {
            tracing::warn!(
                target = "ServiceRequest?subject:identifier=https://fhir.nhs.uk/Id/nhs-number|9434765919",
                "access refused"
            );
        });
        let line: Value = serde_json::from_str(out.trim()).expect("a JSON line");
        assert_eq!(line["message"], "access refused");
        assert_eq!(line["level"], "WARN");
        assert!(!out.contains("9434765919"), "{out}");
    }
}
