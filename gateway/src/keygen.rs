//! `signpost keygen`: a client key pair, and the JWKS to register with the gateway.

use std::path::{Path, PathBuf};

use signpost_conformance::keys::{ClientKey, KeyAlgorithm};

use crate::auth::write_private;

/// Writes `DIR/ID.pem` (private, mode 0600) and `DIR/ID.jwks.json` (public); returns both paths.
pub fn write_client_key(
    dir: &Path,
    client_id: &str,
    algorithm: KeyAlgorithm,
) -> anyhow::Result<(PathBuf, PathBuf)> {
    anyhow::ensure!(
        !client_id.is_empty()
            && client_id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.'),
        "a client id is letters, digits, '-', '_' and '.'"
    );
    std::fs::create_dir_all(dir)?;
    let key = ClientKey::generate(algorithm)?;
    let private = dir.join(format!("{client_id}.pem"));
    let public = dir.join(format!("{client_id}.jwks.json"));
    write_private(&private, &key.private_pem())?;
    std::fs::write(&public, serde_json::to_string_pretty(&key.jwks())?)?;
    Ok((private, public))
}
