//! What both stores' unit tests build on: a store in a temporary place, a new Task, a status search.

use std::path::PathBuf;

use serde_json::value::RawValue;

use super::{
    ChangeSet, Criterion, IndexEntry, Instant, OutboxEntry, ResourceStore, ResourceWrite,
    SearchQuery, SortOrder, SqliteStore, StoredResource,
};

/// A store in a fresh temporary directory (kept until the guard drops), and its database file.
pub(super) async fn temp_sqlite() -> (tempfile::TempDir, SqliteStore, PathBuf) {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("t.db");
    let store = SqliteStore::open(&format!("sqlite://{}", db.display()))
        .await
        .expect("store");
    (dir, store, db)
}

/// Creates Task `id` (version 1) with `body` and its search values `index`.
pub(super) fn new_task(id: String, body: String, index: Vec<IndexEntry>) -> ChangeSet {
    ChangeSet {
        writes: vec![ResourceWrite {
            resource: StoredResource {
                resource_type: "Task".into(),
                id,
                version: 1,
                last_updated: Instant(1_000),
                body: RawValue::from_string(body).expect("json"),
            },
            index,
        }],
        ..ChangeSet::default()
    }
}

// The integration tests' own, included by path so there is one copy.
#[path = "../../tests/support/temp_postgres.rs"]
mod temp_postgres;

pub(super) use temp_postgres::TempPostgres;

/// The one search value of a Task with this status.
pub(super) fn status_index(status: &str) -> Vec<IndexEntry> {
    vec![IndexEntry {
        param: "status",
        system: String::new(),
        value: status.into(),
    }]
}

/// Tasks with this status.
pub(super) fn status_is(code: &str) -> Criterion {
    Criterion::Index {
        param: "status",
        any_of: vec![(None, code.into())],
    }
}

/// How many Tasks match `criterion`.
pub(super) async fn count(store: &dyn ResourceStore, criterion: Criterion) -> i64 {
    let query = SearchQuery {
        resource_type: "Task".into(),
        criteria: vec![criterion],
        count: 10,
        offset: 0,
        sort: SortOrder::default(),
    };
    store.search(&query).await.expect("search").total
}

/// The `n`th new delivery to LWS001 by `fhir-rest`: row `d{n}`, Task `t{n}`, ServiceRequest `s{n}`.
pub(super) fn delivery_row(n: u32) -> OutboxEntry {
    OutboxEntry {
        id: format!("d{n}"),
        destination: signpost_profiles::OdsCode::parse("LWS001").expect("ods"),
        adapter: "fhir-rest".into(),
        event: signpost_adapters::DeliveryEvent::TaskCreated,
        task_id: format!("t{n}"),
        task_version: 1,
        focus_id: format!("s{n}"),
        focus_version: 1,
        idempotency_key: format!("k{n}"),
        correlation_id: "c".into(),
        traceparent: None,
    }
}
