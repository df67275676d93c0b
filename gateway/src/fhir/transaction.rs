//! `POST /fhir`: a transaction Bundle carrying one referral with its Patient (and Organizations)
//! by `urn:uuid:` or conditional reference. Signpost keeps the Patient with the referral (contained,
//! as a referral posted alone carries it) and knows organisations from its configuration, so the
//! whole Bundle becomes one referral, committed as one change set or not at all, and is answered
//! with a `transaction-response` holding one `response` per entry, in the order sent.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde_json::{Map, Value, json};
use signpost_profiles::{
    Issue, IssueType, ODS_SYSTEM, Severity, operation_outcome, parse_resource,
};

use super::body::FhirBody;
use super::intake::submit;
use super::{ApiError, fhir_response};
use crate::auth::Principal;
use crate::state::AppState;
use crate::workflow::submit_referral::Submitted;

/// The id the Patient is contained under.
const PATIENT_ID: &str = "patient";

/// What the Bundle asks for, read and resolved: one referral.
#[derive(Debug)]
pub struct Transaction {
    /// The ServiceRequest with its Patient contained and organisations named by ODS code.
    pub service_request: Value,
    /// The ServiceRequest entry's `request.ifNoneExist`.
    pub if_none_exist: Option<String>,
    /// What became of each entry, in the order sent.
    entries: Vec<Role>,
    /// Internal element paths and where the sender put them, longest first.
    sent_as: Vec<(String, String)>,
}

/// What an entry is to the referral.
#[derive(Debug, Clone)]
enum Role {
    ServiceRequest,
    Patient,
    Organization(String),
}

fn refused(n: usize, at: &str, code: IssueType, why: impl Into<String>) -> ApiError {
    let status = if code == IssueType::NotSupported {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::BAD_REQUEST
    };
    ApiError::new(
        status,
        Issue::error(code, why).at(format!("Bundle.entry[{n}]{at}")),
    )
}

