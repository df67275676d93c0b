//! Profile-driven validation: Signpost's StructureDefinitions, ValueSets and CodeSystems are data
//! (`profiles/definitions/`), read once; every problem found is reported, each with its location.

mod identifiers;
mod narrative;
mod rules;
mod select;
mod structure;
mod terminology;

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::LazyLock;

use serde_json::Value;

use crate::outcome::{Issue, IssueType, Severity};
use crate::resource::{ParsedResource, parse_resource};
use select::Node;
use structure::Profile;
use terminology::ValueSet;

/// A definition file Signpost cannot use.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}: {message}")]
pub struct DefinitionError {
    /// The file.
    pub file: String,
    /// What is wrong with it.
    pub message: String,
}

impl DefinitionError {
    pub(crate) fn new(file: &str, message: impl Into<String>) -> Self {
        Self {
            file: file.to_owned(),
            message: message.into(),
        }
    }
}

/// Checks resources against the profiles it was built from.
#[derive(Debug)]
pub struct Validator {
    profiles: HashMap<String, Profile>,
    /// Resource type → the profile applied when a resource claims none (a root profile of that type).
    defaults: HashMap<String, String>,
    value_sets: HashMap<String, ValueSet>,
    code_systems: HashMap<String, HashSet<String>>,
}

/// The result of checking a body: the resource if it parsed, and every issue found.
#[derive(Debug)]
pub struct Checked {
    /// The resource, when it is structurally FHIR R4.
    pub resource: Option<ParsedResource>,
    /// Every problem, errors and warnings.
    pub issues: Vec<Issue>,
}

impl Checked {
    /// Whether any issue is an error.
    pub fn has_errors(&self) -> bool {
        has_errors(&self.issues)
    }
}

/// Whether any issue is an error (warnings and information do not refuse a resource).
pub fn has_errors(issues: &[Issue]) -> bool {
    issues.iter().any(|i| i.severity == Severity::Error)
}

static STANDARD: LazyLock<Result<Validator, DefinitionError>> =
    LazyLock::new(|| Validator::from_definitions(crate::embedded::EMBEDDED.iter().copied()));

