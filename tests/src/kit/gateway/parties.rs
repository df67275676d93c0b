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

/// The parties of a referral journey; the link worker and the VCS provider may be missing, and
/// the checks that need them are then skipped.
#[derive(Debug, Clone)]
pub struct Parties {
    /// Refers (ServiceRequest create, Task read).
    pub gp: Party,
    /// Receives referrals and refers onward.
    pub link_worker: Option<Party>,
    /// Receives onward referrals.
    pub vcs: Option<Party>,
}

/// A party as written in a parties file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PartyFile {
    client_id: String,
    ods: String,
    key: PathBuf,
}

/// `--parties FILE`: `[gp]`, and optionally `[link_worker]` and `[vcs]`, with `client_id`, `ods`, `key`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PartiesFile {
    gp: PartyFile,
    link_worker: Option<PartyFile>,
    vcs: Option<PartyFile>,
}

/// What to do instead, said with every error about where the kit's clients come from.
const HOW_TO_NAME_CLIENTS: &str = "Without --parties or --client-id the kit acts as the sandbox's \
demo clients, whose keys `signpost serve` (with no config) writes into signpost-data/keys under \
the directory it was started in. Either run the kit from that directory (or pass --sandbox-keys \
PATH/signpost-data/keys), or name clients the target knows: --parties FILE, a TOML file with \
[gp], [link_worker] and [vcs] tables, each with client_id, ods and key (a PEM file, relative to \
FILE); or only the GP system's, with --client-id ID --key FILE (the checks that need a link \
worker or a VCS provider are then skipped).";

/// Why the parties could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum PartiesError {
    /// The sandbox's keys are not where the kit looked.
    #[error("no sandbox keys in {}: {}\n{HOW_TO_NAME_CLIENTS}", .0.display(), .1)]
    NoSandboxKeys(PathBuf, String),
    /// The parties file could not be read or parsed.
    #[error(
        "parties file {}: {}\nA parties file has [gp], [link_worker] and [vcs] tables, each with client_id, ods and key.",
        .0.display(), .1
    )]
    File(PathBuf, String),
    /// A key could not be read.
    #[error("key {}: {}", .0.display(), .1)]
    Key(PathBuf, String),
}

/// The sandbox's GP organisation, used for a `--client-id` GP when no sandbox keys are at hand.
const SANDBOX_GP_ODS: &str = "A81001";
const REFERRER_SCOPE: &str = "system/ServiceRequest.crs system/Task.rus";
const VCS_SCOPE: &str = "system/ServiceRequest.rs system/Task.rus";

impl Parties {
    /// The sandbox's demo clients (`signpost serve` with no config), keys under `keys_dir`.
    pub fn sandbox(keys_dir: &Path) -> Result<Self, PartiesError> {
        if let Err(e) = std::fs::read_dir(keys_dir) {
            return Err(PartiesError::NoSandboxKeys(
                keys_dir.to_owned(),
                e.to_string(),
            ));
        }
        let sandbox_party = |id: &str, ods: &str, scope: &str| {
            let key = keys_dir.join(format!("{id}.pem"));
            party(id, ods, &key, scope).map_err(|e| match e {
                PartiesError::Key(path, why) if !path.exists() => PartiesError::NoSandboxKeys(
                    keys_dir.to_owned(),
                    format!("{}: {why}", path.display()),
                ),
                other => other,
            })
        };
        Ok(Self {
            gp: sandbox_party("riverside-gp-system", SANDBOX_GP_ODS, REFERRER_SCOPE)?,
            link_worker: Some(sandbox_party(
                "riverside-link-worker-platform",
                "LWS001",
                REFERRER_SCOPE,
            )?),
            vcs: Some(sandbox_party("mill-lane-walking-app", "VCS001", VCS_SCOPE)?),
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
            link_worker: file
                .link_worker
                .as_ref()
                .map(|p| load(p, REFERRER_SCOPE))
                .transpose()?,
            vcs: file.vcs.as_ref().map(|p| load(p, VCS_SCOPE)).transpose()?,
        })
    }

    /// Only a GP system (`--client-id` and `--key` without the sandbox's keys), acting for the
    /// sandbox's GP organisation.
    pub fn gp_only(client_id: &str, key: &Path) -> Result<Self, PartiesError> {
        Ok(Self {
            gp: party(client_id, SANDBOX_GP_ODS, key, REFERRER_SCOPE)?,
            link_worker: None,
            vcs: None,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_sandbox_keys_say_what_to_do_instead() {
        let dir = tempfile::tempdir().expect("tempdir");
        let missing = dir.path().join("signpost-data/keys");
        let error = Parties::sandbox(&missing)
            .expect_err("no keys there")
            .to_string();
        for hint in [
            "no sandbox keys in",
            "signpost serve",
            "--parties FILE",
            "[gp], [link_worker] and [vcs]",
            "client_id, ods and key",
            "--client-id ID --key FILE",
        ] {
            assert!(error.contains(hint), "{hint} missing from: {error}");
        }
    }

    #[test]
    fn a_parties_file_may_leave_out_the_link_worker_and_the_vcs_provider() {
        let dir = tempfile::tempdir().expect("tempdir");
        let key = ClientKey::generate(crate::keys::KeyAlgorithm::Es384).expect("key");
        std::fs::write(dir.path().join("gp.pem"), key.private_pem()).expect("write key");
        let file = dir.path().join("parties.toml");
        std::fs::write(
            &file,
            "[gp]\nclient_id = \"gp-system\"\nods = \"A81001\"\nkey = \"gp.pem\"\n",
        )
        .expect("write parties");
        let parties = Parties::from_file(&file).expect("parties");
        assert_eq!(parties.gp.client_id, "gp-system");
        assert!(parties.link_worker.is_none() && parties.vcs.is_none());
    }
}
