//! Open loop: requests are due at a fixed rate whatever the server does, and each one's latency
//! counts from when it was due, so a stalled server shows as latency instead of a slower schedule
//! (no coordinated omission).

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use super::{Sample, Target};

/// Requests in flight at most; beyond this new ones wait (and their wait counts as latency).
const MAX_IN_FLIGHT: usize = 1024;

/// What an open-loop run saw.
#[derive(Debug)]
pub struct OpenLoop {
    /// Every request, in completion order.
    pub samples: Vec<Sample>,
    /// From the first request due to the last answer.
    pub elapsed: Duration,
}

impl OpenLoop {
    /// Answers per second actually completed with 201.
    pub fn achieved_rate(&self) -> f64 {
        let ok = self.samples.iter().filter(|s| s.ok()).count();
        ok as f64 / self.elapsed.as_secs_f64().max(f64::EPSILON)
    }
}

/// Offers `rate` referrals a second to `target` for `duration`, then waits for the answers.
pub async fn open_loop(
    http: &reqwest::Client,
    target: &Target,
    rate: f64,
    duration: Duration,
) -> OpenLoop {
    let total = (rate * duration.as_secs_f64()).round() as u64;
    let start = Instant::now() + Duration::from_millis(5);
    let slots = Arc::new(Semaphore::new(MAX_IN_FLIGHT));
    let mut tasks = JoinSet::new();
    let mut samples = Vec::with_capacity(usize::try_from(total).unwrap_or(0));
    for i in 0..total {
        let due = start + Duration::from_secs_f64(i as f64 / rate);
        tokio::time::sleep_until(due.into()).await;
        let Ok(permit) = slots.clone().acquire_owned().await else {
            break;
        };
        let (http, target) = (http.clone(), target.clone());
        tasks.spawn(async move {
            let sample = target.post(&http, due).await;
            drop(permit);
            sample
        });
        // Collect finished ones as we go, so the set stays small.
        while let Some(Ok(sample)) = tasks.try_join_next() {
            samples.push(sample);
        }
    }
    while let Some(joined) = tasks.join_next().await {
        if let Ok(sample) = joined {
            samples.push(sample);
        }
    }
    let last = samples.iter().map(|s| s.done).max().unwrap_or(start);
    OpenLoop {
        samples,
        elapsed: last.saturating_duration_since(start),
    }
}
