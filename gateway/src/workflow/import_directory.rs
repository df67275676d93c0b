//! Bringing directory entries into the store: each service matched to the one already held by
//! its identifier (same feed, same service), created, updated (keeping its declared capacity) or
//! left alone; services of the same source no longer offered are marked inactive, never deleted.

use serde_json::Value;

use crate::directory::capacity::{GRAVITY_CAPACITY_URL, SIGNPOST_CAPACITY_URL};
use crate::directory::feed::{self, FeedError};
use crate::directory::oruk::Problem;
use crate::search_index::index_entries;
use crate::store::{
    ChangeSet, Criterion, Instant, ResourceWrite, SearchQuery, SortOrder, Store, StoreError,
    StoredResource, now,
};
use crate::workflow::WorkflowError;
use crate::workflow::referral::with_identity;
use crate::workflow::service_target::new_version;

/// What one import did.
#[derive(Debug, Default, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ImportCounts {
    /// New services.
    pub created: usize,
    /// Services whose entry changed.
    pub updated: usize,
    /// Services offered again unchanged.
    pub unchanged: usize,
    /// Services of the source no longer offered, now inactive.
    pub deactivated: usize,
}

/// The identifier `system|value` a directory entry is matched by: its first identifier.
fn key_of(service: &Value) -> Option<(String, String)> {
    let identifier = service.pointer("/identifier/0")?;
    Some((
        identifier.get("system")?.as_str()?.to_owned(),
        identifier.get("value")?.as_str()?.to_owned(),
    ))
}

/// The entry without what Signpost itself keeps on it (meta, capacity), to compare with a feed's.
fn content(service: &Value) -> Value {
    let mut c = service.clone();
    if let Some(o) = c.as_object_mut() {
        o.remove("id");
        o.remove("meta");
        if let Some(list) = o.get_mut("extension").and_then(Value::as_array_mut) {
            list.retain(|e| {
                !matches!(
                    e.get("url").and_then(Value::as_str),
                    Some(GRAVITY_CAPACITY_URL | SIGNPOST_CAPACITY_URL)
                )
            });
            if list.is_empty() {
                o.remove("extension");
            }
        }
    }
    c
}

/// The capacity extensions of a stored entry, carried over to its next version.
fn capacity_extensions(service: &Value) -> Vec<Value> {
    service
        .get("extension")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|e| {
            matches!(
                e.get("url").and_then(Value::as_str),
                Some(GRAVITY_CAPACITY_URL | SIGNPOST_CAPACITY_URL)
            )
        })
        .cloned()
        .collect()
}

async fn held(
    store: &dyn Store,
    system: &str,
    value: Option<&str>,
    offset: usize,
) -> Result<Vec<StoredResource>, StoreError> {
    let criteria = match value {
        Some(v) => vec![Criterion::Index {
            param: "identifier",
            any_of: vec![(Some(system.to_owned()), v.to_owned())],
        }],
        None => vec![],
    };
    Ok(store
        .search(&SearchQuery {
            resource_type: "HealthcareService".into(),
            criteria,
            count: 100,
            offset,
            sort: SortOrder::LastUpdatedAscending,
        })
        .await?
        .resources)
}

fn parse(r: &StoredResource) -> Result<Value, StoreError> {
    serde_json::from_str(r.body.get())
        .map_err(|e| StoreError::Corrupt(format!("HealthcareService/{} is not JSON: {e}", r.id)))
}

fn created(service: &Value, at: Instant) -> Result<ResourceWrite, WorkflowError> {
    let id = uuid::Uuid::now_v7().to_string();
    let json = with_identity(service, &id, 1, at);
    Ok(ResourceWrite {
        index: index_entries(&json),
        resource: StoredResource {
            resource_type: "HealthcareService".into(),
            id,
            version: 1,
            last_updated: at,
            body: serde_json::value::to_raw_value(&json)
                .map_err(|e| WorkflowError::Unstorable(e.to_string()))?,
        },
    })
}

/// Imports `services` (HealthcareService JSON with an identifier). When `source_system` is given,
/// it is the identifier system of a whole feed: its held services missing from `services` are
/// marked inactive. Each service is its own change, so one bad write loses nothing else.
pub async fn import_services(
    store: &dyn Store,
    services: &[Value],
    source_system: Option<&str>,
) -> Result<ImportCounts, WorkflowError> {
    let mut counts = ImportCounts::default();
    let mut offered = std::collections::HashSet::new();
    for service in services {
        let (system, value) = key_of(service).ok_or_else(|| {
            WorkflowError::Internal("a directory entry to import has no identifier".into())
        })?;
        offered.insert(value.clone());
        let at = now();
        let existing = held(store, &system, Some(&value), 0).await?;
        let write = match existing.first() {
            None => {
                counts.created += 1;
                created(service, at)?
            }
            Some(stored) => {
                let json = parse(stored)?;
                if content(&json) == content(service) {
                    counts.unchanged += 1;
                    continue;
                }
                let mut next = content(service);
                let kept = capacity_extensions(&json);
                if !kept.is_empty() {
                    let mut ext = next
                        .get("extension")
                        .and_then(Value::as_array)
                        .cloned()
                        .unwrap_or_default();
                    ext.extend(kept);
                    next["extension"] = Value::Array(ext);
                }
                counts.updated += 1;
                new_version(stored, next, at)?
            }
        };
        store
            .commit(ChangeSet {
                writes: vec![write],
                ..ChangeSet::default()
            })
            .await?;
    }
    if let Some(system) = source_system {
        counts.deactivated = deactivate_missing(store, system, &offered).await?;
    }
    // A bulk load leaves the planner's statistics describing the directory before it, and
    // PostgreSQL then plans every search as if each value matched one row.
    if counts.created + counts.updated + counts.deactivated > 0 {
        store.refresh_statistics().await?;
    }
    Ok(counts)
}