/// Reads the Bundle: only a transaction of Patient, Organization and one ServiceRequest, each a
/// POST; every reference the ServiceRequest makes into the Bundle resolved.
pub fn read(bundle: &Value) -> Result<Transaction, ApiError> {
    match bundle["type"].as_str() {
        Some("transaction") => {}
        Some("batch") => {
            return Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                Issue::error(
                    IssueType::NotSupported,
                    "batch Bundles are not supported: send the referral as a transaction (all or nothing)",
                )
                .at("Bundle.type"),
            ));
        }
        other => {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                Issue::error(
                    IssueType::Invalid,
                    format!(
                        "POST /fhir takes a transaction Bundle; this one's type is {}",
                        other.unwrap_or("missing")
                    ),
                )
                .at("Bundle.type"),
            ));
        }
    }
    let entries = bundle["entry"].as_array().cloned().unwrap_or_default();
    let mut by_full_url: Map<String, Value> = Map::new();
    let mut referral = None;
    for (n, entry) in entries.iter().enumerate() {
        let resource = &entry["resource"];
        let rtype = resource["resourceType"].as_str().ok_or_else(|| {
            refused(
                n,
                ".resource",
                IssueType::Required,
                "each entry needs a resource",
            )
        })?;
        if !matches!(rtype, "Patient" | "Organization" | "ServiceRequest") {
            return Err(refused(
                n,
                ".resource.resourceType",
                IssueType::NotSupported,
                format!(
                    "a transaction may carry a referral's ServiceRequest, Patient and Organizations, not a {rtype}"
                ),
            ));
        }
        if entry["request"]["method"] != "POST" {
            return Err(refused(
                n,
                ".request.method",
                IssueType::NotSupported,
                "only creates (POST) are supported in a transaction",
            ));
        }
        if entry["request"]["url"].as_str() != Some(rtype) {
            return Err(refused(
                n,
                ".request.url",
                IssueType::Invalid,
                format!("a POST of a {rtype} goes to the url {rtype}"),
            ));
        }
        if let Some(url) = entry["fullUrl"].as_str()
            && by_full_url.insert(url.to_owned(), json!(n)).is_some()
        {
            return Err(refused(
                n,
                ".fullUrl",
                IssueType::Invalid,
                format!("{url} is the fullUrl of an earlier entry too"),
            ));
        }
        if rtype == "ServiceRequest" {
            if referral.is_some() {
                return Err(refused(
                    n,
                    ".resource",
                    IssueType::NotSupported,
                    "a transaction carries one referral; send each ServiceRequest in its own transaction",
                ));
            }
            referral = Some(n);
        }
    }
    let s = referral.ok_or_else(|| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            Issue::error(
                IssueType::Required,
                "the transaction carries no ServiceRequest: a referral is what it is for",
            )
            .at("Bundle.entry"),
        )
    })?;
    let entry_of = |reference: &str| {
        by_full_url
            .get(reference)
            .and_then(Value::as_u64)
            .and_then(|n| usize::try_from(n).ok())
    };

    let mut sr = entries[s]["resource"].clone();
    let mut roles: Vec<Option<Role>> = vec![None; entries.len()];
    roles[s] = Some(Role::ServiceRequest);
    let at = |path: &str| format!(".resource.{path}");
    let mut sent_as = vec![(
        "ServiceRequest".to_owned(),
        format!("Bundle.entry[{s}].resource"),
    )];

    // subject: a Patient entry (contained), or a conditional reference by identifier.
    if let Some(reference) = sr["subject"]["reference"].as_str().map(str::to_owned) {
        let patient = if let Some(query) = reference.strip_prefix("Patient?") {
            let (system, value) = identifier_criterion(query)
                .ok_or_else(|| refused(s, &at("subject.reference"), IssueType::NotSupported, "a conditional reference to a Patient is resolved by identifier=system|value only"))?;
            // Resolved within the Bundle when an entry carries it; otherwise by the identifier.
            let found = entries.iter().position(|e| {
                e["resource"]["resourceType"] == "Patient"
                    && has_identifier(&e["resource"], &system, &value)
            });
            if found.is_none() {
                sr["subject"] = json!({"identifier": {"system": system, "value": value}});
            }
            found
        } else if reference.starts_with("urn:uuid:") || reference.starts_with("urn:oid:") {
            let p = entry_of(&reference).ok_or_else(|| {
                refused(
                    s,
                    &at("subject.reference"),
                    IssueType::NotFound,
                    format!("{reference} is the fullUrl of no entry in this transaction"),
                )
            })?;
            if entries[p]["resource"]["resourceType"] != "Patient" {
                return Err(refused(
                    s,
                    &at("subject.reference"),
                    IssueType::Invalid,
                    format!(
                        "{reference} is a {}, not a Patient",
                        entries[p]["resource"]["resourceType"]
                            .as_str()
                            .unwrap_or("resource")
                    ),
                ));
            }
            Some(p)
        } else {
            None
        };
        if let Some(p) = patient {
            let mut contained = entries[p]["resource"].clone();
            contained["id"] = json!(PATIENT_ID);
            let list = sr
                .as_object_mut()
                .map(|o| o.entry("contained").or_insert_with(|| json!([])));
            let Some(Value::Array(list)) = list else {
                return Err(refused(
                    s,
                    &at("contained"),
                    IssueType::Structure,
                    "contained must be a list",
                ));
            };
            if list.iter().any(|r| r["id"] == PATIENT_ID) {
                return Err(refused(
                    s,
                    &at("contained"),
                    IssueType::Invalid,
                    format!("the ServiceRequest already contains a resource with id {PATIENT_ID}"),
                ));
            }
            let index = list.len();
            list.push(contained);
            sr["subject"]["reference"] = json!(format!("#{PATIENT_ID}"));
            sent_as.push((
                format!("ServiceRequest.contained[{index}]"),
                format!("Bundle.entry[{p}].resource"),
            ));
            roles[p] = Some(Role::Patient);
        }
    }

    // requester and performers: Organization entries, or conditional references, by ODS code.
    let mut organisation = |path: String, value: &mut Value| -> Result<(), ApiError> {
        let Some(reference) = value["reference"].as_str().map(str::to_owned) else {
            return Ok(());
        };
        let (system, code) = if let Some(query) = reference.strip_prefix("Organization?") {
            let (system, code) = identifier_criterion(query).ok_or_else(|| refused(s, &at(&format!("{path}.reference")), IssueType::NotSupported, "a conditional reference to an Organization is resolved by identifier=system|value only"))?;
            (system, code)
        } else if let Some(o) = entry_of(&reference) {
            let org = &entries[o]["resource"];
            if org["resourceType"] != "Organization" {
                return Err(refused(
                    s,
                    &at(&format!("{path}.reference")),
                    IssueType::Invalid,
                    format!(
                        "{reference} is a {}, not an Organization",
                        org["resourceType"].as_str().unwrap_or("resource")
                    ),
                ));
            }
            let (i, identifier) = org["identifier"].as_array().into_iter().flatten().enumerate()
                .find(|(_, id)| id["system"].as_str().is_some_and(|s| s.eq_ignore_ascii_case(ODS_SYSTEM)))
                .ok_or_else(|| refused(o, ".resource.identifier", IssueType::Required, format!("an organisation is known by its ODS code: an identifier with system {ODS_SYSTEM}")))?;
            let code = identifier["value"]
                .as_str()
                .filter(|v| !v.is_empty())
                .ok_or_else(|| {
                    refused(
                        o,
                        &format!(".resource.identifier[{i}].value"),
                        IssueType::Required,
                        "the ODS code is missing",
                    )
                })?
                .to_owned();
            if let Some(name) = org["name"].as_str() {
                value["display"] = json!(name);
            }
            roles[o] = Some(Role::Organization(code.clone()));
            sent_as.push((
                format!("ServiceRequest.{path}.identifier"),
                format!("Bundle.entry[{o}].resource.identifier[{i}]"),
            ));
            // Matched in either spelling of the system, kept in the canonical one.
            (ODS_SYSTEM.to_owned(), code)
        } else if reference.starts_with("urn:") {
            return Err(refused(
                s,
                &at(&format!("{path}.reference")),
                IssueType::NotFound,
                format!("{reference} is the fullUrl of no entry in this transaction"),
            ));
        } else {
            return Ok(());
        };
        if let Some(object) = value.as_object_mut() {
            object.remove("reference");
            object.insert("type".into(), json!("Organization"));
            object.insert(
                "identifier".into(),
                json!({"system": system, "value": code}),
            );
        }
        Ok(())
    };
    if sr.get("requester").is_some() {
        let mut requester = sr["requester"].take();
        organisation("requester".into(), &mut requester)?;
        sr["requester"] = requester;
    }
    if let Some(performers) = sr.get_mut("performer").and_then(Value::as_array_mut) {
        let mut taken: Vec<Value> = std::mem::take(performers);
        for (i, performer) in taken.iter_mut().enumerate() {
            organisation(format!("performer[{i}]"), performer)?;
        }
        sr["performer"] = Value::Array(taken);
    }
    // Whatever else still points into the Bundle cannot be kept: Signpost stores the referral alone.
    if let Some(path) = bundle_reference(&sr, "ServiceRequest") {
        return Err(refused(
            s,
            &path.replacen("ServiceRequest", ".resource", 1),
            IssueType::NotSupported,
            "this reference into the transaction cannot be kept: only the subject (a Patient), the requester and performers (Organizations) are resolved",
        ));
    }
    // An entry the referral does not name would be silently dropped: refuse it instead.
    let entries: Vec<Role> = roles
        .into_iter()
        .enumerate()
        .map(|(n, role)| role.ok_or_else(|| refused(n, "", IssueType::NotSupported, "the referral does not name this entry; Signpost keeps a Patient or Organization only as part of the referral that names it")))
        .collect::<Result<_, _>>()?;
    sent_as.sort_by_key(|(internal, _)| std::cmp::Reverse(internal.len()));
    Ok(Transaction {
        if_none_exist: bundle["entry"][s]["request"]["ifNoneExist"]
            .as_str()
            .map(str::to_owned),
        service_request: sr,
        entries,
        sent_as,
    })
}

