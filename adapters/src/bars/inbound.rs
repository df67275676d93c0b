//! The BaRS adapter's inbound side: a referral message Bundle posted to `$process-message`,
//! checked against the BaRS message rules and read into a [`BarsMessage`] the workflow acts on.
//!
//! The workflow checks the referral in Signpost's intake shape (the person contained, the
//! organisations by ODS code); [`Places`] remembers where each part of that shape came from, so
//! every answer names the element as the sender sent it.

use serde_json::{Map, Value, json};
use signpost_profiles::{Issue, IssueType, NHS_NUMBER_SYSTEM, ODS_SYSTEM, Severity};

use super::{EVENT_SYSTEM, REASON_SYSTEM, REFERRAL_DEFINITION, RESPONSE_DEFINITION};

/// The BaRS cancellation MessageDefinition (a `servicerequest-request` with reason `update`).
pub const CANCELLATION_DEFINITION: &str =
    "https://fhir.nhs.uk/MessageDefinition/bars-message-servicerequest-request-cancelled";
/// The BaRS validation request MessageDefinition, which Signpost does not take.
pub const VALIDATION_DEFINITION: &str =
    "https://fhir.nhs.uk/MessageDefinition/bars-message-servicerequest-request-validation";
/// BaRS ServiceRequest categories: `referral` ("Transfer of Care") or `validation`.
pub const CATEGORY_SYSTEM: &str = "https://fhir.nhs.uk/CodeSystem/message-category-servicerequest";
/// Where a BaRS sender's `MessageHeader.source.endpoint` is kept on the stored ServiceRequest,
/// so that responses can be addressed back to it.
pub const SOURCE_ENDPOINT_EXTENSION: &str =
    "https://signpost.example/fhir/StructureDefinition/bars-source-endpoint";
/// Where a BaRS sender's request `Bundle.id` is kept on the stored ServiceRequest: BaRS
/// responses name the request by it in `MessageHeader.response.identifier` (IG Core 1-5-0
/// `Standard-Pattern-Composite-Messages/Message-Headers.page.md`).
pub const REQUEST_MESSAGE_EXTENSION: &str =
    "https://signpost.example/fhir/StructureDefinition/bars-request-message";
/// A GP's entry Signpost keeps contained with the referral (see [`relay`]), referenced from the
/// ServiceRequest by this extension where no ServiceRequest element may name it.
pub const RELAYED_EXTENSION: &str =
    "https://signpost.example/fhir/StructureDefinition/bars-relayed-entry";
/// What a BaRS referral without `ServiceRequest.code` is recorded as: every BaRS referral
/// message addressed to Signpost is a referral to social prescribing.
pub const SOCIAL_PRESCRIBING_CODE: (&str, &str, &str) = (
    "http://snomed.info/sct",
    "871731000000106",
    "Referral to social prescribing service",
);

/// What a BaRS message asks of Signpost.
#[derive(Debug, Clone, PartialEq)]
pub enum BarsMessage {
    /// A new referral.
    NewReferral(Box<InboundReferral>),
    /// Cancel one of the sender's referrals.
    Cancel(InboundCancellation),
    /// The performer's progress on a referral Signpost sent it (`servicerequest-response`).
    Progress(InboundProgress),
}

impl BarsMessage {
    /// Where the parts of the intake shape came from in the message.
    pub fn places(&self) -> &Places {
        match self {
            BarsMessage::NewReferral(referral) => &referral.places,
            BarsMessage::Cancel(cancellation) => &cancellation.places,
            BarsMessage::Progress(progress) => &progress.places,
        }
    }
}

/// A new referral read from a message.
#[derive(Debug, Clone, PartialEq)]
pub struct InboundReferral {
    /// The focus ServiceRequest in the shape intake takes: the Patient contained, the requester
    /// and performers by ODS code, no reference left pointing into the message.
    pub service_request: Value,
    /// Warnings for the sender, already pointing into the message (e.g. a lower-case `/id/` system).
    pub warnings: Vec<Issue>,
    /// Where the parts of `service_request` came from.
    pub places: Places,
}

/// A cancellation read from a message.
#[derive(Debug, Clone, PartialEq)]
pub struct InboundCancellation {
    /// The `ServiceRequest.id` the sender names (Signpost's id, as BaRS expects).
    pub id: Option<String>,
    /// `ServiceRequest.identifier[0]` as system and value.
    pub identifier: Option<(String, String)>,
    /// Why, kept as the Task's `statusReason.text`.
    pub reason: String,
    /// Where the ServiceRequest is in the message.
    pub places: Places,
}

/// A performer's response to a referral message Signpost sent it.
#[derive(Debug, Clone, PartialEq)]
pub struct InboundProgress {
    /// `MessageHeader.response.identifier`: the `Bundle.id` of the request it answers.
    pub responds_to: String,
    /// The Task the response carries (the one Signpost sent), by its id.
    pub task_id: String,
    /// Its new `status`.
    pub status: String,
    /// `businessStatus`, `statusReason` and `output` as sent, message-local references resolved.
    pub changes: Map<String, Value>,
    /// Where the Task is in the message.
    pub places: Places,
}

/// Where each element of the intake shape came from in the message, by expression prefix.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Places {
    pairs: Vec<(String, String)>,
}

