//! WAL checkpoints on SQLite, off the writer's path.
//!
//! SQLite by default copies the write-ahead log back into the database file from inside the
//! commit that takes the log past 1,000 pages, and fsyncs the file there. Under intake that was
//! a pause of several milliseconds in the one writer about twice a second, felt by every change
//! queued behind it. The writer's automatic checkpoints are off; this task checkpoints on a
//! connection of its own instead. PASSIVE mode never blocks the writer or readers, and the log is
//! reused from its start once everything in it has been copied.

use std::time::Duration;

use sqlx::SqlitePool;

/// How often the log is copied back.
const INTERVAL: Duration = Duration::from_millis(250);

/// Checkpoints every [`INTERVAL`] until the runtime it runs on stops.
pub(super) async fn run(checkpointer: SqlitePool) {
    let mut tick = tokio::time::interval(INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if let Err(e) = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
            .execute(&checkpointer)
            .await
        {
            tracing::warn!(error = %e, "a WAL checkpoint failed; the next one will try again");
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::value::RawValue;

    use super::super::{ChangeSet, Instant, ResourceWrite, SqliteStore, Store, StoredResource};

    fn task(n: usize) -> ChangeSet {
        let id = format!("t{n}");
        let body = format!(
            r#"{{"resourceType":"Task","id":"{id}","status":"requested","note":[{{"text":"{}"}}]}}"#,
            "x".repeat(1500)
        );
        ChangeSet {
            writes: vec![ResourceWrite {
                resource: StoredResource {
                    resource_type: "Task".into(),
                    id,
                    version: 1,
                    last_updated: Instant(1_000),
                    body: RawValue::from_string(body).expect("json"),
                },
                index: vec![],
            }],
            ..ChangeSet::default()
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_log_is_copied_back_and_reused_instead_of_growing() {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = dir.path().join("t.db");
        let store = SqliteStore::open(&format!("sqlite://{}", db.display()))
            .await
            .expect("store");
        let wal = db.with_extension("db-wal");
        let size = || std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0);
        for n in 0..300 {
            store.commit(task(n)).await.expect("commit");
        }
        let first = size();
        assert!(first > 0, "the writes went to the log");
        // Eight times as much again, with pauses the checkpointer can run in. The writer's own
        // checkpoints are off, so without it the log would grow to about nine times its size.
        for round in 1..=8 {
            tokio::time::sleep(super::INTERVAL * 2).await;
            for n in 0..300 {
                store.commit(task(round * 1000 + n)).await.expect("commit");
            }
        }
        let last = size();
        assert!(
            last < first * 3,
            "the log grew from {first} to {last} bytes: nothing copied it back"
        );
        assert!(
            store.read("Task", "t8299").await.expect("read").is_some(),
            "the last write is readable"
        );
    }
}