/// `identifier=system|value` (the one criterion a conditional reference is resolved by).
fn identifier_criterion(query: &str) -> Option<(String, String)> {
    let raw = query.strip_prefix("identifier=")?;
    if raw.contains('&') {
        return None;
    }
    let decoded = percent_encoding::percent_decode_str(raw)
        .decode_utf8()
        .ok()?;
    let (system, value) = decoded.split_once('|')?;
    (!system.is_empty() && !value.is_empty()).then(|| (system.to_owned(), value.to_owned()))
}

fn has_identifier(resource: &Value, system: &str, value: &str) -> bool {
    resource["identifier"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|i| i["system"] == system && i["value"] == value)
}

/// The path of the first reference to a Bundle-local address (`urn:uuid:`, `urn:oid:`) left in `value`.
fn bundle_reference(value: &Value, path: &str) -> Option<String> {
    match value {
        Value::Object(o) => {
            if o.get("reference")
                .and_then(Value::as_str)
                .is_some_and(|r| r.starts_with("urn:"))
            {
                return Some(format!("{path}.reference"));
            }
            o.iter()
                .find_map(|(k, v)| bundle_reference(v, &format!("{path}.{k}")))
        }
        Value::Array(a) => a
            .iter()
            .enumerate()
            .find_map(|(i, v)| bundle_reference(v, &format!("{path}[{i}]"))),
        _ => None,
    }
}