impl Places {
    fn new(service_request_at: &str) -> Self {
        let mut places = Self::default();
        places.add("ServiceRequest", service_request_at);
        // A cancellation's refusals are about the Task it moves, which the message names as its ServiceRequest.
        places.add("Task.status", &format!("{service_request_at}.status"));
        places
    }

    fn add(&mut self, internal: &str, in_message: &str) {
        self.pairs
            .push((internal.to_owned(), in_message.to_owned()));
    }

    /// The expression of the same element in the message as sent (unchanged if it has none).
    pub fn in_message(&self, expression: &str) -> String {
        let best = self
            .pairs
            .iter()
            .filter(|(internal, _)| {
                expression
                    .strip_prefix(internal.as_str())
                    .is_some_and(|rest| {
                        rest.is_empty() || rest.starts_with('.') || rest.starts_with('[')
                    })
            })
            .max_by_key(|(internal, _)| internal.len());
        match best {
            Some((internal, in_message)) => {
                format!("{in_message}{}", &expression[internal.len()..])
            }
            None => expression.to_owned(),
        }
    }

    /// The issues with their expressions pointing into the message; one issue per element.
    pub fn relocate(&self, issues: Vec<Issue>) -> Vec<Issue> {
        let mut out: Vec<Issue> = Vec::with_capacity(issues.len());
        for mut issue in issues {
            issue.expression = issue.expression.map(|e| self.in_message(&e));
            // The contained Patient and subject.identifier are one element in the message.
            let repeated = out.iter().any(|i| {
                i.expression == issue.expression
                    && i.code == issue.code
                    && i.severity == issue.severity
            });
            if !repeated {
                out.push(issue);
            }
        }
        out
    }
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
    #[error(
        "event \"{0}\" is not supported: Signpost takes {EVENT_SYSTEM}#servicerequest-request messages"
    )]
    UnsupportedEvent(String),
    /// No MessageDefinition named.
    #[error(
        "MessageHeader.definition is required: it names the MessageDefinition the message is built to"
    )]
    NoDefinition,
    /// A MessageDefinition Signpost does not take (e.g. a validation request).
    #[error(
        "MessageDefinition \"{0}\" is not supported: Signpost takes referral requests ({REFERRAL_DEFINITION}) and their cancellation ({CANCELLATION_DEFINITION})"
    )]
    UnsupportedDefinition(String),
    /// The header's focus is not the ServiceRequest entry.
    #[error("MessageHeader.focus must reference the ServiceRequest entry")]
    NoFocus,
    /// A ServiceRequest that is not a referral (e.g. category `validation`).
    #[error(
        "a ServiceRequest of category \"{code}\" is not supported: Signpost takes referrals ({CATEGORY_SYSTEM}#referral)"
    )]
    NotAReferral {
        /// The category code sent.
        code: String,
        /// Where it is.
        at: String,
    },
    /// No referral category.
    #[error("ServiceRequest.category must include {CATEGORY_SYSTEM}#referral")]
    NoCategory {
        /// The ServiceRequest's category element.
        at: String,
    },
    /// No reason.
    #[error("MessageHeader.reason must say new or update ({REASON_SYSTEM})")]
    NoReason,
    /// A reason Signpost does not act on.
    #[error(
        "reason \"{0}\" is not supported: send new referrals, or an update whose ServiceRequest is revoked or entered-in-error to cancel"
    )]
    UnsupportedReason(String),
    /// The requester is a person, and the message names no sending organisation.
    #[error(
        "ServiceRequest.requester is a {0}: MessageHeader.sender must then reference the sending Organization entry"
    )]
    NoSender(String),
    /// No `Bundle.id`, which a response to this message would have to name.
    #[error("Bundle.id is required: a BaRS response names the request it answers by its Bundle.id")]
    NoBundleId,
    /// A response that does not say what it answers.
    #[error(
        "MessageHeader.response.identifier is required: the Bundle.id of the request this responds to"
    )]
    NoResponseIdentifier,
    /// A response without the Task Signpost reads the progress from.
    #[error(
        "a servicerequest-response to Signpost carries the Task it was sent, with its new status: Signpost reads the performer's progress from it"
    )]
    NoTask,
    /// A cancellation that does not say which referral.
    #[error(
        "a cancellation names the referral by ServiceRequest.id (as Signpost gave it) or ServiceRequest.identifier"
    )]
    NoIdentifier {
        /// The ServiceRequest entry.
        at: String,
    },
}

impl MessageError {
    /// Where in the message the fault is, as a FHIRPath expression into the Bundle as sent.
    pub fn at(&self) -> String {
        match self {
            MessageError::NotAMessage => "Bundle.type".into(),
            MessageError::NoMessageHeader => "Bundle.entry[0].resource".into(),
            MessageError::UnsupportedEvent(_) => "Bundle.entry[0].resource.eventCoding".into(),
            MessageError::NoDefinition | MessageError::UnsupportedDefinition(_) => {
                "Bundle.entry[0].resource.definition".into()
            }
            MessageError::NoFocus => "Bundle.entry[0].resource.focus[0]".into(),
            MessageError::NoReason | MessageError::UnsupportedReason(_) => {
                "Bundle.entry[0].resource.reason".into()
            }
            MessageError::NoSender(_) => "Bundle.entry[0].resource.sender".into(),
            MessageError::NoBundleId => "Bundle.id".into(),
            MessageError::NoResponseIdentifier => {
                "Bundle.entry[0].resource.response.identifier".into()
            }
            MessageError::NoTask => "Bundle.entry".into(),
            MessageError::NotAReferral { at, .. }
            | MessageError::NoCategory { at }
            | MessageError::NoIdentifier { at } => at.clone(),
        }
    }

