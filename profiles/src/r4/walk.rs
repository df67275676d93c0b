//! Walks a resource against the base definitions: unknown elements, arrays versus single values,
//! choice-type suffixes, `_name` companions, cardinality and every primitive's lexical form.

use std::fmt::Write as _;

use serde_json::{Map, Value};

use super::{Base, Kind, Struct};
use crate::fhirpath::Env;
use crate::outcome::{Issue, IssueType};

/// Where the walk is: the resources `%resource` and `%rootResource` stand for, and whether the
/// member being walked is `contained` (whose resources keep the container as root).
#[derive(Clone, Copy)]
struct Scope<'v> {
    env: Env<'v>,
    contained: bool,
}

impl Base {
    /// Every structural problem in `resource`, located from `root` (its resource type, as sent).
    pub(crate) fn check(&self, resource: &Value, root: &str) -> Vec<Issue> {
        let mut issues = Vec::new();
        let mut path = root.to_owned();
        let scope = Scope {
            env: Env {
                resource,
                root: resource,
                context: resource,
            },
            contained: false,
        };
        self.resource(resource, scope, &mut path, &mut issues);
        issues
    }

    fn resource<'v>(
        &self,
        value: &'v Value,
        scope: Scope<'v>,
        path: &mut String,
        issues: &mut Vec<Issue>,
    ) {
        let Some(object) = value.as_object() else {
            issues.push(
                Issue::error(
                    IssueType::Structure,
                    format!("{path}: a resource is a JSON object"),
                )
                .at(path.clone()),
            );
            return;
        };
        match object.get("resourceType") {
            Some(Value::String(t)) => {
                let Some(&s) = self.resources.get(t) else {
                    issues.push(
                        Issue::error(
                            IssueType::Structure,
                            format!("{path}: \"{t}\" is not a FHIR R4 resource type"),
                        )
                        .at(format!("{path}.resourceType")),
                    );
                    return;
                };
                let scope = Scope {
                    env: Env {
                        resource: value,
                        root: if scope.contained {
                            scope.env.root
                        } else {
                            value
                        },
                        context: value,
                    },
                    contained: false,
                };
                self.object(value, object, s, scope, path, issues);
            }
            _ => issues.push(
                Issue::error(
                    IssueType::Structure,
                    format!("{path}: a resource needs a \"resourceType\" string"),
                )
                .at(path.clone()),
            ),
        }
    }

    fn object<'v>(
        &self,
        node: &'v Value,
        object: &'v Map<String, Value>,
        s: usize,
        scope: Scope<'v>,
        path: &mut String,
        issues: &mut Vec<Issue>,
    ) {
        let def = &self.structs[s];
        let mut seen = vec![0usize; def.fields.len()];
        let mut chosen: Vec<Option<(usize, &str)>> = vec![None; def.fields.len()];
        let len = path.len();
        for (key, value) in object {
            if def.resource && key == "resourceType" {
                continue;
            }
            let (companion, name) = match key.strip_prefix('_') {
                Some(name) => (true, name),
                None => (false, key.as_str()),
            };
            path.push('.');
            path.push_str(key);
            match def.keys.get(name) {
                None => issues.push(unknown(def, key, path)),
                Some(&(f, t)) => {
                    let field = &def.fields[f];
                    if field.name.ends_with("[x]") {
                        match chosen[f] {
                            Some((other, other_key)) if other != t => issues.push(
                                Issue::error(
                                    IssueType::Structure,
                                    format!(
                                        "{path}: {} holds one value; {other_key} is already sent",
                                        field.name
                                    ),
                                )
                                .at(path.clone()),
                            ),
                            _ => chosen[f] = Some((t, name)),
                        }
                    }
                    let kind = field.types[t];
                    let inner = Scope {
                        contained: name == "contained",
                        ..scope
                    };
                    let count = if companion {
                        self.companion(kind, field.array, value, inner, path, issues)
                    } else {
                        if !field.invariants.is_empty() {
                            self.field_invariants(&field.invariants, value, scope, path, issues);
                        }
                        self.field(kind, field.array, value, inner, path, issues)
                    };
                    seen[f] = seen[f].max(count);
                    if !companion
                        && s == self.reference
                        && name == "reference"
                        && let Some(text) = value.as_str()
                        && !text.is_empty()
                        && !reference_form(text)
                    {
                        issues.push(
                            Issue::error(
                                IssueType::Value,
                                format!(
                                    "{path}: '{text}' is not a reference: use Type/id (Patient/123), an absolute URL, urn:uuid:..., or #id for a contained resource"
                                ),
                            )
                            .at(path.clone()),
                        );
                    }
                }
            }
            path.truncate(len);
        }
        // After the members: a structural mistake is the first thing a sender reads.
        for &i in &def.invariants {
            self.invariants[i].check(node, scope.env, path, issues);
        }
        for (field, count) in def.fields.iter().zip(&seen) {
            let count = u32::try_from(*count).unwrap_or(u32::MAX);
            let stem = field.name.trim_end_matches("[x]");
            if count < field.min {
                // Named where it belongs, as the profile rules name a missing element; the
                // message also names the element that lacks it.
                let at = if field.name.ends_with("[x]") {
                    format!("{path}.{stem}[x]")
                } else {
                    format!("{path}.{stem}")
                };
                issues.push(
                    Issue::error(
                        IssueType::Required,
                        format!(
                            "{at} is required in FHIR R4 ({}.{} has minimum {}) but {path} has none",
                            def.name, field.name, field.min
                        ),
                    )
                    .at(at),
                );
            }
            if let Some(max) = field.max
                && count > max
            {
                issues.push(
                    Issue::error(
                        IssueType::Structure,
                        format!(
                            "{path}.{stem}: {count} sent, but {}.{} allows at most {max}",
                            def.name, field.name
                        ),
                    )
                    .at(format!("{path}.{stem}")),
                );
            }
        }
    }

    /// Checks a member's value; returns how many values it holds.
    /// An element's own invariants, at each of its values.
    fn field_invariants<'v>(
        &self,
        invariants: &[usize],
        value: &'v Value,
        scope: Scope<'v>,
        path: &mut String,
        issues: &mut Vec<Issue>,
    ) {
        let len = path.len();
        let items: &[Value] = match value {
            Value::Array(items) => items,
            single => std::slice::from_ref(single),
        };
        for (i, item) in items.iter().enumerate() {
            if item.is_null() {
                continue;
            }
            if value.is_array() {
                path.push('[');
                write!(path, "{i}").expect("write to a String");
                path.push(']');
            }
            for &inv in invariants {
                self.invariants[inv].check(item, scope.env, path, issues);
            }
            path.truncate(len);
        }
    }

    fn field<'v>(
        &self,
        kind: Kind,
        array: bool,
        value: &'v Value,
        scope: Scope<'v>,
        path: &mut String,
        issues: &mut Vec<Issue>,
    ) -> usize {
        match (array, value) {
            (true, Value::Array(items)) => {
                let len = path.len();
                for (i, item) in items.iter().enumerate() {
                    // Nulls keep a primitive list aligned with its `_name` list (checked earlier).
                    if item.is_null() {
                        continue;
                    }
                    path.push('[');
                    write!(path, "{i}").expect("write to a String");
                    path.push(']');
                    self.value(kind, item, scope, path, issues);
                    path.truncate(len);
                }
                items.len()
            }
            (true, _) => {
                issues.push(
                    Issue::error(
                        IssueType::Structure,
                        format!(
                            "{path}: this element is a list in FHIR R4: send it as a JSON array"
                        ),
                    )
                    .at(path.clone()),
                );
                1
            }
            (false, Value::Array(_)) => {
                issues.push(
                    Issue::error(
                        IssueType::Structure,
                        format!("{path}: this element is a single value in FHIR R4, not a list"),
                    )
                    .at(path.clone()),
                );
                // The list is the one mistake: counting its items would report it again as
                // too many values.
                1
            }
            (false, _) => {
                self.value(kind, value, scope, path, issues);
                1
            }
        }
    }

    fn value<'v>(
        &self,
        kind: Kind,
        value: &'v Value,
        scope: Scope<'v>,
        path: &mut String,
        issues: &mut Vec<Issue>,
    ) {
        match kind {
            Kind::Primitive(p) => self.primitives[p].check(value, path, issues),
            Kind::Resource => self.resource(value, scope, path, issues),
            Kind::Complex(s) => match value.as_object() {
                Some(object) => self.object(value, object, s, scope, path, issues),
                None => issues.push(
                    Issue::error(
                        IssueType::Structure,
                        format!(
                            "{path}: a {} is sent as a JSON object",
                            self.structs[s].name
                        ),
                    )
                    .at(path.clone()),
                ),
            },
        }
    }

    /// A primitive's `_name` companion: its id and extensions, shaped like the value it extends.
    fn companion<'v>(
        &self,
        kind: Kind,
        array: bool,
        value: &'v Value,
        scope: Scope<'v>,
        path: &mut String,
        issues: &mut Vec<Issue>,
    ) -> usize {
        if !matches!(kind, Kind::Primitive(_)) {
            issues.push(
                Issue::error(
                    IssueType::Structure,
                    format!("{path}: only primitive elements have a _name form; send extensions inside the element"),
                )
                .at(path.clone()),
            );
            return 0;
        }
        self.field(
            Kind::Complex(self.element),
            array,
            value,
            scope,
            path,
            issues,
        )
    }
}