impl Transaction {
    /// An error about the referral, with each expression moved to where the sender put it.
    fn relocate(&self, mut error: ApiError) -> ApiError {
        for issue in &mut error.issues {
            if let Some(expression) = &issue.expression
                && let Some((internal, sent)) = self
                    .sent_as
                    .iter()
                    .find(|(internal, _)| expression.starts_with(internal.as_str()))
            {
                issue.expression = Some(format!("{sent}{}", &expression[internal.len()..]));
            }
        }
        error
    }
}

/// `POST /fhir`: the transaction, as one referral.
pub async fn transaction(
    State(state): State<AppState>,
    who: Principal,
    headers: HeaderMap,
    FhirBody(bytes): FhirBody,
) -> Result<Response, ApiError> {
    let bundle = parse_resource(&bytes, Some("Bundle"))?.json;
    let transaction = read(&bundle)?;
    let body = serde_json::to_vec(&transaction.service_request).map_err(ApiError::internal)?;
    let correlation_id = crate::telemetry::correlation_id(&headers)?;
    let submitted = submit(
        &state,
        &who,
        &body,
        transaction.if_none_exist.clone(),
        correlation_id,
        None,
    )
    .await
    .map_err(|e| transaction.relocate(e))?;
    Ok(answer(&state, &transaction, &submitted))
}

fn outcome(severity: Severity, text: String, warnings: &[Issue]) -> Value {
    let mut issues = vec![Issue::new(severity, IssueType::Informational, text)];
    issues.extend(warnings.iter().cloned());
    operation_outcome(&issues)
}

