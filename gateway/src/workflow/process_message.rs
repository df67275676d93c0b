//! NHS BaRS referral messages from a GP system.
//!
//! A new referral (`servicerequest-request`, reason `new`) is turned into the ServiceRequest
//! shape `submit_referral` takes (the person contained, the requester by ODS code) and submitted
//! like any other: same checks, routing and answers. An update whose ServiceRequest is `revoked`
//! or `entered-in-error` cancels the existing referral.

use serde_json::{Map, Value, json};
use signpost_adapters::bars::{EVENT_SYSTEM, REASON_SYSTEM};
use signpost_profiles::{Issue, IssueType, NHS_NUMBER_SYSTEM, ODS_SYSTEM, parse_resource};

use super::cancel_referral::{Cancellation, cancel_referral};
use super::submit_referral::{Submission, Submitted, submit_referral};
use super::{Services, WorkflowError};
use crate::auth::Principal;
use crate::store::{Instant, Once, StoredResource, now};

/// How long a processed `X-Request-Id` is remembered (a BaRS retry arrives well within this).
const REMEMBER_REQUEST_IDS_FOR_US: i64 = 7 * 24 * 3600 * 1_000_000;

/// What a message asks for.
#[derive(Debug)]
pub enum BarsMessage {
    /// A new referral: its ServiceRequest in the shape `submit_referral` takes, not yet checked.
    NewReferral(Value),
    /// Cancel the referral with this business identifier (system, value), for this reason.
    Cancel {
        /// `ServiceRequest.identifier[0]`.
        identifier: (String, String),
        /// `ServiceRequest.reasonCode[0].text`, or a default.
        reason: String,
    },
}

/// What processing a message did.
#[derive(Debug)]
pub enum Processed {
    /// A referral submitted (or found by its message id's earlier run).
    Submitted(Submitted),
    /// A referral cancelled: its Task as stored.
    Cancelled(StoredResource),
}

fn invalid(message: impl Into<String>, at: &'static str) -> WorkflowError {
    WorkflowError::Invalid {
        message: message.into(),
        at,
    }
}

/// The entries of a message Bundle by `fullUrl`.
fn resolve<'a>(bundle: &'a Value, reference: Option<&Value>) -> Option<&'a Value> {
    let target = reference?.get("reference")?.as_str()?;
    bundle["entry"]
        .as_array()?
        .iter()
        .find(|e| e["fullUrl"].as_str() == Some(target))
        .map(|e| &e["resource"])
}

/// An organisation entry (or a PractitionerRole's organisation) as an ODS-identified reference.
fn organisation(bundle: &Value, reference: Option<&Value>) -> Option<Value> {
    let mut resource = resolve(bundle, reference)?;
    if resource["resourceType"] == "PractitionerRole" {
        resource = resolve(bundle, resource.get("organization"))?;
    }
    let identifier = resource["identifier"]
        .as_array()?
        .iter()
        .find(|i| i["system"] == ODS_SYSTEM)?;
    Some(json!({"identifier": identifier, "display": resource["name"]}))
}

/// The focus ServiceRequest in the shape intake takes.
fn referral_from_message(bundle: &Value, sr: &Value) -> Value {
    let mut out: Map<String, Value> = sr.as_object().cloned().unwrap_or_default();
    out.remove("id");
    out.remove("meta");
    // References into the message that Signpost does not keep would dangle once stored.
    out.retain(|_, v| !v.to_string().contains("\"urn:uuid:"));
    if let Some(patient) = resolve(bundle, sr.get("subject")) {
        let mut contained = patient.clone();
        contained["id"] = json!("patient");
        contained.as_object_mut().map(|p| p.remove("meta"));
        let nhs = patient["identifier"]
            .as_array()
            .and_then(|ids| ids.iter().find(|i| i["system"] == NHS_NUMBER_SYSTEM))
            .cloned();
        let mut subject = json!({"reference": "#patient"});
        if let Some(nhs) = nhs {
            subject["identifier"] = json!({"system": NHS_NUMBER_SYSTEM, "value": nhs["value"]});
        }
        out.insert("contained".into(), json!([contained]));
        out.insert("subject".into(), subject);
    }
    if let Some(requester) = organisation(bundle, sr.get("requester")) {
        out.insert("requester".into(), requester);
    }
    let performers: Vec<Value> = sr["performer"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|p| organisation(bundle, Some(p)))
        .collect();
    if !performers.is_empty() {
        out.insert("performer".into(), Value::Array(performers));
    }
    Value::Object(out)
}

/// Reads a message Bundle: its MessageHeader, event, reason and focus ServiceRequest.
pub fn read_message(bundle: &Value) -> Result<BarsMessage, WorkflowError> {
    if bundle["type"] != "message" {
        return Err(invalid(
            "$process-message takes a Bundle of type message",
            "Bundle.type",
        ));
    }
    let header_entry = &bundle["entry"][0]["resource"];
    if header_entry["resourceType"] != "MessageHeader" {
        return Err(invalid(
            "a message Bundle's first entry must be its MessageHeader (bdl-12)",
            "Bundle.entry[0].resource",
        ));
    }
    if header_entry["eventCoding"]["system"] != EVENT_SYSTEM
        || header_entry["eventCoding"]["code"] != "servicerequest-request"
    {
        return Err(WorkflowError::Unprocessable(vec![
            Issue::error(
                IssueType::NotSupported,
                format!("Signpost takes {EVENT_SYSTEM}#servicerequest-request messages"),
            )
            .at("MessageHeader.eventCoding"),
        ]));
    }
    // BaRS: a message that gives no reason is a new referral.
    let reason = header_entry["reason"]["coding"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["system"] == REASON_SYSTEM))
        .and_then(|c| c["code"].as_str())
        .unwrap_or("new");
    let sr = resolve(bundle, header_entry.pointer("/focus/0"))
        .filter(|r| r["resourceType"] == "ServiceRequest")
        .ok_or_else(|| {
            invalid(
                "MessageHeader.focus must reference the ServiceRequest entry",
                "MessageHeader.focus[0]",
            )
        })?;
    match reason {
        "new" => Ok(BarsMessage::NewReferral(referral_from_message(bundle, sr))),
        "update" if matches!(sr["status"].as_str(), Some("revoked" | "entered-in-error")) => {
            let identifier = &sr["identifier"][0];
            let (Some(system), Some(value)) =
                (identifier["system"].as_str(), identifier["value"].as_str())
            else {
                return Err(invalid(
                    "a cancellation names the referral by ServiceRequest.identifier",
                    "ServiceRequest.identifier",
                ));
            };
            let reason = sr
                .pointer("/reasonCode/0/text")
                .and_then(Value::as_str)
                .unwrap_or("Cancelled by the referrer")
                .to_owned();
            Ok(BarsMessage::Cancel {
                identifier: (system.to_owned(), value.to_owned()),
                reason,
            })
        }
        other => Err(WorkflowError::Unprocessable(vec![
            Issue::error(
                IssueType::NotSupported,
                format!("reason \"{other}\" is not supported: send new referrals, or an update whose ServiceRequest is revoked to cancel"),
            )
            .at("MessageHeader.reason"),
        ])),
    }
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
        BarsMessage::Cancel { identifier, reason } => {
            let cancellation = Cancellation {
                identifier,
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
