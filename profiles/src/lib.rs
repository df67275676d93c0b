//! FHIR R4 for Signpost: parsing against the R4 base definitions, NHS identifiers,
//! referral essentials and OperationOutcome building.

mod embedded {
    include!(concat!(env!("OUT_DIR"), "/definitions.rs"));
}
pub mod examples;
mod fhirpath;
pub mod nhs_number;
pub mod ods;
pub mod outcome;
pub mod outcome_measure;
mod r4;
pub mod referral;
pub mod resource;
pub mod strict_json;
pub mod terms;
pub mod validation;

pub use nhs_number::{NHS_NUMBER_SYSTEM, NhsNumber, NhsNumberError};
pub use ods::{ODS_SYSTEM, OdsCode, OdsCodeError};
pub use outcome::{Issue, IssueType, Severity, operation_outcome};
#[doc(hidden)]
pub use r4::load_base_definitions;
pub use referral::Referral;
pub use resource::{ParseError, ParsedResource, parse_resource, read_json};
pub use validation::{Checked, DefinitionError, Validator, has_errors};
