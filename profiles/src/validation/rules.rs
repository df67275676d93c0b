//! Applying one differential element's rules to a resource.

use serde_json::Value;

use super::Validator;
use super::select::{Node, children, choice_type, matches_pattern, select};
use super::structure::{ElementRule, Strength};
use super::terminology::Membership;
use crate::outcome::{Issue, IssueType, Severity};

/// What a rule needs besides the resource: definitions, and the resource holding `contained`.
pub(crate) struct Context<'a> {
    pub validator: &'a Validator,
    pub container: &'a Value,
}

/// Checks `rule` against the resource at `root`, adding every problem to `issues`.
pub(crate) fn apply(
    rule: &ElementRule,
    root: &Node<'_>,
    cx: &Context<'_>,
    issues: &mut Vec<Issue>,
) {
    cardinality(rule, root, issues);
    for node in select(root, &rule.steps) {
        types(rule, &node, cx, issues);
        fixed_and_pattern(rule, &node, issues);
        binding(rule, &node, cx, issues);
    }
}

/// `ServiceRequest.requester (the referring organisation)`.
fn describe(rule: &ElementRule) -> String {
    match &rule.short {
        Some(short) => format!("{} ({short})", rule.id),
        None => rule.id.clone(),
    }
}

fn cardinality(rule: &ElementRule, root: &Node<'_>, issues: &mut Vec<Issue>) {
    if rule.min.is_none() && rule.max.is_none() {
        return;
    }
    let Some((last, parent_steps)) = rule.steps.split_last() else {
        return;
    };
    for parent in select(root, parent_steps) {
        if !parent.value.is_object() {
            continue;
        }
        let count = children(&parent, last).len();
        // Every rule visits every parent; almost none has an issue to place.
        let at = || format!("{}.{}", parent.expr, last.name.trim_end_matches("[x]"));
        if let Some(min) = rule.min
            && count < min as usize
        {
            issues.push(
                Issue::error(
                    IssueType::Required,
                    format!(
                        "{} is required: at least {min}, found {count}",
                        describe(rule)
                    ),
                )
                .at(at()),
            );
        }
        if let Some(max) = rule.max
            && count > max as usize
        {
            let message = if max == 0 {
                format!("{} must not be present", describe(rule))
            } else {
                format!("{} allows at most {max}, found {count}", describe(rule))
            };
            issues.push(Issue::error(IssueType::Structure, message).at(at()));
        }
    }
}

fn types(rule: &ElementRule, node: &Node<'_>, cx: &Context<'_>, issues: &mut Vec<Issue>) {
    if rule.types.is_empty() {
        return;
    }
    let Some(last) = rule.steps.last() else {
        return;
    };
    let candidates: Vec<_> = match choice_type(&last.name, node.key) {
        Some(found) => {
            let matching: Vec<_> = rule
                .types
                .iter()
                .filter(|t| t.code.eq_ignore_ascii_case(found))
                .collect();
            if matching.is_empty() {
                let allowed: Vec<&str> = rule.types.iter().map(|t| t.code.as_str()).collect();
                issues.push(
                    Issue::error(
                        IssueType::Structure,
                        format!("{} may be {}, not {found}", rule.id, allowed.join(" or ")),
                    )
                    .at(&node.expr),
                );
            }
            matching
        }
        None => rule.types.iter().collect(),
    };
    let targets: Vec<&str> = candidates
        .iter()
        .filter(|t| t.code == "Reference")
        .flat_map(|t| t.target_profiles.iter())
        .map(|url| cx.validator.target_type(url))
        .collect();
    if targets.is_empty() || targets.contains(&"Resource") || !node.value.is_object() {
        return;
    }
    if let Some((found, at)) = referenced_type(node.value, cx.container)
        && !targets.contains(&found)
    {
        issues.push(
            Issue::error(
                IssueType::Invalid,
                format!(
                    "{} must reference {}, not {found}",
                    describe(rule),
                    targets.join(" or ")
                ),
            )
            .at(format!("{}.{at}", node.expr)),
        );
    }
}

