//! Configuration (DESIGN.md section 4): TOML, then `SIGNPOST_*` variables over it,
//! then checks that report every mistake with its path.

mod check;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use signpost_profiles::OdsCode;

pub use check::ConfigErrors;

/// The whole gateway configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Where to listen and how the gateway names itself.
    #[serde(default)]
    pub server: ServerConfig,
    /// Where resources and the outbox are kept.
    #[serde(default)]
    pub store: StoreConfig,
    /// Token settings (used once SMART Backend Services lands).
    #[serde(default)]
    pub auth: AuthConfig,
    /// How deliveries are retried.
    #[serde(default)]
    pub delivery: DeliveryConfig,
    /// Where traces go.
    #[serde(default)]
    pub telemetry: TelemetryConfig,
    /// Every organisation Signpost knows, keyed by ODS code.
    #[serde(default, rename = "organisation")]
    pub organisations: Vec<Organisation>,
    /// Systems allowed to call Signpost.
    #[serde(default, rename = "client")]
    pub clients: Vec<Client>,
    /// Default destinations for referrals that name no performer.
    #[serde(default, rename = "route")]
    pub routes: Vec<Route>,
}

/// `[server]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    /// Socket address to listen on.
    #[serde(default = "default_listen")]
    pub listen: String,
    /// Public base URL, used in `Location`, Bundle links and the token audience.
    #[serde(default = "default_base_url")]
    pub base_url: String,
    /// Largest request body accepted, in bytes (default 1 MiB).
    #[serde(default = "default_max_body")]
    pub max_body_bytes: usize,
    /// On SIGTERM, how long requests and deliveries in flight get to finish.
    #[serde(default = "default_grace")]
    pub shutdown_grace_seconds: u64,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: default_listen(),
            base_url: default_base_url(),
            max_body_bytes: default_max_body(),
            shutdown_grace_seconds: default_grace(),
        }
    }
}

fn default_grace() -> u64 {
    20
}
fn default_listen() -> String {
    "127.0.0.1:8080".into()
}
fn default_base_url() -> String {
    "http://127.0.0.1:8080".into()
}
fn default_max_body() -> usize {
    1024 * 1024
}

impl ServerConfig {
    /// The parsed listen address (checked at load time).
    pub fn listen_addr(&self) -> Result<SocketAddr, std::net::AddrParseError> {
        self.listen.parse()
    }

    /// The FHIR base, e.g. `http://127.0.0.1:8080/fhir`.
    pub fn fhir_base(&self) -> String {
        format!("{}/fhir", self.base_url.trim_end_matches('/'))
    }
}

/// `[store]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreConfig {
    /// `sqlite://path/to/file.db` (PostgreSQL follows in its own issue).
    #[serde(default = "default_store_url")]
    pub url: String,
}

impl Default for StoreConfig {
    fn default() -> Self {
        Self {
            url: default_store_url(),
        }
    }
}

fn default_store_url() -> String {
    "sqlite://signpost-data/signpost.db".into()
}

/// `[auth]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthConfig {
    /// Lifetime of issued access tokens.
    #[serde(default = "default_token_ttl")]
    pub token_ttl_seconds: u64,
    /// PEM file of the gateway's token signing key; created if absent.
    #[serde(default = "default_signing_key")]
    pub signing_key: PathBuf,
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            token_ttl_seconds: default_token_ttl(),
            signing_key: default_signing_key(),
        }
    }
}

fn default_token_ttl() -> u64 {
    300
}
fn default_signing_key() -> PathBuf {
    "signpost-data/token-key.pem".into()
}

/// `[telemetry]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TelemetryConfig {
    /// OTLP/HTTP collector base URL (e.g. `http://otel-collector:4318`); off when absent,
    /// unless `OTEL_EXPORTER_OTLP_ENDPOINT` is set.
    #[serde(default)]
    pub otlp_endpoint: Option<String>,
}

/// `[delivery]`: the outbox worker's retry policy.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeliveryConfig {
    /// Attempts before a delivery is dead (visible and replayable).
    #[serde(default = "default_max_attempts")]
    pub max_attempts: u32,
    /// First retry delay; doubles each attempt, with jitter.
    #[serde(default = "default_backoff_base")]
    pub backoff_base_ms: u64,
    /// Longest delay between two attempts.
    #[serde(default = "default_backoff_max")]
    pub backoff_max_ms: u64,
    /// How often the worker looks for due retries when nothing wakes it.
    #[serde(default = "default_poll")]
    pub poll_interval_ms: u64,
    /// How long a claimed delivery stays reserved for this process (a crashed process's claims expire).
    #[serde(default = "default_lease")]
    pub lease_seconds: u64,
    /// Deliveries in flight at once.
    #[serde(default = "default_concurrency")]
    pub concurrency: usize,
    /// Deliveries in flight to any one partner, so a slow partner cannot take every slot. A
    /// partner receives at most this many per round trip: 8 carries 500 referrals a second to a
    /// partner answering in 15 ms; 4 fell behind that on a loaded 2-core machine.
    #[serde(default = "default_per_partner")]
    pub per_partner_concurrency: usize,
    /// Consecutive transient failures that trip a partner's circuit breaker.
    #[serde(default = "default_breaker_failures")]
    pub breaker_failures: u32,
    /// How long a tripped breaker pauses deliveries to that partner.
    #[serde(default = "default_breaker_open")]
    pub breaker_open_seconds: u64,
}

