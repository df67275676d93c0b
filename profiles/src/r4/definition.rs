//! The parts of an R4 StructureDefinition the base tree is built from, read straight into typed
//! structs (borrowing the embedded text) rather than a generic JSON tree: reading every base
//! definition this way is what keeps start-up quick.

use std::borrow::Cow;

use serde::Deserialize;

/// A StructureDefinition: its type and its snapshot.
#[derive(Debug, Deserialize)]
pub(super) struct Definition<'a> {
    #[serde(borrow)]
    pub id: Cow<'a, str>,
    #[serde(borrow)]
    pub kind: Cow<'a, str>,
    /// `Resource` and `DomainResource` are never sent as themselves.
    #[serde(rename = "abstract")]
    pub is_abstract: bool,
    #[serde(borrow)]
    pub snapshot: Snapshot<'a>,
}

/// The snapshot: every element, in document order.
#[derive(Debug, Deserialize)]
pub(super) struct Snapshot<'a> {
    #[serde(borrow)]
    pub element: Vec<ElementDefinition<'a>>,
}

/// One ElementDefinition.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct ElementDefinition<'a> {
    #[serde(borrow)]
    pub path: Cow<'a, str>,
    pub min: u32,
    /// A count or `*`.
    #[serde(borrow)]
    pub max: Cow<'a, str>,
    #[serde(borrow)]
    pub base: Option<BaseCardinality<'a>>,
    #[serde(borrow)]
    pub content_reference: Option<Cow<'a, str>>,
    #[serde(borrow, rename = "type")]
    pub types: Option<Vec<TypeRef<'a>>>,
    #[serde(borrow)]
    pub constraint: Option<Vec<Constraint<'a>>>,
}

/// The cardinality of the element in the base resource or datatype.
#[derive(Debug, Deserialize)]
pub(super) struct BaseCardinality<'a> {
    #[serde(borrow)]
    pub max: Cow<'a, str>,
}

/// One of an element's types.
#[derive(Debug, Deserialize)]
pub(super) struct TypeRef<'a> {
    #[serde(borrow)]
    pub code: Cow<'a, str>,
    #[serde(borrow)]
    pub extension: Option<Vec<TypeExtension<'a>>>,
}

/// A type extension: the FHIR name of a FHIRPath system type, or a primitive's regex.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct TypeExtension<'a> {
    #[serde(borrow)]
    pub url: Cow<'a, str>,
    #[serde(borrow)]
    pub value_url: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub value_uri: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub value_string: Option<Cow<'a, str>>,
}

impl TypeExtension<'_> {
    /// The extension's value, whichever string type it is sent as.
    pub fn value(&self) -> Option<&str> {
        self.value_url
            .as_deref()
            .or(self.value_uri.as_deref())
            .or(self.value_string.as_deref())
    }
}

/// A `constraint`: an invariant in FHIRPath.
#[derive(Debug, Deserialize)]
pub(super) struct Constraint<'a> {
    #[serde(borrow)]
    pub key: Cow<'a, str>,
    #[serde(borrow)]
    pub severity: Cow<'a, str>,
    #[serde(borrow)]
    pub human: Cow<'a, str>,
    /// Every R4 base constraint has one; a definition without it fails to load.
    #[serde(borrow)]
    pub expression: Option<Cow<'a, str>>,
}

impl TypeRef<'_> {
    /// The value of the type extension at `url`.
    pub fn extension(&self, url: &str) -> Option<&str> {
        self.extension
            .iter()
            .flatten()
            .find(|e| e.url == url)
            .and_then(TypeExtension::value)
    }
}
