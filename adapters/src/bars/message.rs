//! The BaRS message Bundle for one delivery, built to the MessageDefinition its header names
//! (BaRS IG `MessageDefinition/BARS-MessageDefinition-ServiceRequest-*.xml`): the MessageHeader,
//! the ServiceRequest it focuses on, the Patient, the sender and receiver Organizations, the
//! receiver's HealthcareService and the Task, each an entry with a `urn:uuid:` fullUrl that every
//! reference in the message resolves to.
//!
//! Everything is derived from the delivery and the settings, so a retry is byte-identical.

use std::collections::HashMap;

use serde_json::{Map, Value, json};
use uuid::Uuid;

use super::BarsConfig;
use crate::{Delivery, DeliveryEvent};

/// BaRS message events (https://fhir.nhs.uk/CodeSystem/message-events-bars).
pub const EVENT_SYSTEM: &str = "https://fhir.nhs.uk/CodeSystem/message-events-bars";
/// BaRS message reasons (https://fhir.nhs.uk/CodeSystem/message-reason-bars).
pub const REASON_SYSTEM: &str = "https://fhir.nhs.uk/CodeSystem/message-reason-bars";
/// BaRS ServiceRequest categories: `referral` ("Transfer of Care") or `validation`.
pub const CATEGORY_SYSTEM: &str = "https://fhir.nhs.uk/CodeSystem/message-category-servicerequest";
/// The referral request MessageDefinition.
pub const REFERRAL_DEFINITION: &str =
    "https://fhir.nhs.uk/MessageDefinition/bars-message-servicerequest-request-referral";
/// The cancellation MessageDefinition (a request update whose ServiceRequest is `revoked`).
pub const CANCELLED_DEFINITION: &str =
    "https://fhir.nhs.uk/MessageDefinition/bars-message-servicerequest-request-cancelled";
/// The referral response MessageDefinition (the performer's side answering the requester).
pub const RESPONSE_DEFINITION: &str =
    "https://fhir.nhs.uk/MessageDefinition/bars-message-servicerequest-response-referral";
/// `Bundle.meta.profile`.
pub const BUNDLE_PROFILE: &str = "https://fhir.nhs.uk/StructureDefinition/BARSBundleMessage";
/// `MessageHeader.meta.profile` of a request.
pub const REQUEST_HEADER_PROFILE: &str =
    "https://fhir.nhs.uk/StructureDefinition/BARSMessageHeader-servicerequest-request";
/// `MessageHeader.meta.profile` of a response.
pub const RESPONSE_HEADER_PROFILE: &str =
    "https://fhir.nhs.uk/StructureDefinition/BARSMessageHeader-servicerequest-response";
/// `ServiceRequest.meta.profile` (the referral MessageDefinitions name it for requests and responses).
pub const SERVICE_REQUEST_PROFILE: &str =
    "https://fhir.nhs.uk/StructureDefinition/BARSServiceRequest-request-referral";
const UKCORE: &str = "https://fhir.hl7.org.uk/StructureDefinition/UKCore-";
/// An identifier whose value is a URI (here the `urn:uuid:` of a resource outside the message).
const URI_SYSTEM: &str = "urn:ietf:rfc:3986";

/// Why a delivery cannot be made into a BaRS message. Retrying cannot help with any of them.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MessageError {
    /// A BaRS message carries one timestamp, taken from the Task's version.
    #[error("the Task has no meta.lastUpdated, which the message's timestamp is taken from")]
    NoTimestamp,
    /// A field the message is built from is absent.
    #[error("the {what} has no {field}")]
    Missing {
        /// Which resource.
        what: &'static str,
        /// Which element.
        field: &'static str,
    },
    /// Entry addresses are `urn:uuid:`, so the ids they come from must be UUIDs.
    #[error("{0} is not a UUID, so it cannot be addressed as urn:uuid: in the message")]
    NotUuid(String),
    /// The delivery is for neither side of the Task.
    #[error("the delivery goes to {0}, which is neither the Task's owner nor its requester")]
    UnknownParty(String),
    /// A response names the request it answers, and Signpost has no BaRS message of the
    /// requester's for this referral (it came in another way): no id is made up instead.
    #[error(
        "the referral did not come in as a BaRS message, so there is no request Bundle.id for MessageHeader.response.identifier"
    )]
    NoRequestMessage,
    /// No Patient, contained or by NHS number.
    #[error("the ServiceRequest contains no Patient and neither it nor the Task names one")]
    NoPatient,
}

