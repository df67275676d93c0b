//! Checks that hold wherever an element appears: NHS numbers and ODS codes in any Identifier.
//! The walk also finds the resources nested inside (contained, Bundle entries) for their own checks.

use serde_json::Value;

use crate::nhs_number::{NHS_NUMBER_SYSTEM, NhsNumber};
use crate::ods::{ODS_SYSTEM, OdsCode};
use crate::outcome::{Issue, IssueType};

/// Checks every Identifier in `resource` (located at `expr`) and returns the nested resources with their locations.
pub(crate) fn walk<'a>(
    resource: &'a Value,
    expr: &str,
    issues: &mut Vec<Issue>,
) -> Vec<(&'a Value, String)> {
    let mut nested = Vec::new();
    if let Some(object) = resource.as_object() {
        for (key, value) in object {
            visit(value, format!("{expr}.{key}"), issues, &mut nested);
        }
    }
    nested
}

fn visit<'a>(
    value: &'a Value,
    expr: String,
    issues: &mut Vec<Issue>,
    nested: &mut Vec<(&'a Value, String)>,
) {
    match value {
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                visit(item, format!("{expr}[{i}]"), issues, nested);
            }
        }
        Value::Object(object) if object.contains_key("resourceType") => nested.push((value, expr)),
        Value::Object(object) => {
            if let (Some(system), Some(id)) = (
                object.get("system").and_then(Value::as_str),
                object.get("value").and_then(Value::as_str),
            ) {
                check_identifier(system, id, &expr, issues);
            }
            for (key, child) in object {
                visit(child, format!("{expr}.{key}"), issues, nested);
            }
        }
        _ => {}
    }
}

fn check_identifier(system: &str, value: &str, expr: &str, issues: &mut Vec<Issue>) {
    let problem = match system {
        NHS_NUMBER_SYSTEM => NhsNumber::parse(value).err().map(|e| e.to_string()),
        ODS_SYSTEM => OdsCode::parse(value).err().map(|e| e.to_string()),
        _ => None,
    };
    if let Some(problem) = problem {
        issues.push(Issue::error(IssueType::Value, problem).at(format!("{expr}.value")));
    }
}
