//! Why a workflow command refused or failed, in domain terms; the HTTP edge turns each into an answer.

use signpost_profiles::{Issue, ParseError};

use super::task_update::UpdateError;
use crate::routing::RoutingError;
use crate::store::StoreError;

/// Why a workflow command did not complete.
#[derive(Debug, thiserror::Error)]
pub enum WorkflowError {
    /// The body is not a FHIR R4 resource of the expected type.
    #[error(transparent)]
    Parse(#[from] ParseError),
    /// The request contradicts itself, e.g. a body id that is not the URL's.
    #[error("{message}")]
    Invalid {
        /// What is wrong.
        message: String,
        /// The element at fault.
        at: String,
    },
    /// The resource cannot be turned into what is stored.
    #[error("could not store the resource: {0}")]
    Unstorable(String),
    /// The content breaks the profiles or a business rule: every problem at once.
    #[error("the content breaks the profiles or business rules")]
    Unprocessable(Vec<Issue>),
    /// The referral cannot be routed.
    #[error(transparent)]
    Routing(#[from] RoutingError),
    /// The caller may not do this (already audited).
    #[error("{message}")]
    Forbidden {
        /// Why not.
        message: String,
        /// The element that decided it, if one did.
        at: Option<String>,
    },
    /// The proposed Task change breaks the workflow rules.
    #[error(transparent)]
    Update(#[from] UpdateError),
    /// Nothing of that name that the caller may see (already audited).
    #[error("{0}")]
    NotFound(String),
    /// The caller based its change on a version that is no longer current.
    #[error(
        "{resource_type}/{id} is at version {current}, not {expected}: read it again and reapply your change"
    )]
    StaleVersion {
        /// Resource type.
        resource_type: &'static str,
        /// Resource id.
        id: String,
        /// The version the caller named.
        expected: i64,
        /// The version stored.
        current: i64,
    },
    /// An onward referral's link-worker Task changed between its check and the commit.
    #[error("the link-worker Task changed while this onward referral was made; check it and retry")]
    ParentTaskChanged,
    /// Resources up or down the chain kept changing through every retry.
    #[error("the referral chain kept changing while this update was applied; please retry")]
    ChainKeptChanging,
    /// The onward referral's service has no room: the refusal and the alternatives with room.
    #[error("the service named as performer has no room")]
    NoRoom {
        /// The refusal, then one information issue per alternative.
        issues: Vec<Issue>,
        /// The ids of the alternative HealthcareServices, in the issues' order.
        alternatives: Vec<String>,
    },
    /// The message or event id was already processed.
    #[error("this message was already processed")]
    Duplicate,
    /// `If-None-Exist` matched more than one resource.
    #[error(
        "If-None-Exist matches more than one ServiceRequest; make the criteria specific (e.g. identifier=system|value)"
    )]
    MultipleMatches,
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Something that should not happen; the detail is for the log.
    #[error("{0}")]
    Internal(String),
}