/// Which way a message goes: to the performer (a request) or back to the requester (a response).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// `servicerequest-request` to the Task's owner.
    Request,
    /// `servicerequest-response` from the owner's side to the Task's requester.
    Response,
}

/// An organisation of the message, as the Task names it.
#[derive(Debug, Clone)]
pub struct Party {
    /// Its identifier, as stored (the ODS code).
    pub identifier: Value,
    /// Its ODS code.
    pub ods: String,
    /// Its name, when known.
    pub name: Option<String>,
    /// Its entry's `urn:uuid:`.
    pub urn: String,
}

fn party(task: &Value, element: &'static str, urn: String) -> Result<Party, MessageError> {
    let reference = &task[element];
    let ods = reference["identifier"]["value"]
        .as_str()
        .filter(|v| !v.is_empty())
        .ok_or(MessageError::Missing {
            what: "Task",
            field: if element == "owner" {
                "owner.identifier.value"
            } else {
                "requester.identifier.value"
            },
        })?;
    Ok(Party {
        identifier: reference["identifier"].clone(),
        ods: ods.to_owned(),
        name: reference["display"].as_str().map(str::to_owned),
        urn,
    })
}

fn uuid_of(id: &str) -> Result<Uuid, MessageError> {
    Uuid::parse_str(id).map_err(|_| MessageError::NotUuid(id.to_owned()))
}

/// A stable id for an entry Signpost makes up for this referral (the Patient, an Organization):
/// the same in every message about it, distinct per role.
fn derived(base: Uuid, role: u8) -> Uuid {
    let mut bytes = *base.as_bytes();
    bytes[0] ^= role;
    bytes[15] ^= role.rotate_left(4);
    Uuid::new_v8(bytes)
}

fn urn(id: Uuid) -> String {
    format!("urn:uuid:{id}")
}

fn id_of<'a>(resource: &'a Value, what: &'static str) -> Result<&'a str, MessageError> {
    resource["id"]
        .as_str()
        .filter(|v| !v.is_empty())
        .ok_or(MessageError::Missing { what, field: "id" })
}

/// `meta` of an entry: its own version and time where it has them, the profile BaRS names.
fn with_meta(resource: &mut Value, profile: String, at: &Value) {
    let meta = resource
        .as_object_mut()
        .map(|o| o.entry("meta").or_insert_with(|| json!({})));
    if let Some(Value::Object(meta)) = meta {
        meta.entry("lastUpdated").or_insert_with(|| at.clone());
        meta.insert("profile".into(), json!([profile]));
    }
}

/// Every reference made resolvable inside the message: to an entry when the message carries
/// what it names (by id, contained `#id` or the organisation's ODS code), otherwise a logical
/// reference (`identifier` = the `urn:uuid:` of what it named), never a dangling `Type/id`.
struct Links {
    by_reference: HashMap<String, String>,
    by_ods: HashMap<String, String>,
}

impl Links {
    fn apply(&self, value: &mut Value) -> Result<(), MessageError> {
        match value {
            Value::Array(items) => items.iter_mut().try_for_each(|v| self.apply(v)),
            Value::Object(object) => {
                self.link(object)?;
                object.values_mut().try_for_each(|v| self.apply(v))
            }
            _ => Ok(()),
        }
    }

