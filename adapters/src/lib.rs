//! Adapters: how Signpost reaches each partner. The gateway knows them only through
//! [`Outbound`] and the [`registry`], keyed by the config's `adapter.kind`.

pub mod bars;
mod delivery;
pub mod fhir_rest;
mod http;
pub mod registry;
pub mod webhook;

pub use delivery::{Delivery, DeliveryError, DeliveryEvent, Outbound, Receipt};
pub use registry::{AdapterConfigError, build_outbound, known_kinds};
