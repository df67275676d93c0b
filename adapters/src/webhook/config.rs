//! Settings of the `webhook` adapter.

use std::time::Duration;

use serde::Deserialize;

use super::signature::Secret;
use crate::registry::AdapterConfigError;

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