    fn link(&self, object: &mut Map<String, Value>) -> Result<(), MessageError> {
        if let Some(Value::String(reference)) = object.get("reference") {
            if let Some(target) = self.by_reference.get(reference) {
                object.insert("reference".into(), Value::String(target.clone()));
            } else if let Some(("Organization", ods)) = relative(reference) {
                // Signpost keys organisations by ODS code, so `Organization/{ods}` names one.
                let ods = ods.to_owned();
                object.remove("reference");
                object
                    .entry("type")
                    .or_insert_with(|| json!("Organization"));
                match self.by_ods.get(&ods) {
                    Some(target) => {
                        object.insert("reference".into(), Value::String(target.clone()));
                    }
                    None => {
                        object.insert(
                            "identifier".into(),
                            json!({"system": signpost_profiles::ODS_SYSTEM, "value": ods}),
                        );
                    }
                }
            } else if let Some((rtype, id)) = relative(reference) {
                // A UUID is named as the URI it is; any other id (a directory service's, say)
                // by its value, with the type saying what it is the id of.
                let identifier = match Uuid::parse_str(id) {
                    Ok(id) => json!({"system": URI_SYSTEM, "value": urn(id)}),
                    Err(_) => json!({"value": id}),
                };
                let rtype = rtype.to_owned();
                object.remove("reference");
                object.entry("type").or_insert_with(|| Value::String(rtype));
                object.insert("identifier".into(), identifier);
            }
            return Ok(());
        }
        let ods = object
            .get("identifier")
            .and_then(|i| i.get("value"))
            .and_then(Value::as_str);
        if let Some(target) = ods.and_then(|ods| self.by_ods.get(ods)) {
            object.insert("reference".into(), Value::String(target.clone()));
        }
        Ok(())
    }
}

/// `Type/id`, a relative literal reference (which cannot resolve inside a message Bundle).
fn relative(reference: &str) -> Option<(&str, &str)> {
    let (rtype, id) = reference.split_once('/')?;
    let is_type = rtype.chars().next().is_some_and(|c| c.is_ascii_uppercase())
        && rtype.chars().all(|c| c.is_ascii_alphanumeric());
    (is_type && !id.is_empty() && !id.contains('/')).then_some((rtype, id))
}

fn entry(urn: &str, resource: Value) -> Value {
    json!({"fullUrl": urn, "resource": resource})
}

/// The `Bundle.id` of the request message Signpost sends the performer about version `version`
/// of Task `task_id`: derived from both, so a retry carries the same id and a performer's
/// `servicerequest-response` can be checked against it without a record of every message.
pub fn request_message_id(task_id: &str, version: i64) -> Option<String> {
    message_id(task_id, version, Direction::Request)
}

/// The `Bundle.id` of the message [`message`] builds for `delivery` (what a receiver's
/// acknowledgement or response names).
pub fn bundle_id(delivery: &Delivery) -> Result<String, MessageError> {
    let task_id = id_of(&delivery.task, "Task")?;
    let version = delivery.task["meta"]["versionId"]
        .as_str()
        .and_then(|v| v.parse::<i64>().ok())
        .ok_or(MessageError::Missing {
            what: "Task",
            field: "meta.versionId",
        })?;
    message_id(task_id, version, direction(delivery)?)
        .ok_or_else(|| MessageError::NotUuid(task_id.to_owned()))
}

fn message_id(task_id: &str, version: i64, direction: Direction) -> Option<String> {
    let task = Uuid::parse_str(task_id).ok()?;
    let mut bytes = *task.as_bytes();
    for (b, v) in bytes.iter_mut().zip(version.to_be_bytes()) {
        *b ^= v;
    }
    bytes[8] ^= match direction {
        Direction::Request => 0x5a,
        Direction::Response => 0xa5,
    };
    Some(Uuid::new_v8(bytes).to_string())
}

