//! Runs the real `signpost` binary for end-to-end tests.

#![allow(dead_code)] // each test file uses a different part of the harness

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

pub use config::TestConfig;
pub use proxy::{CommitFault, PgProxy};

mod config;
pub mod corpus;
pub mod oracle;
mod proxy;

/// The `signpost` binary, built once per test process (a no-op when it is up to date).
pub fn binary() -> PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT
        .get_or_init(|| {
            if let Ok(path) = std::env::var("SIGNPOST_BIN") {
                return PathBuf::from(path);
            }
            let workspace = Path::new(env!("CARGO_MANIFEST_DIR"))
                .parent()
                .expect("workspace root")
                .to_path_buf();
            let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
            let status = Command::new(cargo)
                .args([
                    "build",
                    "--quiet",
                    "-p",
                    "signpost-gateway",
                    "--bin",
                    "signpost",
                ])
                .current_dir(&workspace)
                .status()
                .expect("run cargo build");
            assert!(status.success(), "building the signpost binary failed");
            let target = std::env::var("CARGO_TARGET_DIR")
                .map_or_else(|_| workspace.join("target"), PathBuf::from);
            target.join("debug").join("signpost")
        })
        .clone()
}

/// A free port on 127.0.0.1 (bound and released; the gateway binds it straight after).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

/// A `signpost serve` process.
pub struct GatewayProcess {
    child: Option<Child>,
    /// Its FHIR base URL.
    pub fhir: String,
    /// The base URL it is configured with (token issuer and audience).
    public_base: String,
    log: PathBuf,
}

impl GatewayProcess {
    /// Starts `signpost serve --config FILE` in `dir` and waits until `/healthz` answers.
    pub async fn start(config: &Path, dir: &Path) -> Self {
        Self::start_with(config, dir, &[]).await
    }

    /// Like [`start`](Self::start), with extra environment (e.g. `SIGNPOST_STORE_URL`).
    pub async fn start_with(config: &Path, dir: &Path, env: &[(&str, &str)]) -> Self {
        let port = free_port();
        let base = format!("http://127.0.0.1:{port}");
        let log = dir.join(format!("gateway-{port}.log"));
        let child = Command::new(binary())
            .args(["serve", "--config"])
            .arg(config)
            .env("SIGNPOST_SERVER_LISTEN", format!("127.0.0.1:{port}"))
            .env("SIGNPOST_SERVER_BASE_URL", &base)
            .env("RUST_LOG", "info,sqlx=warn")
            .envs(env.iter().copied())
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("log file"))
            .spawn()
            .expect("spawn signpost");
        let public_base = env
            .iter()
            .find(|(k, _)| *k == "SIGNPOST_SERVER_BASE_URL")
            .map_or_else(|| base.clone(), |(_, v)| (*v).to_owned());
        let mut process = Self {
            child: Some(child),
            fhir: format!("{base}/fhir"),
            public_base,
            log,
        };
        let http = reqwest::Client::new();
        for _ in 0..300 {
            if let Some(status) = process
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                panic!("signpost exited with {status}:\n{}", process.log());
            }
            if http
                .get(format!("{base}/healthz"))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success())
            {
                return process;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("signpost did not become healthy:\n{}", process.log());
    }

    /// A fresh access token for the GP client of [`write_config`] (its key is in `dir`).
    pub async fn gp_token(&self, dir: &Path) -> String {
        self.token_as(
            dir,
            GP_CLIENT,
            GP_CLIENT,
            "system/ServiceRequest.crs system/Task.rus",
        )
        .await
    }

    /// An access token for a client whose key [`client_block`] wrote into `dir`.
    pub async fn token_for(&self, dir: &Path, client: &str, scope: &str) -> String {
        self.token_as(dir, client, client, scope).await
    }

    /// A token for `client_id` signed with `dir/{key}.pem`, asked of this process with the
    /// audience its configured base URL names (shared by replicas behind one address).
    async fn token_as(&self, dir: &Path, key: &str, client_id: &str, scope: &str) -> String {
        let pem = std::fs::read_to_string(dir.join(format!("{key}.pem"))).expect("client key");
        let key = signpost_conformance::keys::ClientKey::from_pem(&pem).expect("pem");
        let assertion = signpost_conformance::smart::AssertionClaims::new(
            client_id,
            &format!("{}/auth/token", self.public_base),
            240,
        )
        .sign(&key)
        .expect("sign");
        let token_url = self.fhir.replace("/fhir", "/auth/token");
        let (status, body) = signpost_conformance::smart::request_token_raw(
            &reqwest::Client::new(),
            &token_url,
            &assertion,
            scope,
        )
        .await
        .expect("token request");
        assert_eq!(status, 200, "token refused: {body}");
        serde_json::from_str::<serde_json::Value>(&body).expect("json")["access_token"]
            .as_str()
            .expect("token")
            .to_owned()
    }

    /// What the process logged.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// `kill -TERM`, then waits for the process to end; returns whether it exited with 0.
    pub fn terminate(&mut self) -> bool {
        self.child
            .take()
            .is_some_and(signpost_conformance::process::terminate)
    }

    /// `kill -9`: no chance to finish anything.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for GatewayProcess {
    /// Stops the process and, unless the test already failed, fails it if the log holds any of
    /// the test person's details: so every gateway any end-to-end test starts has its whole log
    /// checked, not only the journey's.
    fn drop(&mut self) {
        self.kill();
        if !std::thread::panicking() {
            let leaked = patient_data_in(&self.log());
            assert!(
                leaked.is_empty(),
                "the gateway's log ({}) holds the person's details: {leaked:?}",
                self.log.display()
            );
        }
    }
}

