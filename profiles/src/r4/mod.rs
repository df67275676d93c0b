//! The FHIR R4 base specification as data: the StructureDefinition snapshots in
//! `profiles/definitions/r4/`, read once into the element tree that structure, cardinality and
//! primitive checks walk.

mod definition;
mod primitive;
mod walk;

use std::collections::HashMap;
use std::sync::LazyLock;

use crate::fhirpath::Invariant;
use crate::validation::DefinitionError;
use definition::{Definition, ElementDefinition, TypeRef};
use primitive::Primitive;

/// The name prefix of the embedded base definitions (`r4/StructureDefinition-Patient.json`).
pub(crate) const PREFIX: &str = "r4/";

const FHIR_TYPE_EXTENSION: &str =
    "http://hl7.org/fhir/StructureDefinition/structuredefinition-fhir-type";
const SYSTEM_TYPE: &str = "http://hl7.org/fhirpath/System.";

/// Every datatype, resource and backbone element of the held base definitions.
#[derive(Debug)]
pub(crate) struct Base {
    structs: Vec<Struct>,
    primitives: Vec<Primitive>,
    /// Resource type → its struct.
    resources: HashMap<String, usize>,
    /// The `Element` struct: the shape of a primitive's `_name` companion.
    element: usize,
    /// The `Reference` struct, whose `reference` has a lexical form of its own.
    reference: usize,
    /// Every distinct constraint of the definitions, compiled once.
    invariants: Vec<Invariant>,
}

/// An object in FHIR JSON: a datatype, a resource or a backbone element.
#[derive(Debug)]
struct Struct {
    /// The definition's name for it: `Extension`, `Bundle.entry`.
    name: String,
    /// Whether it is a resource (and so carries `resourceType`).
    resource: bool,
    fields: Vec<Field>,
    /// JSON member name (`status`, `valueString`) → (field, index into its types).
    keys: HashMap<String, (usize, usize)>,
    /// The invariants of the type or backbone element itself, as indices into `Base::invariants`.
    invariants: Vec<usize>,
}

/// One element of a struct, from its snapshot ElementDefinition.
#[derive(Debug)]
struct Field {
    /// The element name as defined (`status`, `value[x]`).
    name: String,
    min: u32,
    /// `None` is unbounded.
    max: Option<u32>,
    /// Whether FHIR JSON sends it as an array (the base cardinality allows more than one).
    array: bool,
    types: Vec<Kind>,
    /// Invariants on this element that its type's own do not already cover.
    invariants: Vec<usize>,
}

#[derive(Debug, Clone, Copy)]
enum Kind {
    Primitive(usize),
    Complex(usize),
    /// Any resource, chosen by its `resourceType`.
    Resource,
}

static STANDARD: LazyLock<Result<Base, DefinitionError>> = LazyLock::new(load);

/// Reads the embedded base definitions into a new tree (start-up does this once).
fn load() -> Result<Base, DefinitionError> {
    Base::from_definitions(
        crate::embedded::EMBEDDED
            .iter()
            .filter(|(name, _)| name.starts_with(PREFIX))
            .copied(),
    )
}

/// Builds the base definitions' tree afresh, as start-up does once: for the benchmark of the
/// start-up cost, since `Validator::standard()` reads them only on first use.
#[doc(hidden)]
pub fn load_base_definitions() -> Result<(), DefinitionError> {
    load().map(drop)
}