/// A string extension of the referral, as the BaRS adapter's inbound side stored it.
pub(super) fn kept(focus: &Value, url: &str) -> Option<String> {
    focus["extension"]
        .as_array()?
        .iter()
        .find(|e| e["url"] == url)?["valueString"]
        .as_str()
        .map(str::to_owned)
}

/// Where the message goes, `(system, value)`: the service configured for the partner, or for a
/// response the `MessageHeader.source.endpoint` the requester's message named, when it sent one.
pub fn destination(delivery: &Delivery, config: &BarsConfig) -> (String, String) {
    let named = match direction(delivery) {
        Ok(Direction::Response) => kept(&delivery.focus, super::inbound::SOURCE_ENDPOINT_EXTENSION),
        _ => None,
    };
    match named.as_deref().and_then(|e| e.split_once('|')) {
        Some((system, value)) => (system.to_owned(), value.to_owned()),
        None => (
            config.target_system.clone(),
            config.target_identifier.clone(),
        ),
    }
}

/// The direction of `delivery`: its destination is the Task's owner or its requester.
pub fn direction(delivery: &Delivery) -> Result<Direction, MessageError> {
    let ods = |element: &str| delivery.task[element]["identifier"]["value"].as_str();
    if ods("owner") == Some(delivery.destination.as_str()) {
        Ok(Direction::Request)
    } else if ods("requester") == Some(delivery.destination.as_str()) {
        Ok(Direction::Response)
    } else {
        Err(MessageError::UnknownParty(delivery.destination.clone()))
    }
}

/// The organisation the message is sent on behalf of (`MessageHeader.sender`).
pub fn sender(delivery: &Delivery) -> Result<Party, MessageError> {
    let (sender_element, _) = sides(direction(delivery)?);
    let base = uuid_of(id_of(&delivery.focus, "ServiceRequest")?)?;
    party(&delivery.task, sender_element, urn(derived(base, 1)))
}

fn sides(direction: Direction) -> (&'static str, &'static str) {
    match direction {
        Direction::Request => ("requester", "owner"),
        Direction::Response => ("owner", "requester"),
    }
}

