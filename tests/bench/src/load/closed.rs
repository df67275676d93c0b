//! Closed loop: a fixed number of clients each post, wait for the answer and post again, for a
//! fixed time. What they complete per second is the server's throughput at that concurrency.

use std::time::{Duration, Instant};

use tokio::task::JoinSet;

use super::{Sample, Target};

/// What a closed-loop run saw.
#[derive(Debug)]
pub struct ClosedLoop {
    /// Every request.
    pub samples: Vec<Sample>,
    /// When the first client started.
    pub started: Instant,
    /// From the start to the last answer.
    pub elapsed: Duration,
}

impl ClosedLoop {
    /// Referrals created per second.
    pub fn throughput(&self) -> f64 {
        let ok = self.samples.iter().filter(|s| s.ok()).count();
        ok as f64 / self.elapsed.as_secs_f64().max(f64::EPSILON)
    }
}

/// `concurrency` clients post to `target` back to back until `duration` has passed.
pub async fn closed_loop(
    http: &reqwest::Client,
    target: &Target,
    concurrency: usize,
    duration: Duration,
) -> ClosedLoop {
    let start = Instant::now();
    let end = start + duration;
    let mut clients = JoinSet::new();
    for _ in 0..concurrency {
        let (http, target) = (http.clone(), target.clone());
        clients.spawn(async move {
            let mut samples = Vec::new();
            while Instant::now() < end {
                samples.push(target.post(&http, Instant::now()).await);
            }
            samples
        });
    }
    let mut samples = Vec::new();
    while let Some(joined) = clients.join_next().await {
        if let Ok(mine) = joined {
            samples.extend(mine);
        }
    }
    let last = samples.iter().map(|s| s.done).max().unwrap_or(start);
    ClosedLoop {
        samples,
        started: start,
        elapsed: last.saturating_duration_since(start),
    }
}
