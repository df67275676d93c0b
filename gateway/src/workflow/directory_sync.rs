//! The configured Open Referral UK feeds, re-synced on their schedules while the gateway runs.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use super::import_directory::import_feed;
use crate::config::FeedConfig;
use crate::store::Store;

/// Starts one sync loop per feed: at start, then every `every_minutes`, until `stop` turns true.
/// A failed sync is logged and tried again at the next turn; what was imported stays.
pub fn spawn_feed_syncs(store: Arc<dyn Store>, feeds: &[FeedConfig], stop: watch::Receiver<bool>) {
    for feed in feeds {
        let store = store.clone();
        let feed = feed.clone();
        let mut stop = stop.clone();
        tokio::spawn(async move {
            let every = Duration::from_secs(feed.every_minutes.max(1) * 60);
            loop {
                match import_feed(store.as_ref(), &feed.url).await {
                    Ok(report) => tracing::info!(
                        feed = %feed.url,
                        created = report.counts.created,
                        updated = report.counts.updated,
                        deactivated = report.counts.deactivated,
                        problems = report.problems.len(),
                        "directory feed synced"
                    ),
                    Err(e) => {
                        tracing::warn!(feed = %feed.url, error = %e, "directory feed sync failed")
                    }
                }
                tokio::select! {
                    _ = tokio::time::sleep(every) => {}
                    _ = stop.wait_for(|s| *s) => return,
                }
            }
        });
    }
}