/// The resource type a Reference points at, and which of its elements says so.
fn referenced_type<'v>(
    reference: &'v Value,
    container: &'v Value,
) -> Option<(&'v str, &'static str)> {
    if let Some(r) = reference.get("reference").and_then(Value::as_str) {
        if let Some(local) = r.strip_prefix('#') {
            return container
                .get("contained")
                .and_then(Value::as_array)?
                .iter()
                .find(|c| c.get("id").and_then(Value::as_str) == Some(local))
                .and_then(|c| c.get("resourceType").and_then(Value::as_str))
                .map(|t| (t, "reference"));
        }
        if !r.starts_with("urn:") {
            let path = r.split(['?', '#']).next().unwrap_or(r);
            let segments: Vec<&str> = path.split('/').collect();
            let n = segments.len();
            let found = if n >= 4 && segments[n - 2] == "_history" {
                Some(segments[n - 4])
            } else if n >= 2 {
                Some(segments[n - 2])
            } else {
                None
            };
            if let Some(t) = found.filter(|t| t.starts_with(|c: char| c.is_ascii_uppercase())) {
                return Some((t, "reference"));
            }
        }
    }
    reference
        .get("type")
        .and_then(Value::as_str)
        .map(|t| (t, "type"))
}

fn fixed_and_pattern(rule: &ElementRule, node: &Node<'_>, issues: &mut Vec<Issue>) {
    if let Some(fixed) = &rule.fixed
        && node.value != fixed
    {
        issues.push(
            Issue::error(
                IssueType::Value,
                format!(
                    "{} must be exactly {fixed}, not {}",
                    describe(rule),
                    node.value
                ),
            )
            .at(&node.expr),
        );
    }
    if let Some(pattern) = &rule.pattern
        && !matches_pattern(node.value, pattern)
    {
        issues.push(
            Issue::error(
                IssueType::Value,
                format!("{} must contain {pattern}", describe(rule)),
            )
            .at(&node.expr),
        );
    }
}

fn binding(rule: &ElementRule, node: &Node<'_>, cx: &Context<'_>, issues: &mut Vec<Issue>) {
    let Some(binding) = &rule.binding else {
        return;
    };
    let severity = match binding.strength {
        Strength::Required => Severity::Error,
        Strength::Extensible => Severity::Warning,
        Strength::Advisory => return,
    };
    let Some(vs) = cx.validator.value_set(&binding.value_set) else {
        return;
    };
    let member = |system: Option<&str>, code: &str| {
        vs.contains(system, code, &cx.validator.code_systems) != Membership::Out
    };
    let from = || {
        let examples = vs.examples(&cx.validator.code_systems);
        if examples.is_empty() {
            format!("{} ({})", vs.name, binding.value_set)
        } else {
            format!(
                "{} ({}): {}",
                vs.name,
                binding.value_set,
                examples.join(", ")
            )
        }
    };
    let (ok, at, what) = match node.value {
        Value::String(code) => (
            member(None, code),
            node.expr.clone(),
            format!("\"{code}\" is not"),
        ),
        Value::Object(o)
            if o.contains_key("coding") || (o.contains_key("text") && !o.contains_key("code")) =>
        {
            let codings: Vec<&Value> = o
                .get("coding")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .collect();
            if codings.is_empty() && severity == Severity::Warning {
                return;
            }
            let ok = codings
                .iter()
                .any(|c| match c.get("code").and_then(Value::as_str) {
                    Some(code) => member(c.get("system").and_then(Value::as_str), code),
                    None => false,
                });
            (ok, node.expr.clone(), "none of its codings is".to_owned())
        }
        Value::Object(o) => match o.get("code").and_then(Value::as_str) {
            Some(code) => (
                member(o.get("system").and_then(Value::as_str), code),
                format!("{}.code", node.expr),
                format!("\"{code}\" is not"),
            ),
            None => return,
        },
        _ => return,
    };
    if !ok {
        let strength = if severity == Severity::Error {
            "must"
        } else {
            "should"
        };
        issues.push(
            Issue::new(
                severity,
                IssueType::CodeInvalid,
                format!(
                    "{}: {what} in the value set it {strength} come from, {}",
                    rule.id,
                    from()
                ),
            )
            .at(at),
        );
    }
}
