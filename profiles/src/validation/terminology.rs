//! ValueSets and CodeSystems the profiles bind to, and whether a code is in one.

use std::collections::{HashMap, HashSet};

use serde_json::Value;

use super::DefinitionError;

/// A value set: the codes it includes, system by system.
#[derive(Debug)]
pub(crate) struct ValueSet {
    /// Computer-friendly name, used in messages.
    pub name: String,
    includes: Vec<Include>,
}

/// Codes from one system; `None` means every code of that system.
#[derive(Debug)]
struct Include {
    system: String,
    codes: Option<HashSet<String>>,
}

/// Whether a code belongs to a value set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Membership {
    /// It does.
    In,
    /// It does not.
    Out,
    /// The value set takes a whole system Signpost holds no list of (SNOMED CT): assumed in.
    Unknowable,
}

impl ValueSet {
    /// Reads a ValueSet resource (`compose.include` of systems, with or without concept lists).
    pub fn parse(file: &str, vs: &Value) -> Result<(String, Self), DefinitionError> {
        let url = vs
            .get("url")
            .and_then(Value::as_str)
            .ok_or_else(|| DefinitionError::new(file, "ValueSet.url is missing"))?;
        let name = vs
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or(url)
            .to_owned();
        let includes = vs
            .pointer("/compose/include")
            .and_then(Value::as_array)
            .ok_or_else(|| DefinitionError::new(file, "ValueSet.compose.include is missing"))?
            .iter()
            .map(|inc| {
                let system = inc
                    .get("system")
                    .and_then(Value::as_str)
                    .ok_or_else(|| {
                        DefinitionError::new(file, "every ValueSet.compose.include needs a system")
                    })?
                    .to_owned();
                let codes = inc.get("concept").and_then(Value::as_array).map(|cs| {
                    cs.iter()
                        .filter_map(|c| c.get("code").and_then(Value::as_str))
                        .map(str::to_owned)
                        .collect()
                });
                Ok(Include { system, codes })
            })
            .collect::<Result<_, DefinitionError>>()?;
        Ok((url.to_owned(), ValueSet { name, includes }))
    }

    /// Whether `code` (from `system`, when the element is a Coding) is in this value set.
    pub fn contains(
        &self,
        system: Option<&str>,
        code: &str,
        code_systems: &HashMap<String, HashSet<String>>,
    ) -> Membership {
        let mut unknowable = false;
        for include in self
            .includes
            .iter()
            .filter(|i| system.is_none_or(|s| s == i.system))
        {
            let codes = include
                .codes
                .as_ref()
                .or_else(|| code_systems.get(&include.system));
            match codes {
                Some(codes) if codes.contains(code) => return Membership::In,
                Some(_) => {}
                None => unknowable = true,
            }
        }
        if unknowable {
            Membership::Unknowable
        } else {
            Membership::Out
        }
    }

    /// A few of the codes, for a message that says what would have been accepted.
    pub fn examples<'s>(
        &'s self,
        code_systems: &'s HashMap<String, HashSet<String>>,
    ) -> Vec<&'s str> {
        let mut codes: Vec<&str> = self
            .includes
            .iter()
            .filter_map(|i| i.codes.as_ref().or_else(|| code_systems.get(&i.system)))
            .flatten()
            .map(String::as_str)
            .collect();
        codes.sort_unstable();
        codes.truncate(12);
        codes
    }
}

/// Reads a CodeSystem resource's URL and codes (nested concepts included).
pub(crate) fn parse_code_system(
    file: &str,
    cs: &Value,
) -> Result<(String, HashSet<String>), DefinitionError> {
    let url = cs
        .get("url")
        .and_then(Value::as_str)
        .ok_or_else(|| DefinitionError::new(file, "CodeSystem.url is missing"))?;
    let mut codes = HashSet::new();
    collect_codes(cs.get("concept"), &mut codes);
    if codes.is_empty() {
        return Err(DefinitionError::new(file, "CodeSystem.concept is empty"));
    }
    Ok((url.to_owned(), codes))
}

fn collect_codes(concepts: Option<&Value>, codes: &mut HashSet<String>) {
    for concept in concepts.and_then(Value::as_array).into_iter().flatten() {
        if let Some(code) = concept.get("code").and_then(Value::as_str) {
            codes.insert(code.to_owned());
        }
        collect_codes(concept.get("concept"), codes);
    }
}
