//! FHIR R4 primitive types: the lexical form from each primitive's definition (its regex
//! extension, compiled once) and the value-space rules the regexes cannot express.

use regex::Regex;
use serde_json::Value;

use super::definition::Definition;
use crate::outcome::{Issue, IssueType};
use crate::validation::DefinitionError;

const REGEX_EXTENSION: &str = "http://hl7.org/fhir/StructureDefinition/regex";

/// FHIR JSON's string limit for a single value (the specification: "less than 1MB").
const MAX_STRING_BYTES: usize = 1024 * 1024;

/// How a primitive travels in JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Json {
    Bool,
    Number,
    String,
}

/// One primitive type as the specification defines it.
#[derive(Debug)]
pub(crate) struct Primitive {
    /// `dateTime`, `positiveInt`.
    pub name: String,
    json: Json,
    /// The definition's regex anchored to the whole value; `xhtml` has none.
    regex: Option<Regex>,
}

impl Primitive {
    /// Reads a primitive type's StructureDefinition (its `{type}.value` element).
    pub(super) fn from_definition(
        file: &str,
        sd: &Definition<'_>,
    ) -> Result<Primitive, DefinitionError> {
        let name = sd.id.to_string();
        let value_path = format!("{name}.value");
        let value = sd
            .snapshot
            .element
            .iter()
            .find(|e| e.path == value_path.as_str())
            .ok_or_else(|| DefinitionError::new(file, format!("has no {value_path}")))?;
        let pattern = value
            .types
            .iter()
            .flatten()
            .next()
            .and_then(|t| t.extension(REGEX_EXTENSION));
        let regex = match pattern {
            None if name == "xhtml" => None,
            None => {
                return Err(DefinitionError::new(
                    file,
                    format!("{value_path} has no regex extension"),
                ));
            }
            Some(p) => Some(Regex::new(&format!("^(?:{p})$")).map_err(|e| {
                DefinitionError::new(
                    file,
                    format!("{value_path}: the regex does not compile: {e}"),
                )
            })?),
        };
        let json = match name.as_str() {
            "boolean" => Json::Bool,
            "integer" | "positiveInt" | "unsignedInt" | "decimal" => Json::Number,
            _ => Json::String,
        };
        Ok(Primitive { name, json, regex })
    }

    /// Checks one value of this type, found at `path`.
    pub(crate) fn check(&self, value: &Value, path: &str, issues: &mut Vec<Issue>) {
        let text = match (self.json, value) {
            (Json::Bool, Value::Bool(_)) => return,
            (Json::Number, Value::Number(n)) => n.to_string(),
            (Json::String, Value::String(s)) => {
                self.check_text(s, path, issues);
                return;
            }
            _ => {
                let wanted = match self.json {
                    Json::Bool => "JSON true or false",
                    Json::Number => "a JSON number",
                    Json::String => "a JSON string",
                };
                issues.push(
                    Issue::error(
                        IssueType::Structure,
                        format!(
                            "{path}: a FHIR {} is sent as {wanted}, not as {}",
                            self.name,
                            json_kind(value)
                        ),
                    )
                    .at(path),
                );
                return;
            }
        };
        self.check_text(&text, path, issues);
    }

    fn check_text(&self, text: &str, path: &str, issues: &mut Vec<Issue>) {
        let mut refuse = |why: String| {
            issues.push(Issue::error(IssueType::Value, why).at(path));
        };
        if text.is_empty() {
            refuse(format!(
                "{path}: empty strings are not FHIR values; leave the element out instead"
            ));
            return;
        }
        if text.len() > MAX_STRING_BYTES {
            refuse(format!(
                "{path}: the value is {} bytes; FHIR strings are at most 1 MB",
                text.len()
            ));
            return;
        }
        let lexical = self.regex.as_ref().is_none_or(|r| r.is_match(text));
        if !lexical {
            refuse(format!(
                "{path}: {} is not a FHIR {} ({})",
                quoted(text),
                self.name,
                hint(&self.name)
            ));
            return;
        }
        if let Some(problem) = value_space(&self.name, text) {
            refuse(format!(
                "{path}: {} is not a FHIR {}: {problem}",
                quoted(text),
                self.name
            ));
        }
    }
}

/// What a sender should send instead, per type.
fn hint(name: &str) -> &'static str {
    match name {
        "date" => "YYYY, YYYY-MM or YYYY-MM-DD",
        "dateTime" => "YYYY, YYYY-MM, YYYY-MM-DD or YYYY-MM-DDThh:mm:ss+zz:zz",
        "instant" => "YYYY-MM-DDThh:mm:ss.sss+zz:zz or ...Z, with seconds and a timezone",
        "time" => "hh:mm:ss, 24-hour, no timezone",
        "id" => "1 to 64 characters, each A-Z, a-z, 0-9, '-' or '.'",
        "uri" | "url" | "canonical" => "no spaces or other whitespace",
        "code" => "no leading, trailing or repeated whitespace",
        "oid" => "urn:oid: then dot-separated numbers, e.g. urn:oid:2.16.840.1.113883",
        "uuid" => "urn:uuid: then a lower-case UUID",
        "base64Binary" => "base64 text, in groups of four characters",
        "integer" => "a whole JSON number with no fraction or exponent",
        "positiveInt" => "a whole JSON number from 1",
        "unsignedInt" => "a whole JSON number from 0",
        "decimal" => "a JSON number such as 12.5",
        "boolean" => "true or false",
        _ => "not empty, and not only whitespace",
    }
}

/// Rules the definitions state in prose rather than in the regex.
fn value_space(name: &str, text: &str) -> Option<String> {
    match name {
        "string" | "markdown" | "xhtml" if text.trim().is_empty() => {
            Some("a string must hold more than whitespace".to_owned())
        }
        "integer" | "positiveInt" | "unsignedInt" => match text.parse::<i64>() {
            Ok(n) if i32::try_from(n).is_ok() => None,
            _ => Some(format!("{name} is a 32-bit value, at most 2147483647")),
        },
        "date" | "dateTime" | "instant" => {
            // The regexes allow 2024-02-31; the calendar does not.
            calendar(text.get(..10).unwrap_or(text))
        }
        _ => None,
    }
}

/// A date part (YYYY, YYYY-MM or YYYY-MM-DD) that names a day on the calendar.
fn calendar(date: &str) -> Option<String> {
    let mut parts = date.split('-');
    let year: u32 = parts.next()?.parse().ok()?;
    let month: u32 = parts.next()?.parse().ok()?;
    let day: u32 = parts.next()?.parse().ok()?;
    let leap = (year.is_multiple_of(4) && !year.is_multiple_of(100)) || year.is_multiple_of(400);
    let days = match month {
        2 if leap => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    };
    (day > days).then(|| format!("month {month} of {year} has {days} days"))
}

fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "true/false",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// The value in quotes, cut short so a message stays readable.
fn quoted(text: &str) -> String {
    const MAX_CHARS: usize = 40;
    match text.char_indices().nth(MAX_CHARS) {
        None => format!("'{text}'"),
        Some((cut, _)) => format!("'{}...'", &text[..cut]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calendar_days() {
        assert_eq!(calendar("2024-02-29"), None);
        assert!(calendar("2023-02-29").is_some());
        assert!(calendar("1900-02-29").is_some());
        assert_eq!(calendar("2000-02-29"), None);
        assert!(calendar("2024-04-31").is_some());
        assert_eq!(calendar("2024-04"), None);
    }
}
