//! Search parameters: one table per resource type drives what is indexed on write,
//! what a query may ask for, and what the CapabilityStatement advertises. Neutral code: the
//! workflow, audit, tenancy and the store use it, the HTTP edge reads its table.

use serde_json::Value;
use signpost_profiles::ODS_SYSTEM;

use crate::store::IndexEntry;

/// How a parameter's values are found and compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A code, optionally with a system (`system|code`).
    Token,
    /// A reference to another resource, stored as `Type/id`; organisations by ODS code.
    Reference(&'static str),
    /// The `valueString` of the resource's extensions with this url, matched exactly.
    Extension(&'static str),
    /// Words of a text, matched whole and case-insensitively (a directory service's `name`).
    Words,
    /// A UK postcode district (`S1`); a full postcode asked for means its district.
    Postcode,
    /// A directory service's capacity status as it holds now (an expired one is `unknown`).
    Capacity,
    /// Within a distance of a point (`near=latitude|longitude|distance|unit`, as FHIR's
    /// `Location.near`), by the positions of the service's locations.
    Near,
}

impl Kind {
    /// Whether the value is computed by the directory rather than read at the element path.
    pub fn computed(self) -> bool {
        matches!(
            self,
            Kind::Words | Kind::Postcode | Kind::Capacity | Kind::Near
        )
    }
}

/// One search parameter of one resource type.
#[derive(Debug, Clone, Copy)]
pub struct SearchParam {
    /// Name in the query string (and in the index).
    pub name: &'static str,
    /// Token or reference.
    pub kind: Kind,
    /// The element(s) it reads, e.g. `Task.owner`.
    pub expression: &'static str,
    /// Link to the FHIR definition.
    pub definition: &'static str,
}

const TASK_PARAMS: &[SearchParam] = &[
    SearchParam {
        name: "owner",
        kind: Kind::Reference("Organization"),
        expression: "Task.owner",
        definition: "http://hl7.org/fhir/SearchParameter/Task-owner",
    },
    SearchParam {
        name: "requester",
        kind: Kind::Reference("Organization"),
        expression: "Task.requester",
        definition: "http://hl7.org/fhir/SearchParameter/Task-requester",
    },
    SearchParam {
        name: "status",
        kind: Kind::Token,
        expression: "Task.status",
        definition: "http://hl7.org/fhir/SearchParameter/Task-status",
    },
    SearchParam {
        name: "focus",
        kind: Kind::Reference("ServiceRequest"),
        expression: "Task.focus",
        definition: "http://hl7.org/fhir/SearchParameter/Task-focus",
    },
    SearchParam {
        name: "part-of",
        kind: Kind::Reference("Task"),
        expression: "Task.partOf",
        definition: "http://hl7.org/fhir/SearchParameter/Task-part-of",
    },
];

const SERVICE_REQUEST_PARAMS: &[SearchParam] = &[
    SearchParam {
        name: "identifier",
        kind: Kind::Token,
        expression: "ServiceRequest.identifier",
        definition: "http://hl7.org/fhir/SearchParameter/clinical-identifier",
    },
    SearchParam {
        name: "subject:identifier",
        kind: Kind::Token,
        expression: "ServiceRequest.subject.identifier",
        definition: "http://hl7.org/fhir/SearchParameter/ServiceRequest-subject",
    },
    SearchParam {
        name: "requester",
        kind: Kind::Reference("Organization"),
        expression: "ServiceRequest.requester",
        definition: "http://hl7.org/fhir/SearchParameter/ServiceRequest-requester",
    },
    SearchParam {
        name: "performer",
        kind: Kind::Reference("Organization"),
        expression: "ServiceRequest.performer",
        definition: "http://hl7.org/fhir/SearchParameter/ServiceRequest-performer",
    },
    SearchParam {
        name: "status",
        kind: Kind::Token,
        expression: "ServiceRequest.status",
        definition: "http://hl7.org/fhir/SearchParameter/ServiceRequest-status",
    },
    SearchParam {
        name: "based-on",
        kind: Kind::Reference("ServiceRequest"),
        expression: "ServiceRequest.basedOn",
        definition: "http://hl7.org/fhir/SearchParameter/ServiceRequest-based-on",
    },
    SearchParam {
        name: "bars-request-message",
        kind: Kind::Extension(signpost_adapters::bars::inbound::REQUEST_MESSAGE_EXTENSION),
        expression: "ServiceRequest.extension",
        definition: "https://signpost.example/fhir/SearchParameter/ServiceRequest-bars-request-message",
    },
];

const AUDIT_EVENT_PARAMS: &[SearchParam] = &[
    SearchParam {
        name: "entity",
        kind: Kind::Reference("Resource"),
        expression: "AuditEvent.entity.what",
        definition: "http://hl7.org/fhir/SearchParameter/AuditEvent-entity",
    },
    SearchParam {
        name: "agent-identifier",
        kind: Kind::Token,
        expression: "AuditEvent.agent.who.identifier",
        definition: "http://hl7.org/fhir/SearchParameter/AuditEvent-agent",
    },
    SearchParam {
        name: "action",
        kind: Kind::Token,
        expression: "AuditEvent.action",
        definition: "http://hl7.org/fhir/SearchParameter/AuditEvent-action",
    },
    SearchParam {
        name: "outcome",
        kind: Kind::Token,
        expression: "AuditEvent.outcome",
        definition: "http://hl7.org/fhir/SearchParameter/AuditEvent-outcome",
    },
    SearchParam {
        name: "policy",
        kind: Kind::Token,
        expression: "AuditEvent.agent.policy",
        definition: "http://hl7.org/fhir/SearchParameter/AuditEvent-policy",
    },
    SearchParam {
        name: "subtype",
        kind: Kind::Token,
        expression: "AuditEvent.subtype",
        definition: "http://hl7.org/fhir/SearchParameter/AuditEvent-subtype",
    },
];

const HEALTHCARE_SERVICE_PARAMS: &[SearchParam] = &[
    SearchParam {
        name: "identifier",
        kind: Kind::Token,
        expression: "HealthcareService.identifier",
        definition: "http://hl7.org/fhir/SearchParameter/HealthcareService-identifier",
    },
    SearchParam {
        name: "name",
        kind: Kind::Words,
        expression: "HealthcareService.name",
        definition: "http://hl7.org/fhir/SearchParameter/HealthcareService-name",
    },
    SearchParam {
        name: "service-category",
        kind: Kind::Token,
        expression: "HealthcareService.category.coding",
        definition: "http://hl7.org/fhir/SearchParameter/HealthcareService-service-category",
    },
    SearchParam {
        name: "service-type",
        kind: Kind::Token,
        expression: "HealthcareService.type.coding",
        definition: "http://hl7.org/fhir/SearchParameter/HealthcareService-service-type",
    },
    SearchParam {
        name: "organization",
        kind: Kind::Reference("Organization"),
        expression: "HealthcareService.providedBy",
        definition: "http://hl7.org/fhir/SearchParameter/HealthcareService-organization",
    },
    SearchParam {
        name: "active",
        kind: Kind::Token,
        expression: "HealthcareService.active",
        definition: "http://hl7.org/fhir/SearchParameter/HealthcareService-active",
    },
    SearchParam {
        name: "postcode",
        kind: Kind::Postcode,
        expression: "HealthcareService.location.resolve().address.postalCode | HealthcareService.coverageArea.resolve().address.postalCode",
        definition: "https://signpost.example/fhir/SearchParameter/HealthcareService-postcode",
    },
    SearchParam {
        name: "near",
        kind: Kind::Near,
        expression: "HealthcareService.location.resolve().position",
        definition: "https://signpost.example/fhir/SearchParameter/HealthcareService-near",
    },
    SearchParam {
        name: "capacity",
        kind: Kind::Capacity,
        expression: "HealthcareService.extension('http://hl7.org/fhir/us/sdoh-clinicalcare/StructureDefinition/SDOHCC-ExtensionHealthcareServiceCapacityStatus')",
        definition: "https://signpost.example/fhir/SearchParameter/HealthcareService-capacity",
    },
];

/// Resource types Signpost serves.
pub const RESOURCE_TYPES: &[&str] = &["ServiceRequest", "Task", "HealthcareService", "AuditEvent"];

/// The search parameters of a resource type, or `None` if Signpost does not serve it.
pub fn params_for(resource_type: &str) -> Option<&'static [SearchParam]> {
    match resource_type {
        "Task" => Some(TASK_PARAMS),
        "ServiceRequest" => Some(SERVICE_REQUEST_PARAMS),
        "AuditEvent" => Some(AUDIT_EVENT_PARAMS),
        "HealthcareService" => Some(HEALTHCARE_SERVICE_PARAMS),
        _ => None,
    }
}

