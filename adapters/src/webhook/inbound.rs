//! The webhook adapter's inbound side: a partner's signed status update or capacity declaration,
//! verified with the same secret that signs the events it receives, and read into a
//! [`StatusUpdate`] or a [`CapacityUpdate`].

use serde::Deserialize;
use serde::de::DeserializeOwned;

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

/// The capacity a partner declares for one of its services (`POST /webhooks/{ods}/capacity`),
/// as the FHIR API takes it on HealthcareService (Gravity's status codes, Signpost's counts).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CapacityUpdate {
    /// The HealthcareService's id.
    pub service_id: String,
    /// `capacity`, `no-capacity`, `waitlist` or `additional-assessment-required`.
    pub status: String,
    /// Places free now.
    #[serde(default)]
    pub available: Option<u32>,
    /// Places in all.
    #[serde(default)]
    pub maximum: Option<u32>,
    /// Until when it holds (an RFC 3339 instant); Signpost's default validity if absent.
    #[serde(default)]
    pub expires: Option<String>,
    /// Free text for link workers (Gravity's `capacityNotes`).
    #[serde(default)]
    pub notes: Option<String>,
    /// The service version the partner last saw; when given, a stale one answers 412.
    #[serde(default)]
    pub version: Option<i64>,
}

/// A message whose signature verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signed<T> {
    /// The `webhook-id`: the same on every retry of one message.
    pub id: String,
    /// The `webhook-timestamp`, unix seconds.
    pub timestamp: i64,
    /// What the partner reports.
    pub update: T,
}

/// A status update whose signature verified.
pub type SignedStatusUpdate = Signed<StatusUpdate>;

/// A capacity declaration whose signature verified.
pub type SignedCapacityUpdate = Signed<CapacityUpdate>;

impl<T> Signed<T> {
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
    /// The signed body is not a capacity declaration.
    #[error(
        "expected {{\"service_id\", \"status\", \"available\"?, \"maximum\"?, \"expires\"?, \"notes\"?, \"version\"?}}: {0}"
    )]
    CapacityBody(String),
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
    /// seconds), then reads the body as a status update.
    pub fn verify<'a>(
        &self,
        header: impl Fn(&str) -> Option<&'a str>,
        body: &[u8],
        now: i64,
    ) -> Result<SignedStatusUpdate, InboundError> {
        self.verify_as(header, body, now, InboundError::Body)
    }

    /// Like [`verify`](Self::verify), reading the body as a capacity declaration.
    pub fn verify_capacity<'a>(
        &self,
        header: impl Fn(&str) -> Option<&'a str>,
        body: &[u8],
        now: i64,
    ) -> Result<SignedCapacityUpdate, InboundError> {
        self.verify_as(header, body, now, InboundError::CapacityBody)
    }

    fn verify_as<'a, T: DeserializeOwned>(
        &self,
        header: impl Fn(&str) -> Option<&'a str>,
        body: &[u8],
        now: i64,
        unreadable: fn(String) -> InboundError,
    ) -> Result<Signed<T>, InboundError> {
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
        let update: T = serde_json::from_slice(body).map_err(|e| unreadable(e.to_string()))?;
        Ok(Signed {
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

    #[test]
    fn a_signed_capacity_declaration_is_read_and_a_malformed_one_refused() {
        let updates = StatusUpdates::new(Secret::parse(SECRET).expect("secret"));
        let body = r#"{"service_id": "hs-1", "status": "capacity", "available": 3, "maximum": 10}"#;
        let headers = signed(body, NOW);
        let verified = updates
            .verify_capacity(|n| headers.get(n).map(String::as_str), body.as_bytes(), NOW)
            .expect("verified");
        assert_eq!(verified.update.service_id, "hs-1");
        assert_eq!(
            (verified.update.available, verified.update.maximum),
            (Some(3), Some(10))
        );
        for odd in [
            r#"{"service_id": "hs-1"}"#,
            r#"{"service_id": "hs-1", "status": "capacity", "available": -1}"#,
            r#"{"service_id": "hs-1", "status": "capacity", "places": 3}"#,
        ] {
            let headers = signed(odd, NOW);
            let refused = updates.verify_capacity(
                |n| headers.get(n).map(String::as_str),
                odd.as_bytes(),
                NOW,
            );
            assert!(
                matches!(&refused, Err(InboundError::CapacityBody(_))),
                "{odd}: {refused:?}"
            );
        }
    }
}
