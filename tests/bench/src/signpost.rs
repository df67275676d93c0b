//! Signpost as it runs in production: a release binary, a SQLite store on disk (or a PostgreSQL
//! database, shared by replicas), tokens checked, full validation, and a `fhir-rest` partner to
//! deliver to, or none (the link worker polls, so intake alone is measured).

use std::path::Path;
use std::process::{Command, Stdio};

use anyhow::Context;
use signpost_conformance::keys::{ClientKey, KeyAlgorithm};
use signpost_conformance::smart::request_token;

use crate::process::{ServerProcess, free_port};

/// The GP system the load posts as.
const CLIENT: &str = "bench-gp-system";

/// The config: one practice routed to one link-worker service, reached by `fhir-rest` at
/// `partner_url` or, without one, polling Signpost; every delivery and server setting left at its
/// default, as an operator would start, except the per-client rate limit: the harness is one
/// client measuring throughput, not a client to throttle.
fn config(port: u16, partner_url: Option<&str>, store_url: &str) -> String {
    let adapter = partner_url.map_or(String::new(), |url| {
        format!("[organisation.adapter]\nkind = \"fhir-rest\"\nurl = \"{url}\"\n")
    });
    format!(
        r#"[server]
listen = "127.0.0.1:{port}"
base_url = "http://127.0.0.1:{port}"
client_requests_per_second = 0

[store]
url = "{store_url}"

[auth]
signing_key = "token-key.pem"

[[organisation]]
ods = "A81001"
name = "Riverside Surgery"
role = "gp"

[[organisation]]
ods = "LWS001"
name = "Riverside Social Prescribing Service"
role = "link-worker"
{adapter}
[[client]]
id = "{CLIENT}"
organisation = "A81001"
jwks = "gp.jwks.json"
scopes = ["system/ServiceRequest.crs", "system/Task.rs"]

[[route]]
from = "A81001"
to = "LWS001"
"#
    )
}

/// A running Signpost and a token to post with.
pub struct Signpost {
    /// The process.
    pub process: ServerProcess,
    /// `Bearer ...` for the GP client.
    pub authorization: String,
}

/// Writes the config (on the store at `store_url`, delivering to `partner_url` if there is one)
/// and a new client key into `dir` (listening on a free port), and returns the command that starts `binary` there as an operator would, the
/// port and the key.
pub fn prepare(
    binary: &Path,
    dir: &Path,
    partner_url: Option<&str>,
    store_url: &str,
) -> anyhow::Result<(Command, u16, ClientKey)> {
    let key = ClientKey::generate(KeyAlgorithm::Es384)?;
    std::fs::write(dir.join("gp.jwks.json"), key.jwks().to_string())?;
    let port = free_port()?;
    std::fs::write(
        dir.join("signpost.toml"),
        config(port, partner_url, store_url),
    )?;
    let log = std::fs::File::create(dir.join("signpost.log"))?;
    let mut command = Command::new(binary);
    command
        .args(["serve", "--config", "signpost.toml"])
        .current_dir(dir)
        .env_remove("SIGNPOST_CONFIG")
        .env_remove("SIGNPOST_SERVER_LISTEN")
        .env_remove("SIGNPOST_SERVER_BASE_URL")
        .env_remove("SIGNPOST_STORE_URL")
        .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
        // Production's default log level, whatever the caller's shell has.
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log);
    Ok((command, port, key))
}

impl Signpost {
    /// Writes the config and the client's key into `dir`, starts `binary` there on the store at
    /// `store_url` (delivering to `partner_url`, if any) and gets a token. `log` is its `RUST_LOG`; `None` is production's default.
    pub async fn start(
        binary: &Path,
        dir: &Path,
        partner_url: Option<&str>,
        store_url: &str,
        log: Option<&str>,
    ) -> anyhow::Result<Self> {
        let (mut command, port, key) = prepare(binary, dir, partner_url, store_url)?;
        if let Some(filter) = log {
            command.env("RUST_LOG", filter);
        }
        let process = ServerProcess::start(command, port, &binary.display().to_string()).await?;
        let http = reqwest::Client::builder().no_proxy().build()?;
        let token = request_token(
            &http,
            &format!("{}/auth/token", process.base),
            CLIENT,
            &key,
            "system/ServiceRequest.crs system/Task.rs",
        )
        .await
        .context("getting an access token")?;
        Ok(Self {
            process,
            authorization: format!("Bearer {}", token.access_token),
        })
    }

    /// Where referrals are posted.
    pub fn intake_url(&self) -> String {
        format!("{}/fhir/ServiceRequest", self.process.base)
    }
}
