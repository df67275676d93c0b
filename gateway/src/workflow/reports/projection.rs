//! The report projection: each ServiceRequest's and Task's facts, kept in the store beside the
//! resources and brought up to date from what changed since the watermark whenever a report is
//! asked for and in the background (`refresh`). Intake writes nothing extra; a report reads
//! only what changed.
//!
//! Facts are a function of a resource's stored versions alone, so reading a resource twice
//! does no harm: each update reads again from a little before the watermark, which catches a
//! commit that took its timestamp before the watermark's resource but landed after it was read.
//! Each batch is saved with its watermark in one transaction, and only if no other updater
//! moved the watermark meanwhile, so a failure leaves the facts as they were before the batch.
//!
//! A [`Projection`] keeps the parsed facts in memory between reports. Its own saves are applied
//! to that copy as they land; when the store's watermark is not where the copy left it (another
//! replica saved, or the facts were dropped) the copy is read again whole.

use std::collections::HashMap;
use std::sync::Arc;

use super::facts::{RequestFacts, TaskFacts, request_facts, task_facts};
use crate::store::{FactRow, Instant, Store, StoreError, StoredResource, Watermark};

/// Resources read and saved per transaction.
const BATCH: usize = 2_000;
/// How far before the watermark each update reads again: longer than a commit may wait between
/// taking its timestamp and landing (the store's call deadline is seconds).
const OVERLAP: std::time::Duration = std::time::Duration::from_secs(120);
/// Updaters racing for the watermark: read again this many times before giving up.
const ATTEMPTS: usize = 5;

/// The facts of every referral's resources, as of now. Each is boxed: a map's free slots then
/// cost a pointer each rather than a whole record (about 100 MiB less over 100,000 referrals).
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Facts {
    /// ServiceRequests by id.
    pub requests: HashMap<String, Box<RequestFacts>>,
    /// Tasks by id.
    pub tasks: HashMap<String, Box<TaskFacts>>,
}

/// The two resource types the projection follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Request,
    Task,
}

impl Kind {
    const ALL: [Kind; 2] = [Kind::Request, Kind::Task];

    fn resource_type(self) -> &'static str {
        match self {
            Kind::Request => "ServiceRequest",
            Kind::Task => "Task",
        }
    }
}

/// One resource's facts, parsed.
enum Parsed {
    Request(RequestFacts),
    Task(TaskFacts),
}

impl Facts {
    fn insert(&mut self, id: String, parsed: Parsed) {
        match parsed {
            Parsed::Request(f) => {
                self.requests.insert(id, Box::new(f));
            }
            Parsed::Task(f) => {
                self.tasks.insert(id, Box::new(f));
            }
        }
    }

    fn clear(&mut self, kind: Kind) {
        match kind {
            Kind::Request => self.requests.clear(),
            Kind::Task => self.tasks.clear(),
        }
    }
}

/// Where the in-memory copy of one type's facts stands.
#[derive(Debug, Default)]
struct Kept {
    /// The store's watermark the copy matches; `None` until the copy was read.
    at: Option<Option<Watermark>>,
    /// The version and last-updated time each resource's facts were computed from, for those
    /// in the overlap that this copy computed itself: reading the overlap again skips them.
    versions: HashMap<String, (i64, i64)>,
}

#[derive(Debug, Default)]
struct Cached {
    facts: Arc<Facts>,
    requests: Kept,
    tasks: Kept,
}

impl Cached {
    fn kept(&mut self, kind: Kind) -> &mut Kept {
        match kind {
            Kind::Request => &mut self.requests,
            Kind::Task => &mut self.tasks,
        }
    }
}

/// The projection as one gateway process sees it: the store's facts, with a parsed copy kept in
/// memory so an up-to-date report neither reads nor parses every row again.
#[derive(Debug)]
pub struct Projection {
    // Reports are occasional: one update at a time keeps the copy and the watermark in step.
    cached: tokio::sync::Mutex<Cached>,
    /// How far before the watermark each update reads again, µs.
    overlap_us: i64,
}

impl Default for Projection {
    fn default() -> Self {
        Self::with_overlap(OVERLAP)
    }
}

impl Projection {
    /// A projection that reads `overlap` before the watermark again on each update (the
    /// default, two minutes, is longer than any commit waits between its timestamp and landing).
    pub fn with_overlap(overlap: std::time::Duration) -> Self {
        Self {
            cached: tokio::sync::Mutex::default(),
            overlap_us: i64::try_from(overlap.as_micros()).unwrap_or(i64::MAX),
        }
    }

    /// Brings the projection up to date, then returns the facts.
    pub async fn current(&self, store: &dyn Store) -> Result<Arc<Facts>, StoreError> {
        let mut cached = self.cached.lock().await;
        for kind in Kind::ALL {
            update(store, kind, &mut cached, self.overlap_us).await?;
        }
        Ok(cached.facts.clone())
    }

    /// Brings the store's projection up to date in the background. The copy in memory is
    /// kept up to date too once a report has read it; until then only the store is written,
    /// so a gateway nobody asks for reports holds no facts in memory.
    pub async fn refresh(&self, store: &dyn Store) -> Result<(), StoreError> {
        let mut cached = self.cached.lock().await;
        if cached.requests.at.is_some() || cached.tasks.at.is_some() {
            for kind in Kind::ALL {
                update(store, kind, &mut cached, self.overlap_us).await?;
            }
            return Ok(());
        }
        let mut scratch = Cached::default();
        for kind in Kind::ALL {
            for _ in 0..ATTEMPTS {
                scratch.kept(kind).at = Some(store.report_watermark(kind.resource_type()).await?);
                if catch_up(store, kind, &mut scratch, self.overlap_us).await? {
                    break;
                }
            }
        }
        Ok(())
    }
}