impl Base {
    /// The base definitions shipped in `profiles/definitions/r4/`, read on first use.
    pub(crate) fn standard() -> Result<&'static Base, DefinitionError> {
        STANDARD.as_ref().map_err(Clone::clone)
    }

    /// Whether `name` is a resource type of FHIR R4 that can be sent (not an abstract one).
    pub(crate) fn is_resource(&self, name: &str) -> bool {
        self.resources.contains_key(name)
    }

    /// The key of every compiled invariant (each definition's constraints compile, or the base
    /// definitions fail to load).
    #[cfg(test)]
    pub(crate) fn invariant_keys(&self) -> Vec<&str> {
        self.invariants.iter().map(|i| i.key.as_str()).collect()
    }

    fn from_definitions<'a>(
        files: impl Iterator<Item = (&'a str, &'a str)>,
    ) -> Result<Base, DefinitionError> {
        let mut sds = Vec::new();
        for (file, text) in files {
            let sd: Definition<'_> = serde_json::from_str(text).map_err(|e| {
                DefinitionError::new(file, format!("not a StructureDefinition: {e}"))
            })?;
            sds.push((file, sd));
        }
        let mut primitives = Vec::new();
        let mut primitive_index = HashMap::new();
        for (file, sd) in &sds {
            if sd.kind == "primitive-type" {
                let p = Primitive::from_definition(file, sd)?;
                primitive_index.insert(p.name.clone(), primitives.len());
                primitives.push(p);
            }
        }
        // First pass: a struct for every type and for every element with children of its own.
        let mut structs = Vec::new();
        let mut by_path: HashMap<String, usize> = HashMap::new();
        let mut resources = HashMap::new();
        let mut complex = Vec::new();
        let mut table = Table::default();
        for (file, sd) in &sds {
            if sd.kind == "primitive-type" {
                continue;
            }
            let elements = &sd.snapshot.element;
            let paths: Vec<&str> = elements.iter().map(|e| &*e.path).collect();
            if paths.first() != Some(&&*sd.id) {
                return Err(DefinitionError::new(
                    file,
                    "the snapshot's first element is not the type itself",
                ));
            }
            let resource = sd.kind == "resource";
            // Every path that is some element's parent: those elements get a struct of their own.
            let parents: std::collections::HashSet<&str> = paths
                .iter()
                .filter_map(|p| p.rsplit_once('.').map(|(parent, _)| parent))
                .collect();
            for (i, path) in paths.iter().enumerate() {
                if i == 0 || parents.contains(path) {
                    by_path.insert((*path).to_owned(), structs.len());
                    // Resource and DomainResource are never sent as themselves.
                    if i == 0 && resource && !sd.is_abstract {
                        resources.insert((*path).to_owned(), structs.len());
                    }
                    let invariants = table.add(file, &elements[i])?;
                    structs.push(Struct {
                        name: (*path).to_owned(),
                        resource: i == 0 && resource,
                        fields: Vec::new(),
                        keys: HashMap::new(),
                        invariants,
                    });
                }
            }
            complex.push((*file, elements, resource));
        }
        // Second pass: each element becomes a field of the struct at its parent path.
        for (file, elements, resource) in complex {
            for element in elements.iter().skip(1) {
                let path = &*element.path;
                let Some((parent, name)) = path.rsplit_once('.') else {
                    continue;
                };
                let Some(&owner) = by_path.get(parent) else {
                    return Err(DefinitionError::new(
                        file,
                        format!("{path}: no parent {parent}"),
                    ));
                };
                let min = element.min;
                let max = cardinality(file, path, &element.max)?;
                let base_max = match &element.base {
                    Some(b) => cardinality(file, path, &b.max)?,
                    None => max,
                };
                let array = base_max != Some(1) && base_max != Some(0);
                let mut types = Vec::new();
                let mut codes = Vec::new();
                if let Some(reference) = element.content_reference.as_deref() {
                    let target = reference.trim_start_matches('#');
                    let &s = by_path.get(target).ok_or_else(|| {
                        DefinitionError::new(file, format!("{path}: no element {target}"))
                    })?;
                    types.push(Kind::Complex(s));
                    codes.push(String::new());
                } else if let Some(&s) = by_path.get(path) {
                    types.push(Kind::Complex(s));
                    codes.push(String::new());
                } else {
                    let listed = element
                        .types
                        .as_ref()
                        .ok_or_else(|| DefinitionError::new(file, format!("{path} has no type")))?;
                    for t in listed {
                        let code = fhir_type(t).ok_or_else(|| {
                            DefinitionError::new(
                                file,
                                format!("{path}: a FHIRPath type without its FHIR type"),
                            )
                        })?;
                        // R4 gives Resource.id the FHIRPath String type; the specification's
                        // resource pages and every validator treat it as `id`.
                        let code = if resource && name == "id" && !parent.contains('.') {
                            "id"
                        } else {
                            code
                        };
                        let kind = if code == "Resource" {
                            Kind::Resource
                        } else if let Some(&p) = primitive_index.get(code) {
                            Kind::Primitive(p)
                        } else if let Some(&s) = by_path.get(code) {
                            Kind::Complex(s)
                        } else {
                            return Err(DefinitionError::new(
                                file,
                                format!(
                                    "{path} has type {code}, which is not among the definitions"
                                ),
                            ));
                        };
                        types.push(kind);
                        codes.push(code.to_owned());
                    }
                }
                let invariants = if by_path.contains_key(path) {
                    // A backbone element: its struct evaluates them.
                    Vec::new()
                } else {
                    table
                        .add(file, element)?
                        .into_iter()
                        .filter(|&i| {
                            let key = table.invariants[i].key.as_str();
                            !types.iter().all(|kind| match kind {
                                Kind::Complex(s) => structs[*s]
                                    .invariants
                                    .iter()
                                    .any(|&j| table.invariants[j].key == key),
                                // A primitive's ele-1 is its lexical check (a value or a
                                // companion); txt-1/txt-2 have the narrative checker.
                                Kind::Primitive(_) => matches!(key, "ele-1" | "txt-1" | "txt-2"),
                                Kind::Resource => key == "ele-1",
                            })
                        })
                        .collect()
                };
                let s = &mut structs[owner];
                let field = s.fields.len();
                match name.strip_suffix("[x]") {
                    Some(stem) => {
                        for (i, code) in codes.iter().enumerate() {
                            let mut key = stem.to_owned();
                            let mut chars = code.chars();
                            if let Some(first) = chars.next() {
                                key.extend(first.to_uppercase());
                                key.push_str(chars.as_str());
                            }
                            s.keys.insert(key, (field, i));
                        }
                    }
                    None => {
                        s.keys.insert(name.to_owned(), (field, 0));
                    }
                }
                s.fields.push(Field {
                    name: name.to_owned(),
                    min,
                    max,
                    array,
                    types,
                    invariants,
                });
            }
        }
        let find = |name: &str| {
            by_path.get(name).copied().ok_or_else(|| {
                DefinitionError::new(PREFIX, format!("the base definitions lack {name}"))
            })
        };
        Ok(Base {
            element: find("Element")?,
            reference: find("Reference")?,
            structs,
            primitives,
            resources,
            invariants: table.invariants,
        })
    }
}