impl Validator {
    /// The validator for the definitions shipped in `profiles/definitions/`, built on first use.
    pub fn standard() -> Result<&'static Validator, DefinitionError> {
        STANDARD.as_ref().map_err(Clone::clone)
    }

    /// Builds a validator from the shipped definitions plus every `.json` definition in `dir`.
    pub fn with_dir(dir: &Path) -> Result<Validator, DefinitionError> {
        let io =
            |e: std::io::Error| DefinitionError::new(&dir.display().to_string(), e.to_string());
        let mut extra = Vec::new();
        for entry in std::fs::read_dir(dir).map_err(io)? {
            let path = entry.map_err(io)?.path();
            if path.extension().is_some_and(|x| x == "json") {
                let text = std::fs::read_to_string(&path).map_err(io)?;
                extra.push((path.display().to_string(), text));
            }
        }
        let all = crate::embedded::EMBEDDED
            .iter()
            .copied()
            .chain(extra.iter().map(|(n, t)| (n.as_str(), t.as_str())));
        Validator::from_definitions(all)
    }

    /// Builds a validator from (file name, JSON) pairs of StructureDefinitions, ValueSets and CodeSystems.
    pub fn from_definitions<'a>(
        files: impl Iterator<Item = (&'a str, &'a str)>,
    ) -> Result<Validator, DefinitionError> {
        let mut validator = Validator {
            profiles: HashMap::new(),
            defaults: HashMap::new(),
            value_sets: HashMap::new(),
            code_systems: HashMap::new(),
        };
        // The base definitions are the specification, not profiles: `crate::r4` reads them.
        crate::r4::Base::standard()?;
        for (file, text) in files.filter(|(name, _)| !name.starts_with(crate::r4::PREFIX)) {
            let json: Value = serde_json::from_str(text)
                .map_err(|e| DefinitionError::new(file, format!("not JSON: {e}")))?;
            match json.get("resourceType").and_then(Value::as_str) {
                Some("StructureDefinition") => {
                    let profile = Profile::parse(file, &json)?;
                    validator.profiles.insert(profile.url.clone(), profile);
                }
                Some("ValueSet") => {
                    let (url, vs) = ValueSet::parse(file, &json)?;
                    validator.value_sets.insert(url, vs);
                }
                Some("CodeSystem") => {
                    let (url, codes) = terminology::parse_code_system(file, &json)?;
                    validator.code_systems.insert(url, codes);
                }
                other => {
                    return Err(DefinitionError::new(
                        file,
                        format!(
                            "expected a StructureDefinition, ValueSet or CodeSystem, found {other:?}"
                        ),
                    ));
                }
            }
        }
        validator.check_consistency()?;
        let mut defaults: Vec<(&String, &Profile)> = validator
            .profiles
            .iter()
            .filter(|(_, p)| {
                p.base
                    .as_ref()
                    .is_none_or(|b| !validator.profiles.contains_key(b))
            })
            .collect();
        defaults.sort_by_key(|(url, _)| url.as_str());
        for (url, profile) in defaults {
            if let Some(previous) = validator.defaults.get(&profile.resource_type) {
                return Err(DefinitionError::new(
                    url,
                    format!(
                        "{previous} is already the root profile for {}",
                        profile.resource_type
                    ),
                ));
            }
            validator
                .defaults
                .insert(profile.resource_type.clone(), url.clone());
        }
        Ok(validator)
    }

    /// Every binding names a value set that is held; every derived profile's base has its type.
    fn check_consistency(&self) -> Result<(), DefinitionError> {
        for profile in self.profiles.values() {
            for rule in &profile.rules {
                if let Some(binding) = &rule.binding
                    && !self.value_sets.contains_key(&binding.value_set)
                {
                    return Err(DefinitionError::new(
                        &profile.url,
                        format!(
                            "{} is bound to {}, which is not among the definitions",
                            rule.id, binding.value_set
                        ),
                    ));
                }
            }
            if let Some(base) = profile.base.as_ref().and_then(|b| self.profiles.get(b))
                && base.resource_type != profile.resource_type
            {
                return Err(DefinitionError::new(
                    &profile.url,
                    "derives from a profile of another resource type",
                ));
            }
        }
        Ok(())
    }

    /// The held profiles: (canonical URL, resource type), sorted by URL.
    pub fn profiles(&self) -> Vec<(&str, &str)> {
        let mut out: Vec<_> = self
            .profiles
            .values()
            .map(|p| (p.url.as_str(), p.resource_type.as_str()))
            .collect();
        out.sort_unstable();
        out
    }

    /// The profile applied to a resource of this type that claims none.
    pub fn default_profile(&self, resource_type: &str) -> Option<&str> {
        self.defaults.get(resource_type).map(String::as_str)
    }

    fn value_set(&self, url: &str) -> Option<&ValueSet> {
        self.value_sets.get(url)
    }

    /// The resource type a reference's target profile stands for.
    fn target_type<'u>(&'u self, url: &'u str) -> &'u str {
        match self.profiles.get(url) {
            Some(p) => &p.resource_type,
            None => url.rsplit('/').next().unwrap_or(url),
        }
    }

    /// Parses `bytes` as FHIR R4 (fhirbolt, strict) and, if that succeeds, checks it against the profiles.
    pub fn check(&self, bytes: &[u8], expected: Option<&str>) -> Checked {
        match parse_resource(bytes, expected) {
            Ok(resource) => {
                // The profiles' issues first: a warning of the base (no narrative) is the least.
                let mut issues = self.validate(&resource.json);
                issues.extend(resource.warnings.iter().cloned());
                Checked {
                    issues,
                    resource: Some(resource),
                }
            }
            Err(e) => Checked {
                resource: None,
                issues: e.issues(),
            },
        }
    }

    /// Every problem with an already parsed resource, and with any resource inside it
    /// (contained resources, Bundle entries).
    pub fn validate(&self, resource: &Value) -> Vec<Issue> {
        let mut issues = Vec::new();
        let name = resource
            .get("resourceType")
            .and_then(Value::as_str)
            .unwrap_or("Resource");
        self.validate_at(resource, name, resource, &mut issues);
        issues
    }

    /// Validates `resource`, located at `expr`, whose local references resolve in `container`.
    fn validate_at(
        &self,
        resource: &Value,
        expr: &str,
        container: &Value,
        issues: &mut Vec<Issue>,
    ) {
        let Some(resource_type) = resource.get("resourceType").and_then(Value::as_str) else {
            issues.push(
                Issue::error(IssueType::Structure, "a resource needs a resourceType").at(expr),
            );
            return;
        };
        narrative::check(resource, expr, issues);
        let root = Node::root(expr, resource);
        let cx = rules::Context {
            validator: self,
            container,
        };
        for profile in self.profiles_for(resource, resource_type, expr, issues) {
            for rule in &profile.rules {
                rules::apply(rule, &root, &cx, issues);
            }
        }
        for (nested, at) in identifiers::walk(resource, expr, issues) {
            // A contained resource's local references resolve in its container; a Bundle entry stands alone.
            let inner_container = if at.starts_with(&format!("{expr}.contained[")) {
                container
            } else {
                nested
            };
            self.validate_at(nested, &at, inner_container, issues);
        }
    }

    /// The profiles to apply: the type's default, those claimed in `meta.profile`, and every held ancestor.
    fn profiles_for(
        &self,
        resource: &Value,
        resource_type: &str,
        expr: &str,
        issues: &mut Vec<Issue>,
    ) -> Vec<&Profile> {
        let mut urls: Vec<&str> = self.default_profile(resource_type).into_iter().collect();
        let claims = resource
            .pointer("/meta/profile")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or_default();
        for (i, claim) in claims.iter().enumerate() {
            let Some(claim) = claim.as_str() else {
                continue;
            };
            let at = format!("{expr}.meta.profile[{i}]");
            match self.profiles.get(claim) {
                Some(p) if p.resource_type != resource_type => issues.push(
                    Issue::error(
                        IssueType::Invalid,
                        format!("{claim} is a profile of {}, not {resource_type}", p.resource_type),
                    )
                    .at(at),
                ),
                Some(p) => urls.push(&p.url),
                None if urls.iter().any(|u| self.ancestry(u).any(|a| a.base.as_deref() == Some(claim))) => {}
                None => issues.push(
                    Issue::new(
                        Severity::Warning,
                        IssueType::NotSupported,
                        format!(
                            "Signpost does not hold the profile {claim}; the resource was checked against {}",
                            self.default_profile(resource_type).unwrap_or("FHIR R4 alone")
                        ),
                    )
                    .at(at),
                ),
            }
        }
        let mut seen = HashSet::new();
        urls.iter()
            .flat_map(|u| self.ancestry(u))
            .filter(|p| seen.insert(p.url.as_str()))
            .collect()
    }

    /// A held profile followed by its held bases.
    fn ancestry<'s>(&'s self, url: &'s str) -> impl Iterator<Item = &'s Profile> + 's {
        std::iter::successors(self.profiles.get(url), |p| {
            p.base.as_ref().and_then(|b| self.profiles.get(b))
        })
        .take(16)
    }
}

#[cfg(test)]
mod tests;
