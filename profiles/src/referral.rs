//! The essentials of a social prescribing referral, parsed into domain types.
//!
//! Every problem is collected, not just the first, so a sender fixes them in one go.

use serde_json::Value;

use crate::nhs_number::{NHS_NUMBER_SYSTEM, NhsNumber};
use crate::ods::{ODS_SYSTEM, OdsCode};
use crate::outcome::{Issue, IssueType};

/// ServiceRequest intents a referral may carry: DESIGN.md section 5 and HL7 Gravity use the
/// three orders; NHS BaRS fixes a referral's intent to `plan`.
pub const REFERRAL_INTENTS: [&str; 4] = ["order", "original-order", "filler-order", "plan"];

/// What the gateway needs to know about a ServiceRequest to route it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Referral {
    /// The person referred.
    pub nhs_number: NhsNumber,
    /// The referring organisation.
    pub requester: OdsCode,
    /// Organisations named as performers, in order.
    pub performers: Vec<OdsCode>,
}

impl Referral {
    /// Checks a ServiceRequest's essentials and extracts the referral, or lists every problem.
    pub fn from_service_request(sr: &Value) -> Result<Self, Vec<Issue>> {
        let mut issues = Vec::new();
        check_status(sr, &mut issues);
        check_intent(sr, &mut issues);
        check_code(sr, &mut issues);
        let nhs_number = subject_nhs_number(sr, &mut issues);
        let requester = requester(sr, &mut issues);
        let performers = performers(sr, &mut issues);
        match (nhs_number, requester) {
            (Some(nhs_number), Some(requester)) if issues.is_empty() => Ok(Referral {
                nhs_number,
                requester,
                performers,
            }),
            _ => Err(issues),
        }
    }
}

fn check_status(sr: &Value, issues: &mut Vec<Issue>) {
    match sr.get("status").and_then(Value::as_str) {
        None => issues.push(
            Issue::error(IssueType::Required, "a referral needs a status")
                .at("ServiceRequest.status"),
        ),
        Some("active") => {}
        Some(other) => issues.push(
            Issue::error(
                IssueType::Value,
                format!("a new referral must have status \"active\", not \"{other}\""),
            )
            .at("ServiceRequest.status"),
        ),
    }
}

fn check_intent(sr: &Value, issues: &mut Vec<Issue>) {
    match sr.get("intent").and_then(Value::as_str) {
        None => issues.push(
            Issue::error(IssueType::Required, "a referral needs an intent")
                .at("ServiceRequest.intent"),
        ),
        Some(i) if REFERRAL_INTENTS.contains(&i) => {}
        Some(other) => issues.push(
            Issue::error(
                IssueType::Value,
                format!(
                    "a referral's intent must be one of {}, not \"{other}\"",
                    REFERRAL_INTENTS.join(", ")
                ),
            )
            .at("ServiceRequest.intent"),
        ),
    }
}

fn check_code(sr: &Value, issues: &mut Vec<Issue>) {
    let coded = sr
        .pointer("/code/coding")
        .and_then(Value::as_array)
        .is_some_and(|codings| {
            codings
                .iter()
                .any(|c| non_empty(c.get("system")).is_some() && non_empty(c.get("code")).is_some())
        });
    if !coded {
        issues.push(
            Issue::error(
                IssueType::Required,
                "a referral needs a coded service, e.g. SNOMED CT 871731000000106 \
                 (Referral to social prescribing service)",
            )
            .at("ServiceRequest.code"),
        );
    }
}

/// The NHS number from `subject.identifier`, or from the contained Patient `subject.reference` points at.
fn subject_nhs_number(sr: &Value, issues: &mut Vec<Issue>) -> Option<NhsNumber> {
    let Some(subject) = sr.get("subject") else {
        issues.push(
            Issue::error(
                IssueType::Required,
                "a referral needs a subject: the person referred",
            )
            .at("ServiceRequest.subject"),
        );
        return None;
    };
    let from_identifier = subject
        .get("identifier")
        .map(|id| nhs_number_in(id, "ServiceRequest.subject.identifier", issues));
    let from_contained = contained_patient(sr, subject).map(|(index, patient)| {
        let found = patient
            .get("identifier")
            .and_then(Value::as_array)
            .and_then(|ids| {
                ids.iter().enumerate().find(|(_, id)| {
                    id.get("system").and_then(Value::as_str) == Some(NHS_NUMBER_SYSTEM)
                })
            });
        match found {
            Some((i, id)) => nhs_number_in(
                id,
                &format!("ServiceRequest.contained[{index}].identifier[{i}]"),
                issues,
            ),
            None => None,
        }
    });
    match (from_identifier, from_contained) {
        (Some(Some(a)), Some(Some(b))) if a != b => {
            issues.push(
                Issue::error(
                    IssueType::Invalid,
                    "subject.identifier and the contained Patient carry different NHS numbers",
                )
                .at("ServiceRequest.subject.identifier.value"),
            );
            None
        }
        (Some(Some(n)), _) | (None | Some(None), Some(Some(n))) => Some(n),
        (Some(None), _) | (None, Some(None)) => None,
        (None, None) => {
            issues.push(
                Issue::error(
                    IssueType::Required,
                    format!(
                        "the subject must be identified by NHS number: subject.identifier with system {NHS_NUMBER_SYSTEM}, \
                         or a reference to a contained Patient carrying one"
                    ),
                )
                .at("ServiceRequest.subject.identifier"),
            );
            None
        }
    }
}

