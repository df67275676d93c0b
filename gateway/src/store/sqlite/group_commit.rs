//! Group commit on SQLite: writes that arrive while the writer is busy (change sets, and the
//! delivery worker's claims and outcomes) are committed together, in one transaction, one
//! savepoint each.
//!
//! A referral's commit dirties dozens of pages (its three resources, their search rows in as
//! many places, the outbox and its indexes), and with one writer those page writes and the
//! fsync, not the CPU, bounded intake at about 300 referrals a second. Committed
//! together, referrals share most of those pages and one fsync. Each change set still succeeds
//! or fails on its own (its savepoint is rolled back), sees everything committed before it, and
//! is answered only once the transaction holding it is durable.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use sqlx::{AssertSqlSafe, Connection, SqliteConnection, SqlitePool};
use tokio::sync::{mpsc, oneshot};

use super::checkpoint::LogState;
use super::{OutboxSql, WriteSql};
use crate::store::outbox_sql::OutboxUpdate;
use crate::store::{ChangeSet, ClaimLimits, ClaimedDelivery, CommitOutcome, StoreError, now};

/// Writes per transaction at most, so one commit's latency stays bounded.
const MAX_BATCH: usize = 64;

/// A write the writer connection takes in turn: intake and workflow changes, and the delivery
/// worker's claims and outcomes, which would otherwise wait for the connection between batches
/// and pay a transaction of their own each.
enum Op {
    Commit(ChangeSet),
    Claim {
        worker: String,
        limits: ClaimLimits,
        lease: Duration,
    },
    Update(OutboxUpdate),
    Renew {
        ids: Vec<String>,
        lease: String,
        duration: Duration,
    },
    /// A write that changes nothing lasting, to find out whether the writer can commit.
    Probe,
}

/// What an [`Op`] did, sent once its transaction is durable.
enum Answer {
    Commit(CommitOutcome),
    Claim(Vec<ClaimedDelivery>),
    /// Whether the claim still held the row.
    Update(bool),
    Renewed(Vec<String>),
    Probed,
}

/// An op waiting for the writer, and where to send its answer.
struct Pending {
    op: Op,
    done: oneshot::Sender<Result<Answer, StoreError>>,
}

/// The queue in front of the writer connection.
#[derive(Clone)]
pub(super) struct GroupCommit {
    queue: mpsc::UnboundedSender<Pending>,
    /// Shared with the checkpointer, which skips its passes while nothing is written.
    log: LogState,
    /// Whether the writer's last transaction failed (until one commits again).
    failing: Arc<AtomicBool>,
}