/// The example referral's person, as the tests send them: none of it may reach a log.
const PERSON: [&str; 9] = [
    "9434765919",
    "Okafor",
    "Margaret",
    "1948-03-14",
    "12 Mill Lane",
    "S1 2AB",
    "07700 900123",
    "Lonely since bereavement",
    "Prefers phone",
];

/// Which of the test person's details `log` holds, as written or percent-encoded (as a path or
/// query carries them).
pub fn patient_data_in(log: &str) -> Vec<String> {
    let decoded = percent_encoding::percent_decode_str(log).decode_utf8_lossy();
    PERSON
        .iter()
        .filter(|private| log.contains(**private) || decoded.contains(**private))
        .map(|private| (*private).to_owned())
        .collect()
}

/// A PostgreSQL database of the test's own, dropped when the test ends: the same guard as the
/// gateway's store tests, shared by path rather than by a crate of test helpers.
#[path = "../../../gateway/tests/support/temp_postgres.rs"]
mod temp_postgres;
pub use temp_postgres::TempPostgres;

/// A `[[client]]` block for `id`, with a fresh key written to `dir/{id}.pem` and its JWKS beside it.
pub fn client_block(dir: &Path, id: &str, organisation: &str, scopes: &str) -> String {
    let key = signpost_conformance::keys::ClientKey::generate(
        signpost_conformance::keys::KeyAlgorithm::Es384,
    )
    .expect("key");
    std::fs::write(dir.join(format!("{id}.pem")), key.private_pem()).expect("pem");
    std::fs::write(dir.join(format!("{id}.jwks.json")), key.jwks().to_string()).expect("jwks");
    format!(
        "[[client]]\nid = \"{id}\"\norganisation = \"{organisation}\"\njwks = \"{id}.jwks.json\"\nscopes = {scopes}\n"
    )
}

/// The GP system's client id in [`write_config`]'s config.
pub const GP_CLIENT: &str = "riverside-gp-system";

/// A config with Riverside Surgery routed to a link-worker service reached by `fhir-rest` at `partner_url`,
/// fast retries so tests do not wait, and a GP client whose key is written beside it.
pub fn write_config(dir: &Path, partner_url: &str) -> PathBuf {
    TestConfig::default()
        .delivery("max_attempts = 1000")
        .delivery("lease_seconds = 2")
        .organisation("A81001")
        .pushed_to("LWS001", partner_url, "timeout_seconds = 1\n")
        .client(
            dir,
            GP_CLIENT,
            "A81001",
            r#"["system/ServiceRequest.crs", "system/Task.rus"]"#,
        )
        .route("A81001", "LWS001")
        .write(dir.join("signpost.toml"))
}

#[test]
fn the_log_check_finds_the_person_written_or_percent_encoded() {
    assert_eq!(
        patient_data_in("GET /fhir/Task/9434765919 401"),
        ["9434765919"]
    );
    assert_eq!(
        patient_data_in("path=/fhir/Patient?name=Okafor%20Margaret"),
        ["Okafor", "Margaret"]
    );
    assert_eq!(patient_data_in("born 1948%2D03%2D14"), ["1948-03-14"]);
    assert!(
        patient_data_in(r#"{"message":"referral accepted","nhs_number":"943***5919"}"#).is_empty()
    );
}