fn contained_patient<'a>(sr: &'a Value, subject: &Value) -> Option<(usize, &'a Value)> {
    let local_id = subject.get("reference")?.as_str()?.strip_prefix('#')?;
    sr.get("contained")?
        .as_array()?
        .iter()
        .enumerate()
        .find(|(_, r)| {
            r.get("resourceType").and_then(Value::as_str) == Some("Patient")
                && r.get("id").and_then(Value::as_str) == Some(local_id)
        })
}

fn nhs_number_in(identifier: &Value, at: &str, issues: &mut Vec<Issue>) -> Option<NhsNumber> {
    match identifier.get("system").and_then(Value::as_str) {
        Some(NHS_NUMBER_SYSTEM) => {}
        other => {
            issues.push(
                Issue::error(
                    IssueType::Value,
                    format!(
                        "the identifier system must be {NHS_NUMBER_SYSTEM}, not {}",
                        other.map_or("missing".to_owned(), |s| format!("\"{s}\""))
                    ),
                )
                .at(format!("{at}.system")),
            );
            return None;
        }
    }
    let Some(value) = non_empty(identifier.get("value")) else {
        issues.push(
            Issue::error(IssueType::Required, "the NHS number is missing")
                .at(format!("{at}.value")),
        );
        return None;
    };
    NhsNumber::parse(value)
        .map_err(|e| {
            issues.push(
                Issue::error(IssueType::Value, format!("not a valid NHS number: {e}"))
                    .at(format!("{at}.value")),
            )
        })
        .ok()
}

fn requester(sr: &Value, issues: &mut Vec<Issue>) -> Option<OdsCode> {
    let Some(requester) = sr.get("requester") else {
        issues.push(
            Issue::error(
                IssueType::Required,
                "a referral needs a requester: the referring organisation, identified by ODS code",
            )
            .at("ServiceRequest.requester"),
        );
        return None;
    };
    ods_in(requester, "ServiceRequest.requester", issues)
}

fn performers(sr: &Value, issues: &mut Vec<Issue>) -> Vec<OdsCode> {
    let Some(list) = sr.get("performer").and_then(Value::as_array) else {
        return Vec::new();
    };
    list.iter()
        .enumerate()
        // A directory service is not an organisation: the gateway routes it to its provider.
        .filter(|(_, p)| !names_healthcare_service(p))
        .filter_map(|(i, p)| ods_in(p, &format!("ServiceRequest.performer[{i}]"), issues))
        .collect()
}

/// Whether a reference is a literal reference to a HealthcareService (relative or absolute).
fn names_healthcare_service(reference: &Value) -> bool {
    reference.get("identifier").is_none()
        && reference
            .get("reference")
            .and_then(Value::as_str)
            .map(|r| r.split("/_history/").next().unwrap_or(r))
            .and_then(|r| r.rsplit('/').nth(1))
            == Some("HealthcareService")
}

/// An organisation reference must carry `identifier` with the ODS system and a well-formed code.
fn ods_in(reference: &Value, at: &str, issues: &mut Vec<Issue>) -> Option<OdsCode> {
    let Some(identifier) = reference.get("identifier") else {
        issues.push(
            Issue::error(
                IssueType::Required,
                format!("the organisation must be identified by ODS code (identifier with system {ODS_SYSTEM})"),
            )
            .at(format!("{at}.identifier")),
        );
        return None;
    };
    if identifier.get("system").and_then(Value::as_str) != Some(ODS_SYSTEM) {
        issues.push(
            Issue::error(
                IssueType::Value,
                format!("the identifier system must be {ODS_SYSTEM}"),
            )
            .at(format!("{at}.identifier.system")),
        );
        return None;
    }
    let value = non_empty(identifier.get("value")).unwrap_or_default();
    OdsCode::parse(value)
        .map_err(|e| {
            issues.push(
                Issue::error(
                    IssueType::Value,
                    format!("\"{value}\" is not an ODS code: {e}"),
                )
                .at(format!("{at}.identifier.value")),
            )
        })
        .ok()
}

