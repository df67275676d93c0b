//! A SMART Backend Services client: signs the client assertion and asks for an access token.

use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::keys::ClientKey;

/// The client assertion type SMART Backend Services requires.
pub const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// Claims of a client assertion (RFC 7523 as profiled by SMART).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AssertionClaims {
    /// The client id.
    pub iss: String,
    /// The client id again.
    pub sub: String,
    /// The token endpoint URL.
    pub aud: String,
    /// Expiry, seconds since the epoch; at most five minutes ahead.
    pub exp: u64,
    /// A nonce never used before.
    pub jti: String,
}

/// Seconds since the epoch.
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl AssertionClaims {
    /// Claims valid for `lifetime_seconds` from now with a fresh `jti`.
    pub fn new(client_id: &str, token_url: &str, lifetime_seconds: u64) -> Self {
        Self {
            iss: client_id.to_owned(),
            sub: client_id.to_owned(),
            aud: token_url.to_owned(),
            exp: unix_now() + lifetime_seconds,
            jti: uuid::Uuid::new_v4().to_string(),
        }
    }

    /// Signs the claims with the client's key, naming its `kid`.
    pub fn sign(&self, key: &ClientKey) -> Result<String, jsonwebtoken::errors::Error> {
        let mut header = jsonwebtoken::Header::new(key.algorithm.jwt());
        header.kid = Some(key.kid.clone());
        header.typ = Some("JWT".into());
        jsonwebtoken::encode(&header, self, &key.encoding_key()?)
    }
}

/// The token endpoint's successful answer.
#[derive(Debug, Clone, Deserialize)]
pub struct TokenResponse {
    /// The bearer token.
    pub access_token: String,
    /// `bearer`.
    pub token_type: String,
    /// Lifetime in seconds.
    pub expires_in: u64,
    /// Scopes granted (space-separated).
    pub scope: String,
}

/// Why no token was obtained.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// Signing the assertion failed.
    #[error("could not sign the assertion: {0}")]
    Sign(#[from] jsonwebtoken::errors::Error),
    /// The request did not get through.
    #[error("token request failed: {0}")]
    Http(#[from] reqwest::Error),
    /// The server refused, with its answer.
    #[error("the token endpoint answered {status}: {body}")]
    Refused {
        /// HTTP status.
        status: u16,
        /// Body as sent.
        body: String,
    },
}

/// Posts a signed assertion and returns the raw answer (status and body), for checks that expect refusals.
pub async fn request_token_raw(
    http: &reqwest::Client,
    token_url: &str,
    assertion: &str,
    scope: &str,
) -> Result<(u16, String), reqwest::Error> {
    let response = http
        .post(token_url)
        .form(&[
            ("grant_type", "client_credentials"),
            ("scope", scope),
            ("client_assertion_type", ASSERTION_TYPE),
            ("client_assertion", assertion),
        ])
        .send()
        .await?;
    let status = response.status().as_u16();
    Ok((status, response.text().await?))
}

/// Gets an access token for `client_id` with `scope`.
pub async fn request_token(
    http: &reqwest::Client,
    token_url: &str,
    client_id: &str,
    key: &ClientKey,
    scope: &str,
) -> Result<TokenResponse, TokenError> {
    let assertion = AssertionClaims::new(client_id, token_url, 240).sign(key)?;
    let (status, body) = request_token_raw(http, token_url, &assertion, scope).await?;
    if status != 200 {
        return Err(TokenError::Refused { status, body });
    }
    serde_json::from_str(&body).map_err(|e| TokenError::Refused {
        status,
        body: format!("{e}: {body}"),
    })
}
