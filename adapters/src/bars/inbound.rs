//! The BaRS adapter's inbound side: a referral message Bundle posted to `$process-message`,
//! checked against the BaRS message rules and read into a [`BarsMessage`] the workflow acts on.

use serde_json::{Map, Value, json};
use signpost_profiles::{NHS_NUMBER_SYSTEM, ODS_SYSTEM};

use super::{EVENT_SYSTEM, REASON_SYSTEM};

/// What a BaRS message asks of Signpost.
#[derive(Debug, Clone, PartialEq)]
pub enum BarsMessage {
    /// A new referral: its focus ServiceRequest in the shape intake takes (the person
    /// contained, the requester and performers by ODS code).
    NewReferral(Value),
    /// Cancel the sender's referral with this identifier.
    Cancel {
        /// `ServiceRequest.identifier.system`.
        system: String,
        /// `ServiceRequest.identifier.value`.
        value: String,
        /// Why, kept as the Task's `statusReason.text`.
        reason: String,
    },
}

/// Why a message is refused; each names the element at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MessageError {
    /// Not a message Bundle.
    #[error("$process-message takes a Bundle of type message")]
    NotAMessage,
    /// The first entry is not a MessageHeader.
    #[error("a message Bundle's first entry must be its MessageHeader (bdl-12)")]
    NoMessageHeader,
    /// Not a referral request.
    #[error("Signpost takes {EVENT_SYSTEM}#servicerequest-request messages")]
    UnsupportedEvent,
    /// The header's focus is not the ServiceRequest entry.
    #[error("MessageHeader.focus must reference the ServiceRequest entry")]
    NoFocus,
    /// A reason Signpost does not act on.
    #[error(
        "reason \"{0}\" is not supported: send new referrals, or an update whose ServiceRequest is revoked to cancel"
    )]
    UnsupportedReason(String),
    /// A cancellation that does not say which referral.
    #[error("a cancellation names the referral by ServiceRequest.identifier")]
    NoIdentifier,
}

impl MessageError {
    /// Where in the message the fault is, as a FHIRPath-like expression.
    pub fn at(&self) -> &'static str {
        match self {
            MessageError::NotAMessage => "Bundle.type",
            MessageError::NoMessageHeader => "Bundle.entry[0].resource",
            MessageError::UnsupportedEvent => "MessageHeader.eventCoding",
            MessageError::NoFocus => "MessageHeader.focus[0]",
            MessageError::UnsupportedReason(_) => "MessageHeader.reason",
            MessageError::NoIdentifier => "ServiceRequest.identifier",
        }
    }

    /// Whether the message is well formed but asks for something Signpost does not do (422),
    /// rather than malformed (400).
    pub fn is_unsupported(&self) -> bool {
        matches!(
            self,
            MessageError::UnsupportedEvent | MessageError::UnsupportedReason(_)
        )
    }
}

/// Reads a message Bundle (already parsed as FHIR).
pub fn parse(bundle: &Value) -> Result<BarsMessage, MessageError> {
    if bundle["type"] != "message" {
        return Err(MessageError::NotAMessage);
    }
    let header = &bundle["entry"][0]["resource"];
    if header["resourceType"] != "MessageHeader" {
        return Err(MessageError::NoMessageHeader);
    }
    if header["eventCoding"]["system"] != EVENT_SYSTEM
        || header["eventCoding"]["code"] != "servicerequest-request"
    {
        return Err(MessageError::UnsupportedEvent);
    }
    // BaRS sends a reason on every message; one without is taken as the plain case, a new referral.
    let reason = header["reason"]["coding"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["system"] == REASON_SYSTEM))
        .and_then(|c| c["code"].as_str())
        .unwrap_or("new");
    let sr = resolve(bundle, header.pointer("/focus/0"))
        .filter(|r| r["resourceType"] == "ServiceRequest")
        .ok_or(MessageError::NoFocus)?;
    match reason {
        "new" => Ok(BarsMessage::NewReferral(referral_from_message(bundle, sr))),
        "update" if matches!(sr["status"].as_str(), Some("revoked" | "entered-in-error")) => {
            let identifier = &sr["identifier"][0];
            let (Some(system), Some(value)) =
                (identifier["system"].as_str(), identifier["value"].as_str())
            else {
                return Err(MessageError::NoIdentifier);
            };
            Ok(BarsMessage::Cancel {
                system: system.to_owned(),
                value: value.to_owned(),
                reason: sr
                    .pointer("/reasonCode/0/text")
                    .and_then(Value::as_str)
                    .unwrap_or("Cancelled by the referrer")
                    .to_owned(),
            })
        }
        other => Err(MessageError::UnsupportedReason(other.to_owned())),
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A BaRS referral request built from the published specification.
    const FIXTURE: &str = include_str!("fixtures/referral-request.json");

    #[test]
    fn the_published_referral_request_is_a_new_referral_with_the_person_contained() {
        let bundle: Value = serde_json::from_str(FIXTURE).expect("fixture");
        let Ok(BarsMessage::NewReferral(sr)) = parse(&bundle) else {
            panic!("not a new referral: {:?}", parse(&bundle));
        };
        assert_eq!(sr["resourceType"], "ServiceRequest");
        assert_eq!(sr["subject"]["reference"], "#patient");
        assert_eq!(sr["contained"][0]["id"], "patient");
        assert!(!sr.to_string().contains("urn:uuid:"), "{sr}");
    }

    #[test]
    fn a_revoked_update_cancels_and_other_messages_are_refused_where_they_are_wrong() {
        let mut bundle: Value = serde_json::from_str(FIXTURE).expect("fixture");
        bundle["entry"][0]["resource"]["reason"]["coding"][0]["code"] = json!("update");
        assert_eq!(
            parse(&bundle),
            Err(MessageError::UnsupportedReason("update".into()))
        );
        let focus = bundle["entry"][0]["resource"]["focus"][0]["reference"].clone();
        for entry in bundle["entry"].as_array_mut().expect("entries") {
            if entry["fullUrl"] == focus {
                entry["resource"]["status"] = json!("revoked");
                entry["resource"]["identifier"] =
                    json!([{"system": "https://gp.example/referrals", "value": "R1"}]);
            }
        }
        assert!(matches!(
            parse(&bundle),
            Ok(BarsMessage::Cancel { ref value, .. }) if value == "R1"
        ));
        bundle["entry"][0]["resource"]["eventCoding"]["code"] = json!("booking-request");
        let refused = parse(&bundle).expect_err("refused");
        assert!(refused.is_unsupported());
        assert_eq!(refused.at(), "MessageHeader.eventCoding");
        bundle["type"] = json!("transaction");
        assert_eq!(parse(&bundle), Err(MessageError::NotAMessage));
    }
}