impl Default for DeliveryConfig {
    fn default() -> Self {
        Self {
            max_attempts: default_max_attempts(),
            backoff_base_ms: default_backoff_base(),
            backoff_max_ms: default_backoff_max(),
            poll_interval_ms: default_poll(),
            lease_seconds: default_lease(),
            concurrency: default_concurrency(),
            per_partner_concurrency: default_per_partner(),
            breaker_failures: default_breaker_failures(),
            breaker_open_seconds: default_breaker_open(),
        }
    }
}

fn default_max_attempts() -> u32 {
    12
}
fn default_backoff_base() -> u64 {
    500
}
fn default_backoff_max() -> u64 {
    5 * 60 * 1000
}
fn default_poll() -> u64 {
    500
}
fn default_lease() -> u64 {
    60
}
fn default_concurrency() -> usize {
    32
}
fn default_per_partner() -> usize {
    8
}
fn default_breaker_failures() -> u32 {
    5
}
fn default_breaker_open() -> u64 {
    30
}

/// What part an organisation plays in social prescribing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    /// A GP practice: refers people.
    Gp,
    /// A social prescribing link-worker service.
    LinkWorker,
    /// A voluntary and community sector provider.
    Vcs,
}

/// `[[organisation]]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Organisation {
    /// ODS code: the tenant key.
    pub ods: OdsCode,
    /// Name shown on Tasks.
    pub name: String,
    /// Its part in the flow.
    pub role: Role,
    /// How Signpost reaches it; absent means it polls Signpost.
    #[serde(default)]
    pub adapter: Option<AdapterSettings>,
    /// Open places (VCS only).
    #[serde(default)]
    pub capacity: Option<u32>,
}

/// `[organisation.adapter]`: `kind` picks the adapter; the other keys are that adapter's settings.
#[derive(Debug, Clone, Deserialize)]
pub struct AdapterSettings {
    /// Adapter kind, e.g. `fhir-rest`.
    pub kind: String,
    /// The adapter's own settings, checked by the adapter's config type.
    #[serde(flatten)]
    pub settings: BTreeMap<String, toml::Value>,
}

impl AdapterSettings {
    /// The settings as JSON, the form adapters read.
    pub fn settings_json(&self) -> serde_json::Value {
        serde_json::to_value(&self.settings).unwrap_or_default()
    }
}

/// `[[client]]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Client {
    /// Client id, as used in the token request.
    pub id: String,
    /// ODS code of the organisation it acts for.
    pub organisation: OdsCode,
    /// JWKS file with its public keys.
    #[serde(default)]
    pub jwks: Option<PathBuf>,
    /// Or a URL serving its JWKS.
    #[serde(default)]
    pub jwks_url: Option<String>,
    /// Scopes it may be granted.
    #[serde(default)]
    pub scopes: Vec<String>,
}

/// `[[route]]`: where a requester's referrals go when they name no performer.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Route {
    /// Requester organisation.
    pub from: OdsCode,
    /// Link-worker organisation.
    pub to: OdsCode,
}

/// Environment variables that override single settings (environment over file).
const ENV_OVERRIDES: &[(&str, &str)] = &[
    ("SIGNPOST_SERVER_LISTEN", "server.listen"),
    ("SIGNPOST_SERVER_BASE_URL", "server.base_url"),
    ("SIGNPOST_STORE_URL", "store.url"),
];

impl Config {
    /// Reads, overrides from the environment, and checks a config file.
    pub fn load(path: &Path) -> Result<Self, ConfigErrors> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            ConfigErrors::single("", format!("cannot read {}: {e}", path.display()))
        })?;
        Self::from_toml(&text, |name| std::env::var(name).ok())
    }

    /// Parses TOML text, applies overrides from `env`, and checks the result.
    pub fn from_toml(
        text: &str,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigErrors> {
        let de =
            toml::Deserializer::parse(text).map_err(|e| ConfigErrors::single("", e.to_string()))?;
        let mut config: Config = serde_path_to_error::deserialize(de).map_err(|e| {
            let path = e.path().to_string();
            let path = if path == "." { String::new() } else { path };
            ConfigErrors::single(&path, e.into_inner().message().to_owned())
        })?;
        config.apply_env(env);
        config.check()?;
        Ok(config)
    }

    fn apply_env(&mut self, env: impl Fn(&str) -> Option<String>) {
        for (var, key) in ENV_OVERRIDES {
            if let Some(value) = env(var) {
                match *key {
                    "server.listen" => self.server.listen = value,
                    "server.base_url" => self.server.base_url = value,
                    "store.url" => self.store.url = value,
                    _ => {}
                }
            }
        }
    }

    /// The organisation with this ODS code.
    pub fn organisation(&self, ods: &OdsCode) -> Option<&Organisation> {
        self.organisations.iter().find(|o| &o.ods == ods)
    }
}
