//! NHS BaRS referral messages from a GP system.
//!
//! A new referral (`servicerequest-request`, reason `new`) is turned by the BaRS adapter into the
//! ServiceRequest shape `submit_referral` takes and submitted like any other: same checks, routing
//! and answers, with every issue pointing back into the message as sent. An update whose
//! ServiceRequest is `revoked` or `entered-in-error` cancels the referral it names. A performer's
//! `servicerequest-response` to a message Signpost sent it moves the Task that message carried.

use serde_json::Value;
use signpost_adapters::bars::inbound::{self, InboundProgress, MessageError, Places};
use signpost_adapters::bars::request_message_id;
use signpost_profiles::{Issue, IssueType, parse_resource};

use super::cancel_referral::{Cancellation, cancel_referral};
use super::submit_referral::{Submission, Submitted, submit_referral};
use super::task_status::Refusal;
use super::task_update::UpdateError;
use super::update_task::{TaskChange, update_task};
use super::visible::visible;
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
    /// A performer's progress recorded: its Task as stored.
    Progressed(StoredResource),
}

impl From<MessageError> for WorkflowError {
    /// A malformed message is invalid; one asking for what Signpost does not do is unprocessable.
    fn from(error: MessageError) -> Self {
        if error.is_unsupported() {
            WorkflowError::Unprocessable(vec![error.issue()])
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
    let places = message.places().clone();
    run(services, who, message, request_id, correlation_id)
        .await
        .map_err(|e| relocated(e, &places))
}

async fn run(
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
            let referral = *referral;
            // The reshaped ServiceRequest is checked as FHIR R4 like one posted directly.
            let bytes = serde_json::to_vec(&referral.service_request)
                .map_err(|e| WorkflowError::Internal(format!("a referral is not JSON: {e}")))?;
            let submission = Submission {
                service_request: parse_resource(&bytes, Some("ServiceRequest"))?.json,
                if_none_exist: None,
                correlation_id,
                once: Some(once),
            };
            let submitted = match submit_referral(services, who, submission).await? {
                Submitted::Created {
                    service_request,
                    warnings,
                } => {
                    // The adapter's warnings (how the message was read) come before the profile's.
                    let mut all = referral.warnings;
                    all.extend(referral.places.relocate(warnings));
                    Submitted::Created {
                        service_request,
                        warnings: all,
                    }
                }
                existing => existing,
            };
            Ok(Processed::Submitted(submitted))
        }
        BarsMessage::Cancel(cancel) => {
            let cancellation = Cancellation {
                id: cancel.id,
                identifier: cancel.identifier,
                reason: cancel.reason,
                correlation_id,
                once: Some(once),
            };
            Ok(Processed::Cancelled(
                cancel_referral(services, who, cancellation).await?,
            ))
        }
        BarsMessage::Progress(sent) => Ok(Processed::Progressed(
            progress(services, who, sent, correlation_id, once).await?,
        )),
    }
}

/// The performer's Task moved as its response says, if the response answers a message
/// Signpost sent about that Task (any of its versions); otherwise refused, nothing changed.
async fn progress(
    services: Services<'_>,
    who: &Principal,
    progress: InboundProgress,
    correlation_id: String,
    once: Once,
) -> Result<StoredResource, WorkflowError> {
    let current = visible(services.store, who, "Task", &progress.task_id).await?;
    let answers_ours = (1..=current.version).any(|v| {
        request_message_id(&progress.task_id, v).as_deref() == Some(&progress.responds_to)
    });
    if !answers_ours {
        return Err(WorkflowError::Unprocessable(vec![
            Issue::error(
                IssueType::BusinessRule,
                format!(
                    "response.identifier \"{}\" is not the Bundle.id of a message Signpost sent about Task {}",
                    progress.responds_to, progress.task_id
                ),
            )
            .at("Bundle.entry[0].resource.response.identifier"),
        ]));
    }
    let change = TaskChange {
        id: progress.task_id.clone(),
        expected: None,
        correlation_id,
        once: Some(once),
    };
    let (status, changes) = (progress.status, progress.changes);
    update_task(services, who, change, move |current: &Value| {
        let mut next = current.clone();
        next["status"] = Value::String(status.clone());
        for (key, value) in &changes {
            next[key] = value.clone();
        }
        Ok(next)
    })
    .await
}

/// The error with its expressions pointing into the message rather than the intake shape.
fn relocated(error: WorkflowError, places: &Places) -> WorkflowError {
    match error {
        WorkflowError::Unprocessable(issues) => {
            WorkflowError::Unprocessable(places.relocate(issues))
        }
        WorkflowError::Update(UpdateError::Invalid(issues)) => {
            WorkflowError::Update(UpdateError::Invalid(places.relocate(issues)))
        }
        // BaRS cancels only a live referral: one that has ended is a business rule broken in the
        // message's ServiceRequest.status, not a clash over a Task the sender never sent.
        WorkflowError::Update(UpdateError::Transition(
            refusal @ Refusal::NoSuchTransition { .. },
        )) => WorkflowError::Unprocessable(vec![
            Issue::error(
                IssueType::BusinessRule,
                format!("the referral can no longer be cancelled: {refusal}"),
            )
            .at(places.in_message("Task.status")),
        ]),
        WorkflowError::Invalid { message, at } => WorkflowError::Invalid {
            message,
            at: places.in_message(&at),
        },
        WorkflowError::Forbidden { message, at } => WorkflowError::Forbidden {
            message,
            at: at.map(|at| places.in_message(&at)),
        },
        WorkflowError::Parse(e) => {
            let issue = e.issue();
            WorkflowError::Invalid {
                message: issue.diagnostics,
                at: places.in_message(issue.expression.as_deref().unwrap_or("ServiceRequest")),
            }
        }
        other => other,
    }
}
