//! The structural gate every incoming resource passes: JSON, then FHIR R4 structure.

use serde_json::Value;

use crate::outcome::{Issue, IssueType};
use crate::strict_json::{self, StrictJsonError};

/// Why a body is not a FHIR R4 resource.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// Not JSON at all.
    #[error("the body is not valid JSON: {message} (line {line}, column {column})")]
    Malformed {
        /// serde_json's description.
        message: String,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
    },
    /// Nested deeper than any FHIR resource needs.
    #[error("the JSON is nested too deeply")]
    TooDeep,
    /// JSON, but not an object with a `resourceType` string.
    #[error("the body is not a FHIR resource: it needs a \"resourceType\" string")]
    NotAResource,
    /// A resource type FHIR R4 does not define, or not the one expected.
    #[error("{0}")]
    WrongType(String),
    /// A member name appears twice in one JSON object (JSON parsers disagree on which one counts).
    #[error("{message}")]
    Duplicate {
        /// The repeated member, e.g. `ServiceRequest.subject.identifier`.
        expression: String,
        /// What is wrong.
        message: String,
    },
    /// Breaks the FHIR R4 base definitions: every problem found, each with its element.
    #[error("{}", .0.first().map_or("the resource breaks the FHIR R4 definitions", |i| i.diagnostics.as_str()))]
    Invalid(Vec<Issue>),
    /// Valid JSON that breaks FHIR R4 structure (unknown element, wrong type, ...).
    #[error("{message}")]
    Structure {
        /// Where the problem is.
        expression: String,
        /// What is wrong.
        message: String,
    },
}

impl ParseError {
    /// The OperationOutcome issue that explains this error.
    pub fn issue(&self) -> Issue {
        match self {
            ParseError::Malformed { .. } | ParseError::TooDeep => {
                Issue::error(IssueType::Structure, self.to_string())
            }
            ParseError::NotAResource => {
                Issue::error(IssueType::Structure, self.to_string()).at("resourceType")
            }
            ParseError::WrongType(_) => {
                Issue::error(IssueType::Invalid, self.to_string()).at("resourceType")
            }
            ParseError::Structure {
                expression,
                message,
            }
            | ParseError::Duplicate {
                expression,
                message,
            } => Issue::error(IssueType::Structure, message.clone()).at(expression.clone()),
            ParseError::Invalid(issues) => issues
                .first()
                .cloned()
                .unwrap_or_else(|| Issue::error(IssueType::Structure, self.to_string())),
        }
    }

    /// Every OperationOutcome issue this error stands for (several when the base definitions are broken in several places).
    pub fn issues(&self) -> Vec<Issue> {
        match self {
            ParseError::Invalid(issues) if !issues.is_empty() => issues.clone(),
            _ => vec![self.issue()],
        }
    }
}

/// A resource that passed the structural gate: its JSON and its type.
#[derive(Debug, Clone)]
pub struct ParsedResource {
    /// `resourceType`, e.g. `ServiceRequest`.
    pub resource_type: String,
    /// The resource as sent, keys in their original order.
    pub json: Value,
    /// Warnings of the base specification (warning-severity invariants such as dom-6): they do
    /// not reject the body, and the validator reports them.
    pub warnings: Vec<Issue>,
}

/// Parses a body as JSON and checks it against the FHIR R4 structure (strict: unknown elements refused).
///
/// `expected` names the resource type the endpoint takes, if any.
pub fn parse_resource(bytes: &[u8], expected: Option<&str>) -> Result<ParsedResource, ParseError> {
    let json = read_json(bytes)?;
    let resource_type = json
        .get("resourceType")
        .and_then(Value::as_str)
        .ok_or(ParseError::NotAResource)?
        .to_owned();
    if let Some(expected) = expected
        && resource_type != expected
    {
        return Err(ParseError::WrongType(format!(
            "this endpoint takes a {expected}, but the body is a {resource_type}"
        )));
    }
    if let Some((expression, message)) = json_representation(&json, &resource_type) {
        return Err(ParseError::Structure {
            message: format!("{expression}: {message}"),
            expression,
        });
    }
    let base = crate::r4::Base::standard().map_err(|e| ParseError::Structure {
        expression: resource_type.clone(),
        message: format!("the FHIR R4 definitions could not be read: {e}"),
    })?;
    if !base.is_resource(&resource_type) {
        return Err(ParseError::WrongType(format!(
            "\"{resource_type}\" is not a FHIR R4 resource type"
        )));
    }
    let mut issues = base.check(&json, &resource_type);
    if crate::validation::has_errors(&issues) {
        // Errors first: a sender shown one issue is shown what rejected the body.
        issues.sort_by_key(|i| i.severity != crate::outcome::Severity::Error);
        return Err(ParseError::Invalid(issues));
    }
    Ok(ParsedResource {
        resource_type,
        json,
        warnings: issues,
    })
}

