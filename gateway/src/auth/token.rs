//! Access tokens: signed by the gateway's own ES384 key, short-lived, naming client, organisation and scopes.

use std::path::Path;

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use signpost_conformance::keys::{ClientKey, KeyAlgorithm};
use signpost_conformance::smart::unix_now;

use super::verified_tokens::VerifiedTokens;

/// Claims of a Signpost access token.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AccessClaims {
    /// The gateway's base URL.
    pub iss: String,
    /// The client id.
    pub sub: String,
    /// The FHIR base the token is for.
    pub aud: String,
    /// Expiry (seconds since the epoch).
    pub exp: u64,
    /// Issued at.
    pub iat: u64,
    /// Token id.
    pub jti: String,
    /// ODS code of the organisation the client acts for.
    pub org: String,
    /// Granted scopes, space-separated.
    pub scope: String,
}

/// Why an access token was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenRejection {
    /// Past its `exp`.
    #[error("the access token has expired")]
    Expired,
    /// Bad signature, wrong algorithm, wrong issuer or audience, or not a JWT at all.
    #[error("the access token is not valid: {0}")]
    Invalid(String),
}

/// The gateway's token key, created on first start and kept in a PEM file.
pub struct TokenSigner {
    encoding: EncodingKey,
    decoding: DecodingKey,
    kid: String,
    issuer: String,
    audience: String,
    verified: VerifiedTokens,
}

impl TokenSigner {
    /// Loads the key at `path`, creating it (mode 0600) if absent.
    pub fn load_or_create(path: &Path, issuer: String, audience: String) -> anyhow::Result<Self> {
        let key = if path.exists() {
            let pem = std::fs::read_to_string(path)?;
            ClientKey::from_pem(&pem).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?
        } else {
            let key = ClientKey::generate(KeyAlgorithm::Es384)?;
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir)?;
            }
            write_private(path, &key.private_pem())?;
            key
        };
        anyhow::ensure!(
            key.algorithm == KeyAlgorithm::Es384,
            "{}: the token signing key must be an EC P-384 key",
            path.display()
        );
        let x = key.jwk["x"].as_str().unwrap_or_default();
        let y = key.jwk["y"].as_str().unwrap_or_default();
        Ok(Self {
            encoding: key.encoding_key()?,
            decoding: DecodingKey::from_ec_components(x, y)?,
            kid: key.kid.clone(),
            issuer,
            audience,
            verified: VerifiedTokens::default(),
        })
    }

    /// Issues a token for a client.
    pub fn issue(
        &self,
        client_id: &str,
        organisation: &str,
        scope: &str,
        ttl_seconds: u64,
    ) -> Result<String, jsonwebtoken::errors::Error> {
        let now = unix_now();
        let claims = AccessClaims {
            iss: self.issuer.clone(),
            sub: client_id.to_owned(),
            aud: self.audience.clone(),
            exp: now + ttl_seconds,
            iat: now,
            jti: uuid::Uuid::new_v4().to_string(),
            org: organisation.to_owned(),
            scope: scope.to_owned(),
        };
        let mut header = Header::new(Algorithm::ES384);
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&header, &claims, &self.encoding)
    }

    /// Checks a token: ES384 only (so `none` and HS256 tricks fail), our issuer and audience, not expired.
    pub fn verify(&self, token: &str) -> Result<AccessClaims, TokenRejection> {
        let now = unix_now();
        if let Some(claims) = self.verified.get(token, now) {
            return Ok(claims);
        }
        let mut validation = Validation::new(Algorithm::ES384);
        validation.leeway = 0;
        validation.set_issuer(&[&self.issuer]);
        validation.set_audience(&[&self.audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        jsonwebtoken::decode::<AccessClaims>(token, &self.decoding, &validation)
            .map(|data| {
                self.verified.insert(token, &data.claims, now);
                data.claims
            })
            .map_err(|e| match e.kind() {
                jsonwebtoken::errors::ErrorKind::ExpiredSignature => TokenRejection::Expired,
                _ => TokenRejection::Invalid(e.to_string()),
            })
    }
}

/// Writes a secret file readable by its owner only.
pub fn write_private(path: &Path, contents: &str) -> std::io::Result<()> {
    std::fs::write(path, contents)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;

    fn signer(dir: &Path) -> TokenSigner {
        TokenSigner::load_or_create(
            &dir.join("key.pem"),
            "http://gw".into(),
            "http://gw/fhir".into(),
        )
        .expect("signer")
    }

    #[test]
    fn a_token_it_issued_verifies_and_survives_a_restart() {
        let dir = tempfile::tempdir().expect("tempdir");
        let token = signer(dir.path())
            .issue("c1", "A81001", "system/Task.rs", 60)
            .expect("issue");
        let claims = signer(dir.path())
            .verify(&token)
            .expect("the reloaded key verifies");
        assert_eq!(
            (
                claims.sub.as_str(),
                claims.org.as_str(),
                claims.scope.as_str()
            ),
            ("c1", "A81001", "system/Task.rs")
        );
    }

    #[test]
    fn expired_forged_none_and_hmac_tokens_are_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let s = signer(dir.path());
        let mut claims = s
            .verify(
                &s.issue("c1", "A81001", "system/Task.rs", 60)
                    .expect("issue"),
            )
            .expect("valid");

        claims.exp = unix_now() - 10;
        let expired = jsonwebtoken::encode(
            &Header {
                kid: Some(s.kid.clone()),
                ..Header::new(Algorithm::ES384)
            },
            &claims,
            &s.encoding,
        )
        .expect("sign");
        assert!(matches!(s.verify(&expired), Err(TokenRejection::Expired)));

        claims.exp = unix_now() + 60;
        let other = ClientKey::generate(KeyAlgorithm::Es384).expect("key");
        let forged = jsonwebtoken::encode(
            &Header::new(Algorithm::ES384),
            &claims,
            &other.encoding_key().expect("key"),
        )
        .expect("sign");
        assert!(matches!(s.verify(&forged), Err(TokenRejection::Invalid(_))));

        // The same claims re-signed by another key are refused even after the real token was
        // verified (and remembered).
        let real = s
            .issue("c1", "A81001", "system/Task.rs", 60)
            .expect("issue");
        assert!(s.verify(&real).is_ok());
        assert!(s.verify(&real).is_ok(), "served from the verified tokens");
        let mut tampered = real.clone();
        tampered.pop();
        tampered.push(if real.ends_with('A') { 'B' } else { 'A' });
        assert!(matches!(
            s.verify(&tampered),
            Err(TokenRejection::Invalid(_))
        ));

        let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims).expect("json"));
        let none = format!(
            "{}.{payload}.",
            URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#)
        );
        assert!(matches!(s.verify(&none), Err(TokenRejection::Invalid(_))));

        let public_pem = std::fs::read(dir.path().join("key.pem")).expect("pem");
        let hmac = jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &EncodingKey::from_secret(&public_pem),
        )
        .expect("sign");
        assert!(matches!(s.verify(&hmac), Err(TokenRejection::Invalid(_))));
    }
}