    /// Whether the message is well formed but asks for something Signpost does not do (422),
    /// rather than malformed (400).
    pub fn is_unsupported(&self) -> bool {
        matches!(
            self,
            MessageError::UnsupportedEvent(_)
                | MessageError::UnsupportedDefinition(_)
                | MessageError::NotAReferral { .. }
                | MessageError::UnsupportedReason(_)
        )
    }

    /// The issue that explains the refusal.
    pub fn issue(&self) -> Issue {
        let code = if self.is_unsupported() {
            IssueType::NotSupported
        } else {
            match self {
                MessageError::NoDefinition
                | MessageError::NoReason
                | MessageError::NoSender(_)
                | MessageError::NoBundleId
                | MessageError::NoResponseIdentifier
                | MessageError::NoTask
                | MessageError::NoCategory { .. }
                | MessageError::NoIdentifier { .. } => IssueType::Required,
                _ => IssueType::Invalid,
            }
        };
        Issue::error(code, self.to_string()).at(self.at())
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
    let event = header["eventCoding"]["code"].as_str().unwrap_or_default();
    let known = header["eventCoding"]["system"] == EVENT_SYSTEM;
    if known && event == "servicerequest-response" {
        return progress(bundle, header);
    }
    if !known || event != "servicerequest-request" {
        return Err(MessageError::UnsupportedEvent(event.to_owned()));
    }
    let definition = header["definition"]
        .as_str()
        .ok_or(MessageError::NoDefinition)?;
    if definition != REFERRAL_DEFINITION && definition != CANCELLATION_DEFINITION {
        return Err(MessageError::UnsupportedDefinition(definition.to_owned()));
    }
    let reason = header["reason"]["coding"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["system"] == REASON_SYSTEM))
        .and_then(|c| c["code"].as_str())
        .ok_or(MessageError::NoReason)?;
    let (index, sr) = resolve(bundle, header.pointer("/focus/0"))
        .filter(|(_, r)| r["resourceType"] == "ServiceRequest")
        .ok_or(MessageError::NoFocus)?;
    let at = format!("Bundle.entry[{index}].resource");
    check_category(sr, &at)?;
    match reason {
        "new" if definition == REFERRAL_DEFINITION => Ok(BarsMessage::NewReferral(Box::new(
            referral_from_message(bundle, header, sr, &at)?,
        ))),
        "update" if matches!(sr["status"].as_str(), Some("revoked" | "entered-in-error")) => {
            Ok(BarsMessage::Cancel(cancellation(bundle, index, sr, &at)?))
        }
        other => Err(MessageError::UnsupportedReason(other.to_owned())),
    }
}

/// A performer's response: the Task entry's new state, for the request it names.
fn progress(bundle: &Value, header: &Value) -> Result<BarsMessage, MessageError> {
    let definition = header["definition"]
        .as_str()
        .ok_or(MessageError::NoDefinition)?;
    if definition != RESPONSE_DEFINITION {
        return Err(MessageError::UnsupportedDefinition(definition.to_owned()));
    }
    let responds_to = header
        .pointer("/response/identifier")
        .and_then(Value::as_str)
        .filter(|v| !v.is_empty())
        .ok_or(MessageError::NoResponseIdentifier)?;
    let (index, task) = bundle["entry"]
        .as_array()
        .into_iter()
        .flatten()
        .enumerate()
        .find(|(_, e)| e["resource"]["resourceType"] == "Task")
        .ok_or(MessageError::NoTask)?;
    let task_id = task["resource"]["id"]
        .as_str()
        .or_else(|| {
            task["fullUrl"]
                .as_str()
                .and_then(|u| u.strip_prefix("urn:uuid:"))
        })
        .ok_or(MessageError::NoTask)?;
    let status = task["resource"]["status"]
        .as_str()
        .ok_or(MessageError::NoTask)?;
    let mut warnings = Vec::new();
    let mut changes = Map::new();
    for key in ["businessStatus", "statusReason", "output"] {
        if let Some(value) = task["resource"].get(key) {
            changes.insert(key.to_owned(), localise(bundle, value, &mut warnings));
        }
    }
    let mut places = Places::default();
    places.add("Task", &format!("Bundle.entry[{index}].resource"));
    Ok(BarsMessage::Progress(InboundProgress {
        responds_to: responds_to.to_owned(),
        task_id: task_id.to_owned(),
        status: status.to_owned(),
        changes,
        places,
    }))
}

/// Only referrals: a validation request (or a ServiceRequest of no BaRS category) is refused.
fn check_category(sr: &Value, at: &str) -> Result<(), MessageError> {
    let mut referral = false;
    for (i, category) in sr["category"].as_array().into_iter().flatten().enumerate() {
        for (j, coding) in category["coding"]
            .as_array()
            .into_iter()
            .flatten()
            .enumerate()
        {
            if coding["system"] != CATEGORY_SYSTEM {
                continue;
            }
            match coding["code"].as_str() {
                Some("referral") => referral = true,
                other => {
                    return Err(MessageError::NotAReferral {
                        code: other.unwrap_or_default().to_owned(),
                        at: format!("{at}.category[{i}].coding[{j}].code"),
                    });
                }
            }
        }
    }
    if referral {
        Ok(())
    } else {
        Err(MessageError::NoCategory {
            at: format!("{at}.category"),
        })
    }
}

