//! What building an adapter gives: both directions of its protocol with one partner.

use std::fmt;
use std::sync::Arc;

use crate::{Outbound, webhook};

/// One partner's adapter, built once from its settings when the config is loaded.
#[derive(Clone)]
pub struct Adapter {
    /// How Signpost delivers to the partner.
    pub outbound: Arc<dyn Outbound>,
    /// How the partner's own messages are verified and read, where the protocol has them.
    pub inbound: Option<Inbound>,
}

/// An adapter's inbound side: the messages a partner sends Signpost over its own protocol.
#[derive(Clone)]
pub enum Inbound {
    /// Signed status updates (`POST /webhooks/{ods}/status`).
    WebhookStatus(webhook::StatusUpdates),
}

impl Adapter {
    /// An adapter that only delivers.
    pub fn outbound_only(outbound: Arc<dyn Outbound>) -> Self {
        Self {
            outbound,
            inbound: None,
        }
    }

    /// The verifier of the partner's signed status updates, if it sends them.
    pub fn webhook_status(&self) -> Option<&webhook::StatusUpdates> {
        match &self.inbound {
            Some(Inbound::WebhookStatus(updates)) => Some(updates),
            None => None,
        }
    }
}

// Secrets stay out of debug output: only the kind and whether there is an inbound side show.
impl fmt::Debug for Adapter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Adapter")
            .field("kind", &self.outbound.kind())
            .field("inbound", &self.inbound.is_some())
            .finish()
    }
}
