//! The outbox's SQL text and the claim's choice of rows, shared by both stores (the statements
//! that run them are in `dialect`).

use std::collections::HashMap;

use super::{ClaimLimits, Instant};

/// What happened to a claimed delivery, as written to its outbox row.
#[derive(Debug, Clone)]
pub(super) enum OutboxUpdate {
    /// The partner acknowledged it.
    Delivered { id: String },
    /// It failed; try again at `at`.
    Retry {
        id: String,
        at: Instant,
        error: String,
    },
    /// It failed for good.
    Dead { id: String, error: String },
    /// Given back untouched (no attempt was made).
    Release { id: String },
}

/// What marking a row delivered sets (after `SET`; `$1` is now).
pub(super) const DELIVERED: &str = "state = 'delivered', delivered_us = $1, attempts = attempts + 1, \
     lease_owner = NULL, lease_until_us = NULL";

/// The due, unleased rows a claim may take, oldest due first, with their destinations.
///
/// Destinations with no room are left out in SQL (bound from `$3`), so a partner whose breaker is
/// open cannot fill the candidates; `$1` is now, `$2` the number of candidates. A row waits while
/// an earlier row for the same Task and destination is still pending: that is what keeps one
/// Task's deliveries in order. The order is the `outbox_due` index's, so a claim reads only the
/// rows it takes and those skipped before them, however long the backlog.
pub(super) fn candidates_sql(limits: &ClaimLimits, lock: &str) -> (String, Vec<String>) {
    let closed: Vec<String> = limits
        .rooms
        .iter()
        .filter(|(_, room)| **room == 0)
        .map(|(destination, _)| destination.clone())
        .collect();
    let skip: String = (0..closed.len())
        .map(|i| format!(" AND o.destination <> ${}", i + 3))
        .collect();
    let sql = format!(
        "SELECT o.seq, o.destination FROM outbox o \
         WHERE o.state = 'pending' AND o.next_attempt_us <= $1 \
           AND (o.lease_until_us IS NULL OR o.lease_until_us < $1){skip} \
           AND NOT EXISTS (SELECT 1 FROM outbox e WHERE e.task_id = o.task_id \
             AND e.destination = o.destination AND e.seq < o.seq AND e.state = 'pending') \
         ORDER BY o.next_attempt_us, o.seq LIMIT $2{lock}"
    );
    (sql, closed)
}

/// The candidates (in order) that fit within `limits`.
pub(super) fn choose(candidates: &[(i64, String)], limits: &ClaimLimits) -> Vec<i64> {
    let mut taken: HashMap<&str, usize> = HashMap::new();
    let mut chosen = Vec::new();
    for (seq, destination) in candidates {
        if chosen.len() == limits.total {
            break;
        }
        let n = taken.entry(destination.as_str()).or_default();
        if *n < limits.room(destination) {
            *n += 1;
            chosen.push(*seq);
        }
    }
    chosen
}

/// Leases the chosen rows (`$1` worker, `$2` lease end, `$3`.. the rows' seq) and returns them.
pub(super) fn lease_sql(rows: usize) -> String {
    let seqs: Vec<String> = (0..rows).map(|i| format!("${}", i + 3)).collect();
    format!(
        "UPDATE outbox SET lease_owner = $1, lease_until_us = $2 WHERE seq IN ({}) \
         RETURNING id, destination, adapter, event, task_id, task_version, focus_id, focus_version, \
           idempotency_key, correlation_id, attempts, traceparent",
        seqs.join(", ")
    )
}
