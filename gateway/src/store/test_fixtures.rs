//! What both stores' unit tests build on: a store in a temporary place, a new Task, a status search.

use std::path::PathBuf;

use serde_json::value::RawValue;

use super::{
    ChangeSet, Criterion, IndexEntry, Instant, ResourceStore, ResourceWrite, SearchQuery,
    SortOrder, SqliteStore, StoredResource,
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

/// A fresh, empty PostgreSQL database on the server `SIGNPOST_TEST_POSTGRES` names (default
/// `postgres://postgres@127.0.0.1:5432/test`), dropped with its connections when this is dropped,
/// also when the test fails (as the store contract tests' `TempPostgres` does).
pub(super) struct TempPostgres {
    /// The database's URL.
    pub(super) url: String,
    admin: String,
    name: String,
}

impl TempPostgres {
    /// Creates the database.
    pub(super) async fn create() -> Self {
        use sqlx::Connection;
        let admin = std::env::var("SIGNPOST_TEST_POSTGRES")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
        let name = format!("signpost_{}", uuid::Uuid::new_v4().simple());
        let mut conn = sqlx::PgConnection::connect(&admin)
            .await
            .unwrap_or_else(|e| panic!("PostgreSQL at {admin} is needed for this test: {e}"));
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut conn)
            .await
            .expect("create database");
        let base = admin.rsplit_once('/').map_or(admin.as_str(), |(b, _)| b);
        Self {
            url: format!("{base}/{name}"),
            admin,
            name,
        }
    }
}

impl Drop for TempPostgres {
    /// On a thread and runtime of its own: `Drop` cannot await, and the test's runtime may be the
    /// one thread this runs on.
    fn drop(&mut self) {
        let (admin, name) = (self.admin.clone(), self.name.clone());
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| e.to_string())?;
            runtime.block_on(async {
                use sqlx::Connection;
                let mut conn = sqlx::PgConnection::connect(&admin)
                    .await
                    .map_err(|e| e.to_string())?;
                sqlx::query(sqlx::AssertSqlSafe(format!(
                    "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                )))
                .execute(&mut conn)
                .await
                .map(|_| ())
                .map_err(|e| e.to_string())
            })
        })
        .join();
        match dropped {
            Ok(Ok(())) => {}
            // Panicking while a test already fails would abort the process and hide why.
            Ok(Err(e)) if !std::thread::panicking() => {
                panic!("could not drop the test database {}: {e}", self.name)
            }
            Ok(Err(e)) => eprintln!("could not drop the test database {}: {e}", self.name),
            Err(_) => eprintln!("dropping the test database {} panicked", self.name),
        }
    }
}

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