/// Reads every resource of `kind` changed since the copy's watermark, reading the copy again
/// first whenever the store's watermark is elsewhere.
async fn update(
    store: &dyn Store,
    kind: Kind,
    cached: &mut Cached,
    overlap_us: i64,
) -> Result<(), StoreError> {
    for _ in 0..ATTEMPTS {
        let mark = store.report_watermark(kind.resource_type()).await?;
        if cached.kept(kind).at.as_ref() != Some(&mark) {
            reload(store, kind, cached, mark).await?;
        }
        if catch_up(store, kind, cached, overlap_us).await? {
            return Ok(());
        }
        tracing::debug!(
            resource_type = kind.resource_type(),
            "another updater moved the report watermark; again"
        );
    }
    Ok(())
}

/// Replaces the copy of `kind` with the store's rows, as at `mark`.
async fn reload(
    store: &dyn Store,
    kind: Kind,
    cached: &mut Cached,
    mark: Option<Watermark>,
) -> Result<(), StoreError> {
    let rows = store.facts(kind.resource_type()).await?;
    let facts = Arc::make_mut(&mut cached.facts);
    facts.clear(kind);
    for row in rows {
        let parsed = parse(kind, &row)?;
        facts.insert(row.id, parsed);
    }
    *cached.kept(kind) = Kept {
        at: Some(mark),
        versions: HashMap::new(),
    };
    Ok(())
}

fn parse(kind: Kind, row: &FactRow) -> Result<Parsed, StoreError> {
    let corrupt =
        |e: serde_json::Error| StoreError::Corrupt(format!("report facts of {}: {e}", row.id));
    Ok(match kind {
        Kind::Request => Parsed::Request(serde_json::from_str(&row.fact).map_err(corrupt)?),
        Kind::Task => Parsed::Task(serde_json::from_str(&row.fact).map_err(corrupt)?),
    })
}

/// Reads forward from the copy's watermark in batches, saving each and applying it to the
/// copy; `false` if another updater moved the store's watermark first.
async fn catch_up(
    store: &dyn Store,
    kind: Kind,
    cached: &mut Cached,
    overlap_us: i64,
) -> Result<bool, StoreError> {
    let resource_type = kind.resource_type();
    let mut mark = cached.kept(kind).at.clone().flatten();
    let mut cursor = Watermark {
        last_updated: Instant(
            mark.as_ref()
                .map_or(i64::MIN, |m| m.last_updated.0.saturating_sub(overlap_us)),
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
        let full = batch.len() == BATCH;
        let kept = cached.kept(kind);
        let changed: Vec<StoredResource> = batch
            .into_iter()
            .filter(|r| kept.versions.get(&r.id).map(|v| v.0) != Some(r.version))
            .collect();
        let parsed = facts_of(store, kind, &changed).await?;
        let rows = parsed
            .iter()
            .map(|(r, f)| {
                Ok(FactRow {
                    id: r.id.clone(),
                    fact: json(f)?,
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        let to = match &mark {
            Some(m) if (m.last_updated, &m.id) > (read_to.last_updated, &read_to.id) => m.clone(),
            _ => read_to.clone(),
        };
        if !store
            .save_facts(resource_type, &rows, mark.as_ref(), &to)
            .await?
        {
            // The copy no longer matches the store: the next attempt reads it again.
            cached.kept(kind).at = None;
            return Ok(false);
        }
        // Both fields at once: `kept(kind)` would borrow all of `cached`.
        let facts = Arc::make_mut(&mut cached.facts);
        let kept = match kind {
            Kind::Request => &mut cached.requests,
            Kind::Task => &mut cached.tasks,
        };
        for (resource, f) in parsed {
            kept.versions.insert(
                resource.id.clone(),
                (resource.version, resource.last_updated.0),
            );
            facts.insert(resource.id.clone(), f);
        }
        let overlap_from = to.last_updated.0.saturating_sub(overlap_us);
        kept.versions.retain(|_, (_, at)| *at >= overlap_from);
        kept.at = Some(Some(to.clone()));
        mark = Some(to);
        cursor = read_to;
        if !full {
            return Ok(true);
        }
    }
}

/// The facts of a batch of current versions (a Task's are read from all its versions).
async fn facts_of<'a>(
    store: &dyn Store,
    kind: Kind,
    batch: &'a [StoredResource],
) -> Result<Vec<(&'a StoredResource, Parsed)>, StoreError> {
    if kind == Kind::Request {
        return Ok(batch
            .iter()
            .filter_map(|sr| Some((sr, Parsed::Request(request_facts(sr)?))))
            .collect());
    }
    let updated: Vec<String> = batch
        .iter()
        .filter(|t| t.version > 1)
        .map(|t| t.id.clone())
        .collect();
    let mut versions: HashMap<String, Vec<StoredResource>> = HashMap::new();
    for v in store.versions_of(kind.resource_type(), &updated).await? {
        versions.entry(v.id.clone()).or_default().push(v);
    }
    let mut out = Vec::with_capacity(batch.len());
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
            out.push((task, Parsed::Task(f)));
        }
    }
    Ok(out)
}

fn json(parsed: &Parsed) -> Result<String, StoreError> {
    match parsed {
        Parsed::Request(f) => serde_json::to_string(f),
        Parsed::Task(f) => serde_json::to_string(f),
    }
    .map_err(|e| StoreError::Corrupt(e.to_string()))
}
