//! Settings of the `webhook` adapter.

use std::time::Duration;

use serde::Deserialize;

use super::signature::Secret;
use crate::registry::AdapterConfigError;

/// Example settings, as written under `[organisation.adapter]` after `kind = "webhook"`; make a
/// secret of your own: `whsec_` and 24 or more random bytes in base64 (`openssl rand -base64 32`).
pub const EXAMPLE: &str = r#"url = "https://partner.example/signpost-events"
secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSwAAAA"
timeout_seconds = 15
"#;

/// `[organisation.adapter]` with `kind = "webhook"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    /// Where events are posted.
    pub url: String,
    /// Shared secret, `whsec_` + base64 (at least 24 bytes); also verifies the partner's status updates.
    pub secret: String,
    /// Seconds to wait for the whole answer (default 15; Standard Webhooks suggests 15 to 30).
    #[serde(default)]
    pub timeout_seconds: Option<u64>,
}

impl WebhookConfig {
    pub(crate) fn check(&self) -> Result<Secret, AdapterConfigError> {
        if !(self.url.starts_with("http://") || self.url.starts_with("https://")) {
            return Err(AdapterConfigError::Settings(format!(
                "url \"{}\" must be an http:// or https:// URL",
                self.url
            )));
        }
        Secret::parse(&self.secret)
            .map_err(|e| AdapterConfigError::Settings(format!("secret: {e}")))
    }

    pub(crate) fn timeout(&self) -> Duration {
        Duration::from_secs(self.timeout_seconds.unwrap_or(15))
    }
}
