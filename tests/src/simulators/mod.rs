//! Role simulators: small servers that play a partner organisation.

mod fhir_partner;
mod webhook_partner;

pub use fhir_partner::{FhirPartner, Received};
pub use webhook_partner::WebhookPartner;
