//! Role simulators: small servers that play a partner organisation.

mod fhir_partner;

pub use fhir_partner::{FhirPartner, Received};
