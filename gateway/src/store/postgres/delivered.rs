//! Deliveries marked delivered together on PostgreSQL: the outcomes that arrive while earlier
//! ones are being written go in one `UPDATE ... FROM UNNEST`, so a partner answering hundreds of
//! deliveries a second costs the database a statement and a commit per batch, not per delivery.
//! Each caller still learns whether its own row was marked (it may have lost its lease).

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use sqlx::PgPool;
use tokio::sync::{Semaphore, mpsc, oneshot};

use super::super::outbox_sql::DELIVERED;
use super::super::{StoreError, now};

/// A delivery to mark, and where to answer.
struct Mark {
    id: String,
    lease: String,
    done: oneshot::Sender<Result<bool, StoreError>>,
}

/// Rows in one statement at most.
const MOST_AT_ONCE: usize = 256;
/// Batches written at once: while they are, the next marks queue and go together. More than one,
/// so a batch stuck on a connection that was cut does not hold up the rest.
const IN_FLIGHT: usize = 4;
/// How long a batch may take before it is given up, so a statement stuck on a dead connection
/// frees its place (with the default call deadline, 5 s, its callers gave up long before).
const BATCH_DEADLINE: Duration = Duration::from_secs(30);

/// Every row whose id and claim's token are in `$2` and `$3`, pair by pair, still pending; the
/// pairs marked. The rows are locked in queue order, as a lease renewal locks them, so the two
/// cannot deadlock over rows they share.
fn statement() -> String {
    format!(
        "WITH held AS (SELECT o.seq, d.lease FROM outbox o \
           JOIN UNNEST($2::text[], $3::text[]) AS d(id, lease) \
             ON o.id = d.id AND o.lease_owner = d.lease \
           WHERE o.state = 'pending' ORDER BY o.seq FOR UPDATE OF o) \
         UPDATE outbox SET {DELIVERED} FROM held WHERE outbox.seq = held.seq \
         RETURNING outbox.id, held.lease"
    )
}

/// The queue of deliveries to mark delivered, and the task that writes them.
#[derive(Clone)]
pub(super) struct DeliveredMarks {
    queue: mpsc::UnboundedSender<Mark>,
}

impl DeliveredMarks {
    /// Starts the writer on `pool`; it stops when the last clone of this is dropped.
    pub(super) fn start(pool: PgPool) -> Self {
        let (queue, mut marks) = mpsc::unbounded_channel::<Mark>();
        tokio::spawn(async move {
            let in_flight = Arc::new(Semaphore::new(IN_FLIGHT));
            let sql = Arc::new(statement());
            while let Some(first) = marks.recv().await {
                // The semaphore is never closed, so this waits for a place and never fails.
                let Ok(permit) = in_flight.clone().acquire_owned().await else {
                    break;
                };
                // Whatever queued while waiting for a place goes with it.
                let mut batch = vec![first];
                while batch.len() < MOST_AT_ONCE {
                    match marks.try_recv() {
                        Ok(mark) => batch.push(mark),
                        Err(_) => break,
                    }
                }
                let (pool, sql) = (pool.clone(), sql.clone());
                tokio::spawn(async move {
                    write(&pool, &sql, batch).await;
                    drop(permit);
                });
            }
        });
        Self { queue }
    }

    /// Marks a claimed delivery delivered; `false` if its row is no longer pending or no longer
    /// held by that claim (see `OutboxStore::mark_delivered`).
    pub(super) async fn mark(&self, id: &str, lease: &str) -> Result<bool, StoreError> {
        let (done, answer) = oneshot::channel();
        let mark = Mark {
            id: id.to_owned(),
            lease: lease.to_owned(),
            done,
        };
        self.queue.send(mark).map_err(|_| StoreError::stopped())?;
        answer.await.map_err(|_| StoreError::stopped())?
    }
}

/// Why a batch was not written.
enum Failed {
    /// The database refused the statement: nothing was changed.
    Refused(String),
    /// No answer (the connection dropped, the deadline passed): it may have been written.
    Unknown(String),
}

/// Writes one batch and answers each of its callers: marked or not by the pair it sent (the
/// same row may be in a batch twice, from a claim that lost its lease and the one that took the
/// row after it); an error the database answered changed nothing, anything else may have.
async fn write(pool: &PgPool, sql: &str, batch: Vec<Mark>) {
    let (ids, leases): (Vec<&str>, Vec<&str>) = batch
        .iter()
        .map(|m| (m.id.as_str(), m.lease.as_str()))
        .unzip();
    let query = sqlx::query_as::<_, (String, String)>(sqlx::AssertSqlSafe(sql))
        .bind(now().0)
        .bind(&ids)
        .bind(&leases)
        .fetch_all(pool);
    let marked = match tokio::time::timeout(BATCH_DEADLINE, query).await {
        Ok(Ok(marked)) => Ok(marked.into_iter().collect::<HashSet<(String, String)>>()),
        Ok(Err(e @ sqlx::Error::Database(_))) => Err(Failed::Refused(e.to_string())),
        Ok(Err(e)) => Err(Failed::Unknown(e.to_string())),
        Err(_) => Err(Failed::Unknown(format!(
            "no answer within {BATCH_DEADLINE:?}"
        ))),
    };
    for Mark { id, lease, done } in batch {
        let answer = match &marked {
            Ok(marked) => Ok(marked.contains(&(id, lease))),
            Err(Failed::Refused(e)) => Err(StoreError::Database(sqlx::Error::Protocol(format!(
                "marking deliveries delivered failed: {e}"
            )))),
            Err(Failed::Unknown(e)) => Err(StoreError::OutcomeUnknown(format!(
                "marking deliveries delivered: {e}"
            ))),
        };
        // A caller that gave up (its deadline passed) no longer listens.
        let _ = done.send(answer);
    }
}
