//! StructureDefinition differentials, read into the rules the validator applies.

use std::collections::HashMap;

use serde_json::Value;

use super::DefinitionError;

/// A profile: the rules its differential adds to a resource type.
#[derive(Debug)]
pub(crate) struct Profile {
    /// Canonical URL.
    pub url: String,
    /// The resource type it constrains.
    pub resource_type: String,
    /// The profile it derives from (UK Core, or another held profile).
    pub base: Option<String>,
    /// One rule per differential element, in the order written.
    pub rules: Vec<ElementRule>,
}

/// One step of an element path, optionally restricted to a slice.
#[derive(Debug, Clone)]
pub(crate) struct Step {
    /// The element name as in the definition (`identifier`, `value[x]`).
    pub name: String,
    /// The slice the step is restricted to.
    pub slice: Option<Slice>,
}

/// A named slice and how an instance item is recognised as belonging to it.
#[derive(Debug, Clone)]
pub(crate) struct Slice {
    /// (path inside the item, value it must match): from the slicing discriminators.
    pub discriminators: Vec<(Vec<String>, Value)>,
}

/// What one differential element requires.
#[derive(Debug)]
pub(crate) struct ElementRule {
    /// The element id, e.g. `Patient.identifier:nhsNumber.system`.
    pub id: String,
    /// The path below the resource.
    pub steps: Vec<Step>,
    /// Minimum occurrences in each parent.
    pub min: Option<u32>,
    /// Maximum occurrences in each parent (`None` is unbounded).
    pub max: Option<u32>,
    /// Allowed types; empty means the base types.
    pub types: Vec<TypeRule>,
    /// A value the element must equal exactly.
    pub fixed: Option<Value>,
    /// A value the element must contain.
    pub pattern: Option<Value>,
    /// The value set its codes come from.
    pub binding: Option<Binding>,
    /// The definition's short description, quoted in messages.
    pub short: Option<String>,
}

/// An allowed type, with the profiles a Reference may point at.
#[derive(Debug)]
pub(crate) struct TypeRule {
    /// FHIR type code (`dateTime`, `Reference`).
    pub code: String,
    /// Canonical URLs of allowed reference targets.
    pub target_profiles: Vec<String>,
}

/// How strongly codes are bound to a value set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Strength {
    /// Codes must come from the value set.
    Required,
    /// Codes should come from the value set when one fits.
    Extensible,
    /// Advice only: not checked.
    Advisory,
}

/// A binding to a value set.
#[derive(Debug)]
pub(crate) struct Binding {
    /// How strongly.
    pub strength: Strength,
    /// The value set's canonical URL.
    pub value_set: String,
}

impl Profile {
    /// Reads a StructureDefinition resource.
    pub fn parse(file: &str, sd: &Value) -> Result<Self, DefinitionError> {
        let text = |key: &str| {
            sd.get(key)
                .and_then(Value::as_str)
                .map(str::to_owned)
                .ok_or_else(|| {
                    DefinitionError::new(file, format!("StructureDefinition.{key} is missing"))
                })
        };
        let url = text("url")?;
        let resource_type = text("type")?;
        let base = sd
            .get("baseDefinition")
            .and_then(Value::as_str)
            .map(str::to_owned);
        let elements = sd
            .pointer("/differential/element")
            .and_then(Value::as_array)
            .ok_or_else(|| {
                DefinitionError::new(file, "StructureDefinition.differential.element is missing")
            })?;
        let by_id: HashMap<&str, &Value> = elements
            .iter()
            .filter_map(|e| Some((e.get("id").and_then(Value::as_str)?, e)))
            .collect();
        let mut rules = Vec::new();
        for element in elements {
            let id = element
                .get("id")
                .and_then(Value::as_str)
                .ok_or_else(|| DefinitionError::new(file, "a differential element has no id"))?;
            let mut parts = id.split('.');
            if parts.next() != Some(resource_type.as_str()) {
                return Err(DefinitionError::new(
                    file,
                    format!("element {id} does not start with {resource_type}"),
                ));
            }
            let mut steps = Vec::new();
            let mut prefix = resource_type.clone();
            for part in parts {
                let (name, slice) = match part.split_once(':') {
                    Some((name, slice)) => (name, Some(slice)),
                    None => (part, None),
                };
                let slicing_id = format!("{prefix}.{name}");
                prefix = format!("{prefix}.{part}");
                let slice = match slice {
                    None => None,
                    Some(_) => Some(slice_of(file, &by_id, &slicing_id, &prefix)?),
                };
                steps.push(Step {
                    name: name.to_owned(),
                    slice,
                });
            }
            if steps.is_empty() {
                continue;
            }
            rules.push(ElementRule::parse(file, id, steps, element)?);
        }
        Ok(Profile {
            url,
            resource_type,
            base,
            rules,
        })
    }
}

