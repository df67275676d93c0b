//! The one place adapters are registered by `kind`.

use std::sync::Arc;

use serde_json::Value;

use crate::{Outbound, bars, fhir_rest, webhook};

/// An adapter's settings are wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AdapterConfigError {
    /// No adapter of that kind exists.
    #[error("unknown adapter kind \"{kind}\"; known kinds: {known}")]
    UnknownKind {
        /// What was asked for.
        kind: String,
        /// What exists.
        known: String,
    },
    /// The settings do not fit the adapter's config type.
    #[error("{0}")]
    Settings(String),
    /// The adapter's HTTP client could not be made (e.g. no TLS backend).
    #[error("could not make the adapter's HTTP client: {0}")]
    HttpClient(String),
}

type Builder = fn(&Value) -> Result<Arc<dyn Outbound>, AdapterConfigError>;

/// Every outbound adapter, by the `kind` written in config. A new adapter adds one line here.
const ADAPTERS: &[(&str, Builder)] = &[
    (fhir_rest::KIND, fhir_rest::build),
    (webhook::KIND, webhook::build),
    (bars::KIND, bars::build),
];

/// The kinds that can be configured.
pub fn known_kinds() -> Vec<&'static str> {
    ADAPTERS.iter().map(|(kind, _)| *kind).collect()
}

/// Builds the adapter named by `kind` from its settings (the config's `[organisation.adapter]` without `kind`).
pub fn build_outbound(
    kind: &str,
    settings: &Value,
) -> Result<Arc<dyn Outbound>, AdapterConfigError> {
    let (_, build) = ADAPTERS.iter().find(|(k, _)| *k == kind).ok_or_else(|| {
        AdapterConfigError::UnknownKind {
            kind: kind.to_owned(),
            known: known_kinds().join(", "),
        }
    })?;
    build(settings)
}

/// Reads an adapter's typed settings, naming the field at fault.
pub(crate) fn settings<T: serde::de::DeserializeOwned>(
    value: &Value,
) -> Result<T, AdapterConfigError> {
    serde_json::from_value(value.clone()).map_err(|e| AdapterConfigError::Settings(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn builds_a_registered_kind() {
        let adapter = build_outbound("fhir-rest", &json!({"url": "http://127.0.0.1:9/fhir"}))
            .expect("builds");
        assert_eq!(adapter.kind(), "fhir-rest");
    }

    #[test]
    fn unknown_kind_lists_the_known_ones() {
        let err = build_outbound("carrier-pigeon", &json!({}))
            .err()
            .expect("refused");
        assert!(err.to_string().contains("fhir-rest"), "{err}");
    }

    #[test]
    fn unknown_setting_is_refused() {
        let err = build_outbound(
            "fhir-rest",
            &json!({"url": "http://x/fhir", "colour": "red"}),
        )
        .err()
        .expect("refused");
        assert!(err.to_string().contains("colour"), "{err}");
    }
}