fn non_empty(v: Option<&Value>) -> Option<&str> {
    v.and_then(Value::as_str).filter(|s| !s.trim().is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn referral() -> Value {
        json!({
            "resourceType": "ServiceRequest",
            "contained": [{"resourceType": "Patient", "id": "pat",
                "identifier": [{"system": NHS_NUMBER_SYSTEM, "value": "9434765919"}]}],
            "status": "active",
            "intent": "order",
            "code": {"coding": [{"system": "http://snomed.info/sct", "code": "871731000000106"}]},
            "subject": {"reference": "#pat", "identifier": {"system": NHS_NUMBER_SYSTEM, "value": "9434765919"}},
            "requester": {"identifier": {"system": ODS_SYSTEM, "value": "A81001"}}
        })
    }

    fn expressions(sr: &Value) -> Vec<(String, &'static str)> {
        Referral::from_service_request(sr)
            .expect_err("invalid")
            .into_iter()
            .map(|i| (i.expression.unwrap_or_default(), i.code.code()))
            .collect()
    }

    #[test]
    fn extracts_patient_requester_and_performers() {
        let mut sr = referral();
        sr["performer"] = json!([{"identifier": {"system": ODS_SYSTEM, "value": "LWS001"}}]);
        let r = Referral::from_service_request(&sr).expect("valid");
        assert_eq!(r.nhs_number.as_str(), "9434765919");
        assert_eq!(r.requester.as_str(), "A81001");
        assert_eq!(r.performers, vec![OdsCode::parse("LWS001").expect("ods")]);
    }

    #[test]
    fn nhs_number_may_come_from_the_contained_patient_only() {
        let mut sr = referral();
        sr["subject"] = json!({"reference": "#pat"});
        assert!(Referral::from_service_request(&sr).is_ok());
    }

    #[test]
    fn bad_check_digit_names_the_value() {
        let mut sr = referral();
        sr["subject"]["identifier"]["value"] = json!("9434765918");
        sr["contained"][0]["identifier"][0]["value"] = json!("9434765918");
        let found = expressions(&sr);
        assert!(
            found.contains(&("ServiceRequest.subject.identifier.value".into(), "value")),
            "{found:?}"
        );
        assert!(
            found.contains(&(
                "ServiceRequest.contained[0].identifier[0].value".into(),
                "value"
            )),
            "{found:?}"
        );
    }

    #[test]
    fn disagreeing_nhs_numbers_are_refused() {
        let mut sr = referral();
        sr["contained"][0]["identifier"][0]["value"] = json!("9912003888");
        assert_eq!(
            expressions(&sr),
            vec![("ServiceRequest.subject.identifier.value".into(), "invalid")]
        );
    }

    #[test]
    fn missing_requester_status_intent_code_subject_are_all_reported() {
        let sr = json!({"resourceType": "ServiceRequest"});
        let found = expressions(&sr);
        for want in [
            ("ServiceRequest.status", "required"),
            ("ServiceRequest.intent", "required"),
            ("ServiceRequest.code", "required"),
            ("ServiceRequest.subject", "required"),
            ("ServiceRequest.requester", "required"),
        ] {
            assert!(
                found.contains(&(want.0.into(), want.1)),
                "missing {want:?} in {found:?}"
            );
        }
    }

    #[test]
    fn a_directory_service_performer_is_not_an_organisation() {
        let mut sr = referral();
        sr["performer"] = json!([{"reference": "HealthcareService/walk-1"}]);
        let r = Referral::from_service_request(&sr).expect("a service reference is accepted");
        assert!(r.performers.is_empty());
        sr["performer"] = json!([{"reference": "Organization/walk-1"}]);
        assert!(Referral::from_service_request(&sr).is_err());
    }

    #[test]
    fn wrong_status_intent_and_ods_are_values() {
        let mut sr = referral();
        sr["status"] = json!("draft");
        sr["intent"] = json!("proposal");
        sr["requester"]["identifier"]["value"] = json!("a81001");
        sr["performer"] =
            json!([{"identifier": {"system": "https://example.org/ods", "value": "LWS001"}}]);
        let found = expressions(&sr);
        for want in [
            ("ServiceRequest.status", "value"),
            ("ServiceRequest.intent", "value"),
            ("ServiceRequest.requester.identifier.value", "value"),
            ("ServiceRequest.performer[0].identifier.system", "value"),
        ] {
            assert!(
                found.contains(&(want.0.into(), want.1)),
                "missing {want:?} in {found:?}"
            );
        }
    }

    #[test]
    fn subject_without_nhs_number_is_required() {
        let mut sr = referral();
        sr["subject"] = json!({"reference": "Patient/123"});
        assert_eq!(
            expressions(&sr),
            vec![("ServiceRequest.subject.identifier".into(), "required")]
        );
    }
}
