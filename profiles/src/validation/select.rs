//! Finding the instance elements an element path names, each with its FHIRPath-style location.

use serde_json::Value;

use super::structure::{Slice, Step};

/// An element of the instance and where it is.
#[derive(Debug, Clone)]
pub(crate) struct Node<'a> {
    /// e.g. `ServiceRequest.identifier[1].system`.
    pub expr: String,
    /// The JSON key it was found under (`occurrenceDateTime` for `occurrence[x]`), borrowed
    /// from the instance: a node is made for every element each rule visits.
    pub key: &'a str,
    /// The value.
    pub value: &'a Value,
}

impl<'a> Node<'a> {
    /// The resource itself, named by `expr`.
    pub fn root(expr: &str, value: &'a Value) -> Self {
        Node {
            expr: expr.to_owned(),
            key: "",
            value,
        }
    }
}

/// Every instance element at `steps` below `from`.
pub(crate) fn select<'a>(from: &Node<'a>, steps: &[Step]) -> Vec<Node<'a>> {
    let mut current = vec![from.clone()];
    for step in steps {
        current = current
            .iter()
            .flat_map(|node| children(node, step))
            .collect();
    }
    current
}

/// The children of `parent` that `step` names, array items indexed, filtered to the step's slice.
pub(crate) fn children<'a>(parent: &Node<'a>, step: &Step) -> Vec<Node<'a>> {
    let Some(object) = parent.value.as_object() else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for (key, value) in object {
        if !names(&step.name, key) {
            continue;
        }
        let base = format!("{}.{key}", parent.expr);
        match value {
            Value::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    if in_slice(step.slice.as_ref(), item) {
                        out.push(Node {
                            expr: format!("{base}[{i}]"),
                            key,
                            value: item,
                        });
                    }
                }
            }
            _ if in_slice(step.slice.as_ref(), value) => out.push(Node {
                expr: base,
                key,
                value,
            }),
            _ => {}
        }
    }
    out
}

/// Whether JSON `key` is the element `name` (a choice `value[x]` matches `valueString`, ...).
fn names(name: &str, key: &str) -> bool {
    match name.strip_suffix("[x]") {
        Some(prefix) => key
            .strip_prefix(prefix)
            .is_some_and(|rest| rest.starts_with(|c: char| c.is_ascii_uppercase())),
        None => key == name,
    }
}

/// The type a choice element's key carries (`occurrenceDateTime` → `DateTime`).
pub(crate) fn choice_type<'k>(name: &str, key: &'k str) -> Option<&'k str> {
    name.strip_suffix("[x]")
        .and_then(|prefix| key.strip_prefix(prefix))
}

fn in_slice(slice: Option<&Slice>, item: &Value) -> bool {
    slice.is_none_or(|slice| {
        slice.discriminators.iter().all(|(path, expected)| {
            let found = path.iter().try_fold(item, |v, key| v.get(key));
            found.is_some_and(|v| matches_pattern(v, expected))
        })
    })
}

/// FHIR pattern matching: every element of the pattern is present in the value (arrays: each
/// pattern item matches some value item); primitives are equal.
pub(crate) fn matches_pattern(value: &Value, pattern: &Value) -> bool {
    match (value, pattern) {
        (Value::Object(v), Value::Object(p)) => p
            .iter()
            .all(|(k, pv)| v.get(k).is_some_and(|vv| matches_pattern(vv, pv))),
        (Value::Array(v), Value::Array(p)) => p
            .iter()
            .all(|pi| v.iter().any(|vi| matches_pattern(vi, pi))),
        _ => value == pattern,
    }
}
