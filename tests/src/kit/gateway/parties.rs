//! The clients the kit acts as against a gateway: a GP system, a link-worker platform and a VCS provider.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::keys::ClientKey;

/// One registered client and the organisation it acts for.
#[derive(Debug, Clone)]
pub struct Party {
    /// The client id registered with the gateway.
    pub client_id: String,
    /// Its organisation's ODS code.
    pub ods: String,
    /// Its private key.
    pub key: ClientKey,
    /// The scopes it asks for.
    pub scope: String,
}

/// The three parties of a referral journey.
#[derive(Debug, Clone)]
pub struct Parties {
    /// Refers (ServiceRequest create, Task read).
    pub gp: Party,
    /// Receives referrals and refers onward.
    pub link_worker: Party,
    /// Receives onward referrals.
    pub vcs: Party,
}

/// A party as written in a parties file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PartyFile {
    client_id: String,
    ods: String,
    key: PathBuf,
}

/// `--parties FILE`: `[gp]`, `[link_worker]` and `[vcs]` tables with `client_id`, `ods`, `key`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PartiesFile {
    gp: PartyFile,
    link_worker: PartyFile,
    vcs: PartyFile,
}

/// Why the parties could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum PartiesError {
    /// The file could not be read or parsed.
    #[error("{0}: {1}")]
    File(PathBuf, String),
    /// A key could not be read.
    #[error("key {0}: {1}")]
    Key(PathBuf, String),
}

const REFERRER_SCOPE: &str = "system/ServiceRequest.crs system/Task.rus";
const VCS_SCOPE: &str = "system/ServiceRequest.rs system/Task.rus";

impl Parties {
    /// The sandbox's demo clients (`signpost serve` with no config), keys under `keys_dir`.
    pub fn sandbox(keys_dir: &Path) -> Result<Self, PartiesError> {
        Ok(Self {
            gp: party(
                "riverside-gp-system",
                "A81001",
                &keys_dir.join("riverside-gp-system.pem"),
                REFERRER_SCOPE,
            )?,
            link_worker: party(
                "riverside-link-worker-platform",
                "LWS001",
                &keys_dir.join("riverside-link-worker-platform.pem"),
                REFERRER_SCOPE,
            )?,
            vcs: party(
                "mill-lane-walking-app",
                "VCS001",
                &keys_dir.join("mill-lane-walking-app.pem"),
                VCS_SCOPE,
            )?,
        })
    }

    /// Reads a parties file; key paths are relative to the file.
    pub fn from_file(path: &Path) -> Result<Self, PartiesError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| PartiesError::File(path.to_owned(), e.to_string()))?;
        let file: PartiesFile = toml::from_str(&text)
            .map_err(|e| PartiesError::File(path.to_owned(), e.to_string()))?;
        let dir = path.parent().unwrap_or(Path::new("."));
        let load =
            |p: &PartyFile, scope: &str| party(&p.client_id, &p.ods, &dir.join(&p.key), scope);
        Ok(Self {
            gp: load(&file.gp, REFERRER_SCOPE)?,
            link_worker: load(&file.link_worker, REFERRER_SCOPE)?,
            vcs: load(&file.vcs, VCS_SCOPE)?,
        })
    }

    /// Replaces the GP system's identity (`--client-id` and `--key`).
    pub fn with_gp(mut self, client_id: &str, key: &Path) -> Result<Self, PartiesError> {
        self.gp = party(client_id, &self.gp.ods, key, REFERRER_SCOPE)?;
        Ok(self)
    }
}

fn party(client_id: &str, ods: &str, key: &Path, scope: &str) -> Result<Party, PartiesError> {
    let pem = std::fs::read_to_string(key)
        .map_err(|e| PartiesError::Key(key.to_owned(), e.to_string()))?;
    let key =
        ClientKey::from_pem(&pem).map_err(|e| PartiesError::Key(key.to_owned(), e.to_string()))?;
    Ok(Party {
        client_id: client_id.to_owned(),
        ods: ods.to_owned(),
        key,
        scope: scope.to_owned(),
    })
}
