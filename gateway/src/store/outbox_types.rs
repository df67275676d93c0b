//! The vocabulary of an outbox row: what state a delivery is in and which adapter carries it,
//! as types, read back from the database strictly (a value the store cannot read is an error).

use std::fmt;

use signpost_adapters::DeliveryEvent;

use super::StoreError;

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DeliveryState {
    /// Waiting or being retried.
    Pending,
    /// Acknowledged by the partner.
    Delivered,
    /// Gave up; needs an operator. Later deliveries of its Task to the same partner wait.
    Dead,
    /// Dropped by an operator, or superseded by a later version the partner already holds.
    Discarded,
}

/// What an operator's replay or discard of a delivery did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeadLetterAction {
    /// Done: queued again, or discarded.
    Done,
    /// Not replayed: the partner already received a later version of the Task, so the delivery
    /// was discarded instead.
    Superseded,
    /// The delivery is not dead; nothing changed.
    NotDead,
    /// No such delivery.
    Unknown,
}

impl DeliveryState {
    /// The name stored in the outbox and shown to operators.
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryState::Pending => "pending",
            DeliveryState::Delivered => "delivered",
            DeliveryState::Dead => "dead",
            DeliveryState::Discarded => "discarded",
        }
    }

    /// Reads a state name; `None` if it is not one.
    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "pending" => Some(DeliveryState::Pending),
            "delivered" => Some(DeliveryState::Delivered),
            "dead" => Some(DeliveryState::Dead),
            "discarded" => Some(DeliveryState::Discarded),
            _ => None,
        }
    }

    /// Reads a state stored in the outbox.
    pub(super) fn stored(raw: &str) -> Result<Self, StoreError> {
        Self::parse(raw).ok_or_else(|| unreadable("state", raw))
    }
}

impl fmt::Display for DeliveryState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The kind of adapter that carries a delivery, as its `Outbound::kind` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(transparent)]
pub struct AdapterKind(&'static str);

impl AdapterKind {
    /// The kind's name, e.g. `fhir-rest`.
    pub fn as_str(self) -> &'static str {
        self.0
    }

    /// Reads a kind stored in the outbox: one of the adapters this build has.
    pub(super) fn stored(raw: &str) -> Result<Self, StoreError> {
        signpost_adapters::known_kinds()
            .into_iter()
            .find(|kind| *kind == raw)
            .map(Self)
            .ok_or_else(|| unreadable("adapter", raw))
    }
}

/// An adapter's own `kind()`: the names are the adapters' constants, not input.
impl From<&'static str> for AdapterKind {
    fn from(kind: &'static str) -> Self {
        Self(kind)
    }
}

impl fmt::Display for AdapterKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

/// Reads an event stored in the outbox.
pub(super) fn stored_event(raw: &str) -> Result<DeliveryEvent, StoreError> {
    DeliveryEvent::parse(raw).ok_or_else(|| unreadable("event", raw))
}

/// Reads a destination stored in the outbox.
pub(super) fn stored_destination(raw: &str) -> Result<signpost_profiles::OdsCode, StoreError> {
    signpost_profiles::OdsCode::parse(raw).map_err(|_| unreadable("destination", raw))
}

/// Serialises an event as its stored name, for operators.
pub(super) fn event_name<S: serde::Serializer>(
    event: &DeliveryEvent,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(event.as_str())
}

fn unreadable(column: &'static str, value: &str) -> StoreError {
    StoreError::Unreadable {
        column,
        value: value.to_owned(),
    }
}
