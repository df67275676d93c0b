//! A gateway on an ephemeral port with a real SQLite file, and clients holding real keys.

#![allow(dead_code)] // each test file uses a different part of the harness

pub mod browser;
pub mod console;
// The conformance tests' (tests/tests/support/oracle.rs): one copy for both.
#[path = "../../../tests/tests/support/oracle.rs"]
pub mod oracle;
// Also the store's unit tests' (src/store/test_fixtures.rs): one copy for both.
mod temp_postgres;

#[allow(unused_imports)] // as above: the tracing binary has no use for it
pub use temp_postgres::TempPostgres;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use serde_json::Value;
use signpost_conformance::keys::{ClientKey, KeyAlgorithm};
use signpost_gateway::config::Config;
use signpost_gateway::server::Gateway;
use signpost_gateway::store::{OutboxCounts, SearchQuery, SortOrder, Store};

pub const REFERRAL: &str = signpost_profiles::examples::REFERRAL_FROM_GP;
pub const FHIR_JSON: &str = "application/fhir+json";

/// Test clients: (id, organisation, scopes, algorithm).
pub const CLIENTS: &[(&str, &str, &str, KeyAlgorithm)] = &[
    (
        "riverside-gp",
        "A81001",
        r#"["system/ServiceRequest.crs", "system/Task.rus"]"#,
        KeyAlgorithm::Es384,
    ),
    (
        "hillside-gp",
        "A81002",
        r#"["system/ServiceRequest.crs", "system/Task.rs"]"#,
        KeyAlgorithm::Rs384,
    ),
    (
        "riverside-lw",
        "LWS001",
        r#"["system/ServiceRequest.crs", "system/Task.rus"]"#,
        KeyAlgorithm::Es384,
    ),
    (
        "city-lw",
        "LWS002",
        r#"["system/ServiceRequest.crs", "system/Task.rus"]"#,
        KeyAlgorithm::Es384,
    ),
    (
        "walking-app",
        "VCS001",
        r#"["system/ServiceRequest.rs", "system/Task.rus"]"#,
        KeyAlgorithm::Es384,
    ),
    (
        "create-only-gp",
        "A81001",
        r#"["system/ServiceRequest.c"]"#,
        KeyAlgorithm::Es384,
    ),
    (
        "read-only-gp",
        "A81001",
        r#"["system/ServiceRequest.r", "system/Task.r"]"#,
        KeyAlgorithm::Es384,
    ),
    ("operator", "LWS001", r#"["admin"]"#, KeyAlgorithm::Es384),
    (
        "commissioner",
        "LWS001",
        r#"["commissioner"]"#,
        KeyAlgorithm::Es384,
    ),
    (
        "mill-lane-app",
        "VCS001",
        r#"["system/ServiceRequest.rs", "system/Task.rus"]"#,
        KeyAlgorithm::Es384,
    ),
    (
        "debt-advice-app",
        "VCS002",
        r#"["system/ServiceRequest.rs", "system/Task.rus"]"#,
        KeyAlgorithm::Es384,
    ),
    (
        "walking-directory",
        "VCS001",
        r#"["system/HealthcareService.u"]"#,
        KeyAlgorithm::Es384,
    ),
];

pub struct TestGateway {
    pub fhir: String,
    pub base: String,
    pub store: Arc<dyn Store>,
    pub http: reqwest::Client,
    pub dir: PathBuf,
    pub keys: HashMap<String, ClientKey>,
    pub config_text: String,
    tokens: Mutex<HashMap<String, String>>,
    _tempdir: Option<tempfile::TempDir>,
}

/// Config text: LWS001 is pushed to through fhir-rest at a port nobody listens on, so its
/// deliveries stay pending; A81002 is a practice with no route.
/// What differs between test gateways: adapters by ODS code, `[delivery]` settings, extra TOML.
pub struct Setup {
    /// `[organisation.adapter]` bodies (without the header) by ODS code.
    pub adapters: Vec<(&'static str, String)>,
    /// The `[delivery]` table's body.
    pub delivery: String,
    /// Appended to the config (more routes, clients).
    pub extra: String,
    /// More `[server]` settings (connection limits, rates).
    pub server: String,
    /// The store's URL; a SQLite file in the test's directory when `None`.
    pub store: Option<String>,
}

impl Default for Setup {
    /// LWS001 pushed to through fhir-rest at a port nobody listens on, so its deliveries stay pending.
    fn default() -> Self {
        let closed = std::net::TcpListener::bind("127.0.0.1:0")
            .expect("bind")
            .local_addr()
            .expect("addr")
            .port();
        Self {
            adapters: vec![(
                "LWS001",
                format!("kind = \"fhir-rest\"\nurl = \"http://127.0.0.1:{closed}/fhir\"\n"),
            )],
            delivery: "max_attempts = 1000\nbackoff_base_ms = 1000\n".into(),
            extra: String::new(),
            server: String::new(),
            store: None,
        }
    }
}

const ORGANISATIONS: &[(&str, &str, &str)] = &[
    ("A81001", "Riverside Surgery", "gp"),
    ("A81002", "Hillside Surgery", "gp"),
    (
        "LWS001",
        "Riverside Social Prescribing Service",
        "link-worker",
    ),
    ("LWS002", "City Link Workers", "link-worker"),
    ("VCS001", "Mill Lane Walking Group", "vcs"),
    ("VCS002", "Sheffield Money and Debt Advice", "vcs"),
];

/// The config text; A81002 is a practice with no route unless `extra` adds one.
fn config_text(dir: &Path, setup: &Setup) -> String {
    let mut text = format!(
        "[server]\nlisten = \"127.0.0.1:0\"\nbase_url = \"http://gateway.test\"\n{}\
         [store]\nurl = \"{}\"\n\
         [auth]\nsigning_key = \"{}\"\ntoken_ttl_seconds = 300\n\
         [delivery]\n{}",
        setup.server,
        setup
            .store
            .clone()
            .unwrap_or_else(|| format!("sqlite://{}", dir.join("signpost.db").display())),
        dir.join("token-key.pem").display(),
        setup.delivery,
    );
    for (ods, name, role) in ORGANISATIONS {
        text.push_str(&format!(
            "[[organisation]]\nods = \"{ods}\"\nname = \"{name}\"\nrole = \"{role}\"\n"
        ));
        if let Some((_, adapter)) = setup.adapters.iter().find(|(o, _)| o == ods) {
            text.push_str(&format!("[organisation.adapter]\n{adapter}"));
        }
    }
    text.push_str("[[route]]\nfrom = \"A81001\"\nto = \"LWS001\"\n");
    for (id, org, scopes, _) in CLIENTS {
        text.push_str(&format!(
            "[[client]]\nid = \"{id}\"\norganisation = \"{org}\"\njwks = \"{}\"\nscopes = {scopes}\n",
            dir.join(format!("{id}.jwks.json")).display()
        ));
    }
    text.push_str(&setup.extra);
    text
}

impl TestGateway {
    /// A fresh gateway with fresh keys in a new temporary directory.
    pub async fn spawn() -> Self {
        Self::spawn_with("").await
    }

    /// Like [`spawn`](Self::spawn), with extra TOML appended to the config.
    pub async fn spawn_with(extra: &str) -> Self {
        Self::spawn_setup(Setup {
            extra: extra.to_owned(),
            ..Setup::default()
        })
        .await
    }

    /// A fresh gateway configured by `setup`.
    pub async fn spawn_setup(setup: Setup) -> Self {
        let tempdir = tempfile::tempdir().expect("tempdir");
        let dir = tempdir.path().to_path_buf();
        let mut keys = HashMap::new();
        for (id, _, _, alg) in CLIENTS {
            let key = ClientKey::generate(*alg).expect("key");
            std::fs::write(dir.join(format!("{id}.jwks.json")), key.jwks().to_string())
                .expect("jwks");
            keys.insert((*id).to_owned(), key);
        }
        let text = config_text(&dir, &setup);
        let mut gw = Self::start(&text, dir, keys).await;
        gw._tempdir = Some(tempdir);
        gw
    }

    /// Another gateway on the same database, keys and config: a restart as far as memory goes.
    pub async fn restart(&self) -> Self {
        let keys = self
            .keys
            .iter()
            .map(|(k, v)| {
                (
                    k.clone(),
                    ClientKey::from_pem(&v.private_pem()).expect("pem"),
                )
            })
            .collect();
        Self::start(&self.config_text, self.dir.clone(), keys).await
    }

    /// A second gateway on the same store, config and keys, running beside this one: a replica
    /// with its own connection pool.
    pub async fn replica(&self) -> Self {
        self.restart().await
    }

    async fn start(text: &str, dir: PathBuf, keys: HashMap<String, ClientKey>) -> Self {
        let config = Config::from_toml(text, |_| None).expect("config");
        let gateway = Gateway::start(config).await.expect("start");
        let addr = gateway.local_addr().expect("addr");
        let store = gateway.state.store.clone();
        tokio::spawn(gateway.run());
        // Tokens name http://gateway.test as issuer; requests go to the real port.
        Self {
            fhir: format!("http://{addr}/fhir"),
            base: format!("http://{addr}"),
            store,
            http: reqwest::Client::new(),
            dir,
            keys,
            config_text: text.to_owned(),
            tokens: Mutex::default(),
            _tempdir: None,
        }
    }

    /// The audience client assertions must name (the configured base URL, not the socket).
    pub fn token_audience(&self) -> &'static str {
        "http://gateway.test/auth/token"
    }

    pub fn token_endpoint(&self) -> String {
        format!("{}/auth/token", self.base)
    }

    /// An access token for a test client, with all its configured scopes.
    pub async fn token(&self, client: &str) -> String {
        if let Some(t) = self.tokens.lock().expect("lock").get(client) {
            return t.clone();
        }
        let scopes = CLIENTS
            .iter()
            .find(|c| c.0 == client)
            .map(|c| c.2)
            .expect("known client");
        let scopes: Vec<String> = serde_json::from_str(scopes).expect("scopes");
        let token = self
            .token_with(client, &scopes.join(" "))
            .await
            .expect("token granted")
            .access_token;
        self.tokens
            .lock()
            .expect("lock")
            .insert(client.to_owned(), token.clone());
        token
    }

    pub async fn token_with(
        &self,
        client: &str,
        scope: &str,
    ) -> Result<signpost_conformance::smart::TokenResponse, signpost_conformance::smart::TokenError>
    {
        // The assertion's audience is the configured token URL; the request goes to the socket.
        let key = &self.keys[client];
        let assertion =
            signpost_conformance::smart::AssertionClaims::new(client, self.token_audience(), 240)
                .sign(key)?;
        let (status, body) = signpost_conformance::smart::request_token_raw(
            &self.http,
            &self.token_endpoint(),
            &assertion,
            scope,
        )
        .await?;
        if status != 200 {
            return Err(signpost_conformance::smart::TokenError::Refused { status, body });
        }
        Ok(serde_json::from_str(&body).expect("token json"))
    }

    pub async fn post_as(
        &self,
        client: &str,
        path: &str,
        body: impl Into<reqwest::Body>,
        headers: &[(&str, &str)],
    ) -> (StatusCode, HeaderMap, Value) {
        let mut request = self
            .http
            .post(format!("{}/{path}", self.fhir))
            .bearer_auth(self.token(client).await)
            .header("content-type", FHIR_JSON)
            .body(body);
        for (k, v) in headers {
            request = request.header(*k, *v);
        }
        answer(request.send().await.expect("post")).await
    }

    pub async fn post_referral(
        &self,
        body: impl Into<reqwest::Body>,
    ) -> (StatusCode, HeaderMap, Value) {
        self.post_as("riverside-gp", "ServiceRequest", body, &[])
            .await
    }

    pub async fn get_as(
        &self,
        client: &str,
        path_and_query: &str,
    ) -> (StatusCode, HeaderMap, Value) {
        let url = if path_and_query.starts_with("http") {
            path_and_query.replace("http://gateway.test", &self.base)
        } else {
            format!("{}/{path_and_query}", self.fhir)
        };
        answer(
            self.http
                .get(url)
                .bearer_auth(self.token(client).await)
                .send()
                .await
                .expect("get"),
        )
        .await
    }

    pub async fn count(&self, resource_type: &str) -> i64 {
        let query = SearchQuery {
            resource_type: resource_type.into(),
            criteria: vec![],
            count: 0,
            offset: 0,
            sort: SortOrder::default(),
        };
        self.store.search(&query).await.expect("search").total
    }

    /// Referrals, Tasks and deliveries stored, to prove a refused request left nothing behind.
    pub async fn stored(&self) -> (i64, i64, OutboxCounts) {
        (
            self.count("ServiceRequest").await,
            self.count("Task").await,
            self.store.outbox_counts().await.expect("counts"),
        )
    }
}

impl TestGateway {
    /// `PUT /fhir/Task/{id}` with `If-Match: W/"{version}"` (no header when `version` is `None`).
    pub async fn put_task(
        &self,
        client: &str,
        task: &Value,
        version: Option<i64>,
    ) -> (StatusCode, HeaderMap, Value) {
        let id = task["id"].as_str().unwrap_or_default();
        let mut request = self
            .http
            .put(format!("{}/Task/{id}", self.fhir))
            .bearer_auth(self.token(client).await)
            .header("content-type", FHIR_JSON)
            .body(task.to_string());
        if let Some(v) = version {
            request = request.header("if-match", format!("W/\"{v}\""));
        }
        answer(request.send().await.expect("put")).await
    }

    /// `PATCH /fhir/Task/{id}` with a JSON Patch.
    pub async fn patch_task(
        &self,
        client: &str,
        id: &str,
        ops: &Value,
        version: i64,
    ) -> (StatusCode, HeaderMap, Value) {
        let request = self
            .http
            .patch(format!("{}/Task/{id}", self.fhir))
            .bearer_auth(self.token(client).await)
            .header("content-type", "application/json-patch+json")
            .header("if-match", format!("W/\"{version}\""))
            .body(ops.to_string());
        answer(request.send().await.expect("patch")).await
    }

    /// Posts the example referral as Riverside Surgery and returns (ServiceRequest, link-worker Task).
    pub async fn referral_with_task(&self) -> (Value, Value) {
        let (status, _, sr) = self.post_referral(REFERRAL).await;
        assert_eq!(status, StatusCode::CREATED, "{sr}");
        let id = sr["id"].as_str().expect("id");
        let (_, _, bundle) = self
            .get_as("riverside-lw", &format!("Task?focus=ServiceRequest/{id}"))
            .await;
        (sr, bundle["entry"][0]["resource"].clone())
    }

    /// Moves a Task as `client`, expecting success; returns the new version.
    pub async fn move_task(&self, client: &str, task: &Value, status: &str) -> Value {
        let mut next = task.clone();
        next["status"] = Value::String(status.into());
        let version: i64 = task["meta"]["versionId"]
            .as_str()
            .and_then(|v| v.parse().ok())
            .expect("version");
        let (code, _, updated) = self.put_task(client, &next, Some(version)).await;
        assert_eq!(
            code,
            StatusCode::OK,
            "{client} moving to {status}: {updated}"
        );
        updated
    }
}

pub async fn answer(response: reqwest::Response) -> (StatusCode, HeaderMap, Value) {
    let status = response.status();
    let headers = response.headers().clone();
    (
        status,
        headers,
        response.json().await.unwrap_or(Value::Null),
    )
}

pub fn referral() -> Value {
    serde_json::from_str(REFERRAL).expect("example parses")
}

/// The first issue's code and expression.
pub fn issue(outcome: &Value) -> (&str, &str) {
    assert_eq!(outcome["resourceType"], "OperationOutcome", "{outcome}");
    (
        outcome["issue"][0]["code"].as_str().unwrap_or_default(),
        outcome["issue"][0]["expression"][0]
            .as_str()
            .unwrap_or_default(),
    )
}

/// The ODS code system.
pub const ODS: &str = "https://fhir.nhs.uk/Id/ods-organization-code";
/// The taxonomy the directory tests' categories are coded in.
pub const TAXONOMY: &str = "https://openreferraluk.org/taxonomy/test";

/// A capacity declaration as a feed gives it: (status, places available, expires).
pub type Declared<'a> = (&'a str, Option<u32>, &'a str);

/// A directory entry as an import writes it: its feed key, name, provider, one category and one
/// contained Location at `postcode`; with a capacity from the feed if given.
pub fn directory_service(
    key: &str,
    name: &str,
    ods: &str,
    category: &str,
    postcode: &str,
    capacity: Option<Declared<'_>>,
) -> Value {
    use signpost_gateway::directory::capacity::{
        GRAVITY_CAPACITY_SYSTEM, GRAVITY_CAPACITY_URL, SIGNPOST_CAPACITY_URL,
    };
    let mut s = serde_json::json!({
        "resourceType": "HealthcareService",
        "identifier": [{"system": "https://feed.test/services", "value": key}],
        "active": true,
        "providedBy": {"identifier": {"system": ODS, "value": ods}},
        "category": [{"coding": [{"system": TAXONOMY, "code": category}]}],
        "name": name,
        "contained": [{"resourceType": "Location", "id": "loc0", "address": {"postalCode": postcode}}],
        "location": [{"reference": "#loc0"}],
    });
    if let Some((status, available, expires)) = capacity {
        let mut counts = vec![
            serde_json::json!({"url": "source", "valueCode": "feed"}),
            serde_json::json!({"url": "asOf", "valueInstant": "2026-01-01T00:00:00Z"}),
            serde_json::json!({"url": "expires", "valueInstant": expires}),
        ];
        if let Some(n) = available {
            counts.push(serde_json::json!({"url": "available", "valueUnsignedInt": n}));
            counts.push(serde_json::json!({"url": "maximum", "valueUnsignedInt": 10}));
        }
        s["extension"] = serde_json::json!([
            {"url": GRAVITY_CAPACITY_URL, "extension": [{"url": "capacityStatus", "valueCodeableConcept": {"coding": [{"system": GRAVITY_CAPACITY_SYSTEM, "code": status}]}}]},
            {"url": SIGNPOST_CAPACITY_URL, "extension": counts}
        ]);
    }
    s
}

/// `service` with its Location at a position (WGS84 degrees).
pub fn at_position(mut service: Value, latitude: f64, longitude: f64) -> Value {
    service["contained"][0]["position"] =
        serde_json::json!({"latitude": latitude, "longitude": longitude});
    service
}

/// Imports `entries` as a feed would and maps each one's feed key to its id in the directory.
pub async fn import_directory(gw: &TestGateway, entries: Vec<Value>) -> HashMap<String, String> {
    let counts = signpost_gateway::workflow::import_directory::import_services(
        gw.store.as_ref(),
        &entries,
        Some("https://feed.test/services"),
    )
    .await
    .expect("import");
    assert_eq!(counts.created, entries.len());
    let (_, _, all) = gw
        .get_as(
            "riverside-gp",
            &format!("HealthcareService?_count={}", entries.len()),
        )
        .await;
    all["entry"]
        .as_array()
        .expect("entries")
        .iter()
        .map(|e| {
            let r = &e["resource"];
            (
                r["identifier"][0]["value"]
                    .as_str()
                    .expect("key")
                    .to_owned(),
                r["id"].as_str().expect("id").to_owned(),
            )
        })
        .collect()
}
