//! The report projection: each ServiceRequest's and Task's facts, kept in the store beside the
//! resources and brought up to date from what changed since the watermark whenever a report is
//! asked for. Intake writes nothing extra; a report reads only the facts.
//!
//! Facts are a function of a resource's stored versions alone, so reading a resource twice
//! does no harm: each update reads again from a little before the watermark, which catches a
//! commit that took its timestamp before the watermark's resource but landed after it was read.
//! Each batch is saved with its watermark in one transaction, and only if no other updater
//! moved the watermark meanwhile, so a failure leaves the facts as they were before the batch.

use std::collections::HashMap;

use super::facts::{RequestFacts, TaskFacts, request_facts, task_facts};
use crate::store::{FactRow, Instant, Store, StoreError, Watermark};

/// Resources read and saved per transaction.
const BATCH: usize = 2_000;
/// How far before the watermark each update reads again: longer than a commit may wait between
/// taking its timestamp and landing (the store's call deadline is seconds).
const OVERLAP_US: i64 = 120_000_000;
/// Updaters racing for the watermark: read again this many times before giving up.
const ATTEMPTS: usize = 5;

/// The facts of every referral's resources, as of now.
#[derive(Debug, Default)]
pub struct Facts {
    /// ServiceRequests by id.
    pub requests: HashMap<String, RequestFacts>,
    /// Tasks by id.
    pub tasks: HashMap<String, TaskFacts>,
}

/// Brings the projection up to date, then reads it.
pub async fn current(store: &dyn Store) -> Result<Facts, StoreError> {
    update(store, "ServiceRequest").await?;
    update(store, "Task").await?;
    let mut facts = Facts::default();
    for row in store.facts("ServiceRequest").await? {
        facts.requests.insert(row.id.clone(), parse(&row)?);
    }
    for row in store.facts("Task").await? {
        facts.tasks.insert(row.id.clone(), parse(&row)?);
    }
    Ok(facts)
}

fn parse<T: serde::de::DeserializeOwned>(row: &FactRow) -> Result<T, StoreError> {
    serde_json::from_str(&row.fact)
        .map_err(|e| StoreError::Corrupt(format!("report facts of {}: {e}", row.id)))
}

/// Reads every `resource_type` changed since its watermark, in batches.
pub async fn update(store: &dyn Store, resource_type: &str) -> Result<(), StoreError> {
    for _ in 0..ATTEMPTS {
        if catch_up(store, resource_type).await? {
            return Ok(());
        }
        tracing::debug!(
            resource_type,
            "another updater moved the report watermark; again"
        );
    }
    Ok(())
}

/// `false` if another updater moved the watermark first.
async fn catch_up(store: &dyn Store, resource_type: &str) -> Result<bool, StoreError> {
    let mut mark = store.report_watermark(resource_type).await?;
    let mut cursor = Watermark {
        last_updated: Instant(
            mark.as_ref()
                .map_or(i64::MIN, |m| m.last_updated.0.saturating_sub(OVERLAP_US)),
        ),
        id: String::new(),
    };
    loop {
        let batch = store.changed_after(resource_type, &cursor, BATCH).await?;
        let Some(last) = batch.last() else {
            return Ok(true);
        };
        let read_to = Watermark {
            last_updated: last.last_updated,
            id: last.id.clone(),
        };
        let rows = facts_of(store, resource_type, &batch).await?;
        let to = match &mark {
            Some(m) if (m.last_updated, &m.id) > (read_to.last_updated, &read_to.id) => m.clone(),
            _ => read_to.clone(),
        };
        if !store
            .save_facts(resource_type, &rows, mark.as_ref(), &to)
            .await?
        {
            return Ok(false);
        }
        let full = batch.len() == BATCH;
        mark = Some(to);
        cursor = read_to;
        if !full {
            return Ok(true);
        }
    }
}

/// The facts rows of a batch of current versions (a Task's are read from all its versions).
async fn facts_of(
    store: &dyn Store,
    resource_type: &str,
    batch: &[crate::store::StoredResource],
) -> Result<Vec<FactRow>, StoreError> {
    let mut rows = Vec::with_capacity(batch.len());
    if resource_type == "ServiceRequest" {
        for sr in batch {
            if let Some(f) = request_facts(sr) {
                rows.push(FactRow {
                    id: sr.id.clone(),
                    fact: json(&f)?,
                });
            }
        }
        return Ok(rows);
    }
    let updated: Vec<String> = batch
        .iter()
        .filter(|t| t.version > 1)
        .map(|t| t.id.clone())
        .collect();
    let mut versions: HashMap<String, Vec<crate::store::StoredResource>> = HashMap::new();
    for v in store.versions_of(resource_type, &updated).await? {
        versions.entry(v.id.clone()).or_default().push(v);
    }
    for task in batch {
        let all = match versions.remove(&task.id) {
            // The current version may be newer than the history read a moment later: use both.
            Some(mut all) => {
                if !all.iter().any(|v| v.version == task.version) {
                    all.push(task.clone());
                }
                all
            }
            None => vec![task.clone()],
        };
        if let Some(f) = task_facts(&all) {
            rows.push(FactRow {
                id: task.id.clone(),
                fact: json(&f)?,
            });
        }
    }
    Ok(rows)
}

fn json<T: serde::Serialize>(facts: &T) -> Result<String, StoreError> {
    serde_json::to_string(facts).map_err(|e| StoreError::Corrupt(e.to_string()))
}