/// Reads any FHIR JSON body: JSON syntax, depth, and no member name twice in one object.
pub fn read_json(bytes: &[u8]) -> Result<Value, ParseError> {
    strict_json::from_slice(bytes).map_err(|e| match e {
        StrictJsonError::Syntax(e) if e.to_string().contains("recursion limit exceeded") => {
            ParseError::TooDeep
        }
        StrictJsonError::Syntax(e) => ParseError::Malformed {
            message: strip_position(&e.to_string()),
            line: e.line(),
            column: e.column(),
        },
        StrictJsonError::Duplicate { location, member } => {
            // The document could not be read to the end, so its type is found by a plain read.
            let root = serde_json::from_slice::<Value>(bytes)
                .ok()
                .and_then(|v| v.get("resourceType").and_then(Value::as_str).map(str::to_owned))
                .unwrap_or_else(|| "$".to_owned());
            let at = strict_json::render(&root, &location);
            let expression = format!("{at}.{member}");
            ParseError::Duplicate {
                message: format!(
                    "{expression} appears twice in {at}: JSON member names must be unique, send it once"
                ),
                expression,
            }
        }
    })
}

/// FHIR's JSON rules that are not in the definitions: no empty arrays or objects, and `null`
/// only inside arrays (where it keeps primitive values and their extensions aligned).
fn json_representation(json: &Value, expr: &str) -> Option<(String, &'static str)> {
    match json {
        Value::Object(o) if o.is_empty() => {
            Some((expr.to_owned(), "FHIR JSON objects are never empty"))
        }
        Value::Object(o) => o.iter().find_map(|(k, v)| {
            let at = format!("{expr}.{k}");
            match v {
                Value::Null => Some((at, "null is not a FHIR value: leave the element out")),
                Value::Array(a) if a.is_empty() => Some((
                    at,
                    "FHIR JSON arrays are never empty: leave the element out",
                )),
                Value::Array(a) => a.iter().enumerate().find_map(|(i, item)| match item {
                    Value::Null if k.starts_with('_') || o.contains_key(&format!("_{k}")) => None,
                    Value::Null => Some((format!("{at}[{i}]"), "null is not a FHIR value")),
                    _ => json_representation(item, &format!("{at}[{i}]")),
                }),
                _ => json_representation(v, &at),
            }
        }),
        _ => None,
    }
}

/// serde_json appends " at line L column C"; we report the element instead.
fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(i) => message[..i].to_owned(),
        None => message.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = r#"{"resourceType":"ServiceRequest","status":"active","intent":"order","subject":{"reference":"Patient/1"}}"#;

    #[test]
    fn accepts_a_structurally_valid_resource() {
        let parsed = parse_resource(MINIMAL.as_bytes(), Some("ServiceRequest")).expect("valid");
        assert_eq!(parsed.resource_type, "ServiceRequest");
        assert_eq!(parsed.json["status"], "active");
    }

    #[test]
    fn malformed_json_is_reported_with_position() {
        let err = parse_resource(b"{\"resourceType\": ", None).expect_err("malformed");
        assert!(
            matches!(err, ParseError::Malformed { line: 1, .. }),
            "{err:?}"
        );
    }

    #[test]
    fn deep_nesting_is_refused() {
        let deep = format!("{}{}", "[".repeat(200), "]".repeat(200));
        assert_eq!(
            parse_resource(deep.as_bytes(), None).expect_err("deep"),
            ParseError::TooDeep
        );
    }

    #[test]
    fn missing_or_wrong_resource_type() {
        assert_eq!(
            parse_resource(b"{\"status\":\"x\"}", None).expect_err("no type"),
            ParseError::NotAResource
        );
        let err = parse_resource(
            MINIMAL.replace("ServiceRequest", "Task").as_bytes(),
            Some("ServiceRequest"),
        )
        .expect_err("wrong type");
        assert!(matches!(err, ParseError::WrongType(_)), "{err:?}");
        let err =
            parse_resource(b"{\"resourceType\":\"Referral\"}", None).expect_err("unknown type");
        assert!(matches!(err, ParseError::WrongType(_)), "{err:?}");
    }

    #[test]
    fn unknown_element_is_named() {
        let body = MINIMAL.replace("\"intent\"", "\"colour\":\"blue\",\"intent\"");
        let issue = parse_resource(body.as_bytes(), None)
            .expect_err("unknown element")
            .issue();
        assert_eq!(issue.code, IssueType::Structure);
        assert_eq!(issue.expression.as_deref(), Some("ServiceRequest.colour"));
    }

    #[test]
    fn wrong_type_inside_an_array_is_named_with_its_index() {
        let body = MINIMAL.replace(
            "\"intent\"",
            "\"identifier\":[{\"value\":\"a\"},{\"value\":12}],\"intent\"",
        );
        let issue = parse_resource(body.as_bytes(), None)
            .expect_err("a number for a string")
            .issue();
        assert_eq!(issue.code, IssueType::Structure);
        assert_eq!(
            issue.expression.as_deref(),
            Some("ServiceRequest.identifier[1].value")
        );
    }
}
