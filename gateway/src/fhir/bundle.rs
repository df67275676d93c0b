//! searchset and history Bundles, written around stored JSON without re-parsing it.

use serde::Serialize;
use serde_json::value::RawValue;

use crate::store::StoredResource;

#[derive(Serialize)]
struct Link {
    relation: &'static str,
    url: String,
}

#[derive(Serialize)]
struct SearchMode {
    mode: &'static str,
}

#[derive(Serialize)]
struct EntryRequest {
    method: &'static str,
    url: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct EntryResponse {
    status: &'static str,
    etag: String,
    last_modified: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Entry<'a> {
    full_url: String,
    resource: &'a RawValue,
    #[serde(skip_serializing_if = "Option::is_none")]
    search: Option<SearchMode>,
    #[serde(skip_serializing_if = "Option::is_none")]
    request: Option<EntryRequest>,
    #[serde(skip_serializing_if = "Option::is_none")]
    response: Option<EntryResponse>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Bundle<'a> {
    resource_type: &'static str,
    #[serde(rename = "type")]
    kind: &'static str,
    total: i64,
    link: Vec<Link>,
    entry: Vec<Entry<'a>>,
}

fn full_url(fhir_base: &str, r: &StoredResource) -> String {
    format!("{fhir_base}/{}/{}", r.resource_type, r.id)
}

/// A searchset Bundle with `total`, a self link and, when more matches remain, a next link.
pub fn searchset(
    fhir_base: &str,
    resources: &[StoredResource],
    total: i64,
    self_url: String,
    next_url: Option<String>,
) -> String {
    let mut link = vec![Link {
        relation: "self",
        url: self_url,
    }];
    if let Some(url) = next_url {
        link.push(Link {
            relation: "next",
            url,
        });
    }
    let entry = resources
        .iter()
        .map(|r| Entry {
            full_url: full_url(fhir_base, r),
            resource: &r.body,
            search: Some(SearchMode { mode: "match" }),
            request: None,
            response: None,
        })
        .collect();
    serde_json::to_string(&Bundle {
        resource_type: "Bundle",
        kind: "searchset",
        total,
        link,
        entry,
    })
    .unwrap_or_default()
}

/// A history Bundle, newest version first; version 1 is shown as the create.
pub fn history(fhir_base: &str, versions: &[StoredResource], self_url: String) -> String {
    let entry = versions
        .iter()
        .map(|r| Entry {
            full_url: full_url(fhir_base, r),
            resource: &r.body,
            search: None,
            request: Some(if r.version == 1 {
                EntryRequest {
                    method: "POST",
                    url: r.resource_type.clone(),
                }
            } else {
                EntryRequest {
                    method: "PUT",
                    url: format!("{}/{}", r.resource_type, r.id),
                }
            }),
            response: Some(EntryResponse {
                status: if r.version == 1 {
                    "201 Created"
                } else {
                    "200 OK"
                },
                etag: format!("W/\"{}\"", r.version),
                last_modified: r.last_updated.to_fhir(),
            }),
        })
        .collect();
    let total = i64::try_from(versions.len()).unwrap_or(i64::MAX);
    serde_json::to_string(&Bundle {
        resource_type: "Bundle",
        kind: "history",
        total,
        link: vec![Link {
            relation: "self",
            url: self_url,
        }],
        entry,
    })
    .unwrap_or_default()
}
