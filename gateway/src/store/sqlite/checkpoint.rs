//! WAL checkpoints on SQLite, off the writer's path.
//!
//! SQLite by default copies the write-ahead log back into the database file from inside the
//! commit that takes the log past 1,000 pages, and fsyncs the file there. Under intake that was
//! a pause of several milliseconds in the one writer about twice a second, felt by every change
//! queued behind it. The writer's automatic checkpoints are off; this task checkpoints on a
//! connection of its own instead. PASSIVE mode never blocks the writer or readers, and the log is
//! reused from its start once everything in it has been copied.
//!
//! Under sustained writes that moment never comes: the writer appends while each checkpoint
//! runs, so the log is never wholly copied when the next transaction begins, and it grew by
//! about 50 MB a second at 500 referrals a second (to over a gigabyte in a 25 s benchmark), and
//! every commit also grew the file. Once the log is longer than
//! [`RESTART_AFTER_FRAMES`], the checkpointer asks the writer to finish the copy itself between
//! two transactions: only the frames written since this checkpointer's pass are left to copy,
//! and the next transaction starts the log again from its beginning.
//!
//! A pass's fsync of the database and a commit's fsync of the log wait for each other (timed per
//! batch and per pass, the slowest commits ended at the same instant as a pass), so passes are
//! frequent, to keep each small.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use sqlx::{SqliteConnection, SqlitePool};

/// How often the log is copied back while there are writes. At 500 referrals a second the median
/// p99 over several runs was 28.5 ms with a pass every 250 ms and 25.8 ms every 100 ms. Every
/// 25 ms was a little better still, but in three runs of eighteen the delivery worker fell a
/// second or more behind intake, which never happened at 100 ms.
const INTERVAL: Duration = Duration::from_millis(100);

/// Log length past which the writer finishes a checkpoint itself: 16 MiB of 4 KiB pages.
const RESTART_AFTER_FRAMES: i64 = 4096;

/// What the writer and the checkpointer tell each other about the log.
#[derive(Clone, Default)]
pub(super) struct LogState(Arc<Shared>);

#[derive(Default)]
struct Shared {
    /// Transactions committed so far, so an idle store is not checkpointed ten times a second.
    commits: AtomicU64,
    /// The checkpointer's request that the writer finish a checkpoint.
    restart: AtomicBool,
}

impl LogState {
    /// Counts a committed transaction.
    pub(super) fn committed(&self) {
        self.0.commits.fetch_add(1, Ordering::Relaxed);
    }

    /// Whether a restart was asked for since the last call (and clears the request).
    pub(super) fn take_restart(&self) -> bool {
        self.0.restart.swap(false, Ordering::AcqRel)
    }
}

/// Checkpoints every [`INTERVAL`] while there is anything to copy, until the runtime it runs on
/// stops, asking the writer through `state` to finish the copy once the log is long.
pub(super) async fn run(checkpointer: SqlitePool, state: LogState) {
    let mut tick = tokio::time::interval(INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut seen = 0;
    let mut all_copied = true;
    loop {
        tick.tick().await;
        let commits = state.0.commits.load(Ordering::Relaxed);
        if commits == seen && all_copied {
            continue;
        }
        seen = commits;
        match checkpoint(&checkpointer).await {
            Ok((log_frames, copied)) => {
                all_copied = copied == log_frames;
                if log_frames >= RESTART_AFTER_FRAMES {
                    state.0.restart.store(true, Ordering::Release);
                }
            }
            Err(e) => {
                all_copied = false;
                tracing::warn!(error = %e, "a WAL checkpoint failed; the next one will try again");
            }
        }
    }
}

/// Finishes a checkpoint on the writer's own connection, between its transactions, so no
/// frame is appended while it runs and the next transaction starts the log again.
pub(super) async fn finish(writer: &mut SqliteConnection) {
    if let Err(e) = checkpoint(writer).await {
        tracing::warn!(error = %e, "finishing a WAL checkpoint failed; the log keeps growing until the next one");
    }
}

/// A PASSIVE checkpoint; the log's length and how much of it is copied, in frames.
async fn checkpoint<'e, E>(executor: E) -> Result<(i64, i64), sqlx::Error>
where
    E: sqlx::Executor<'e, Database = sqlx::Sqlite>,
{
    let (_busy, log_frames, copied): (i64, i64, i64) =
        sqlx::query_as("PRAGMA wal_checkpoint(PASSIVE)")
            .fetch_one(executor)
            .await?;
    Ok((log_frames, copied))
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use crate::store::test_fixtures::{new_task, temp_sqlite};
    use crate::store::{ChangeSet, ResourceStore};

    /// A Task `t{n}` with a note of `note` bytes, so it fills log pages.
    fn task(n: usize, note: usize) -> ChangeSet {
        let id = format!("t{n}");
        let body = format!(
            r#"{{"resourceType":"Task","id":"{id}","status":"requested","note":[{{"text":"{}"}}]}}"#,
            "x".repeat(note)
        );
        new_task(id, body, vec![])
    }

    /// The size of the database's write-ahead log file, 0 when there is none.
    fn log_size(db: &Path) -> u64 {
        std::fs::metadata(db.with_extension("db-wal")).map_or(0, |m| m.len())
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_log_is_copied_back_and_reused_instead_of_growing() {
        let (_dir, store, db) = temp_sqlite().await;
        let size = || log_size(&db);
        for n in 0..300 {
            store.commit(task(n, 1500)).await.expect("commit");
        }
        let first = size();
        assert!(first > 0, "the writes went to the log");
        // Eight times as much again, with pauses the checkpointer can run in. The writer's own
        // checkpoints are off, so without it the log would grow to about nine times its size.
        for round in 1..=8 {
            tokio::time::sleep(super::INTERVAL * 2).await;
            for n in 0..300 {
                store
                    .commit(task(round * 1000 + n, 1500))
                    .await
                    .expect("commit");
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

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_log_starts_again_under_writes_that_never_pause() {
        let (_dir, store, db) = temp_sqlite().await;
        let size = || log_size(&db);
        // Writers committing back to back, so a transaction is always queued when the last one
        // ends, until over six times the restart length has been written. Each Task is two
        // 4 KiB pages of body at least, in the resource and its version.
        let limit = u64::try_from(super::RESTART_AFTER_FRAMES).expect("positive") * 4096;
        let per_writer = usize::try_from(6 * limit / (2 * 4096 * 8)).expect("fits");
        let mut writers = tokio::task::JoinSet::new();
        for w in 0..8 {
            let store = store.clone();
            writers.spawn(async move {
                for n in 0..per_writer {
                    store
                        .commit(task(w * 1_000_000 + n, 5000))
                        .await
                        .expect("commit");
                }
            });
        }
        let mut largest = 0;
        while !writers.is_empty() {
            tokio::select! {
                joined = writers.join_next() => { joined.expect("a writer").expect("it finished"); }
                () = tokio::time::sleep(std::time::Duration::from_millis(20)) => {}
            }
            largest = largest.max(size());
        }
        // The restart length, a checkpoint interval's writes past it, and the batch in progress.
        assert!(
            largest < 3 * limit,
            "the log reached {largest} bytes while at least {} were written: it never started again",
            6 * limit
        );
        assert!(
            store
                .read("Task", &format!("t{}", 7_000_000 + per_writer - 1))
                .await
                .expect("read")
                .is_some(),
            "the last write is readable"
        );
    }
}
