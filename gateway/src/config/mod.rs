//! Configuration (DESIGN.md section 4): TOML, then `SIGNPOST_*` variables over it,
//! then checks that report every mistake with its path.

mod check;
mod directory;
mod reports;

use std::collections::{BTreeMap, HashMap};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_path_to_error::Segment;
use signpost_profiles::OdsCode;

pub use directory::{DirectoryConfig, FeedConfig, ServiceConfig};
pub use reports::{PcnConfig, PolicyName, ReportsConfig};

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
    /// The service directory's feeds and reporting policy.
    #[serde(default)]
    pub directory: DirectoryConfig,
    /// Commissioners' reports: disclosure policy, PCNs, list sizes.
    #[serde(default)]
    pub reports: ReportsConfig,
    /// Every organisation Signpost knows, keyed by ODS code.
    #[serde(default, rename = "organisation")]
    pub organisations: Vec<Organisation>,
    /// Systems allowed to call Signpost.
    #[serde(default, rename = "client")]
    pub clients: Vec<Client>,
    /// Default destinations for referrals that name no performer.
    #[serde(default, rename = "route")]
    pub routes: Vec<Route>,
    /// Every configured adapter, built once when the config was checked.
    #[serde(skip)]
    pub adapters: Adapters,
}

/// The built adapters, by the organisation each reaches.
#[derive(Debug, Clone, Default)]
pub struct Adapters(pub HashMap<OdsCode, signpost_adapters::Adapter>);

/// `[server]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    /// Socket address to listen on.
    #[serde(default = "default_listen")]
    pub listen: String,
    /// Public base URL, used in `Location`, Bundle links and the token audience; when neither
    /// the file nor `SIGNPOST_SERVER_BASE_URL` gives it, `http://{listen}` (loopback for an
    /// unspecified address), after the environment's overrides.
    #[serde(default = "default_base_url")]
    pub base_url: String,
    /// Largest request body accepted, in bytes (default 1 MiB).
    #[serde(default = "default_max_body")]
    pub max_body_bytes: usize,
    /// On SIGTERM, how long requests and deliveries in flight get to finish.
    #[serde(default = "default_grace")]
    pub shutdown_grace_seconds: u64,
    /// Connections open at once; must stay below the process's file limit.
    #[serde(default = "default_max_connections")]
    pub max_connections: usize,
    /// A request's headers must arrive in full within this many seconds.
    #[serde(default = "default_header_read_timeout")]
    pub header_read_timeout_seconds: u64,
    /// A connection with no request in hand that moves no bytes is closed after this many seconds.
    #[serde(default = "default_keep_alive_timeout")]
    pub keep_alive_timeout_seconds: u64,
    /// A connection that moves no bytes at all, mid-request included, is closed after this many seconds.
    #[serde(default = "default_idle_timeout")]
    pub idle_timeout_seconds: u64,
    /// Refusals of requests without a valid token one source address gets per minute before 429s.
    #[serde(default = "default_unauthenticated_per_minute")]
    pub unauthenticated_refusals_per_minute: u64,
    /// Requests per second each client may make (bursts of twice that); 0 switches the limit off.
    #[serde(default = "default_client_rate")]
    pub client_requests_per_second: u32,
    /// When set, `/metrics` answers only `Authorization: Bearer <this>`.
    #[serde(default)]
    pub metrics_token: Option<String>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: default_listen(),
            base_url: default_base_url(),
            max_body_bytes: default_max_body(),
            shutdown_grace_seconds: default_grace(),
            max_connections: default_max_connections(),
            header_read_timeout_seconds: default_header_read_timeout(),
            keep_alive_timeout_seconds: default_keep_alive_timeout(),
            idle_timeout_seconds: default_idle_timeout(),
            unauthenticated_refusals_per_minute: default_unauthenticated_per_minute(),
            client_requests_per_second: default_client_rate(),
            metrics_token: None,
        }
    }
}