fn unknown(def: &Struct, key: &str, path: &str) -> Issue {
    let stem_len = key
        .char_indices()
        .find(|(_, c)| c.is_ascii_uppercase())
        .map_or(key.len(), |(i, _)| i);
    let choice = format!("{}[x]", &key[..stem_len]);
    let message = if def.fields.iter().any(|f| f.name == choice) {
        let mut allowed: Vec<&str> = def
            .keys
            .keys()
            .filter(|k| k.starts_with(&key[..stem_len]) && k.len() > stem_len)
            .map(String::as_str)
            .collect();
        allowed.sort_unstable();
        format!(
            "{path}: {} does not take {key}; {choice} is one of {}",
            def.name,
            allowed.join(", ")
        )
    } else {
        format!(
            "{path}: unknown element: {} has no element \"{key}\" in FHIR R4",
            def.name
        )
    };
    Issue::error(IssueType::Structure, message).at(path)
}

/// A literal reference: `#id`, `Type/id` (optionally `/_history/v`), `urn:uuid:`/`urn:oid:`, or an absolute URL.
fn reference_form(text: &str) -> bool {
    if let Some(local) = text.strip_prefix('#') {
        return local.is_empty() || is_id(local);
    }
    if text.starts_with("urn:uuid:") || text.starts_with("urn:oid:") {
        return text.len() > 9 && !text.contains(char::is_whitespace);
    }
    // A transaction may reference by search (`Patient?identifier=...`), resolved on processing.
    if let Some((kind, query)) = text.split_once('?') {
        return is_type(kind) && !query.is_empty() && !text.contains(char::is_whitespace);
    }
    if let Some((scheme, rest)) = text.split_once("://") {
        return !scheme.is_empty()
            && scheme
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "+.-".contains(c))
            && !rest.is_empty()
            && !text.contains(char::is_whitespace);
    }
    let mut parts = text.split('/');
    let (Some(kind), Some(id)) = (parts.next(), parts.next()) else {
        return false;
    };
    let history = match (parts.next(), parts.next(), parts.next()) {
        (None, _, _) => true,
        (Some("_history"), Some(v), None) => is_id(v),
        _ => false,
    };
    is_type(kind) && is_id(id) && history
}

fn is_type(kind: &str) -> bool {
    kind.chars().next().is_some_and(|c| c.is_ascii_uppercase())
        && kind.chars().all(|c| c.is_ascii_alphanumeric())
}

fn is_id(text: &str) -> bool {
    (1..=64).contains(&text.len())
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
}

#[cfg(test)]
mod tests {
    use super::reference_form;

    #[test]
    fn reference_forms() {
        for ok in [
            "Patient/123",
            "Patient/a.b-c/_history/2",
            "#p1",
            "#",
            "urn:uuid:0b9a3a1e-1f43-4a5f-9e3c-2f1d6b3a9c11",
            "https://example.org/fhir/Patient/1",
            "Patient?identifier=https://fhir.nhs.uk/Id/nhs-number|9434765919",
        ] {
            assert!(reference_form(ok), "{ok}");
        }
        for bad in [
            "::::",
            "Patient",
            "patient/1",
            "Patient/has space",
            "Patient/1/2",
            "#a b",
        ] {
            assert!(!reference_form(bad), "{bad}");
        }
    }
}