impl GroupCommit {
    /// Starts the thread that commits what is queued; it ends when every handle is dropped.
    ///
    /// A transaction is a conversation with SQLite's own thread, a statement at a time. On the
    /// request runtime each turn of it waited behind requests being validated, and the writer
    /// sat idle between statements; on its own thread the writer is kept busy.
    /// WAL checkpoints run on the same thread, on `checkpointer`'s connection, and are finished
    /// on the writer's between batches when the log is long (see `checkpoint`).
    pub(super) fn start(writer: SqlitePool, checkpointer: SqlitePool) -> Result<Self, StoreError> {
        let (queue, receiver) = mpsc::unbounded_channel();
        let log = LogState::default();
        let shared = log.clone();
        let failing = Arc::new(AtomicBool::new(false));
        let writer_failing = failing.clone();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| StoreError::Database(sqlx::Error::Io(e)))?;
        std::thread::Builder::new()
            .name("signpost-writer".into())
            .spawn(move || {
                runtime.block_on(async move {
                    tokio::spawn(super::checkpoint::run(checkpointer, shared.clone()));
                    run(writer, receiver, shared, writer_failing).await;
                });
            })
            .map_err(|e| StoreError::Database(sqlx::Error::Io(e)))?;
        Ok(Self {
            queue,
            log,
            failing,
        })
    }

    /// Counts a transaction committed on the writer connection outside the queue (a replay, a
    /// client assertion's id), so the checkpointer copies it back.
    pub(super) fn committed_outside(&self) {
        self.log.committed();
    }

    async fn submit(&self, op: Op) -> Result<Answer, StoreError> {
        let (done, answer) = oneshot::channel();
        self.queue
            .send(Pending { op, done })
            .map_err(|_| StoreError::stopped())?;
        answer.await.map_err(|_| StoreError::stopped())?
    }

    /// Queues a change set and waits until it is durable (or refused).
    pub(super) async fn commit(&self, changes: ChangeSet) -> Result<CommitOutcome, StoreError> {
        match self.submit(Op::Commit(changes)).await? {
            Answer::Commit(outcome) => Ok(outcome),
            _ => Err(mismatched()),
        }
    }

    /// Claims due deliveries (see [`super::Store::claim_deliveries`]).
    pub(super) async fn claim(
        &self,
        worker: &str,
        limits: &ClaimLimits,
        lease: Duration,
    ) -> Result<Vec<ClaimedDelivery>, StoreError> {
        let op = Op::Claim {
            worker: worker.to_owned(),
            limits: limits.clone(),
            lease,
        };
        match self.submit(op).await? {
            Answer::Claim(claimed) => Ok(claimed),
            _ => Err(mismatched()),
        }
    }

    /// Records what happened to a claimed delivery; `false` if the claim no longer held it.
    pub(super) async fn update(&self, update: OutboxUpdate) -> Result<bool, StoreError> {
        match self.submit(Op::Update(update)).await? {
            Answer::Update(recorded) => Ok(recorded),
            _ => Err(mismatched()),
        }
    }

    /// Whether the writer can commit: while its last transaction failed, a probe finds out.
    pub(super) async fn writer_ready(&self) -> Result<(), StoreError> {
        if !self.failing.load(Ordering::Acquire) {
            return Ok(());
        }
        match self.submit(Op::Probe).await? {
            Answer::Probed => Ok(()),
            _ => Err(mismatched()),
        }
    }

    /// Extends the leases a claim still holds (see [`super::Store::renew`]).
    pub(super) async fn renew(
        &self,
        ids: &[String],
        lease: &str,
        duration: Duration,
    ) -> Result<Vec<String>, StoreError> {
        let op = Op::Renew {
            ids: ids.to_vec(),
            lease: lease.to_owned(),
            duration,
        };
        match self.submit(op).await? {
            Answer::Renewed(ids) => Ok(ids),
            _ => Err(mismatched()),
        }
    }
}

fn mismatched() -> StoreError {
    StoreError::Database(sqlx::Error::Protocol(
        "the group commit answered with the wrong kind of result".into(),
    ))
}

async fn run(
    writer: SqlitePool,
    mut queue: mpsc::UnboundedReceiver<Pending>,
    log: LogState,
    failing: Arc<AtomicBool>,
) {
    while let Some(first) = queue.recv().await {
        // Everything that queues while the connection is busy joins this batch.
        let mut connection = writer.acquire().await;
        if let Ok(conn) = &mut connection
            && log.take_restart()
        {
            super::checkpoint::finish(conn).await;
        }
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match queue.try_recv() {
                Ok(pending) => batch.push(pending),
                Err(_) => break,
            }
        }
        let answers = match connection {
            Ok(mut conn) => {
                let answers = commit_batch(&mut conn, &batch).await;
                if answers.is_err() {
                    // After a failed transaction (disk full, an I/O error) SQLite has rolled back
                    // on its own, so the ROLLBACK sent after it fails and the connection still
                    // counts itself inside a transaction: every later batch would be refused.
                    // A fresh connection starts clean, so the writer recovers once the fault is gone.
                    conn.close_on_drop();
                }
                answers
            }
            Err(e) => Err(e),
        };
        failing.store(answers.is_err(), Ordering::Release);
        match answers {
            Ok(answers) => {
                log.committed();
                for (pending, answer) in batch.into_iter().zip(answers) {
                    let _ = pending.done.send(answer);
                }
            }
            Err(e) => {
                tracing::error!(error = %e, writes = batch.len(), "a group commit failed; nothing in it was saved");
                for pending in batch {
                    let _ = pending
                        .done
                        .send(Err(StoreError::Database(sqlx::Error::Protocol(format!(
                            "the transaction failed: {e}"
                        )))));
                }
            }
        }
    }
}

