//! NHS BaRS referral messages from a GP system.
//!
//! A new referral (`servicerequest-request`, reason `new`) is turned into the ServiceRequest
//! shape `submit_referral` takes (the person contained, the requester by ODS code) and submitted
//! like any other: same checks, routing and answers. An update whose ServiceRequest is `revoked`
//! or `entered-in-error` cancels the existing referral.

use signpost_adapters::bars::inbound::{self, MessageError};
use signpost_profiles::{Issue, IssueType, parse_resource};

use super::cancel_referral::{Cancellation, cancel_referral};
use super::submit_referral::{Submission, Submitted, submit_referral};
use super::{Services, WorkflowError};
use crate::auth::Principal;
use crate::store::{Instant, Once, StoredResource, now};

pub use signpost_adapters::bars::inbound::BarsMessage;

/// How long a processed `X-Request-Id` is remembered (a BaRS retry arrives well within this).
const REMEMBER_REQUEST_IDS_FOR_US: i64 = 7 * 24 * 3600 * 1_000_000;

/// What processing a message did.
#[derive(Debug)]
pub enum Processed {
    /// A referral submitted (or found by its message id's earlier run).
    Submitted(Submitted),
    /// A referral cancelled: its Task as stored.
    Cancelled(StoredResource),
}

impl From<MessageError> for WorkflowError {
    /// A malformed message is invalid; one asking for what Signpost does not do is unprocessable.
    fn from(error: MessageError) -> Self {
        if error.is_unsupported() {
            WorkflowError::Unprocessable(vec![
                Issue::error(IssueType::NotSupported, error.to_string()).at(error.at()),
            ])
        } else {
            WorkflowError::Invalid {
                message: error.to_string(),
                at: error.at(),
            }
        }
    }
}

/// Reads a message Bundle (the BaRS adapter's inbound side): what it asks for, or why not.
pub fn read_message(bundle: &serde_json::Value) -> Result<BarsMessage, WorkflowError> {
    Ok(inbound::parse(bundle)?)
}

/// Processes a message for `who`, once per `request_id` (a BaRS retry answers `Duplicate`).
pub async fn process_message(
    services: Services<'_>,
    who: &Principal,
    message: BarsMessage,
    request_id: &str,
    correlation_id: String,
) -> Result<Processed, WorkflowError> {
    // The id is recorded in the same transaction as the change, so a failed attempt can be retried.
    let once = Once {
        scope: format!("bars:{}", who.client_id),
        value: request_id.to_owned(),
        expires: Instant(now().0 + REMEMBER_REQUEST_IDS_FOR_US),
    };
    match message {
        BarsMessage::NewReferral(referral) => {
            // The reshaped ServiceRequest is checked as FHIR R4 like one posted directly.
            let bytes = serde_json::to_vec(&referral)
                .map_err(|e| WorkflowError::Internal(format!("a referral is not JSON: {e}")))?;
            let submission = Submission {
                service_request: parse_resource(&bytes, Some("ServiceRequest"))?.json,
                if_none_exist: None,
                correlation_id,
                once: Some(once),
            };
            Ok(Processed::Submitted(
                submit_referral(services, who, submission).await?,
            ))
        }
        BarsMessage::Cancel {
            system,
            value,
            reason,
        } => {
            let cancellation = Cancellation {
                identifier: (system, value),
                reason,
                correlation_id,
                once: Some(once),
            };
            Ok(Processed::Cancelled(
                cancel_referral(services, who, cancellation).await?,
            ))
        }
    }
}
