//! Settings of the `bars` adapter.

use std::time::Duration;

use serde::Deserialize;

use crate::registry::AdapterConfigError;

/// Example settings, as written under `[organisation.adapter]` after `kind = "bars"`.
pub const EXAMPLE: &str = r#"url = "https://receiver.example/fhir"
target_identifier = "2000123456"
timeout_seconds = 30
"#;

/// `[organisation.adapter]` with `kind = "bars"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BarsConfig {
    /// The receiver's (or the NHS BaRS proxy's) FHIR base; messages go to `{url}/$process-message`.
    pub url: String,
    /// The receiver's service identifier, sent in `NHSD-Target-Identifier` and `destination.endpoint`.
    pub target_identifier: String,
    /// Its identifier system (default the Directory of Services id).
    #[serde(default = "default_target_system")]
    pub target_system: String,
    /// Signpost's own endpoint as the receiver should reply to it (`source.endpoint`), `system|value`.
    #[serde(default = "default_source_endpoint")]
    pub source_endpoint: String,
    /// The BaRS API version asked for in `Accept` (default 1.0.0, the version the API publishes).
    #[serde(default = "default_api_version")]
    pub api_version: String,
    /// Seconds to wait for the answer (default 30).
    #[serde(default)]
    pub timeout_seconds: Option<u64>,
}

fn default_target_system() -> String {
    "https://fhir.nhs.uk/Id/dos-service-id".into()
}

fn default_api_version() -> String {
    "1.0.0".into()
}

fn default_source_endpoint() -> String {
    "https://fhir.nhs.uk/Id/ods-organization-code|SIGNPOST".into()
}

impl BarsConfig {
    pub(crate) fn check(&self) -> Result<(), AdapterConfigError> {
        if !(self.url.starts_with("http://") || self.url.starts_with("https://")) {
            return Err(AdapterConfigError::Settings(format!(
                "url \"{}\" must be an http:// or https:// FHIR base",
                self.url
            )));
        }
        if self.target_identifier.trim().is_empty() {
            return Err(AdapterConfigError::Settings(
                "target_identifier is required".into(),
            ));
        }
        Ok(())
    }

    pub(crate) fn timeout(&self) -> Duration {
        Duration::from_secs(self.timeout_seconds.unwrap_or(30))
    }
}