/// One transaction; the answers in order.
async fn commit_batch(
    conn: &mut SqliteConnection,
    batch: &[Pending],
) -> Result<Vec<Result<Answer, StoreError>>, sqlx::Error> {
    // IMMEDIATE takes the write lock first, so each condition check and its writes see one state.
    let mut tx = conn.begin_with("BEGIN IMMEDIATE").await?;
    let mut answers: Vec<Option<Result<Answer, StoreError>>> =
        std::iter::repeat_with(|| None).take(batch.len()).collect();
    // Change sets that only create, and deliveries to mark delivered, waiting to be written
    // together: each statement is a round trip to SQLite's thread, two thread wake-ups.
    let mut creates: Vec<(usize, &ChangeSet)> = Vec::new();
    let mut delivered: Vec<(usize, &str, &str)> = Vec::new();
    for (i, pending) in batch.iter().enumerate() {
        match &pending.op {
            Op::Commit(changes) if only_creates(changes) => {
                creates.push((i, changes));
                continue;
            }
            Op::Update(OutboxUpdate::Delivered { id, lease }) => {
                delivered.push((i, id, lease));
                continue;
            }
            _ => {}
        }
        // Whatever comes next sees the writes before it.
        insert_creates(&mut tx, &mut creates, &mut answers).await?;
        mark_delivered_together(&mut tx, &mut delivered, &mut answers).await;
        // A claim or an outcome changes rows in its last statement only, and a failing statement
        // undoes itself; a change set writes several, so it gets a savepoint to undo them all.
        let answer = match &pending.op {
            Op::Commit(changes) => commit_one(&mut tx, changes).await?.map(Answer::Commit),
            Op::Claim {
                worker,
                limits,
                lease,
            } => OutboxSql::claim(&mut *tx, worker, limits, *lease)
                .await
                .map(Answer::Claim),
            Op::Update(update) => OutboxSql::update(&mut *tx, update)
                .await
                .map(Answer::Update),
            Op::Renew {
                ids,
                lease,
                duration,
            } => OutboxSql::renew(&mut *tx, ids, lease, *duration)
                .await
                .map(Answer::Renewed),
            // Written and removed in the same transaction: the commit still has to reach the log.
            Op::Probe => probe(&mut tx).await.map(|()| Answer::Probed),
        };
        answers[i] = Some(answer);
    }
    insert_creates(&mut tx, &mut creates, &mut answers).await?;
    mark_delivered_together(&mut tx, &mut delivered, &mut answers).await;
    tx.commit().await?;
    Ok(answers
        .into_iter()
        .map(|answer| answer.unwrap_or_else(|| Err(mismatched())))
        .collect())
}

/// Who holds each of the rows in `$1` (a JSON array of `[id, claim]` pairs) that is still
/// pending. One text whatever the number of pairs, so it is prepared once; `+state` keeps SQLite
/// on the id index: without statistics on the outbox it walked every pending row instead, the
/// whole backlog for each batch of marks.
const HOLDERS: &str = "SELECT id, lease_owner FROM outbox WHERE +state = 'pending' \
     AND id IN (SELECT value ->> 0 FROM json_each($1))";

/// Marks delivered the rows of the pairs in `$2` still pending under that claim (see `HOLDERS`).
static MARK_DELIVERED: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!(
        "UPDATE outbox SET {} WHERE +state = 'pending' \
         AND (id, lease_owner) IN (SELECT value ->> 0, value ->> 1 FROM json_each($2)) \
         RETURNING id",
        crate::store::outbox_sql::DELIVERED
    )
});

