//! The structural gate every incoming resource passes: JSON, then FHIR R4 structure.

use serde_json::Value;

use crate::json_path;
use crate::outcome::{Issue, IssueType};

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
            } => Issue::error(IssueType::Structure, message.clone()).at(expression.clone()),
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
}

/// Parses a body as JSON and checks it against the FHIR R4 structure (strict: unknown elements refused).
///
/// `expected` names the resource type the endpoint takes, if any.
pub fn parse_resource(bytes: &[u8], expected: Option<&str>) -> Result<ParsedResource, ParseError> {
    let json: Value = serde_json::from_slice(bytes).map_err(|e| {
        if e.to_string().contains("recursion limit exceeded") {
            ParseError::TooDeep
        } else {
            ParseError::Malformed {
                message: strip_position(&e.to_string()),
                line: e.line(),
                column: e.column(),
            }
        }
    })?;
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
    check_r4_structure(bytes, &json, &resource_type)?;
    Ok(ParsedResource {
        resource_type,
        json,
    })
}

/// Strict fhirbolt parse; one non-generic call site so its generated code is instantiated once.
fn check_r4_structure(bytes: &[u8], json: &Value, resource_type: &str) -> Result<(), ParseError> {
    let config = fhirbolt::serde::DeserializationConfig {
        mode: fhirbolt::serde::DeserializationMode::Strict,
    };
    match fhirbolt::json::from_slice::<fhirbolt::model::r4::Resource>(bytes, Some(config)) {
        Ok(_) => Ok(()),
        Err(e) => {
            let message = strip_position(&e.to_string());
            if message.contains("expected valid resourceType") {
                return Err(ParseError::WrongType(format!(
                    "\"{resource_type}\" is not a FHIR R4 resource type"
                )));
            }
            let expression = if e.line() > 0 {
                let offset = json_path::offset_of(bytes, e.line(), e.column());
                json_path::path_at(bytes, offset, resource_type)
            } else {
                json_path::locate(json, &message, resource_type)
            };
            Err(ParseError::Structure {
                message: format!("{expression}: {message}"),
                expression,
            })
        }
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
        match parse_resource(body.as_bytes(), None) {
            Err(ParseError::Structure { expression, .. }) => {
                assert_eq!(expression, "ServiceRequest.colour")
            }
            other => panic!("expected a structure error, got {other:?}"),
        }
    }

    #[test]
    fn wrong_type_inside_an_array_is_named_with_its_index() {
        let body = MINIMAL.replace(
            "\"intent\"",
            "\"identifier\":[{\"value\":\"a\"},{\"value\":12}],\"intent\"",
        );
        match parse_resource(body.as_bytes(), None) {
            Err(ParseError::Structure { expression, .. }) => {
                assert_eq!(expression, "ServiceRequest.identifier[1].value")
            }
            other => panic!("expected a structure error, got {other:?}"),
        }
    }
}