/// The `transaction-response`: one entry per entry sent, in order.
fn answer(state: &AppState, transaction: &Transaction, submitted: &Submitted) -> Response {
    let (stored, status, warnings) = match submitted {
        Submitted::Created {
            service_request,
            warnings,
        } => (service_request, "201 Created", warnings.as_slice()),
        Submitted::Existing(existing) => (existing, "200 OK", &[][..]),
    };
    let base = state.config.server.fhir_base();
    let location = format!("ServiceRequest/{}/_history/{}", stored.id, stored.version);
    let entries: Vec<Value> = transaction
        .entries
        .iter()
        .map(|role| match role {
            Role::ServiceRequest => {
                let mut response = json!({
                    "status": status,
                    "location": location,
                    "etag": format!("W/\"{}\"", stored.version),
                    "lastModified": stored.last_updated.to_fhir(),
                });
                if !warnings.is_empty() {
                    response["outcome"] = outcome(Severity::Information, format!("{status}: {location}"), warnings);
                }
                json!({"fullUrl": format!("{base}/ServiceRequest/{}", stored.id), "response": response})
            }
            Role::Patient => json!({"response": {
                "status": status,
                "location": location,
                "outcome": outcome(Severity::Information, format!("kept with the referral as its contained Patient #{PATIENT_ID} ({location}); Signpost does not serve Patient resources of their own"), &[]),
            }}),
            Role::Organization(ods) => json!({"response": {
                "status": "200 OK",
                "outcome": outcome(Severity::Information, format!("the organisation with ODS code {ods}; Signpost knows organisations from its configuration and stores none"), &[]),
            }}),
        })
        .collect();
    let bundle = json!({
        "resourceType": "Bundle",
        "type": "transaction-response",
        "entry": entries,
    });
    fhir_response(StatusCode::OK, bundle.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bundle() -> Value {
        json!({"resourceType": "Bundle", "type": "transaction", "entry": [
            {"fullUrl": "urn:uuid:6b1f0c2e-1d3a-4e5b-8f70-9a1b2c3d4e5f", "resource": {"resourceType": "Patient",
                "identifier": [{"system": "https://fhir.nhs.uk/Id/nhs-number", "value": "9434765919"}]},
             "request": {"method": "POST", "url": "Patient"}},
            {"fullUrl": "urn:uuid:7c2a1d3f-2e4b-4f6c-9a81-0b2c3d4e5f60", "resource": {"resourceType": "Organization",
                "identifier": [{"system": ODS_SYSTEM, "value": "A81001"}], "name": "Riverside Surgery"},
             "request": {"method": "POST", "url": "Organization"}},
            {"fullUrl": "urn:uuid:8d3b2e4a-3f5c-4a7d-8b92-1c3d4e5f6a71", "resource": {"resourceType": "ServiceRequest",
                "status": "active", "intent": "order",
                "subject": {"reference": "urn:uuid:6b1f0c2e-1d3a-4e5b-8f70-9a1b2c3d4e5f"},
                "requester": {"reference": "urn:uuid:7c2a1d3f-2e4b-4f6c-9a81-0b2c3d4e5f60"}},
             "request": {"method": "POST", "url": "ServiceRequest"}},
        ]})
    }

    #[test]
    fn the_patient_is_contained_and_the_organisation_named_by_ods_code() {
        let t = read(&bundle()).expect("read");
        let sr = &t.service_request;
        assert_eq!(sr["subject"]["reference"], "#patient");
        assert_eq!(sr["contained"][0]["id"], "patient");
        assert_eq!(sr["contained"][0]["identifier"][0]["value"], "9434765919");
        assert_eq!(
            sr["requester"],
            json!({"type": "Organization", "identifier": {"system": ODS_SYSTEM, "value": "A81001"}, "display": "Riverside Surgery"})
        );
        assert!(!sr.to_string().contains("urn:uuid:"), "{sr}");
    }

    #[test]
    fn errors_name_the_entry_as_sent() {
        let t = read(&bundle()).expect("read");
        let error = ApiError::unprocessable(vec![
            Issue::error(IssueType::Invalid, "bad")
                .at("ServiceRequest.contained[0].identifier[0].value"),
            Issue::error(IssueType::Invalid, "bad").at("ServiceRequest.requester.identifier.value"),
            Issue::error(IssueType::Invalid, "bad").at("ServiceRequest.status"),
        ]);
        let at: Vec<_> = t
            .relocate(error)
            .issues
            .into_iter()
            .filter_map(|i| i.expression)
            .collect();
        assert_eq!(
            at,
            [
                "Bundle.entry[0].resource.identifier[0].value",
                "Bundle.entry[1].resource.identifier[0].value",
                "Bundle.entry[2].resource.status"
            ]
        );
    }

    #[test]
    fn a_conditional_reference_resolves_by_identifier() {
        let mut b = bundle();
        b["entry"][2]["resource"]["subject"]["reference"] =
            json!("Patient?identifier=https://fhir.nhs.uk/Id/nhs-number|9434765919");
        b["entry"][2]["resource"]["requester"]["reference"] = json!(
            "Organization?identifier=https%3A%2F%2Ffhir.nhs.uk%2FId%2Fods-organization-code%7CA81001"
        );
        let entries = b["entry"].as_array_mut().expect("entries");
        entries.remove(1);
        let t = read(&b).expect("read");
        // Found in the Bundle by its identifier: contained.
        assert_eq!(
            t.service_request["contained"][0]["identifier"][0]["value"],
            "9434765919"
        );
        assert_eq!(
            t.service_request["requester"]["identifier"]["value"],
            "A81001"
        );
        // Not in the Bundle: the person is named by the identifier.
        entries_without_patient(&mut b);
        let t = read(&b).expect("read");
        assert_eq!(
            t.service_request["subject"],
            json!({"identifier": {"system": "https://fhir.nhs.uk/Id/nhs-number", "value": "9434765919"}})
        );
    }

    fn entries_without_patient(b: &mut Value) {
        if let Some(entries) = b["entry"].as_array_mut() {
            entries.retain(|e| e["resource"]["resourceType"] != "Patient");
        }
    }

    #[test]
    fn batches_other_types_and_unnamed_entries_are_refused() {
        let mut b = bundle();
        b["type"] = json!("batch");
        let e = read(&b).expect_err("batch");
        assert_eq!(e.issues[0].code, IssueType::NotSupported);
        assert_eq!(e.issues[0].expression.as_deref(), Some("Bundle.type"));
        let mut b = bundle();
        b["entry"][2]["resource"]["requester"] =
            json!({"identifier": {"system": ODS_SYSTEM, "value": "A81001"}});
        let e = read(&b).expect_err("unnamed organisation");
        assert_eq!(e.issues[0].expression.as_deref(), Some("Bundle.entry[1]"));
        let mut b = bundle();
        b["entry"][2]["resource"]["subject"]["reference"] =
            json!("urn:uuid:00000000-0000-4000-8000-000000000000");
        let e = read(&b).expect_err("dangling");
        assert_eq!(
            e.issues[0].expression.as_deref(),
            Some("Bundle.entry[2].resource.subject.reference")
        );
    }
}