/// The message Bundle for `delivery`.
pub fn message(delivery: &Delivery, config: &BarsConfig) -> Result<Value, MessageError> {
    let direction = direction(delivery)?;
    let at = delivery
        .task
        .pointer("/meta/lastUpdated")
        .filter(|v| v.is_string())
        .cloned()
        .ok_or(MessageError::NoTimestamp)?;
    let sr_id = id_of(&delivery.focus, "ServiceRequest")?;
    let task_id = id_of(&delivery.task, "Task")?;
    let (sr_uuid, task_uuid) = (uuid_of(sr_id)?, uuid_of(task_id)?);
    let header_uuid = uuid_of(&delivery.idempotency_key)?;
    let (sender_element, receiver_element) = sides(direction);
    let sender = party(&delivery.task, sender_element, urn(derived(sr_uuid, 1)))?;
    let receiver = party(&delivery.task, receiver_element, urn(derived(sr_uuid, 2)))?;
    let service_urn = urn(derived(sr_uuid, 3));
    let (sr_urn, task_urn) = (urn(sr_uuid), urn(task_uuid));

    let mut sr = delivery.focus.clone();
    let mut links = Links {
        by_reference: HashMap::from([
            (format!("ServiceRequest/{sr_id}"), sr_urn.clone()),
            (format!("Task/{task_id}"), task_urn.clone()),
        ]),
        by_ods: HashMap::from([
            (sender.ods.clone(), sender.urn.clone()),
            (receiver.ods.clone(), receiver.urn.clone()),
        ]),
    };
    // Contained resources become entries of their own (BaRS carries the Patient as an entry).
    let contained = match sr.as_object_mut().and_then(|o| o.remove("contained")) {
        Some(Value::Array(list)) => list,
        _ => Vec::new(),
    };
    let mut others = Vec::new();
    let mut patient = None;
    for (n, mut resource) in contained.into_iter().enumerate() {
        let role = u8::try_from(n).map_or(u8::MAX, |n| n.saturating_add(0x10));
        let id = derived(
            sr_uuid,
            if resource["resourceType"] == "Patient" {
                4
            } else {
                role
            },
        );
        if let Some(local) = resource["id"].as_str() {
            links.by_reference.insert(format!("#{local}"), urn(id));
        }
        resource["id"] = json!(id.to_string());
        if resource["resourceType"] == "Patient" && patient.is_none() {
            with_meta(&mut resource, format!("{UKCORE}Patient"), &at);
            patient = Some((urn(id), resource));
        } else {
            // What the GP's message carried and Signpost relays (see `inbound`), under its UK Core profile.
            if let Some(
                rtype
                @ ("Encounter" | "CarePlan" | "Consent" | "Practitioner" | "PractitionerRole"),
            ) = resource["resourceType"]
                .as_str()
                .map(str::to_owned)
                .as_deref()
            {
                with_meta(&mut resource, format!("{UKCORE}{rtype}"), &at);
            }
            others.push((urn(id), resource));
        }
    }
    let patient_urn = urn(derived(sr_uuid, 4));
    let patient = match patient {
        Some(found) => found,
        None => {
            // Referenced by NHS number only: the Patient entry is that identifier.
            let identifier = [
                &sr["subject"]["identifier"],
                &delivery.task["for"]["identifier"],
            ]
            .into_iter()
            .find(|i| i["value"].is_string())
            .cloned()
            .ok_or(MessageError::NoPatient)?;
            let mut resource = json!({"resourceType": "Patient", "id": derived(sr_uuid, 4).to_string(), "identifier": [identifier]});
            with_meta(&mut resource, format!("{UKCORE}Patient"), &at);
            (patient_urn.clone(), resource)
        }
    };
    sr["subject"]["reference"] = json!(patient.0);

    // BaRS bases the referral on the GP's CarePlan; one Signpost relays stands there when the
    // referral is not an onward one (whose basedOn names the referral it came from).
    if sr.get("basedOn").is_none() && links.by_reference.contains_key("#careplan") {
        sr["basedOn"] = json!([{"reference": "#careplan"}]);
    }
    sr["intent"] = json!("plan");
    sr["category"] = json!([referral_category(&sr["category"])]);
    if direction == Direction::Request {
        let performer = json!({"reference": service_urn, "type": "HealthcareService"});
        match sr.get_mut("performer").and_then(Value::as_array_mut) {
            Some(list) => list.insert(0, performer),
            None => sr["performer"] = json!([performer]),
        }
    }
    with_meta(&mut sr, SERVICE_REQUEST_PROFILE.into(), &at);
    links.apply(&mut sr)?;

    let mut task = delivery.task.clone();
    task["for"]["reference"] = json!(patient.0);
    if task.get("basedOn").is_none() {
        task["basedOn"] = json!([{"reference": format!("ServiceRequest/{sr_id}")}]);
    }
    with_meta(&mut task, format!("{UKCORE}Task"), &at);
    links.apply(&mut task)?;
    for (_, resource) in &mut others {
        links.apply(resource)?;
    }

    let organisation = |party: &Party| {
        let mut org = json!({"resourceType": "Organization", "id": party.urn.trim_start_matches("urn:uuid:"), "identifier": [party.identifier]});
        if let Some(name) = &party.name {
            org["name"] = json!(name);
        }
        with_meta(&mut org, format!("{UKCORE}Organization"), &at);
        entry(&party.urn, org)
    };
    let mut service = json!({
        "resourceType": "HealthcareService",
        "id": service_urn.trim_start_matches("urn:uuid:"),
        "identifier": [{"system": config.target_system, "value": config.target_identifier}],
        "active": true,
        "providedBy": {"reference": receiver.urn},
    });
    with_meta(&mut service, format!("{UKCORE}HealthcareService"), &at);

    let header = header(
        delivery, config, direction, &sr, &sender, &receiver, &sr_urn, &at,
    )?;
    let mut entries = vec![
        entry(&urn(header_uuid), header),
        entry(&sr_urn, sr),
        entry(&patient.0, patient.1),
        entry(&task_urn, task),
        organisation(&sender),
        organisation(&receiver),
        entry(&service_urn, service),
    ];
    entries.extend(others.into_iter().map(|(u, r)| entry(&u, r)));
    let bundle_id = bundle_id(delivery)?;
    Ok(json!({
        "resourceType": "Bundle",
        "id": bundle_id,
        "meta": {"lastUpdated": at, "profile": [BUNDLE_PROFILE]},
        "type": "message",
        "timestamp": at,
        "entry": entries,
    }))
}