/// The distinct constraints met so far: one compiled invariant per (key, expression).
#[derive(Default)]
struct Table {
    invariants: Vec<Invariant>,
    seen: HashMap<(String, String), usize>,
}

impl Table {
    /// Compiles the element's constraints not met before; returns the indices of all of them.
    fn add(
        &mut self,
        file: &str,
        element: &ElementDefinition<'_>,
    ) -> Result<Vec<usize>, DefinitionError> {
        let mut out = Vec::new();
        for c in element.constraint.iter().flatten() {
            let expression = c.expression.as_deref().ok_or_else(|| {
                DefinitionError::new(file, format!("constraint {} has no expression", c.key))
            })?;
            let id = (c.key.to_string(), expression.to_owned());
            let index = match self.seen.get(&id) {
                Some(&i) => i,
                None => {
                    let inv = Invariant::compile(&c.key, &c.severity, &c.human, expression)
                        .map_err(|e| DefinitionError::new(file, e))?;
                    self.invariants.push(inv);
                    self.seen.insert(id, self.invariants.len() - 1);
                    self.invariants.len() - 1
                }
            };
            if !out.contains(&index) {
                out.push(index);
            }
        }
        Ok(out)
    }
}

fn cardinality(file: &str, path: &str, max: &str) -> Result<Option<u32>, DefinitionError> {
    match max {
        "*" => Ok(None),
        m => m
            .parse()
            .map(Some)
            .map_err(|_| DefinitionError::new(file, format!("{path}.max must be a count or *"))),
    }
}

/// A type's FHIR name; FHIRPath system types carry it in the fhir-type extension.
fn fhir_type<'t>(t: &'t TypeRef<'_>) -> Option<&'t str> {
    if !t.code.starts_with(SYSTEM_TYPE) {
        return Some(&t.code);
    }
    t.extension(FHIR_TYPE_EXTENSION)
}
