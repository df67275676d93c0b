//! What an adapter is handed, and what it answers.

use std::time::Duration;

use async_trait::async_trait;
use serde_json::Value;
use serde_json::value::RawValue;

/// Why a delivery is being made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryEvent {
    /// A new Task for the partner to act on.
    TaskCreated,
    /// A Task the partner already has has changed.
    TaskUpdated,
}

impl DeliveryEvent {
    /// The name stored in the outbox and shown to operators.
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryEvent::TaskCreated => "task-created",
            DeliveryEvent::TaskUpdated => "task-updated",
        }
    }

    /// Reads a stored event name.
    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "task-created" => Some(DeliveryEvent::TaskCreated),
            "task-updated" => Some(DeliveryEvent::TaskUpdated),
            _ => None,
        }
    }
}

/// One message to one partner, exactly as recorded in the outbox; the Task and ServiceRequest
/// as trees (`Value`, the default) or as the JSON text the store holds ([`StoredDelivery`]).
#[derive(Debug, Clone)]
pub struct Delivery<R = Value> {
    /// The outbox row's id.
    pub id: String,
    /// Stable across retries so the receiver can drop duplicates (`X-Request-Id`).
    pub idempotency_key: String,
    /// Threads every message about one referral (`X-Correlation-Id`).
    pub correlation_id: String,
    /// The ODS code of the organisation it goes to (the Task's owner, or its requester when
    /// the owner's progress goes back up the chain).
    pub destination: String,
    /// Why it is sent.
    pub event: DeliveryEvent,
    /// The Task, at the version the outbox row names.
    pub task: R,
    /// The Task's focus (the ServiceRequest), at the version the outbox row names.
    pub focus: R,
    /// 1 for the first attempt.
    pub attempt: u32,
    /// W3C `traceparent` of this delivery's span, sent on so the partner's work joins the trace.
    pub traceparent: Option<String>,
}

/// A delivery carrying its resources as the store holds them: an adapter that sends them as
/// they are does not read them into trees and write them out again.
pub type StoredDelivery = Delivery<Box<RawValue>>;

impl<R> Delivery<R> {
    /// The same delivery carrying `task` and `focus` instead.
    pub fn carrying<S>(&self, task: S, focus: S) -> Delivery<S> {
        Delivery {
            id: self.id.clone(),
            idempotency_key: self.idempotency_key.clone(),
            correlation_id: self.correlation_id.clone(),
            destination: self.destination.clone(),
            event: self.event,
            task,
            focus,
            attempt: self.attempt,
            traceparent: self.traceparent.clone(),
        }
    }
}

impl Delivery {
    /// The resources written out as JSON text.
    pub fn stored(&self) -> Result<StoredDelivery, serde_json::Error> {
        let raw = serde_json::value::to_raw_value;
        Ok(self.carrying(raw(&self.task)?, raw(&self.focus)?))
    }
}

impl StoredDelivery {
    /// The resources read into trees, for an adapter that builds its message from them; a
    /// version that cannot be read is a permanent failure naming it, never `null` sent on.
    pub fn parsed(&self) -> Result<Delivery, DeliveryError> {
        let tree = |raw: &RawValue, what: &str| {
            serde_json::from_str::<Value>(raw.get()).map_err(|e| {
                DeliveryError::permanent(format!("the stored {what} cannot be read: {e}"))
            })
        };
        Ok(self.carrying(
            tree(&self.task, "Task")?,
            tree(&self.focus, "ServiceRequest")?,
        ))
    }
}

/// The partner's acknowledgement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Receipt {
    /// The HTTP status it answered with.
    pub status: u16,
    /// Its answer body (at most 64 KiB), for checks of what a partner acknowledges with (BaRS
    /// receivers answer with a message); `None` when it was empty.
    pub answer: Option<String>,
}

/// A failed delivery, with the verdict on whether trying again can help.
///
/// `Display` shows only the summary: a partner's answer may echo patient data, so it travels
/// separately in `answer`, for the operator's dead-letter list, and never into logs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeliveryError {
    /// Connection refused, timeout, 5xx, 408, 429: worth retrying.
    #[error("transient: {reason}")]
    Transient {
        /// What happened, e.g. `partner answered 503 Service Unavailable`.
        reason: String,
        /// The partner's `Retry-After`, when it gave one.
        retry_after: Option<Duration>,
        /// The partner's answer body, if any.
        answer: Option<String>,
    },
    /// The partner refused the content itself: retrying the same bytes cannot help.
    #[error("permanent: {reason}")]
    Permanent {
        /// What happened.
        reason: String,
        /// The partner's answer body, if any.
        answer: Option<String>,
    },
}

impl DeliveryError {
    /// A permanent failure with no partner answer.
    pub fn permanent(reason: impl Into<String>) -> Self {
        Self::Permanent {
            reason: reason.into(),
            answer: None,
        }
    }

    /// A transient failure with no partner answer.
    pub fn transient(reason: impl Into<String>) -> Self {
        Self::Transient {
            reason: reason.into(),
            retry_after: None,
            answer: None,
        }
    }

    /// The full record for the operator: the summary and the partner's answer.
    pub fn record(&self) -> String {
        let (Self::Transient { answer, .. } | Self::Permanent { answer, .. }) = self;
        match answer {
            Some(answer) if !answer.is_empty() => format!("{self}: {answer}"),
            _ => self.to_string(),
        }
    }
}

/// Delivers Tasks to one partner.
#[async_trait]
pub trait Outbound: Send + Sync {
    /// The config `kind` this adapter implements.
    fn kind(&self) -> &'static str;
    /// The longest one delivery may take; the delivery lease must outlast it.
    fn timeout(&self) -> Duration;
    /// Sends one delivery; `Ok` only when the partner acknowledged it with a 2xx.
    async fn deliver(&self, delivery: &Delivery) -> Result<Receipt, DeliveryError>;
    /// Sends one delivery whose resources are as stored. An adapter that can send them as they
    /// are overrides this; by default they are read into trees and sent with `deliver`.
    async fn deliver_stored(&self, delivery: &StoredDelivery) -> Result<Receipt, DeliveryError> {
        self.deliver(&delivery.parsed()?).await
    }
    /// Whether this partner's protocol can carry news of `task` (about `focus`) to `destination`
    /// at all. When it cannot, no delivery is queued (it could only become a dead letter); the
    /// partner reads the Task through the API instead.
    fn can_announce(&self, _task: &Value, _focus: &Value, _destination: &str) -> bool {
        true
    }
}
