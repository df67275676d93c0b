//! Signpost: the FHIR R4 gateway for social prescribing referrals.

pub mod admin;
pub mod app;
pub mod audit;
pub mod auth;
pub mod config;
pub mod connections;
pub mod console;
pub mod delivery;
pub mod directory;
pub mod fhir;
pub mod health;
pub mod keygen;
pub mod reports_csv;
pub mod root;
pub mod routing;
pub mod sandbox;
pub mod search_index;
pub mod server;
pub mod state;
pub mod store;
pub mod telemetry;
pub mod validate_files;
pub mod webhooks;
pub mod workflow;

#[cfg(test)]
mod layering;