/// The parameters naming the organisations party to a resource of this type (its requester,
/// performer or owner): tenancy reads them, so no index row of their own is written for it.
pub fn party_params(resource_type: &str) -> Vec<&'static str> {
    params_for(resource_type)
        .unwrap_or_default()
        .iter()
        .filter(|p| p.kind == Kind::Reference("Organization"))
        .map(|p| p.name)
        .collect()
}

/// A reference as indexed: `Type/id`, from a literal reference (relative or absolute) or, for organisations, an ODS identifier.
fn reference_value(reference: &Value, target: &str) -> Option<String> {
    if let Some(r) = reference.get("reference").and_then(Value::as_str) {
        let r = r.split("/_history/").next().unwrap_or(r);
        let mut parts = r.rsplit('/');
        let id = parts.next()?;
        let rtype = parts.next()?;
        return Some(format!("{rtype}/{id}"));
    }
    if target == "Organization" {
        let identifier = reference.get("identifier")?;
        if identifier.get("system").and_then(Value::as_str) == Some(ODS_SYSTEM) {
            return identifier
                .get("value")
                .and_then(Value::as_str)
                .map(|v| format!("Organization/{v}"));
        }
    }
    None
}

/// The JSON values at a simple path like `Task.owner` or `ServiceRequest.subject.identifier` (arrays flattened).
fn values_at<'a>(resource: &'a Value, expression: &str) -> Vec<&'a Value> {
    let mut current = vec![resource];
    for step in expression.split('.').skip(1) {
        current = current
            .into_iter()
            .filter_map(|v| v.get(step))
            .flat_map(|v| match v {
                Value::Array(items) => items.iter().collect::<Vec<_>>(),
                other => vec![other],
            })
            .collect();
    }
    current
}

