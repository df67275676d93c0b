//! An operator's decision on a delivery that failed for good: send it again, or drop it. Both
//! need the `admin` scope and are audited under the operator's name; a dropped delivery stays in
//! the outbox, readable as `discarded`.

use tokio::sync::Notify;

use crate::audit;
use crate::auth::Principal;
use crate::store::{DeadLetterAction, Store, StoreError};

/// Why an operator's replay or discard did nothing.
#[derive(Debug, thiserror::Error)]
pub enum DeadLetterError {
    /// The caller lacks the `admin` scope.
    #[error("the admin scope is needed to replay or discard deliveries")]
    NotOperator,
    /// No delivery has this id.
    #[error("no delivery {0}")]
    Unknown(String),
    /// The delivery is not dead.
    #[error("delivery {id} is not dead; only dead deliveries are {verb}")]
    NotDead {
        /// The delivery.
        id: String,
        /// `replayed` or `discarded`.
        verb: &'static str,
    },
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What a replay did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Replayed {
    /// Queued again, ahead of the later deliveries of its Task that it held back.
    Queued,
    /// Not sent (the partner already holds a later version of the Task): discarded instead.
    Superseded,
}

fn operator(who: &Principal) -> Result<(), DeadLetterError> {
    if who.scopes.is_admin() {
        Ok(())
    } else {
        Err(DeadLetterError::NotOperator)
    }
}

fn refused(id: &str, action: DeadLetterAction, verb: &'static str) -> DeadLetterError {
    if action == DeadLetterAction::Unknown {
        DeadLetterError::Unknown(id.to_owned())
    } else {
        DeadLetterError::NotDead {
            id: id.to_owned(),
            verb,
        }
    }
}

/// Queues dead delivery `id` again for `who`, waking the delivery worker.
pub async fn replay(
    store: &dyn Store,
    wake: &Notify,
    who: &Principal,
    id: &str,
) -> Result<Replayed, DeadLetterError> {
    operator(who)?;
    let outcome = match store.replay(id).await? {
        DeadLetterAction::Done => {
            wake.notify_one();
            Replayed::Queued
        }
        DeadLetterAction::Superseded => Replayed::Superseded,
        action @ (DeadLetterAction::NotDead | DeadLetterAction::Unknown) => {
            return Err(refused(id, action, "replayed"));
        }
    };
    let done = match outcome {
        Replayed::Queued => "replayed by an operator",
        Replayed::Superseded => "not replayed (the partner holds a later version): discarded",
    };
    audit::operator_action(store, who, id, done).await?;
    tracing::info!(delivery = %id, client = %who.client_id, outcome = done, "an operator replayed a delivery");
    Ok(outcome)
}

/// Drops dead delivery `id` for `who`; the later deliveries of its Task that it held back go on.
pub async fn discard(
    store: &dyn Store,
    wake: &Notify,
    who: &Principal,
    id: &str,
) -> Result<(), DeadLetterError> {
    operator(who)?;
    let action = store.discard(id).await?;
    if action != DeadLetterAction::Done {
        return Err(refused(id, action, "discarded"));
    }
    wake.notify_one();
    audit::operator_action(store, who, id, "discarded by an operator").await?;
    tracing::info!(delivery = %id, client = %who.client_id, "an operator discarded a delivery");
    Ok(())
}
