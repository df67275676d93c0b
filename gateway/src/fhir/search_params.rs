//! Search parameters: one table per resource type drives what is indexed on write,
//! what a query may ask for, and what the CapabilityStatement advertises.

use percent_encoding::percent_decode_str;
use serde_json::Value;
use signpost_profiles::{IssueType, ODS_SYSTEM};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::ApiError;
use crate::store::{Comparator, Criterion, IndexEntry, Instant, SearchQuery, SortOrder};

/// How a parameter's values are found and compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A code, optionally with a system (`system|code`).
    Token,
    /// A reference to another resource, stored as `Type/id`; organisations by ODS code.
    Reference(&'static str),
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
    SearchParam {
        name: "based-on",
        kind: Kind::Reference("ServiceRequest"),
        expression: "Task.basedOn",
        definition: "http://hl7.org/fhir/SearchParameter/Task-based-on",
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
        name: "subtype",
        kind: Kind::Token,
        expression: "AuditEvent.subtype",
        definition: "http://hl7.org/fhir/SearchParameter/AuditEvent-subtype",
    },
];

/// Resource types Signpost serves.
pub const RESOURCE_TYPES: &[&str] = &["ServiceRequest", "Task", "AuditEvent"];

/// The search parameters of a resource type, or `None` if Signpost does not serve it.
pub fn params_for(resource_type: &str) -> Option<&'static [SearchParam]> {
    match resource_type {
        "Task" => Some(TASK_PARAMS),
        "ServiceRequest" => Some(SERVICE_REQUEST_PARAMS),
        "AuditEvent" => Some(AUDIT_EVENT_PARAMS),
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

/// Page size when the client gives no `_count`.
pub const DEFAULT_COUNT: usize = 20;
/// Largest page served.
pub const MAX_COUNT: usize = 100;

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
    for param in params_for(rtype).unwrap_or_default() {
        for value in values_at(resource, param.expression) {
            match param.kind {
                Kind::Token => {
                    if let Some(code) = value.as_str() {
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

/// A parsed query string: the store query plus the pairs to echo in Bundle links.
#[derive(Debug)]
pub struct ParsedSearch {
    /// What the store runs.
    pub query: SearchQuery,
    /// The parameters used, decoded, in order (without `_offset`).
    pub used: Vec<(String, String)>,
}

fn invalid_param(name: &str, why: impl std::fmt::Display) -> ApiError {
    ApiError::bad_request(
        IssueType::Invalid,
        format!("search parameter {name}: {why}"),
    )
}

/// Parses `a=b&c=d` for a resource type. Unknown parameters are refused rather than ignored:
/// silently dropping a misspelt filter would return more than the caller asked for.
pub fn parse_search(resource_type: &str, raw_query: &str) -> Result<ParsedSearch, ApiError> {
    let params = params_for(resource_type).ok_or_else(|| {
        ApiError::not_found(format!("Signpost does not serve {resource_type} resources"))
    })?;
    let mut query = SearchQuery {
        resource_type: resource_type.to_owned(),
        criteria: Vec::new(),
        count: DEFAULT_COUNT,
        offset: 0,
        sort: SortOrder::default(),
    };
    let mut used = Vec::new();
    for pair in raw_query.split('&').filter(|p| !p.is_empty()) {
        let (raw_name, raw_value) = pair.split_once('=').unwrap_or((pair, ""));
        let decode = |s: &str| {
            percent_decode_str(&s.replace('+', " "))
                .decode_utf8_lossy()
                .into_owned()
        };
        let (name, value) = (decode(raw_name), decode(raw_value));
        match name.as_str() {
            "_count" => {
                let n: usize = value
                    .parse()
                    .map_err(|_| invalid_param("_count", "must be a whole number"))?;
                query.count = n.min(MAX_COUNT);
            }
            "_offset" => {
                query.offset = value
                    .parse()
                    .map_err(|_| invalid_param("_offset", "must be a whole number"))?;
                continue;
            }
            "_sort" => {
                query.sort = match value.as_str() {
                    "_lastUpdated" => SortOrder::LastUpdatedAscending,
                    "-_lastUpdated" => SortOrder::LastUpdatedDescending,
                    _ => {
                        return Err(invalid_param(
                            "_sort",
                            "only _lastUpdated and -_lastUpdated are supported",
                        ));
                    }
                };
            }
            "_format" => {
                if !value.contains("json") {
                    return Err(invalid_param("_format", "Signpost speaks JSON only"));
                }
            }
            "_lastUpdated" => query.criteria.extend(last_updated(&value)?),
            _ => query
                .criteria
                .push(criterion(params, resource_type, &name, &value)?),
        }
        used.push((name, value));
    }
    Ok(ParsedSearch { query, used })
}

fn criterion(
    params: &[SearchParam],
    resource_type: &str,
    name: &str,
    value: &str,
) -> Result<Criterion, ApiError> {
    // A declared name wins (`subject:identifier`); otherwise the part after ':' is a modifier.
    let (base, modifier) = match name.split_once(':') {
        Some((b, m)) if !params.iter().any(|p| p.name == name) => (b, Some(m)),
        _ => (name, None),
    };
    let param = params.iter().find(|p| p.name == base).ok_or_else(|| {
        let known: Vec<&str> = params.iter().map(|p| p.name).collect();
        invalid_param(
            name,
            format!(
                "not supported for {resource_type}; supported: {}, _lastUpdated, _count, _sort",
                known.join(", ")
            ),
        )
    })?;
    if value.is_empty() {
        return Err(invalid_param(name, "needs a value"));
    }
    let any_of = value
        .split(',')
        .map(|alt| match (param.kind, modifier) {
            (Kind::Token, None) => Ok(match alt.split_once('|') {
                Some((system, code)) => (Some(system.to_owned()), code.to_owned()),
                None => (None, alt.to_owned()),
            }),
            // Organisations are keyed by ODS code, so `:identifier` with the ODS system is the same search.
            (Kind::Reference("Organization"), Some("identifier")) => match alt.split_once('|') {
                Some((ODS_SYSTEM, code)) | Some(("", code)) => {
                    Ok((None, format!("Organization/{code}")))
                }
                _ => Err(invalid_param(
                    name,
                    format!("organisations are identified by {ODS_SYSTEM}|CODE"),
                )),
            },
            (Kind::Reference(target), None) => {
                let r = alt.split("/_history/").next().unwrap_or(alt);
                let mut parts = r.rsplit('/');
                let id = parts.next().unwrap_or_default();
                let rtype = parts.next().unwrap_or(target);
                Ok((None, format!("{rtype}/{id}")))
            }
            (_, Some(m)) => Err(invalid_param(
                name,
                format!("modifier :{m} is not supported"),
            )),
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Criterion::Index {
        param: param.name,
        any_of,
    })
}

/// `_lastUpdated=gt2026-11-20T10:00:00Z`; a bare date covers that whole day.
fn last_updated(value: &str) -> Result<Vec<Criterion>, ApiError> {
    let (prefix, rest) =
        if value.len() > 2 && value.as_bytes()[..2].iter().all(u8::is_ascii_alphabetic) {
            value.split_at(2)
        } else {
            ("eq", value)
        };
    let bad = || {
        invalid_param(
            "_lastUpdated",
            "use [prefix]YYYY-MM-DD or [prefix]YYYY-MM-DDThh:mm:ss(.sss)Z with prefix eq, gt, ge, lt or le",
        )
    };
    let (start, end) = if rest.len() == 10 {
        let date = time::Date::parse(
            rest,
            time::macros::format_description!("[year]-[month]-[day]"),
        )
        .map_err(|_| bad())?;
        let start = Instant::from_datetime(date.midnight().assume_utc());
        (start, start.plus_millis(24 * 3600 * 1000))
    } else {
        let t = Instant::from_datetime(OffsetDateTime::parse(rest, &Rfc3339).map_err(|_| bad())?);
        (t, Instant(t.0 + 1))
    };
    Ok(match prefix {
        "eq" => vec![
            Criterion::LastUpdated(Comparator::GreaterOrEqual, start),
            Criterion::LastUpdated(Comparator::Less, end),
        ],
        "gt" => vec![Criterion::LastUpdated(Comparator::GreaterOrEqual, end)],
        "ge" => vec![Criterion::LastUpdated(Comparator::GreaterOrEqual, start)],
        "lt" => vec![Criterion::LastUpdated(Comparator::Less, start)],
        "le" => vec![Criterion::LastUpdated(Comparator::Less, end)],
        _ => return Err(bad()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

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

    #[test]
    fn parses_owner_status_alternatives_and_paging() {
        let parsed = parse_search(
            "Task",
            "owner=Organization/LWS001&status=requested,accepted&_count=5&_offset=10",
        )
        .expect("valid");
        assert_eq!(parsed.query.count, 5);
        assert_eq!(parsed.query.offset, 10);
        assert_eq!(
            parsed.query.criteria[1],
            Criterion::Index {
                param: "status",
                any_of: vec![(None, "requested".into()), (None, "accepted".into())]
            }
        );
        assert_eq!(parsed.used.len(), 3, "_offset is not echoed");
    }

    #[test]
    fn bare_ids_full_urls_and_ods_identifiers_mean_the_same_organisation() {
        for q in [
            "owner=LWS001",
            "owner=Organization/LWS001",
            "owner=http://127.0.0.1:8080/fhir/Organization/LWS001",
            "owner:identifier=https://fhir.nhs.uk/Id/ods-organization-code|LWS001",
        ] {
            let parsed = parse_search("Task", q).expect(q);
            assert_eq!(
                parsed.query.criteria,
                vec![Criterion::Index {
                    param: "owner",
                    any_of: vec![(None, "Organization/LWS001".into())]
                }],
                "{q}"
            );
        }
    }

    #[test]
    fn subject_identifier_is_a_token_with_system() {
        let parsed = parse_search(
            "ServiceRequest",
            "subject:identifier=https://fhir.nhs.uk/Id/nhs-number|9434765919",
        )
        .expect("valid");
        assert_eq!(
            parsed.query.criteria,
            vec![Criterion::Index {
                param: "subject:identifier",
                any_of: vec![(
                    Some("https://fhir.nhs.uk/Id/nhs-number".into()),
                    "9434765919".into()
                )]
            }]
        );
    }

    #[test]
    fn unknown_parameters_and_bad_values_are_refused() {
        for q in [
            "colour=red",
            "_count=many",
            "_sort=status",
            "_lastUpdated=yesterday",
            "status=",
            "owner:missing=true",
        ] {
            let err = parse_search("Task", q).expect_err(q);
            assert_eq!(err.status, axum::http::StatusCode::BAD_REQUEST, "{q}");
        }
    }

    #[test]
    fn last_updated_prefixes_bound_the_range() {
        let parsed = parse_search(
            "Task",
            "_lastUpdated=gt2026-11-20T10:00:00Z&_lastUpdated=lt2026-11-21",
        )
        .expect("valid");
        assert_eq!(parsed.query.criteria.len(), 2);
        assert!(matches!(
            parsed.query.criteria[0],
            Criterion::LastUpdated(Comparator::GreaterOrEqual, _)
        ));
        assert!(matches!(
            parsed.query.criteria[1],
            Criterion::LastUpdated(Comparator::Less, _)
        ));
    }
}