/// Everything a resource is found by: its search values.
pub fn index_entries(resource: &Value) -> Vec<IndexEntry> {
    let rtype = resource
        .get("resourceType")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let mut entries = Vec::new();
    if rtype == "HealthcareService" {
        entries.extend(crate::directory::service::index_entries(resource));
    }
    for param in params_for(rtype).unwrap_or_default() {
        if param.kind.computed() {
            continue;
        }
        for value in values_at(resource, param.expression) {
            match param.kind {
                Kind::Token => {
                    if let Some(flag) = value.as_bool() {
                        entries.push(IndexEntry {
                            param: param.name,
                            system: String::new(),
                            value: flag.to_string(),
                        });
                    } else if let Some(code) = value.as_str() {
                        entries.push(IndexEntry {
                            param: param.name,
                            system: String::new(),
                            value: code.to_owned(),
                        });
                    } else if let Some(code) = value
                        .get("value")
                        .or_else(|| value.get("code"))
                        .and_then(Value::as_str)
                    {
                        let system = value
                            .get("system")
                            .and_then(Value::as_str)
                            .unwrap_or_default();
                        entries.push(IndexEntry {
                            param: param.name,
                            system: system.to_owned(),
                            value: code.to_owned(),
                        });
                    }
                }
                Kind::Extension(url) => {
                    if value.get("url").and_then(Value::as_str) == Some(url)
                        && let Some(v) = value.get("valueString").and_then(Value::as_str)
                    {
                        entries.push(IndexEntry {
                            param: param.name,
                            system: String::new(),
                            value: v.to_owned(),
                        });
                    }
                }
                Kind::Words | Kind::Postcode | Kind::Capacity | Kind::Near => {}
                Kind::Reference(target) => {
                    if let Some(r) = reference_value(value, target) {
                        entries.push(IndexEntry {
                            param: param.name,
                            system: String::new(),
                            value: r,
                        });
                    }
                }
            }
        }
    }
    entries.sort_by(|a, b| (a.param, &a.value, &a.system).cmp(&(b.param, &b.value, &b.system)));
    entries.dedup();
    entries
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn indexes_the_bars_request_message_a_referral_came_in() {
        let sr = json!({
            "resourceType": "ServiceRequest",
            "extension": [
                {"url": signpost_adapters::bars::inbound::REQUEST_MESSAGE_EXTENSION, "valueString": "3f2b0c9e"},
                {"url": "https://example.org/other", "valueString": "not this"}
            ]
        });
        let entries: Vec<(&str, String)> = index_entries(&sr)
            .into_iter()
            .map(|e| (e.param, e.value))
            .collect();
        assert_eq!(
            entries,
            vec![("bars-request-message", "3f2b0c9e".to_owned())]
        );
    }

    #[test]
    fn indexes_task_references_and_tokens() {
        let task = json!({
            "resourceType": "Task", "status": "requested",
            "focus": {"reference": "ServiceRequest/sr1"},
            "partOf": [{"reference": "http://example.org/fhir/Task/t0/_history/2"}],
            "requester": {"identifier": {"system": ODS_SYSTEM, "value": "A81001"}},
            "owner": {"identifier": {"system": ODS_SYSTEM, "value": "LWS001"}}
        });
        let entries: Vec<(&str, String)> = index_entries(&task)
            .into_iter()
            .map(|e| (e.param, e.value))
            .collect();
        for want in [
            ("status", "requested"),
            ("focus", "ServiceRequest/sr1"),
            ("part-of", "Task/t0"),
            ("owner", "Organization/LWS001"),
            ("requester", "Organization/A81001"),
        ] {
            assert!(
                entries.contains(&(want.0, want.1.to_owned())),
                "missing {want:?} in {entries:?}"
            );
        }
    }

    #[test]
    fn the_parties_to_a_resource_are_its_organisation_references() {
        assert_eq!(party_params("Task"), ["owner", "requester"]);
        assert_eq!(party_params("ServiceRequest"), ["requester", "performer"]);
        assert!(party_params("AuditEvent").is_empty());
    }

    #[test]
    fn indexes_identifiers_with_their_system() {
        let sr = json!({"resourceType": "ServiceRequest", "identifier": [{"system": "urn:x", "value": "R1"}],
            "subject": {"identifier": {"system": "https://fhir.nhs.uk/Id/nhs-number", "value": "9434765919"}}});
        let entries = index_entries(&sr);
        assert!(
            entries
                .iter()
                .any(|e| e.param == "identifier" && e.system == "urn:x" && e.value == "R1")
        );
        assert!(
            entries
                .iter()
                .any(|e| e.param == "subject:identifier" && e.value == "9434765919")
        );
    }
}
