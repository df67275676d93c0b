//! Settings of the `fhir-rest` adapter.

use std::time::Duration;

use serde::Deserialize;

use crate::registry::AdapterConfigError;

/// Example settings, as written under `[organisation.adapter]` after `kind = "fhir-rest"`.
pub const EXAMPLE: &str = r#"url = "https://partner.example/fhir"
connect_timeout_seconds = 5
timeout_seconds = 30
"#;

/// `[organisation.adapter]` with `kind = "fhir-rest"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FhirRestConfig {
    /// The partner's FHIR base URL; the transaction Bundle is posted here.
    pub url: String,
    /// Seconds to wait for a connection (default 5).
    #[serde(default)]
    pub connect_timeout_seconds: Option<u64>,
    /// Seconds to wait for the whole answer (default 30).
    #[serde(default)]
    pub timeout_seconds: Option<u64>,
}

impl FhirRestConfig {
    pub(crate) fn check(&self) -> Result<(), AdapterConfigError> {
        let ok = (self.url.starts_with("http://") || self.url.starts_with("https://"))
            && self.url.len() > "https://".len();
        if ok {
            Ok(())
        } else {
            Err(AdapterConfigError::Settings(format!(
                "url \"{}\" must be an http:// or https:// FHIR base URL",
                self.url
            )))
        }
    }

    pub(crate) fn connect_timeout(&self) -> Duration {
        Duration::from_secs(self.connect_timeout_seconds.unwrap_or(5))
    }

    pub(crate) fn timeout(&self) -> Duration {
        Duration::from_secs(self.timeout_seconds.unwrap_or(30))
    }
}
