//! The service directory: VCS services as FHIR HealthcareService resources, their capacity, and
//! the import of Open Referral UK feeds. Pure domain code: no HTTP, no SQL, no workflow.

pub mod capacity;
pub mod declared;
pub mod feed;
pub mod geo;
pub mod oruk;
pub mod service;
