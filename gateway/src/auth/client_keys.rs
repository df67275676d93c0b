//! Each client's public keys: from its JWKS file (read at start) or its `jwks_url`
//! (fetched over rustls, cached, and fetched again when an assertion names an unknown `kid`).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, JwkSet};
use tokio::sync::RwLock;

use crate::config::Client;

/// How long a fetched JWKS is trusted before it is fetched again.
const URL_CACHE_TTL: Duration = Duration::from_secs(300);
/// An unknown `kid` fetches again at most this often, so a bad client cannot make us hammer its URL.
const REFRESH_FLOOR: Duration = Duration::from_secs(1);

enum Source {
    File(JwkSet),
    Url {
        url: String,
        cached: RwLock<Option<(JwkSet, Instant)>>,
    },
}

/// Why no key was found.
#[derive(Debug, thiserror::Error)]
pub enum KeyLookupError {
    /// The client is not registered.
    #[error("unknown client")]
    UnknownClient,
    /// No key with that `kid`.
    #[error("no registered key has kid \"{0}\"")]
    UnknownKid(String),
    /// The JWKS URL could not be fetched.
    #[error("could not fetch the client's JWKS: {0}")]
    Fetch(String),
}

/// All clients' key sets.
pub struct ClientKeys {
    sources: HashMap<String, Source>,
    http: reqwest::Client,
}

/// Reads and parses a JWKS file.
pub fn read_jwks_file(path: &std::path::Path) -> Result<JwkSet, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    serde_json::from_str(&text).map_err(|e| format!("{} is not a JWKS: {e}", path.display()))
}

impl ClientKeys {
    /// Loads file key sets now; URL key sets are fetched on first use.
    pub fn load(clients: &[Client]) -> anyhow::Result<Self> {
        let mut sources = HashMap::new();
        for client in clients {
            let source = match (&client.jwks, &client.jwks_url) {
                (Some(path), _) => Source::File(
                    read_jwks_file(path)
                        .map_err(|e| anyhow::anyhow!("client {}: {e}", client.id))?,
                ),
                (None, Some(url)) => Source::Url {
                    url: url.clone(),
                    cached: RwLock::new(None),
                },
                (None, None) => anyhow::bail!("client {} has no jwks or jwks_url", client.id),
            };
            sources.insert(client.id.clone(), source);
        }
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| anyhow::anyhow!("http client: {e}"))?;
        Ok(Self { sources, http })
    }

    /// The key a client signed with, by `kid`.
    pub async fn key(&self, client_id: &str, kid: &str) -> Result<Jwk, KeyLookupError> {
        match self
            .sources
            .get(client_id)
            .ok_or(KeyLookupError::UnknownClient)?
        {
            Source::File(set) => set
                .find(kid)
                .cloned()
                .ok_or_else(|| KeyLookupError::UnknownKid(kid.to_owned())),
            Source::Url { url, cached } => {
                if let Some((set, fetched)) = cached.read().await.as_ref()
                    && fetched.elapsed() < URL_CACHE_TTL
                    && let Some(jwk) = set.find(kid)
                {
                    return Ok(jwk.clone());
                }
                let mut slot = cached.write().await;
                let stale = slot.as_ref().is_none_or(|(set, fetched)| {
                    fetched.elapsed() >= URL_CACHE_TTL
                        || (set.find(kid).is_none() && fetched.elapsed() >= REFRESH_FLOOR)
                });
                if stale {
                    let set: JwkSet = self
                        .http
                        .get(url)
                        .send()
                        .await
                        .and_then(reqwest::Response::error_for_status)
                        .map_err(|e| KeyLookupError::Fetch(e.to_string()))?
                        .json()
                        .await
                        .map_err(|e| KeyLookupError::Fetch(e.to_string()))?;
                    *slot = Some((set, Instant::now()));
                }
                slot.as_ref()
                    .and_then(|(set, _)| set.find(kid).cloned())
                    .ok_or_else(|| KeyLookupError::UnknownKid(kid.to_owned()))
            }
        }
    }
}

/// Whether a key's type fits the algorithm the assertion claims (no RSA key for ES384, no HMAC key at all).
pub fn key_fits(jwk: &Jwk, alg: jsonwebtoken::Algorithm) -> bool {
    match (&jwk.algorithm, alg) {
        (AlgorithmParameters::RSA(_), jsonwebtoken::Algorithm::RS384) => true,
        (AlgorithmParameters::EllipticCurve(ec), jsonwebtoken::Algorithm::ES384) => {
            ec.curve == EllipticCurve::P384
        }
        _ => false,
    }
}
