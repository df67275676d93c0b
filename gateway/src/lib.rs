//! Signpost: the FHIR R4 gateway for social prescribing referrals.

pub mod app;
pub mod config;
pub mod delivery;
pub mod fhir;
pub mod routing;
pub mod server;
pub mod store;
pub mod workflow;