/// The referral a cancellation names: by Signpost's id, or else by its identifier.
fn cancellation(
    bundle: &Value,
    index: usize,
    sr: &Value,
    at: &str,
) -> Result<InboundCancellation, MessageError> {
    // BaRS keeps the ServiceRequest's id across a conversation; its entry's fullUrl carries it too.
    let id = sr["id"].as_str().map(str::to_owned).or_else(|| {
        bundle["entry"][index]["fullUrl"]
            .as_str()
            .and_then(|u| u.strip_prefix("urn:uuid:"))
            .map(str::to_owned)
    });
    let first = &sr["identifier"][0];
    let identifier = match (first["system"].as_str(), first["value"].as_str()) {
        (Some(system), Some(value)) => Some((system.to_owned(), value.to_owned())),
        _ => None,
    };
    if id.is_none() && identifier.is_none() {
        return Err(MessageError::NoIdentifier { at: at.to_owned() });
    }
    let reason = match sr.pointer("/reasonCode/0/text").and_then(Value::as_str) {
        Some(text) => text.to_owned(),
        None => format!(
            "Cancelled by the referrer (ServiceRequest {})",
            sr["status"].as_str().unwrap_or_default()
        ),
    };
    Ok(InboundCancellation {
        id,
        identifier,
        reason,
        places: Places::new(at),
    })
}

/// The entry a `urn:uuid:` reference names, with its index.
fn resolve<'a>(bundle: &'a Value, reference: Option<&Value>) -> Option<(usize, &'a Value)> {
    let target = reference?.get("reference")?.as_str()?;
    bundle["entry"]
        .as_array()?
        .iter()
        .enumerate()
        .find(|(_, e)| e["fullUrl"].as_str() == Some(target))
        .map(|(i, e)| (i, &e["resource"]))
}

/// The canonical system for a published identifier system or its lower-case `/id/` spelling.
fn canonical_system(system: &str) -> Option<&'static str> {
    [ODS_SYSTEM, NHS_NUMBER_SYSTEM]
        .into_iter()
        .find(|canonical| *canonical == system || canonical.replacen("/Id/", "/id/", 1) == system)
}

/// Rewrites an entry's identifiers to the canonical systems, warning where one was respelled.
fn canonical_identifiers(resource: &mut Value, entry_at: &str, warnings: &mut Vec<Issue>) {
    for (i, identifier) in resource["identifier"]
        .as_array_mut()
        .into_iter()
        .flatten()
        .enumerate()
    {
        let Some(sent) = identifier["system"].as_str().map(str::to_owned) else {
            continue;
        };
        if let Some(canonical) = canonical_system(&sent).filter(|c| *c != sent) {
            identifier["system"] = json!(canonical);
            let at = format!("{entry_at}.identifier[{i}].system");
            if !warnings
                .iter()
                .any(|w| w.expression.as_deref() == Some(&at))
            {
                warnings.push(
                    Issue::new(
                        Severity::Warning,
                        IssueType::Value,
                        format!("identifier system \"{sent}\" read as {canonical} (the published spelling) and stored so"),
                    )
                    .at(at),
                );
            }
        }
    }
}

/// An identifier of `system` on an entry (after [`canonical_identifiers`]) with its index.
fn identifier_with(resource: &Value, system: &str) -> Option<(usize, Value)> {
    resource["identifier"]
        .as_array()?
        .iter()
        .enumerate()
        .find(|(_, i)| i["system"] == system)
        .map(|(i, id)| (i, json!({"system": id["system"], "value": id["value"]})))
}

/// An organisation entry as an ODS-identified reference, recording where it came from.
fn organisation_reference(
    bundle: &Value,
    index: usize,
    internal: &str,
    places: &mut Places,
    warnings: &mut Vec<Issue>,
) -> Value {
    let entry_at = format!("Bundle.entry[{index}].resource");
    let mut org = bundle["entry"][index]["resource"].clone();
    canonical_identifiers(&mut org, &entry_at, warnings);
    let mut reference = json!({"type": "Organization"});
    match identifier_with(&org, ODS_SYSTEM) {
        Some((i, identifier)) => {
            reference["identifier"] = identifier;
            places.add(
                &format!("{internal}.identifier"),
                &format!("{entry_at}.identifier[{i}]"),
            );
        }
        None => places.add(
            &format!("{internal}.identifier"),
            &format!("{entry_at}.identifier"),
        ),
    }
    if let Some(name) = org["name"].as_str() {
        reference["display"] = json!(name);
    }
    reference
}

/// The Organization entry a requester or performer stands for: itself, a PractitionerRole's
/// organisation, or the organisation providing a HealthcareService.
fn organisation_of(bundle: &Value, reference: Option<&Value>) -> Option<usize> {
    let (index, resource) = resolve(bundle, reference)?;
    match resource["resourceType"].as_str()? {
        "Organization" => Some(index),
        "PractitionerRole" => organisation_of(bundle, resource.get("organization")),
        "HealthcareService" => organisation_of(bundle, resource.get("providedBy")),
        _ => None,
    }
}

