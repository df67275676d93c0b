//! A console form as posted: its fields by name, read trimmed, and the problems found in them.

use std::collections::HashMap;

use super::page::FieldError;

/// A posted form, by field name.
pub type Fields = HashMap<String, String>;

/// A posted field, trimmed; empty when absent.
pub fn field<'a>(fields: &'a Fields, name: &str) -> &'a str {
    fields.get(name).map(|v| v.trim()).unwrap_or("")
}

/// One problem with a field.
pub fn problem(field: &str, message: impl Into<String>) -> FieldError {
    FieldError {
        field: field.to_owned(),
        message: message.into(),
    }
}