/// BaRS allows one category: the `referral` coding first, then what the referrer coded.
fn referral_category(sent: &Value) -> Value {
    let mut codings =
        vec![json!({"system": CATEGORY_SYSTEM, "code": "referral", "display": "Transfer of Care"})];
    let mut text = None;
    for concept in sent.as_array().into_iter().flatten() {
        for coding in concept["coding"].as_array().into_iter().flatten() {
            if coding["system"] != CATEGORY_SYSTEM && !codings.contains(coding) {
                codings.push(coding.clone());
            }
        }
        text = text.or_else(|| concept.get("text").cloned());
    }
    let mut category = json!({"coding": codings});
    if let Some(text) = text {
        category["text"] = text;
    }
    category
}

#[allow(clippy::too_many_arguments)]
fn header(
    delivery: &Delivery,
    config: &BarsConfig,
    direction: Direction,
    sr: &Value,
    sender: &Party,
    receiver: &Party,
    sr_urn: &str,
    at: &Value,
) -> Result<Value, MessageError> {
    let cancelled = matches!(sr["status"].as_str(), Some("revoked" | "entered-in-error"));
    let (event, profile, definition, reason) = match direction {
        Direction::Request => (
            "servicerequest-request",
            REQUEST_HEADER_PROFILE,
            if cancelled && delivery.event == DeliveryEvent::TaskUpdated {
                CANCELLED_DEFINITION
            } else {
                REFERRAL_DEFINITION
            },
            match delivery.event {
                DeliveryEvent::TaskCreated => "new",
                DeliveryEvent::TaskUpdated => "update",
            },
        ),
        // The performer's first change (version 2 of its Task) is a new response; later ones update it.
        Direction::Response => (
            "servicerequest-response",
            RESPONSE_HEADER_PROFILE,
            RESPONSE_DEFINITION,
            if delivery.task["meta"]["versionId"] == "2" {
                "new"
            } else {
                "update"
            },
        ),
    };
    let (system, value) = destination(delivery, config);
    let mut header = json!({
        "resourceType": "MessageHeader",
        "id": delivery.idempotency_key,
        "meta": {"lastUpdated": at, "profile": [profile]},
        "eventCoding": {"system": EVENT_SYSTEM, "code": event},
        "destination": [{
            "endpoint": format!("{system}|{value}"),
            "receiver": {"reference": receiver.urn},
        }],
        "sender": {"reference": sender.urn},
        "source": {"name": "Signpost", "software": "Signpost", "version": env!("CARGO_PKG_VERSION"), "endpoint": config.source_endpoint},
        "reason": {"coding": [{"system": REASON_SYSTEM, "code": reason}]},
        "focus": [{"reference": sr_urn}],
        "definition": definition,
    });
    if direction == Direction::Response {
        // BaRS: the Bundle.id of the original request (IG Core 1-5-0 Message-Headers page), which
        // the inbound side kept; FHIR R4 would name its MessageHeader.id, BaRS does not.
        let request = kept(&delivery.focus, super::inbound::REQUEST_MESSAGE_EXTENSION)
            .ok_or(MessageError::NoRequestMessage)?;
        header["response"] = json!({"identifier": request, "code": "ok"});
    }
    Ok(header)
}
