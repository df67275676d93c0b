//! The webhook adapter's inbound side: a partner's signed status update, verified with the same
//! secret that signs the events it receives, and read into a [`StatusUpdate`].

use serde::Deserialize;

use super::signature::{Secret, SignatureError, TOLERANCE};

/// The status update a partner sends (`POST /webhooks/{ods}/status`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatusUpdate {
    /// The Task's id.
    pub task_id: String,
    /// The new status, e.g. `accepted`, `rejected`, `in-progress`, `completed`.
    pub status: String,
    /// Why (kept as `Task.statusReason.text`), e.g. when declining.
    #[serde(default)]
    pub reason: Option<String>,
    /// The Task version the partner last saw; when given, a stale one answers 412.
    #[serde(default)]
    pub version: Option<i64>,
}

/// A status update whose signature verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedStatusUpdate {
    /// The `webhook-id`: the same on every retry of one message.
    pub id: String,
    /// The `webhook-timestamp`, unix seconds.
    pub timestamp: i64,
    /// What the partner reports.
    pub update: StatusUpdate,
}

impl SignedStatusUpdate {
    /// Until when (unix seconds) its id must be remembered: after that its timestamp could no
    /// longer pass verification, so a replay is refused by staleness instead.
    pub fn remember_until(&self) -> i64 {
        let tolerance = i64::try_from(TOLERANCE.as_secs()).unwrap_or(i64::MAX);
        self.timestamp.saturating_add(tolerance.saturating_mul(2))
    }
}

/// Why a status update is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InboundError {
    /// A Standard Webhooks header is absent or not text.
    #[error("the {0} header is missing")]
    MissingHeader(&'static str),
    /// The signature or timestamp does not verify.
    #[error("{0}")]
    Signature(SignatureError),
    /// The signed body is not a status update.
    #[error("expected {{\"task_id\", \"status\", \"reason\"?, \"version\"?}}: {0}")]
    Body(String),
}

/// Verifies one partner's status updates.
#[derive(Clone)]
pub struct StatusUpdates {
    secret: Secret,
}

impl StatusUpdates {
    /// Verifies with the partner's adapter secret.
    pub fn new(secret: Secret) -> Self {
        Self { secret }
    }

    /// Checks the signature (`header` reads a request header by name) against `now` (unix
    /// seconds), then reads the body.
    pub fn verify<'a>(
        &self,
        header: impl Fn(&str) -> Option<&'a str>,
        body: &[u8],
        now: i64,
    ) -> Result<SignedStatusUpdate, InboundError> {
        let get = |name: &'static str| header(name).ok_or(InboundError::MissingHeader(name));
        let (id, timestamp, signature) = (
            get("webhook-id")?,
            get("webhook-timestamp")?,
            get("webhook-signature")?,
        );
        self.secret
            .verify(id, timestamp, body, signature, now)
            .map_err(InboundError::Signature)?;
        // Verification has parsed it already; a failure here would be a verifier bug, refused alike.
        let timestamp: i64 = timestamp
            .trim()
            .parse()
            .map_err(|_| InboundError::Signature(SignatureError::BadTimestamp))?;
        let update: StatusUpdate =
            serde_json::from_slice(body).map_err(|e| InboundError::Body(e.to_string()))?;
        Ok(SignedStatusUpdate {
            id: id.to_owned(),
            timestamp,
            update,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSwAAAA";
    const NOW: i64 = 1_700_000_000;

    fn signed(body: &str, timestamp: i64) -> HashMap<&'static str, String> {
        let secret = Secret::parse(SECRET).expect("secret");
        HashMap::from([
            ("webhook-id", "msg-1".to_owned()),
            ("webhook-timestamp", timestamp.to_string()),
            (
                "webhook-signature",
                secret.sign("msg-1", timestamp, body.as_bytes()),
            ),
        ])
    }

    fn verify(
        headers: &HashMap<&'static str, String>,
        body: &str,
    ) -> Result<SignedStatusUpdate, InboundError> {
        StatusUpdates::new(Secret::parse(SECRET).expect("secret")).verify(
            |name| headers.get(name).map(String::as_str),
            body.as_bytes(),
            NOW,
        )
    }

    #[test]
    fn a_signed_update_is_read() {
        let body = r#"{"task_id": "t1", "status": "accepted", "version": 2}"#;
        let verified = verify(&signed(body, NOW), body).expect("verified");
        assert_eq!(verified.id, "msg-1");
        assert_eq!(verified.update.task_id, "t1");
        assert_eq!(verified.update.version, Some(2));
        assert_eq!(verified.remember_until(), NOW + 600);
    }

    #[test]
    fn unsigned_tampered_stale_and_malformed_updates_are_refused() {
        let body = r#"{"task_id": "t1", "status": "accepted"}"#;
        let mut headers = signed(body, NOW);
        headers.remove("webhook-signature");
        assert_eq!(
            verify(&headers, body),
            Err(InboundError::MissingHeader("webhook-signature"))
        );
        assert_eq!(
            verify(
                &signed(body, NOW),
                r#"{"task_id": "t2", "status": "accepted"}"#
            ),
            Err(InboundError::Signature(SignatureError::Mismatch))
        );
        assert_eq!(
            verify(&signed(body, NOW - 301), body),
            Err(InboundError::Signature(SignatureError::Stale))
        );
        let odd = r#"{"task": "t1"}"#;
        assert!(matches!(
            verify(&signed(odd, NOW), odd),
            Err(InboundError::Body(_))
        ));
    }
}