/// The focus ServiceRequest in the shape intake takes.
fn referral_from_message(
    bundle: &Value,
    header: &Value,
    sr: &Value,
    at: &str,
) -> Result<InboundReferral, MessageError> {
    let mut places = Places::new(at);
    let mut warnings = Vec::new();
    let mut out: Map<String, Value> = sr.as_object().cloned().unwrap_or_default();
    out.remove("id");
    out.remove("meta");
    // BaRS basedOn names a CarePlan in the message, not an earlier Signpost referral.
    out.remove("basedOn");

    if let Some((p, patient)) = resolve(bundle, sr.get("subject")) {
        let entry_at = format!("Bundle.entry[{p}].resource");
        let mut contained = localise(bundle, patient, &mut warnings);
        canonical_identifiers(&mut contained, &entry_at, &mut warnings);
        contained["id"] = json!("patient");
        if let Some(p) = contained.as_object_mut() {
            p.remove("meta");
        }
        let mut subject = json!({"reference": "#patient"});
        if let Some((i, nhs)) = identifier_with(&contained, NHS_NUMBER_SYSTEM) {
            subject["identifier"] = nhs;
            places.add(
                "ServiceRequest.subject.identifier",
                &format!("{entry_at}.identifier[{i}]"),
            );
        }
        places.add("ServiceRequest.contained[0]", &entry_at);
        out.insert("contained".into(), json!([contained]));
        out.insert("subject".into(), subject);
    }

    relay(bundle, sr, &mut out);

    let requester =
        resolve(bundle, sr.get("requester")).map(|(i, r)| (i, r["resourceType"].clone()));
    let requesting_org = match requester {
        Some((i, kind)) if kind == "Organization" => Some((i, format!("{at}.requester"))),
        // BaRS names a person as requester and their organisation as the message's sender.
        Some((_, kind)) if kind == "Practitioner" || kind == "PractitionerRole" => {
            let sender = resolve(bundle, header.get("sender"))
                .filter(|(_, s)| s["resourceType"] == "Organization")
                .ok_or_else(|| {
                    MessageError::NoSender(kind.as_str().unwrap_or_default().to_owned())
                })?;
            Some((sender.0, "Bundle.entry[0].resource.sender".to_owned()))
        }
        _ => None,
    };
    if let Some((index, from)) = requesting_org {
        places.add("ServiceRequest.requester", &from);
        let reference = organisation_reference(
            bundle,
            index,
            "ServiceRequest.requester",
            &mut places,
            &mut warnings,
        );
        out.insert("requester".into(), reference);
    }

    let mut performers = Vec::new();
    for (q, performer) in sr["performer"].as_array().into_iter().flatten().enumerate() {
        match organisation_of(bundle, Some(performer)) {
            Some(index) => {
                let internal = format!("ServiceRequest.performer[{}]", performers.len());
                places.add(&internal, &format!("{at}.performer[{q}]"));
                performers.push(organisation_reference(
                    bundle,
                    index,
                    &internal,
                    &mut places,
                    &mut warnings,
                ));
            }
            None => warnings.push(
                Issue::new(
                    Severity::Warning,
                    IssueType::NotSupported,
                    "this performer is not an organisation with an ODS code in the message; \
                     Signpost routes the referral by its directory and does not keep it",
                )
                .at(format!("{at}.performer[{q}]")),
            ),
        }
    }
    if performers.is_empty() {
        out.remove("performer");
    } else {
        out.insert("performer".into(), Value::Array(performers));
    }

    if !out.contains_key("code") {
        let (system, code, display) = SOCIAL_PRESCRIBING_CODE;
        out.insert(
            "code".into(),
            json!({"coding": [{"system": system, "code": code, "display": display}]}),
        );
        warnings.push(
            Issue::new(
                Severity::Warning,
                IssueType::Informational,
                format!(
                    "no ServiceRequest.code: a BaRS referral sent to Signpost is a referral to social \
                     prescribing, recorded as {system}|{code} ({display})"
                ),
            )
            .at(format!("{at}.code")),
        );
    }

    let request_message = bundle["id"]
        .as_str()
        .filter(|id| !id.is_empty())
        .ok_or(MessageError::NoBundleId)?;
    let mut kept = vec![json!({"url": REQUEST_MESSAGE_EXTENSION, "valueString": request_message})];
    if let Some(endpoint) = header.pointer("/source/endpoint").and_then(Value::as_str) {
        kept.push(json!({"url": SOURCE_ENDPOINT_EXTENSION, "valueString": endpoint}));
    }
    let extensions = out.entry("extension").or_insert_with(|| json!([]));
    if let Some(list) = extensions.as_array_mut() {
        list.extend(kept);
    }

    let service_request = localise(bundle, &Value::Object(out), &mut warnings);
    Ok(InboundReferral {
        service_request,
        warnings,
        places,
    })
}