fn default_max_connections() -> usize {
    // Below the common 1024 soft file limit with room for the store and partners.
    900
}
fn default_header_read_timeout() -> u64 {
    10
}
fn default_keep_alive_timeout() -> u64 {
    5
}
fn default_idle_timeout() -> u64 {
    60
}
fn default_unauthenticated_per_minute() -> u64 {
    60
}
fn default_client_rate() -> u32 {
    200
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

    /// The connection limits the accept loop enforces.
    pub fn connection_limits(&self) -> crate::connections::ConnectionLimits {
        crate::connections::ConnectionLimits {
            max_connections: self.max_connections,
            header_read_timeout: Duration::from_secs(self.header_read_timeout_seconds),
            keep_alive_timeout: Duration::from_secs(self.keep_alive_timeout_seconds),
            idle_timeout: Duration::from_secs(self.idle_timeout_seconds),
        }
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
    /// Longest any one store call may take before it is answered as failed (503).
    #[serde(default = "default_store_call_ms")]
    pub call_timeout_ms: u64,
}

impl Default for StoreConfig {
    fn default() -> Self {
        Self {
            url: default_store_url(),
            call_timeout_ms: default_store_call_ms(),
        }
    }
}

/// A few seconds: longer than any healthy call (group commits, claims under load), short
/// enough that a stalled database is answered as unavailable.
fn default_store_call_ms() -> u64 {
    5000
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
    /// File of the HMAC key audited identifier values are hashed with; created if absent.
    /// Default: `audit-key` beside the signing key.
    #[serde(default)]
    pub audit_key: Option<PathBuf>,
}

impl AuthConfig {
    /// The audit key file: as configured, or `audit-key` beside the signing key.
    pub fn audit_key_path(&self) -> PathBuf {
        self.audit_key
            .clone()
            .unwrap_or_else(|| self.signing_key.with_file_name("audit-key"))
    }
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            token_ttl_seconds: default_token_ttl(),
            signing_key: default_signing_key(),
            audit_key: None,
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
    /// Its charity registration as an org-id (`GB-CHC-1123456`, `GB-SC-SC012345`,
    /// `GB-NIC-100123`): directory services may name their provider by it instead of an ODS code.
    #[serde(default)]
    pub charity: Option<String>,
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
    /// Scopes it may be granted, as written in the file.
    #[serde(default)]
    pub scopes: Vec<String>,
    /// The same scopes parsed, once, when the configuration is loaded.
    #[serde(skip)]
    pub allowed_scopes: crate::auth::Scopes,
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

    /// Parses TOML text, applies overrides from `env`, and checks the result, reporting every
    /// structural and cross-field mistake at once.
    pub fn from_toml(
        text: &str,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigErrors> {
        let table: toml::Table =
            toml::from_str(text).map_err(|e| ConfigErrors::single("", e.to_string()))?;
        let mut errors = Vec::new();
        let mut parsed = Parsed::from_table(&table, &mut errors);
        parsed.apply_env(&env);
        let base_url_given = table
            .get("server")
            .and_then(|server| server.get("base_url"))
            .is_some()
            || env("SIGNPOST_SERVER_BASE_URL").is_some();
        if !base_url_given
            && let Some(server) = &mut parsed.server
            && let Some(base_url) = base_url_for(&server.listen)
        {
            server.base_url = base_url;
        }
        let adapters = parsed.check(&mut errors);
        match parsed.complete(adapters) {
            Some(mut config) if errors.is_empty() => {
                for (i, client) in config.clients.iter_mut().enumerate() {
                    let scopes = client
                        .scopes
                        .iter()
                        .map(|s| crate::auth::Scope::parse(s))
                        .collect::<Result<Vec<_>, _>>()
                        .map_err(|e| {
                            ConfigErrors::single(&format!("client[{i}].scopes"), e.to_string())
                        })?;
                    client.allowed_scopes = crate::auth::Scopes(scopes);
                }
                Ok(config)
            }
            // Every part that did not parse has pushed its error, so this list is not empty.
            _ => Err(ConfigErrors(errors)),
        }
    }

    /// The organisation with this ODS code.
    pub fn organisation(&self, ods: &OdsCode) -> Option<&Organisation> {
        self.organisations.iter().find(|o| &o.ods == ods)
    }
}

/// The base URL a gateway listening on `listen` is reached at: an unspecified address (all
/// interfaces) is not one a client can call, so loopback stands for it.
fn base_url_for(listen: &str) -> Option<String> {
    let mut addr: SocketAddr = listen.parse().ok()?;
    if addr.ip().is_unspecified() {
        addr.set_ip(match addr {
            SocketAddr::V4(_) => Ipv4Addr::LOCALHOST.into(),
            SocketAddr::V6(_) => Ipv6Addr::LOCALHOST.into(),
        });
    }
    Some(format!("http://{addr}"))
}

/// A config as far as it parsed: a section or array element with a structural error is `None`,
/// so the cross-field checks can skip what they cannot see rather than report guesses.
struct Parsed {
    server: Option<ServerConfig>,
    store: Option<StoreConfig>,
    auth: Option<AuthConfig>,
    delivery: Option<DeliveryConfig>,
    telemetry: Option<TelemetryConfig>,
    directory: Option<DirectoryConfig>,
    reports: Option<ReportsConfig>,
    organisations: Vec<Option<Organisation>>,
    clients: Vec<Option<Client>>,
    routes: Vec<Option<Route>>,
}

impl Parsed {
    /// Deserializes each section and each array element on its own, so that one mistake does
    /// not hide the others.
    fn from_table(table: &toml::Table, errors: &mut Vec<(String, String)>) -> Self {
        let mut parsed = Self {
            server: Some(ServerConfig::default()),
            store: Some(StoreConfig::default()),
            auth: Some(AuthConfig::default()),
            delivery: Some(DeliveryConfig::default()),
            telemetry: Some(TelemetryConfig::default()),
            directory: Some(DirectoryConfig::default()),
            reports: Some(ReportsConfig::default()),
            organisations: Vec::new(),
            clients: Vec::new(),
            routes: Vec::new(),
        };
        // The table may iterate alphabetically; errors read better in the order of Config.
        let order = [
            "server",
            "store",
            "auth",
            "delivery",
            "telemetry",
            "directory",
            "reports",
            "organisation",
            "client",
            "route",
        ];
        let mut entries: Vec<_> = table.iter().collect();
        entries.sort_by_key(|(key, _)| {
            order
                .iter()
                .position(|known| known == key)
                .unwrap_or(order.len())
        });
        for (key, value) in entries {
            match key.as_str() {
                "server" => parsed.server = section(key, value, errors),
                "store" => parsed.store = section(key, value, errors),
                "auth" => parsed.auth = section(key, value, errors),
                "delivery" => parsed.delivery = section(key, value, errors),
                "telemetry" => parsed.telemetry = section(key, value, errors),
                "directory" => parsed.directory = section(key, value, errors),
                "reports" => parsed.reports = section(key, value, errors),
                "organisation" => parsed.organisations = elements(key, value, errors),
                "client" => parsed.clients = elements(key, value, errors),
                "route" => parsed.routes = elements(key, value, errors),
                // Config itself words the error, with the list of the sections it knows.
                _ => {
                    let alone = toml::Table::from_iter([(key.clone(), value.clone())]);
                    let _ = section::<Config>("", &toml::Value::Table(alone), errors);
                }
            }
        }
        parsed
    }

    fn apply_env(&mut self, env: impl Fn(&str) -> Option<String>) {
        for (var, key) in ENV_OVERRIDES {
            if let Some(value) = env(var) {
                match *key {
                    "server.listen" => {
                        if let Some(server) = &mut self.server {
                            server.listen = value;
                        }
                    }
                    "server.base_url" => {
                        if let Some(server) = &mut self.server {
                            server.base_url = value;
                        }
                    }
                    "store.url" => {
                        if let Some(store) = &mut self.store {
                            store.url = value;
                        }
                    }
                    _ => {}
                }
            }
        }
    }

    /// The config, when every part of it parsed.
    fn complete(self, adapters: Adapters) -> Option<Config> {
        Some(Config {
            server: self.server?,
            store: self.store?,
            auth: self.auth?,
            delivery: self.delivery?,
            telemetry: self.telemetry?,
            directory: self.directory?,
            reports: self.reports?,
            organisations: self.organisations.into_iter().collect::<Option<_>>()?,
            clients: self.clients.into_iter().collect::<Option<_>>()?,
            routes: self.routes.into_iter().collect::<Option<_>>()?,
            adapters,
        })
    }
}

/// Deserializes one table, pushing every unknown key and bad value in it with its path under
/// `at`; `None` if there was any.
///
/// serde stops at the first error, so each failing key is taken out and the rest tried again.
/// A table with several required fields missing gets only the first reported (serde checks
/// them one at a time, and there is no stand-in value to try the next with).
fn section<T: DeserializeOwned>(
    at: &str,
    value: &toml::Value,
    errors: &mut Vec<(String, String)>,
) -> Option<T> {
    let mut value = value.clone();
    let mut removed: Vec<String> = Vec::new();
    loop {
        let error = match serde_path_to_error::deserialize::<_, T>(value.clone()) {
            Ok(parsed) => return removed.is_empty().then_some(parsed),
            Err(error) => error,
        };
        let message = error.inner().message().to_owned();
        let key = match error.path().iter().next() {
            Some(Segment::Map { key }) => Some(key.clone()),
            _ => None,
        };
        // A required key already reported and taken out comes back as missing: once is enough.
        if key.is_none()
            && removed
                .iter()
                .any(|k| message == format!("missing field `{k}`"))
        {
            return None;
        }
        errors.push((join(at, &error.path().to_string()), message));
        let key = key?;
        match &mut value {
            toml::Value::Table(table) if table.contains_key(&key) => {
                table.remove(&key);
                removed.push(key);
            }
            _ => return None,
        }
    }
}

/// Deserializes an array of tables element by element, each element's errors under `at[i]`.
fn elements<T: DeserializeOwned>(
    at: &str,
    value: &toml::Value,
    errors: &mut Vec<(String, String)>,
) -> Vec<Option<T>> {
    match value {
        toml::Value::Array(items) => items
            .iter()
            .enumerate()
            .map(|(i, item)| section(&format!("{at}[{i}]"), item, errors))
            .collect(),
        // Not an array: serde words the error, and one unparsed element stands for the whole
        // array so that the checks know it is incomplete.
        _ => {
            let _ = section::<Vec<toml::Value>>(at, value, errors);
            vec![None]
        }
    }
}

/// `prefix` and a serde_path_to_error path (`.` for the root) as one path.
fn join(prefix: &str, path: &str) -> String {
    match (prefix, path) {
        (_, ".") => prefix.to_owned(),
        ("", _) => path.to_owned(),
        (_, rest) if rest.starts_with('[') => format!("{prefix}{rest}"),
        _ => format!("{prefix}.{path}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base_url(text: &str, env: &[(&str, &str)]) -> String {
        let config = Config::from_toml(text, |name| {
            env.iter()
                .find(|(var, _)| *var == name)
                .map(|(_, value)| (*value).to_owned())
        })
        .expect("valid");
        config.server.base_url
    }

    fn sorted_paths(text: &str) -> Vec<String> {
        let mut paths: Vec<String> = Config::from_toml(text, |_| None)
            .expect_err("invalid")
            .0
            .into_iter()
            .map(|(path, _)| path)
            .collect();
        paths.sort();
        paths
    }

    #[test]
    fn base_url_follows_the_listen_address_in_the_file() {
        assert_eq!(
            base_url("[server]\nlisten = \"127.0.0.1:9123\"\n", &[]),
            "http://127.0.0.1:9123"
        );
        assert_eq!(base_url("", &[]), "http://127.0.0.1:8080");
    }

    #[test]
    fn base_url_follows_the_listen_address_from_the_environment() {
        let env = [("SIGNPOST_SERVER_LISTEN", "127.0.0.1:9555")];
        assert_eq!(base_url("", &env), "http://127.0.0.1:9555");
        assert_eq!(
            base_url("[server]\nlisten = \"127.0.0.1:9123\"\n", &env),
            "http://127.0.0.1:9555"
        );
    }

    #[test]
    fn a_base_url_given_in_the_file_or_the_environment_wins() {
        let file =
            "[server]\nlisten = \"127.0.0.1:9123\"\nbase_url = \"https://signpost.example\"\n";
        assert_eq!(
            base_url(file, &[("SIGNPOST_SERVER_LISTEN", "127.0.0.1:9555")]),
            "https://signpost.example"
        );
        assert_eq!(
            base_url(
                "[server]\nlisten = \"127.0.0.1:9123\"\n",
                &[("SIGNPOST_SERVER_BASE_URL", "https://gw.example")]
            ),
            "https://gw.example"
        );
    }

    #[test]
    fn an_unspecified_listen_address_gives_a_loopback_base_url() {
        assert_eq!(
            base_url("[server]\nlisten = \"0.0.0.0:8081\"\n", &[]),
            "http://127.0.0.1:8081"
        );
        assert_eq!(
            base_url("", &[("SIGNPOST_SERVER_LISTEN", "[::]:8082")]),
            "http://[::1]:8082"
        );
    }

    const BROKEN: &str = r#"
[server]
listen = "127.0.0.1:8080"
lisen = "127.0.0.1:9090"
max_body_bytes = "large"

[delivery]
max_attempts = 0

[[organisation]]
ods = "a81"
name = "Riverside Surgery"
role = "gp"

[[organisation]]
ods = "LWS001"
name = "Riverside Link Workers"
role = "link worker"

[[organisation]]
ods = "VCS001"
name = "Mill Lane Walking Group"
role = "vcs"

[[client]]
id = "riverside-gp-system"
organisation = "A81001"
jwks_url = "https://riverside.example/jwks.json"
scope = ["system/ServiceRequest.cr"]

[[client]]
id = "mill-lane-walking-app"
organisation = "VCS001"
jwks_url = "https://mill-lane.example/jwks.json"
scopes = ["system/Task.rs", 7]

[[route]]
from = "A81001"
to = "LWS001"
"#;

    #[test]
    fn every_structural_mistake_is_reported_at_once() {
        // The route names organisations that did not parse, so it is not judged; the delivery
        // section parsed, so its own check still runs.
        assert_eq!(
            sorted_paths(BROKEN),
            vec![
                "client[0].scope",
                "client[1].scopes[1]",
                "delivery.max_attempts",
                "organisation[0].ods",
                "organisation[1].role",
                "server.lisen",
                "server.max_body_bytes",
            ]
        );
    }

    #[test]
    fn structural_messages_say_what_is_wrong() {
        let errors = Config::from_toml(BROKEN, |_| None).expect_err("invalid").0;
        let message = |path: &str| {
            errors
                .iter()
                .find(|(p, _)| p == path)
                .map(|(_, m)| m.clone())
                .unwrap_or_default()
        };
        assert!(message("server.lisen").contains("unknown field `lisen`"));
        assert!(message("organisation[1].role").contains("expected one of"));
        assert!(message("client[1].scopes[1]").contains("invalid type: integer"));
    }

    #[test]
    fn a_missing_field_is_reported_beside_a_bad_one_in_the_same_table() {
        let text = "[[organisation]]\nods = \"A81001\"\nrole = \"doctor\"\ncolour = \"red\"\n";
        assert_eq!(
            sorted_paths(text),
            vec![
                "organisation[0]",
                "organisation[0].colour",
                "organisation[0].role"
            ]
        );
        let errors = Config::from_toml(text, |_| None).expect_err("invalid").0;
        assert!(
            errors
                .iter()
                .any(|(p, m)| p == "organisation[0]" && m.contains("missing field `name`")),
            "{errors:?}"
        );
    }

    #[test]
    fn unknown_sections_and_non_array_lists_are_reported() {
        let text = "route = \"everywhere\"\n\n[srever]\nlisten = \"127.0.0.1:8080\"\n";
        assert_eq!(sorted_paths(text), vec!["route", "srever"]);
        let errors = Config::from_toml(text, |_| None).expect_err("invalid").0;
        assert!(
            errors
                .iter()
                .any(|(p, m)| p == "srever" && m.contains("expected one of")),
            "{errors:?}"
        );
    }

    #[test]
    fn a_syntax_error_is_reported_alone() {
        let errors = Config::from_toml("[server\nlisten = 1", |_| None)
            .expect_err("invalid")
            .0;
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert_eq!(errors[0].0, "");
    }
}