/// Marks the waiting deliveries delivered with one statement; as one at a time, a row no
/// longer pending, or no longer held by the claim that sent it, is left alone.
async fn mark_delivered_together(
    conn: &mut SqliteConnection,
    delivered: &mut Vec<(usize, &str, &str)>,
    answers: &mut [Option<Result<Answer, StoreError>>],
) {
    if delivered.is_empty() {
        return;
    }
    let pairs: Vec<[&str; 2]> = delivered
        .iter()
        .map(|(_, id, lease)| [*id, *lease])
        .collect();
    // Who held each row before it is marked (the mark clears it), so that of two marks of one
    // row under different claims, only the holder's is answered as recorded.
    let result = match serde_json::to_string(&pairs) {
        Ok(pairs) => {
            let holders = sqlx::query_as::<_, (String, Option<String>)>(HOLDERS)
                .bind(&pairs)
                .fetch_all(&mut *conn)
                .await;
            match holders {
                Ok(holders) => {
                    sqlx::query_scalar::<_, String>(AssertSqlSafe(MARK_DELIVERED.as_str()))
                        .bind(now().0)
                        .bind(&pairs)
                        .fetch_all(&mut *conn)
                        .await
                        .map(|marked| (holders, marked))
                        .map_err(|e| e.to_string())
                }
                Err(e) => Err(e.to_string()),
            }
        }
        Err(e) => Err(e.to_string()),
    };
    for (i, id, lease) in delivered.drain(..) {
        answers[i] = Some(match &result {
            Ok((holders, marked)) => Ok(Answer::Update(
                marked.iter().any(|m| m == id)
                    && holders
                        .iter()
                        .any(|(h, owner)| h == id && owner.as_deref() == Some(lease)),
            )),
            Err(e) => Err(StoreError::Database(sqlx::Error::Protocol(format!(
                "could not mark deliveries delivered: {e}"
            )))),
        });
    }
}

/// Writes a row about the size of a referral's and removes it again: a commit of a few bytes
/// can still fit in log pages already on disk when a referral's no longer does.
async fn probe(conn: &mut SqliteConnection) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO used_jtis (client_id, jti, expires_us) \
         VALUES ('signpost:ready', $1 || hex(randomblob(32768)), 0)",
    )
    .bind(uuid::Uuid::new_v4().to_string())
    .execute(&mut *conn)
    .await?;
    sqlx::query("DELETE FROM used_jtis WHERE client_id = 'signpost:ready'")
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// A change set with nothing to check: no condition, one-time value or version guard, and only
/// new resources. Most referrals are this.
fn only_creates(changes: &ChangeSet) -> bool {
    changes.condition.is_none()
        && changes.once.is_none()
        && changes.unchanged.is_empty()
        && changes.writes.iter().all(|w| w.resource.version == 1)
}

/// Inserts the waiting creates with one statement per table, instead of six round trips to
/// SQLite's thread each. If that fails (say a duplicate id), it is undone and each change set is
/// committed on its own, so one bad change set refuses only itself.
async fn insert_creates(
    conn: &mut SqliteConnection,
    creates: &mut Vec<(usize, &ChangeSet)>,
    answers: &mut [Option<Result<Answer, StoreError>>],
) -> Result<(), sqlx::Error> {
    if !creates.is_empty() {
        let sets: Vec<&ChangeSet> = creates.iter().map(|(_, c)| *c).collect();
        if WriteSql::insert_new_rows(conn, &sets, Some("creates"))
            .await
            .is_ok()
        {
            for (i, _) in creates.drain(..) {
                answers[i] = Some(Ok(Answer::Commit(CommitOutcome::Committed)));
            }
            return Ok(());
        }
        // The script stopped at the failing statement, inside its savepoint.
        sqlx::query("ROLLBACK TO creates")
            .execute(&mut *conn)
            .await?;
        sqlx::query("RELEASE creates").execute(&mut *conn).await?;
    }
    for (i, changes) in creates.drain(..) {
        answers[i] = Some(commit_one(conn, changes).await?.map(Answer::Commit));
    }
    Ok(())
}