/// Marks inactive every active service of `system` not in `offered`.
async fn deactivate_missing(
    store: &dyn Store,
    system: &str,
    offered: &std::collections::HashSet<String>,
) -> Result<usize, WorkflowError> {
    let mut gone = Vec::new();
    let mut offset = 0;
    loop {
        let page = held(store, system, None, offset).await?;
        offset += page.len();
        for stored in &page {
            let json = parse(stored)?;
            let Some((s, v)) = key_of(&json) else {
                continue;
            };
            if s == system
                && !offered.contains(&v)
                && json.get("active") != Some(&Value::Bool(false))
            {
                gone.push((stored.clone(), json));
            }
        }
        if page.len() < 100 {
            break;
        }
    }
    let n = gone.len();
    for (stored, mut json) in gone {
        json["active"] = Value::Bool(false);
        let write = new_version(&stored, json, now())?;
        store
            .commit(ChangeSet {
                writes: vec![write],
                ..ChangeSet::default()
            })
            .await?;
    }
    Ok(n)
}

/// Loads the services declared in the config (`[[directory.service]]`): each created or updated
/// like a feed's (a capacity the provider declared since is kept), and a declared service taken
/// out of the config marked inactive.
pub async fn load_declared(
    store: &dyn Store,
    declared: &[crate::config::ServiceConfig],
) -> Result<ImportCounts, WorkflowError> {
    let at = now();
    let services = declared
        .iter()
        .map(|s| {
            crate::directory::declared::to_healthcare_service(s, at).map_err(|problems| {
                // The config check refuses these at start-up; reaching here is a bug.
                WorkflowError::Internal(format!(
                    "declared service {} was not checked: {problems:?}",
                    s.id
                ))
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    import_services(
        store,
        &services,
        Some(crate::directory::declared::OPERATOR_SERVICE_SYSTEM),
    )
    .await
}

/// The feed quality report of one import.
#[derive(Debug, serde::Serialize)]
pub struct FeedReport {
    /// The feed read.
    pub feed: String,
    /// `v1` or `v3` (absent for a file).
    pub version: Option<&'static str>,
    /// What was written.
    #[serde(flatten)]
    pub counts: ImportCounts,
    /// Each record skipped, and why.
    pub problems: Vec<Problem>,
    /// Each value left out of a record that was imported, and why.
    pub left_out: Vec<Problem>,
}

impl FeedReport {
    /// One line for a terminal or a log.
    pub fn summary(&self) -> String {
        format!(
            "{}: {} created, {} updated, {} unchanged, {} marked inactive, {} record problem(s), \
             {} value(s) left out of imported records",
            self.feed,
            self.counts.created,
            self.counts.updated,
            self.counts.unchanged,
            self.counts.deactivated,
            self.problems.len(),
            self.left_out.len()
        )
    }
}

/// Why an import did not run.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// The feed could not be read at all; nothing was changed.
    #[error(transparent)]
    Feed(#[from] FeedError),
    /// Writing failed part way; what was written stays (each service is its own change).
    #[error(transparent)]
    Workflow(#[from] WorkflowError),
}

/// Imports an Open Referral UK feed (a base URL) or file into the directory. Services of the
/// feed that it no longer lists are marked inactive only when every page was read.
pub async fn import_feed(store: &dyn Store, source: &str) -> Result<FeedReport, ImportError> {
    let read = if source.starts_with("http://") || source.starts_with("https://") {
        feed::read_url(source).await?
    } else {
        feed::read_file(std::path::Path::new(source))?
    };
    let system = feed::system_of(&read);
    let deactivate = (read.complete && source.starts_with("http")).then_some(system.as_str());
    let counts = import_services(store, &read.services, deactivate).await?;
    let report = FeedReport {
        feed: source.to_owned(),
        version: read.version.map(|v| match v {
            crate::directory::oruk::OrukVersion::V1 => "v1",
            crate::directory::oruk::OrukVersion::V3 => "v3",
        }),
        counts,
        problems: read.problems,
        left_out: read.left_out,
    };
    tracing::info!(feed = %report.feed, problems = report.problems.len(), "directory feed imported");
    Ok(report)
}