/// The elements Signpost keeps of each entry the referral MessageDefinition requires and it
/// relays: who the resource is about and its identity, status and coding, not free text.
const RELAYED: &[(&str, &[&str])] = &[
    (
        "Encounter",
        &["identifier", "status", "class", "period", "subject"],
    ),
    (
        "CarePlan",
        &[
            "identifier",
            "status",
            "intent",
            "subject",
            "encounter",
            "period",
            "created",
        ],
    ),
    (
        "Consent",
        &[
            "status",
            "scope",
            "category",
            "patient",
            "dateTime",
            "policyRule",
            "provision",
        ],
    ),
    ("Practitioner", &["identifier", "name", "telecom"]),
    (
        "PractitionerRole",
        &[
            "identifier",
            "practitioner",
            "organization",
            "code",
            "specialty",
            "telecom",
        ],
    ),
];

/// The entries the BaRS referral MessageDefinition requires (min 1) that the GP sent about this
/// referral, kept contained with it so they go on to the performer: the Encounter
/// (`ServiceRequest.encounter`), the CarePlan it is based on, the Consent(s) about the patient,
/// and the requesting Practitioner with the PractitionerRole(s) naming them. The others are
/// referenced by [`RELAYED_EXTENSION`] (FHIR dom-3: a contained resource must be referenced):
/// Signpost's `basedOn` names an earlier referral, its `requester` the organisation, and its
/// profile lets `supportingInfo` name only clinical findings.
fn relay(bundle: &Value, sr: &Value, out: &mut Map<String, Value>) {
    let entries = bundle["entry"].as_array().map(Vec::as_slice).unwrap_or(&[]);
    let url = |reference: Option<&Value>| {
        reference
            .and_then(|r| r.get("reference"))
            .and_then(Value::as_str)
            .map(str::to_owned)
    };
    let patient = url(sr.get("subject"));
    let mut picked: Vec<(String, String)> = Vec::new();
    let mut pick = |full_url: Option<String>, local: String| {
        if let Some(full_url) = full_url
            && !picked.iter().any(|(u, _)| *u == full_url)
        {
            picked.push((full_url, local));
        }
    };
    pick(url(sr.get("encounter")), "encounter".into());
    if let Some(plans) = sr["basedOn"].as_array() {
        for plan in plans {
            if resolve(bundle, Some(plan)).is_some_and(|(_, r)| r["resourceType"] == "CarePlan") {
                pick(url(Some(plan)), "careplan".into());
                break;
            }
        }
    }
    let requester =
        resolve(bundle, sr.get("requester")).and_then(|(i, r)| match r["resourceType"].as_str() {
            Some("Practitioner") => Some(entries[i]["fullUrl"].clone()),
            Some("PractitionerRole") => r
                .get("practitioner")
                .and_then(|p| p.get("reference"))
                .cloned(),
            _ => None,
        });
    if let Some(Value::String(person)) = &requester {
        pick(Some(person.clone()), "requester".into());
    }
    let mut consents = 0;
    let mut roles = 0;
    for entry in entries {
        let resource = &entry["resource"];
        let full_url = entry["fullUrl"].as_str().map(str::to_owned);
        match resource["resourceType"].as_str() {
            Some("Consent") if url(resource.get("patient")) == patient && patient.is_some() => {
                consents += 1;
                pick(full_url, format!("consent-{consents}"));
            }
            Some("PractitionerRole")
                if requester.is_some()
                    && resource.pointer("/practitioner/reference") == requester.as_ref() =>
            {
                roles += 1;
                pick(full_url, format!("requester-role-{roles}"));
            }
            _ => {}
        }
    }
    let mut locals: Vec<(String, String)> = picked.clone();
    if let Some(patient) = &patient {
        locals.push((patient.clone(), "patient".into()));
    }
    let mut contained = Vec::new();
    let mut supporting = Vec::new();
    for (full_url, local) in &picked {
        let Some((_, resource)) = resolve(bundle, Some(&json!({"reference": full_url}))) else {
            continue;
        };
        let Some((rtype, keep)) = RELAYED.iter().find(|(t, _)| resource["resourceType"] == *t)
        else {
            continue;
        };
        let mut kept = Map::new();
        kept.insert("resourceType".into(), json!(rtype));
        kept.insert("id".into(), json!(local));
        for key in *keep {
            if let Some(value) = resource.get(*key) {
                kept.insert((*key).to_owned(), within(value, &locals));
            }
        }
        contained.push(Value::Object(kept));
        match *rtype {
            "Encounter" => {
                out.insert(
                    "encounter".into(),
                    json!({"reference": format!("#{local}")}),
                );
            }
            "CarePlan" | "Consent" | "PractitionerRole" => {
                supporting.push(relayed_extension(local));
            }
            _ => {}
        }
    }
    // A requesting Practitioner without a role in the message is referenced on its own.
    if roles == 0 && picked.iter().any(|(_, l)| l == "requester") {
        supporting.push(relayed_extension("requester"));
    }
    if contained.is_empty() {
        return;
    }
    if let Some(list) = out.get_mut("contained").and_then(Value::as_array_mut) {
        list.extend(contained);
    } else {
        out.insert("contained".into(), Value::Array(contained));
    }
    if !supporting.is_empty() {
        match out.get_mut("extension").and_then(Value::as_array_mut) {
            Some(list) => list.extend(supporting),
            None => {
                out.insert("extension".into(), Value::Array(supporting));
            }
        }
    }
}

fn relayed_extension(local: &str) -> Value {
    json!({"url": RELAYED_EXTENSION, "valueReference": {"reference": format!("#{local}")}})
}