/// Builds a slice from its parent's discriminators and the values the slice fixes for them.
fn slice_of(
    file: &str,
    by_id: &HashMap<&str, &Value>,
    slicing_id: &str,
    slice_id: &str,
) -> Result<Slice, DefinitionError> {
    let discriminators = by_id
        .get(slicing_id)
        .and_then(|e| e.pointer("/slicing/discriminator"))
        .and_then(Value::as_array)
        .ok_or_else(|| {
            DefinitionError::new(
                file,
                format!("{slice_id} is a slice but {slicing_id} has no slicing discriminator"),
            )
        })?;
    let mut out = Vec::new();
    for d in discriminators {
        let kind = d.get("type").and_then(Value::as_str).unwrap_or_default();
        let path = d.get("path").and_then(Value::as_str).unwrap_or_default();
        if !matches!(kind, "value" | "pattern") || path.is_empty() {
            return Err(DefinitionError::new(
                file,
                format!(
                    "{slicing_id}: only value and pattern discriminators with a path are supported"
                ),
            ));
        }
        let fixing = by_id
            .get(format!("{slice_id}.{path}").as_str())
            .and_then(|e| fixed_or_pattern(e, "fixed").or_else(|| fixed_or_pattern(e, "pattern")))
            .ok_or_else(|| {
                DefinitionError::new(
                    file,
                    format!("{slice_id}.{path} must fix the discriminator's value"),
                )
            })?;
        out.push((path.split('.').map(str::to_owned).collect(), fixing));
    }
    Ok(Slice {
        discriminators: out,
    })
}

/// The value of the element's `fixed[x]` or `pattern[x]` (per `prefix`).
fn fixed_or_pattern(element: &Value, prefix: &str) -> Option<Value> {
    element.as_object()?.iter().find_map(|(k, v)| {
        (k.len() > prefix.len()
            && k.starts_with(prefix)
            && k[prefix.len()..].starts_with(|c: char| c.is_ascii_uppercase()))
        .then(|| v.clone())
    })
}

impl ElementRule {
    fn parse(
        file: &str,
        id: &str,
        steps: Vec<Step>,
        element: &Value,
    ) -> Result<Self, DefinitionError> {
        let min = element
            .get("min")
            .map(|m| {
                m.as_u64()
                    .and_then(|m| u32::try_from(m).ok())
                    .ok_or_else(|| DefinitionError::new(file, format!("{id}.min is not a count")))
            })
            .transpose()?;
        let max = match element.get("max").and_then(Value::as_str) {
            None | Some("*") => None,
            Some(m) => Some(m.parse().map_err(|_| {
                DefinitionError::new(file, format!("{id}.max must be a count or *"))
            })?),
        };
        let types = element
            .get("type")
            .and_then(Value::as_array)
            .map(|types| {
                types
                    .iter()
                    .map(|t| TypeRule {
                        code: t
                            .get("code")
                            .and_then(Value::as_str)
                            .unwrap_or_default()
                            .to_owned(),
                        target_profiles: t
                            .get("targetProfile")
                            .and_then(Value::as_array)
                            .map(|ps| {
                                ps.iter()
                                    .filter_map(Value::as_str)
                                    .map(str::to_owned)
                                    .collect()
                            })
                            .unwrap_or_default(),
                    })
                    .collect()
            })
            .unwrap_or_default();
        let binding = match element.get("binding") {
            None => None,
            Some(b) => {
                let strength = match b.get("strength").and_then(Value::as_str) {
                    Some("required") => Strength::Required,
                    Some("extensible") => Strength::Extensible,
                    Some("preferred" | "example") => Strength::Advisory,
                    _ => {
                        return Err(DefinitionError::new(
                            file,
                            format!("{id}.binding.strength is not a binding strength"),
                        ));
                    }
                };
                let value_set = b
                    .get("valueSet")
                    .and_then(Value::as_str)
                    .ok_or_else(|| {
                        DefinitionError::new(file, format!("{id}.binding.valueSet is missing"))
                    })?
                    .to_owned();
                Some(Binding {
                    strength,
                    value_set,
                })
            }
        };
        Ok(ElementRule {
            id: id.to_owned(),
            steps,
            min,
            max,
            types,
            fixed: fixed_or_pattern(element, "fixed"),
            pattern: fixed_or_pattern(element, "pattern"),
            binding,
            short: element
                .get("short")
                .and_then(Value::as_str)
                .map(str::to_owned),
        })
    }
}
