//! Standard Webhooks signatures: HMAC-SHA256 over `id.timestamp.body`, `v1,<base64>`,
//! secrets written `whsec_<base64>`.

use std::time::Duration;

use aws_lc_rs::hmac;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;

/// How far a `webhook-timestamp` may be from now, either way, before it is refused.
pub const TOLERANCE: Duration = Duration::from_secs(5 * 60);

/// A symmetric signing secret.
#[derive(Clone)]
pub struct Secret(hmac::Key);

/// Why a secret or a signature is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// Not `whsec_` followed by base64 of at least 24 bytes.
    #[error("a webhook secret is whsec_ followed by base64 of at least 24 random bytes")]
    BadSecret,
    /// The timestamp is not a number.
    #[error("webhook-timestamp is not a unix time in seconds")]
    BadTimestamp,
    /// The timestamp is too old or too far ahead.
    #[error("webhook-timestamp is more than 5 minutes from now")]
    Stale,
    /// No signature in the header matches.
    #[error("no webhook-signature matches")]
    Mismatch,
}

impl Secret {
    /// Parses `whsec_<base64>` (the prefix is optional, as the specification allows).
    pub fn parse(raw: &str) -> Result<Self, SignatureError> {
        let encoded = raw.strip_prefix("whsec_").unwrap_or(raw);
        let bytes = STANDARD
            .decode(encoded)
            .map_err(|_| SignatureError::BadSecret)?;
        if bytes.len() < 24 {
            return Err(SignatureError::BadSecret);
        }
        Ok(Self(hmac::Key::new(hmac::HMAC_SHA256, &bytes)))
    }

    fn signed_content(id: &str, timestamp: &str, body: &[u8]) -> Vec<u8> {
        let mut content = Vec::with_capacity(id.len() + timestamp.len() + body.len() + 2);
        content.extend_from_slice(id.as_bytes());
        content.push(b'.');
        content.extend_from_slice(timestamp.as_bytes());
        content.push(b'.');
        content.extend_from_slice(body);
        content
    }

    /// The `webhook-signature` value for a message.
    pub fn sign(&self, id: &str, timestamp: i64, body: &[u8]) -> String {
        let tag = hmac::sign(
            &self.0,
            &Self::signed_content(id, &timestamp.to_string(), body),
        );
        format!("v1,{}", STANDARD.encode(tag.as_ref()))
    }

    /// Checks a received message: timestamp within [`TOLERANCE`] of `now` (unix seconds) and one
    /// of the space-separated `v1` signatures matching (compared in constant time).
    pub fn verify(
        &self,
        id: &str,
        timestamp: &str,
        body: &[u8],
        header: &str,
        now: i64,
    ) -> Result<(), SignatureError> {
        let ts: i64 = timestamp
            .trim()
            .parse()
            .map_err(|_| SignatureError::BadTimestamp)?;
        let tolerance = i64::try_from(TOLERANCE.as_secs()).unwrap_or(i64::MAX);
        if (now - ts).abs() > tolerance {
            return Err(SignatureError::Stale);
        }
        let content = Self::signed_content(id, timestamp.trim(), body);
        let matched = header
            .split_whitespace()
            .filter_map(|s| s.strip_prefix("v1,"))
            .any(|sig| {
                STANDARD
                    .decode(sig)
                    .is_ok_and(|tag| hmac::verify(&self.0, &content, &tag).is_ok())
            });
        if matched {
            Ok(())
        } else {
            Err(SignatureError::Mismatch)
        }
    }
}
