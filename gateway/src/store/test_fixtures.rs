//! What the SQLite store's unit tests build on: a store in a temporary directory, and a new Task.

use std::path::PathBuf;

use serde_json::value::RawValue;

use super::{ChangeSet, IndexEntry, Instant, ResourceWrite, SqliteStore, StoredResource};

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