/// A change set in its own savepoint, rolled back unless it was committed.
async fn commit_one(
    conn: &mut SqliteConnection,
    changes: &ChangeSet,
) -> Result<Result<CommitOutcome, StoreError>, sqlx::Error> {
    sqlx::query("SAVEPOINT change_set")
        .execute(&mut *conn)
        .await?;
    let outcome = WriteSql::apply(conn, changes).await;
    if !matches!(outcome, Ok(CommitOutcome::Committed)) {
        sqlx::query("ROLLBACK TO change_set")
            .execute(&mut *conn)
            .await?;
    }
    sqlx::query("RELEASE change_set")
        .execute(&mut *conn)
        .await?;
    Ok(outcome)
}

#[cfg(test)]
mod tests {
    use crate::store::test_fixtures::{new_task, temp_sqlite};
    use crate::store::{
        ChangeSet, CommitOutcome, IndexEntry, Instant, Once, OutboxStore, ResourceStore,
        SqliteStore, StoreError,
    };

    /// Creates a requested Task `id`, indexed by its status.
    fn create_task(id: String) -> ChangeSet {
        let body = format!(r#"{{"resourceType":"Task","id":"{id}","status":"requested"}}"#);
        let status = IndexEntry {
            param: "status",
            system: String::new(),
            value: "requested".into(),
        };
        new_task(id, body, vec![status])
    }

    /// How many Tasks the search index holds as requested.
    async fn requested_tasks(store: &SqliteStore) -> i64 {
        let query = crate::store::SearchQuery {
            resource_type: "Task".into(),
            criteria: vec![crate::store::Criterion::Index {
                param: "status",
                any_of: vec![(None, "requested".into())],
            }],
            count: 100,
            offset: 0,
            sort: crate::store::SortOrder::default(),
        };
        store.search(&query).await.expect("search").total
    }

    /// A Task `t{n}`; odd `n` also require a resource that does not exist to be unchanged
    /// (refused), and every `n % 4 == 2` carries the same one-time value (one wins).
    fn changes(n: usize) -> ChangeSet {
        let mut changes = create_task(format!("t{n}"));
        if n % 2 == 1 {
            changes.unchanged.push(("Task".into(), "missing".into(), 1));
        }
        if n % 4 == 2 {
            changes.once = Some(Once {
                scope: "test".into(),
                value: "same".into(),
                expires: Instant(i64::MAX),
            });
        }
        changes
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn change_sets_committed_together_still_succeed_or_fail_alone() {
        let (_dir, store, _) = temp_sqlite().await;
        // Queued at once, so they share transactions.
        let mut commits = tokio::task::JoinSet::new();
        for n in 0..40 {
            let store = store.clone();
            commits.spawn(async move { (n, store.commit(changes(n)).await) });
        }
        let mut once_winners = 0;
        while let Some(joined) = commits.join_next().await {
            let (n, outcome) = joined.expect("task");
            match (n % 2, n % 4, outcome) {
                (1, _, Err(StoreError::VersionConflict { .. })) => {}
                (0, 2, Ok(CommitOutcome::Committed)) => once_winners += 1,
                (0, 2, Ok(CommitOutcome::Replayed)) => {}
                (0, 0, Ok(CommitOutcome::Committed)) => {}
                (_, _, other) => panic!("change set {n}: {other:?}"),
            }
        }
        assert_eq!(
            once_winners, 1,
            "a one-time value is used once, even within a batch"
        );
        for n in 0..40 {
            let stored = store.read("Task", &format!("t{n}")).await.expect("read");
            let kept = n % 4 == 0 || (n % 4 == 2 && stored.is_some());
            assert_eq!(stored.is_some(), kept, "Task t{n}");
        }
        // Refused change sets left no index rows behind.
        assert_eq!(requested_tasks(&store).await, 11);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn creates_inserted_together_fall_back_to_one_by_one_when_one_is_bad() {
        let (_dir, store, _) = temp_sqlite().await;
        // Plain creates, queued at once; two of them make the same Task, so the batch's
        // shared INSERT fails and each change set must stand or fall alone.
        let mut commits = tokio::task::JoinSet::new();
        for n in 0..30 {
            let store = store.clone();
            let id = if n == 3 || n == 7 {
                "same".to_owned()
            } else {
                format!("c{n}")
            };
            commits.spawn(async move { (n, store.commit(create_task(id)).await) });
        }
        let (mut committed, mut refused) = (0, 0);
        while let Some(joined) = commits.join_next().await {
            match joined.expect("task") {
                (_, Ok(CommitOutcome::Committed)) => committed += 1,
                (3 | 7, Err(StoreError::Database(_))) => refused += 1,
                (n, other) => panic!("change set {n}: {other:?}"),
            }
        }
        assert_eq!((committed, refused), (29, 1));
        for n in (0..30).filter(|n| *n != 3 && *n != 7) {
            assert!(
                store
                    .read("Task", &format!("c{n}"))
                    .await
                    .expect("read")
                    .is_some(),
                "Task c{n} was committed"
            );
        }
        assert_eq!(
            requested_tasks(&store).await,
            29,
            "the refused create left no index rows"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn deliveries_marked_together_are_each_marked_once() {
        let (_dir, store, _) = temp_sqlite().await;
        let outbox = (0..20)
            .map(crate::store::test_fixtures::delivery_row)
            .collect();
        let queued = store
            .commit(ChangeSet {
                outbox,
                ..ChangeSet::default()
            })
            .await
            .expect("queue");
        assert!(matches!(queued, CommitOutcome::Committed));
        let limits = crate::store::ClaimLimits {
            total: 20,
            per_destination: 20,
            rooms: std::collections::HashMap::new(),
        };
        let claimed = store
            .claim_deliveries("w", &limits, std::time::Duration::from_secs(60))
            .await
            .expect("claim");
        assert_eq!(claimed.len(), 20);
        let lease = claimed[0].lease.clone();
        // Queued at once, so they share statements; d0 is marked twice and counts once, and a
        // mark under another claim's token is refused.
        let mut marks = tokio::task::JoinSet::new();
        for id in (0..20).map(|n| format!("d{n}")).chain(["d0".to_owned()]) {
            let (store, lease) = (store.clone(), lease.clone());
            marks.spawn(async move { store.mark_delivered(&id, &lease).await });
        }
        let stale = store.mark_delivered("d1", "w/some-earlier-claim");
        assert!(
            !stale.await.expect("marked"),
            "another claim's mark is refused"
        );
        while let Some(joined) = marks.join_next().await {
            joined.expect("task").expect("marked");
        }
        let counts = store.outbox_counts().await.expect("counts");
        assert_eq!((counts.pending, counts.delivered), (0, 20));
        let delivered = store
            .list_deliveries(crate::store::DeliveryState::Delivered, 50)
            .await
            .expect("list");
        assert!(delivered.iter().all(|d| d.attempts == 1), "{delivered:?}");
    }

    /// Marks look their rows up by id: the outbox has no statistics, and the statements they
    /// replaced walked every pending row (the whole backlog, under load) for each batch.
    #[tokio::test]
    async fn marks_find_their_rows_by_id_not_by_walking_the_backlog() {
        let (_dir, store, _db) = temp_sqlite().await;
        for (sql, now) in [
            (super::HOLDERS, None),
            (super::MARK_DELIVERED.as_str(), Some(0_i64)),
        ] {
            let explain = format!("EXPLAIN QUERY PLAN {sql}");
            let mut query = sqlx::query_as(sqlx::AssertSqlSafe(explain));
            if let Some(now) = now {
                query = query.bind(now);
            }
            let plan: Vec<(i64, i64, i64, String)> = query
                .bind("[]")
                .fetch_all(&store.writer)
                .await
                .expect("plan");
            let steps: Vec<&str> = plan.iter().map(|(_, _, _, step)| step.as_str()).collect();
            assert!(
                steps
                    .iter()
                    .any(|s| s
                        .contains("SEARCH outbox USING INDEX sqlite_autoindex_outbox_1 (id=?)")),
                "{sql}: {steps:?}"
            );
            assert!(
                !steps.iter().any(|s| s.contains("outbox_due")),
                "{sql}: {steps:?}"
            );
        }
    }
}
