//! Keeps the report projection nearly up to date in the background, so that a report after a
//! busy month reads minutes of changes rather than the month's.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use super::Projection;
use crate::store::Store;

/// Updates `projection` every `every` until `stop` turns true; nothing when `every` is zero.
pub fn spawn(
    store: Arc<dyn Store>,
    projection: Arc<Projection>,
    every: Duration,
    mut stop: watch::Receiver<bool>,
) {
    if every.is_zero() {
        return;
    }
    tokio::spawn(async move {
        // The first update waits a whole interval: start-up and the first requests come first.
        let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = stop.wait_for(|stop| *stop) => return,
            }
            if let Err(e) = projection.refresh(store.as_ref()).await {
                tracing::warn!(error = %e, "could not bring the report projection up to date; next time");
            }
        }
    });
}