/// `value` with references to entries kept with the referral made local (`#id`).
fn within(value: &Value, locals: &[(String, String)]) -> Value {
    match value {
        Value::Object(map) => {
            let target = map.get("reference").and_then(Value::as_str).and_then(|r| {
                locals
                    .iter()
                    .find(|(u, _)| u == r)
                    .map(|(_, l)| format!("#{l}"))
            });
            let mut out = Map::new();
            for (key, item) in map {
                out.insert(key.clone(), within(item, locals));
            }
            if let Some(local) = target {
                out.insert("reference".into(), json!(local));
            }
            Value::Object(out)
        }
        Value::Array(items) => Value::Array(items.iter().map(|i| within(i, locals)).collect()),
        other => other.clone(),
    }
}

/// A copy with every message-local (`urn:uuid:`) reference resolved: to a logical reference by
/// the target's identifier where it has one, otherwise left out, so nothing stored dangles.
fn localise(bundle: &Value, value: &Value, warnings: &mut Vec<Issue>) -> Value {
    match value {
        Value::Object(map) => {
            let mut out = Map::new();
            for (key, item) in map {
                if let Some(local) = localise_item(bundle, item, warnings) {
                    out.insert(key.clone(), local);
                }
            }
            Value::Object(out)
        }
        Value::Array(items) => Value::Array(
            items
                .iter()
                .filter_map(|item| localise_item(bundle, item, warnings))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// One element localised, or `None` if it is a reference into the message that cannot be kept.
fn localise_item(bundle: &Value, item: &Value, warnings: &mut Vec<Issue>) -> Option<Value> {
    let is_local = item
        .get("reference")
        .and_then(Value::as_str)
        .is_some_and(|r| r.starts_with("urn:uuid:"));
    if !is_local {
        let local = localise(bundle, item, warnings);
        // An array emptied by the rule above is left out rather than stored empty (FHIR ele-1).
        return match &local {
            Value::Array(items)
                if items.is_empty() && item.as_array().is_some_and(|a| !a.is_empty()) =>
            {
                None
            }
            _ => Some(local),
        };
    }
    let (index, target) = resolve(bundle, Some(item))?;
    let mut target = target.clone();
    canonical_identifiers(
        &mut target,
        &format!("Bundle.entry[{index}].resource"),
        warnings,
    );
    let identifier = target["identifier"].get(0)?;
    let mut reference = json!({
        "type": target["resourceType"],
        "identifier": {"system": identifier["system"], "value": identifier["value"]},
    });
    if let Some(display) = item
        .get("display")
        .or_else(|| target.get("name").filter(|n| n.is_string()))
    {
        reference["display"] = display.clone();
    }
    Some(reference)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A BaRS referral request built from the published specification.
    const FIXTURE: &str = include_str!("fixtures/referral-request.json");

    fn referral(bundle: &Value) -> InboundReferral {
        match parse(bundle) {
            Ok(BarsMessage::NewReferral(referral)) => *referral,
            other => panic!("not a new referral: {other:?}"),
        }
    }

    #[test]
    fn the_published_referral_request_is_a_new_referral_with_the_person_contained() {
        let bundle: Value = serde_json::from_str(FIXTURE).expect("fixture");
        let sr = referral(&bundle).service_request;
        assert_eq!(sr["resourceType"], "ServiceRequest");
        assert_eq!(sr["subject"]["reference"], "#patient");
        assert_eq!(sr["contained"][0]["id"], "patient");
        assert_eq!(sr["requester"]["identifier"]["value"], "A81001");
        assert_eq!(
            sr["extension"],
            json!([
                {"url": REQUEST_MESSAGE_EXTENSION, "valueString": "3f2b0c9e-6a71-4c1b-9a52-0d7e3c1f8a44"},
                {"url": SOURCE_ENDPOINT_EXTENSION, "valueString": "https://fhir.nhs.uk/Id/ods-organization-code|A81001"}
            ])
        );
        assert!(!sr.to_string().contains("urn:uuid:"), "{sr}");
    }

    #[test]
    fn expressions_about_the_intake_shape_point_into_the_message() {
        let bundle: Value = serde_json::from_str(FIXTURE).expect("fixture");
        let places = referral(&bundle).places;
        for (internal, sent) in [
            (
                "ServiceRequest.contained[0].identifier[0].value",
                "Bundle.entry[2].resource.identifier[0].value",
            ),
            (
                "ServiceRequest.subject.identifier.value",
                "Bundle.entry[2].resource.identifier[0].value",
            ),
            (
                "ServiceRequest.requester.identifier.value",
                "Bundle.entry[3].resource.identifier[0].value",
            ),
            ("ServiceRequest.code", "Bundle.entry[1].resource.code"),
            ("Somewhere.else", "Somewhere.else"),
        ] {
            assert_eq!(places.in_message(internal), sent, "{internal}");
        }
    }

    #[test]
    fn lower_case_id_systems_are_read_canonical_with_a_warning() {
        let text = FIXTURE.replace(
            "https://fhir.nhs.uk/Id/ods-organization-code\", \"value\": \"A81001\"",
            "https://fhir.nhs.uk/id/ods-organization-code\", \"value\": \"A81001\"",
        );
        assert_ne!(text, FIXTURE);
        let inbound = referral(&serde_json::from_str(&text).expect("json"));
        assert_eq!(
            inbound.service_request["requester"]["identifier"]["system"],
            ODS_SYSTEM
        );
        let warning = &inbound.warnings[0];
        assert_eq!(warning.severity, Severity::Warning);
        assert_eq!(
            warning.expression.as_deref(),
            Some("Bundle.entry[3].resource.identifier[0].system")
        );
    }

    #[test]
    fn a_revoked_update_cancels_and_other_messages_are_refused_where_they_are_wrong() {
        let mut bundle: Value = serde_json::from_str(FIXTURE).expect("fixture");
        bundle["entry"][0]["resource"]["reason"]["coding"][0]["code"] = json!("update");
        assert_eq!(
            parse(&bundle),
            Err(MessageError::UnsupportedReason("update".into()))
        );
        bundle["entry"][1]["resource"]["status"] = json!("revoked");
        let Ok(BarsMessage::Cancel(cancel)) = parse(&bundle) else {
            panic!("not a cancellation: {:?}", parse(&bundle));
        };
        assert_eq!(
            cancel.id.as_deref(),
            Some("c6a1e0f2-3b4d-4e5f-8a9b-0c1d2e3f4a5b")
        );
        assert_eq!(
            cancel.identifier,
            Some((
                "https://fhir.riverside-surgery.example/referral".into(),
                "RS-2026-000300".into()
            ))
        );
        bundle["entry"][0]["resource"]["eventCoding"]["code"] = json!("booking-request");
        let refused = parse(&bundle).expect_err("refused");
        assert!(refused.is_unsupported());
        assert_eq!(refused.at(), "Bundle.entry[0].resource.eventCoding");
        bundle["type"] = json!("transaction");
        assert_eq!(parse(&bundle), Err(MessageError::NotAMessage));
    }

    #[test]
    fn a_referral_without_a_bundle_id_is_refused_naming_it() {
        let mut bundle: Value = serde_json::from_str(FIXTURE).expect("fixture");
        bundle.as_object_mut().map(|b| b.remove("id"));
        let refused = parse(&bundle).expect_err("refused");
        assert_eq!(refused, MessageError::NoBundleId);
        assert_eq!(refused.at(), "Bundle.id");
        assert_eq!(refused.issue().code, IssueType::Required);
    }

    #[test]
    fn a_performers_response_is_read_from_its_task_entry() {
        let mut bundle: Value = serde_json::from_str(FIXTURE).expect("fixture");
        let header = &mut bundle["entry"][0]["resource"];
        header["eventCoding"]["code"] = json!("servicerequest-response");
        header["definition"] = json!(RESPONSE_DEFINITION);
        let refused = parse(&bundle).expect_err("no response.identifier");
        assert_eq!(refused.at(), "Bundle.entry[0].resource.response.identifier");
        bundle["entry"][0]["resource"]["response"] =
            json!({"identifier": "0b9c8d7e-6f5a-4b3c-9d2e-1f0a9b8c7d6e", "code": "ok"});
        assert_eq!(parse(&bundle), Err(MessageError::NoTask));
        let patient = bundle["entry"][2]["fullUrl"].clone();
        bundle["entry"]
            .as_array_mut()
            .expect("entries")
            .push(json!({
                "fullUrl": "urn:uuid:4d3c2b1a-0f9e-4d8c-b7a6-95f4e3d2c1b0",
                "resource": {"resourceType": "Task", "id": "4d3c2b1a-0f9e-4d8c-b7a6-95f4e3d2c1b0",
                    "status": "completed", "intent": "order", "for": {"reference": patient},
                    "businessStatus": {"text": "finished"}, "note": [{"text": "not taken"}],
                    "output": [{"type": {"text": "who"}, "valueReference": {"reference": patient}}]}
            }));
        let Ok(BarsMessage::Progress(progress)) = parse(&bundle) else {
            panic!("not a response: {:?}", parse(&bundle));
        };
        assert_eq!(progress.responds_to, "0b9c8d7e-6f5a-4b3c-9d2e-1f0a9b8c7d6e");
        assert_eq!(progress.task_id, "4d3c2b1a-0f9e-4d8c-b7a6-95f4e3d2c1b0");
        assert_eq!(progress.status, "completed");
        assert_eq!(
            progress.changes.keys().collect::<Vec<_>>(),
            ["businessStatus", "output"]
        );
        // The Patient entry's reference becomes a logical one by NHS number, never a urn:uuid:.
        assert_eq!(
            progress.changes["output"][0]["valueReference"]["identifier"]["value"],
            "9476719931"
        );
        assert_eq!(
            progress.places.in_message("Task.status"),
            "Bundle.entry[5].resource.status"
        );
        bundle["entry"][0]["resource"]["definition"] = json!(REFERRAL_DEFINITION);
        assert!(
            parse(&bundle)
                .expect_err("wrong definition")
                .is_unsupported()
        );
    }

    #[test]
    fn a_validation_category_is_not_a_referral() {
        let mut bundle: Value = serde_json::from_str(FIXTURE).expect("fixture");
        bundle["entry"][1]["resource"]["category"][0]["coding"][0]["code"] = json!("validation");
        let refused = parse(&bundle).expect_err("refused");
        assert!(refused.is_unsupported());
        assert_eq!(
            refused.at(),
            "Bundle.entry[1].resource.category[0].coding[0].code"
        );
    }
}
