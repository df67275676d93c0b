//! The conformance kit: checks another organisation's system against what Signpost expects,
//! and explains every failure with what was sent, what came back and what was expected.

pub mod check;
pub mod gateway;
pub mod http;
pub mod partner;
pub mod report;
pub mod runner;

use std::path::PathBuf;
use std::time::Duration;

use check::Finding;

/// Which side the kit tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// A Signpost-compatible gateway; the kit plays GP, link worker and VCS provider.
    Gateway,
    /// A link-worker platform; the kit plays the gateway.
    LinkWorker,
    /// A VCS provider's system; the kit plays the gateway.
    Vcs,
}

impl Role {
    /// The name used on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            Role::Gateway => "gateway",
            Role::LinkWorker => "link-worker",
            Role::Vcs => "vcs",
        }
    }
}

/// Everything a run needs.
pub struct Options {
    /// The system under test: a FHIR base URL (gateway, fhir-rest, bars) or a webhook URL.
    pub target: String,
    /// Which side it is.
    pub role: Role,
    /// `--only` patterns.
    pub only: Option<String>,
    /// Gateway role: the parties file (`None`: the sandbox's demo clients).
    pub parties: Option<PathBuf>,
    /// Gateway role: where the sandbox keeps the demo clients' keys.
    pub sandbox_keys: PathBuf,
    /// Gateway role: the GP system's client id and key, replacing the parties file's.
    pub client: Option<(String, PathBuf)>,
    /// Partner roles: the adapter kind.
    pub adapter: String,
    /// Partner roles: the partner's ODS code.
    pub partner_ods: Option<String>,
    /// Partner roles: the webhook secret (`whsec_…`).
    pub webhook_secret: Option<String>,
    /// Partner roles: the BaRS target identifier.
    pub target_identifier: String,
    /// Partner roles: listen here for status reports (`None`: status reports are not checked).
    pub status_back: Option<String>,
    /// Partner roles: how long to wait for a status report.
    pub status_timeout: Duration,
}

/// Why a run could not start.
#[derive(Debug, thiserror::Error)]
pub enum KitError {
    /// The parties could not be loaded.
    #[error(transparent)]
    Parties(#[from] gateway::PartiesError),
    /// The adapter could not be built from the options.
    #[error("adapter: {0}")]
    Adapter(String),
    /// The status callback could not listen.
    #[error("status callback: {0}")]
    Callback(std::io::Error),
    /// `--target` is the server's root, not its FHIR base.
    #[error(
        "the target is not a FHIR base: GET {target}/metadata is not a CapabilityStatement ({got}), \
         but a CapabilityStatement answers at {base}/metadata; use --target {base}"
    )]
    NotFhirBase {
        /// The target as given.
        target: String,
        /// What its /metadata answered.
        got: String,
        /// The FHIR base that answered.
        base: String,
    },
}

/// Runs the checks for `options.role`.
pub async fn run(options: &Options) -> Result<Vec<Finding>, KitError> {
    let only = options.only.as_deref();
    match options.role {
        Role::Gateway => {
            gateway::probe_fhir_base(&options.target).await?;
            let parties = gateway_parties(options)?;
            Ok(runner::run(
                gateway::CHECKS,
                only,
                gateway::contexts(&options.target, parties),
            )
            .await)
        }
        Role::LinkWorker | Role::Vcs => {
            let target = partner_target(options).await?;
            Ok(runner::run(partner::CHECKS, only, partner::contexts(target)).await)
        }
    }
}

/// The parties file, else the sandbox's clients, with `--client-id`/`--key` as the GP system; a
/// GP system given on its own needs no sandbox keys.
fn gateway_parties(options: &Options) -> Result<gateway::Parties, KitError> {
    let parties = match (&options.parties, &options.client) {
        (Some(file), client) => {
            let parties = gateway::Parties::from_file(file)?;
            match client {
                Some((id, key)) => parties.with_gp(id, key)?,
                None => parties,
            }
        }
        (None, None) => gateway::Parties::sandbox(&options.sandbox_keys)?,
        (None, Some((id, key))) => match gateway::Parties::sandbox(&options.sandbox_keys) {
            Ok(sandbox) => sandbox.with_gp(id, key)?,
            Err(gateway::PartiesError::NoSandboxKeys(..)) => gateway::Parties::gp_only(id, key)?,
            Err(e) => return Err(e.into()),
        },
    };
    Ok(parties)
}

/// The settings the kit delivers with: those the adapter kind's example names, filled from the
/// kit's options (`url` the target, `secret` --webhook-secret, `target_identifier`
/// --target-identifier); the example's other settings are left to the adapter's defaults.
fn adapter_settings(options: &Options) -> Result<serde_json::Value, KitError> {
    let registration = signpost_adapters::registration(&options.adapter)
        .map_err(|e| KitError::Adapter(e.to_string()))?;
    let example: toml::Table = toml::from_str(registration.example)
        .map_err(|e| KitError::Adapter(format!("the {} example: {e}", registration.kind)))?;
    let mut settings = serde_json::Map::new();
    settings.insert("url".into(), options.target.clone().into());
    if example.contains_key("secret") {
        let secret = options.webhook_secret.clone().ok_or_else(|| {
            KitError::Adapter(format!(
                "the {} adapter needs --webhook-secret",
                registration.kind
            ))
        })?;
        settings.insert("secret".into(), secret.into());
    }
    if example.contains_key("target_identifier") {
        settings.insert(
            "target_identifier".into(),
            options.target_identifier.clone().into(),
        );
    }
    Ok(serde_json::Value::Object(settings))
}

async fn partner_target(options: &Options) -> Result<partner::PartnerTarget, KitError> {
    let ods = options.partner_ods.clone().unwrap_or_else(|| {
        if options.role == Role::Vcs {
            "VCS001".into()
        } else {
            "LWS001".into()
        }
    });
    let settings = adapter_settings(options)?;
    let adapter = signpost_adapters::build_outbound(&options.adapter, &settings)
        .map_err(|e| KitError::Adapter(e.to_string()))?;
    let secret = match &options.webhook_secret {
        Some(s) => Some(
            signpost_adapters::webhook::Secret::parse(s)
                .map_err(|e| KitError::Adapter(format!("--webhook-secret: {e}")))?,
        ),
        None => None,
    };
    let callback = match &options.status_back {
        Some(addr) => Some(
            partner::Callback::start(addr, secret)
                .await
                .map_err(KitError::Callback)?,
        ),
        None => None,
    };
    Ok(partner::PartnerTarget {
        kind: options.adapter.clone(),
        url: options.target.clone(),
        adapter,
        ods,
        callback,
        status_timeout: options.status_timeout,
    })
}
