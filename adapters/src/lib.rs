//! Adapters: how Signpost and each partner reach each other. The gateway knows them only
//! through the [`registry`], keyed by the config's `adapter.kind`, and what it builds: an
//! [`Adapter`] with its [`Outbound`] side and, where the protocol has one, its [`Inbound`] side.

mod adapter;
pub mod bars;
mod delivery;
pub mod fhir_rest;
pub mod http;
pub mod registry;
pub mod webhook;

pub use adapter::{Adapter, Inbound};
pub use delivery::{Delivery, DeliveryError, DeliveryEvent, Outbound, Receipt, StoredDelivery};
pub use registry::{
    AdapterConfigError, Registration, build, build_outbound, known_kinds, registration,
};
