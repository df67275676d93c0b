//! The one place adapters are registered by `kind`.

use std::sync::Arc;

use serde_json::Value;

use crate::{Adapter, Outbound, bars, fhir_rest, webhook};

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

/// One kind of adapter: its name in config, how it is built, and an example of its settings.
#[derive(Debug, Clone, Copy)]
pub struct Registration {
    /// The config `kind`.
    pub kind: &'static str,
    /// Builds both directions from the settings (the config's `[organisation.adapter]` without `kind`).
    pub build: fn(&Value) -> Result<Adapter, AdapterConfigError>,
    /// Example `[organisation.adapter]` settings in TOML, without `kind`.
    pub example: &'static str,
}

/// Every adapter. A new adapter adds one line here.
const ADAPTERS: &[Registration] = &[
    fhir_rest::REGISTRATION,
    bars::REGISTRATION,
    webhook::REGISTRATION,
];

/// The kinds that can be configured.
pub fn known_kinds() -> Vec<&'static str> {
    ADAPTERS.iter().map(|r| r.kind).collect()
}

/// The registration of `kind`.
pub fn registration(kind: &str) -> Result<&'static Registration, AdapterConfigError> {
    ADAPTERS
        .iter()
        .find(|r| r.kind == kind)
        .ok_or_else(|| AdapterConfigError::UnknownKind {
            kind: kind.to_owned(),
            known: known_kinds().join(", "),
        })
}

/// Builds the adapter named by `kind` from its settings (the config's `[organisation.adapter]` without `kind`).
pub fn build(kind: &str, settings: &Value) -> Result<Adapter, AdapterConfigError> {
    (registration(kind)?.build)(settings)
}

/// Builds only the outbound side of `kind`: for callers that deliver and never receive.
pub fn build_outbound(
    kind: &str,
    settings: &Value,
) -> Result<Arc<dyn Outbound>, AdapterConfigError> {
    build(kind, settings).map(|adapter| adapter.outbound)
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

    #[test]
    fn every_example_builds_an_adapter_of_its_kind() {
        for registration in ADAPTERS {
            let table: toml::Table = toml::from_str(registration.example)
                .unwrap_or_else(|e| panic!("{}: {e}", registration.kind));
            let settings = serde_json::to_value(table).expect("json");
            let adapter = (registration.build)(&settings)
                .unwrap_or_else(|e| panic!("{}: {e}", registration.kind));
            assert_eq!(adapter.outbound.kind(), registration.kind);
        }
    }

    #[test]
    fn the_webhook_adapter_has_an_inbound_side_and_the_others_do_not() {
        for registration in ADAPTERS {
            let table: toml::Table = toml::from_str(registration.example).expect("toml");
            let settings = serde_json::to_value(table).expect("json");
            let adapter = (registration.build)(&settings).expect("builds");
            assert_eq!(
                adapter.webhook_status().is_some(),
                registration.kind == webhook::KIND,
                "{}",
                registration.kind
            );
        }
    }
}
