//! New outbox rows announced to every replica's delivery worker after they commit, one
//! `pg_notify` at a time. A `NOTIFY` inside the committing transaction makes the server take its
//! notification queue's lock at commit and hold it until the commit record is flushed, so every
//! referral with a delivery committed one after another: a referral's statement with its
//! notification did 3,250 a second under `pgbench -c 16` where the same statement without one did
//! 7,450. Announced afterwards and coalesced, commits flush together again, and a burst of
//! referrals costs a notification per round trip instead of one each.

use std::time::Duration;

use sqlx::PgPool;
use tokio::sync::mpsc;

/// How long one notification may take before it is given up (on a cut connection, say): the
/// rows are committed, so other replicas still find them at their next poll.
const DEADLINE: Duration = Duration::from_secs(5);

/// Announces new outbox rows on a channel; announcements made while one is sent go as one.
#[derive(Clone)]
pub(super) struct Announcer {
    due: mpsc::Sender<()>,
}

impl Announcer {
    /// Starts the sender on `pool`; it stops when the last clone of this is dropped.
    pub(super) fn start(pool: PgPool, channel: &'static str) -> Self {
        // Room for one: an announcement while another waits to be sent is already covered by it.
        let (due, mut pending) = mpsc::channel::<()>(1);
        tokio::spawn(async move {
            while pending.recv().await.is_some() {
                let notify = sqlx::query("SELECT pg_notify($1, '')")
                    .bind(channel)
                    .execute(&pool);
                let failed = match tokio::time::timeout(DEADLINE, notify).await {
                    Ok(Ok(_)) => continue,
                    Ok(Err(e)) => e.to_string(),
                    Err(_) => format!("no answer within {DEADLINE:?}"),
                };
                tracing::warn!(
                    error = %failed,
                    "could not announce new deliveries; other replicas find them at their next poll"
                );
            }
        });
        Self { due }
    }

    /// Announces rows committed before this call: a notification is sent after it.
    pub(super) fn announce(&self) {
        // Full means one is already due, and it is sent after this call; closed cannot happen
        // while this handle lives.
        let _ = self.due.try_send(());
    }
}
