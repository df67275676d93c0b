//! The per-client rate limit for authenticated traffic: a cell-rate (GCRA) bucket per registered
//! client, built once from the config, updated with one compare-and-swap per request (no lock).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// One client's bucket: the time its next request is due if it kept exactly to its rate.
struct Bucket {
    due_nanos: AtomicU64,
}

/// Requests per second each client may make, with bursts of up to twice that.
pub struct ClientRateLimits {
    start: Instant,
    /// Nanoseconds per request at the sustained rate; `None` when the limit is off.
    interval_nanos: Option<u64>,
    burst_nanos: u64,
    buckets: HashMap<String, Bucket>,
}

impl ClientRateLimits {
    /// Limits for `clients` at `per_second` requests per second each; 0 switches the limit off.
    pub fn new<'a>(per_second: u32, clients: impl IntoIterator<Item = &'a str>) -> Self {
        let interval_nanos = (per_second > 0).then(|| 1_000_000_000 / u64::from(per_second));
        let burst = u64::from(per_second).saturating_mul(2).max(1);
        Self {
            start: Instant::now(),
            interval_nanos,
            burst_nanos: interval_nanos.unwrap_or(0).saturating_mul(burst),
            buckets: clients
                .into_iter()
                .map(|id| {
                    (
                        id.to_owned(),
                        Bucket {
                            due_nanos: AtomicU64::new(0),
                        },
                    )
                })
                .collect(),
        }
    }

    /// `Ok` if `client` may make a request now, else how long until it may.
    pub fn check(&self, client: &str) -> Result<(), Duration> {
        let (Some(interval), Some(bucket)) = (self.interval_nanos, self.buckets.get(client)) else {
            return Ok(());
        };
        let now = u64::try_from(self.start.elapsed().as_nanos()).unwrap_or(u64::MAX);
        let mut due = bucket.due_nanos.load(Ordering::Relaxed);
        loop {
            let next = due.max(now).saturating_add(interval);
            if next.saturating_sub(now) > self.burst_nanos {
                return Err(Duration::from_nanos(
                    next.saturating_sub(self.burst_nanos).saturating_sub(now),
                ));
            }
            match bucket.due_nanos.compare_exchange_weak(
                due,
                next,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => return Ok(()),
                Err(current) => due = current,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_of_twice_the_rate_passes_then_the_client_waits() {
        let limits = ClientRateLimits::new(5, ["gp", "lw"]);
        for i in 0..10 {
            assert!(limits.check("gp").is_ok(), "request {i} of the burst");
        }
        let wait = limits.check("gp").expect_err("over the burst");
        assert!(
            wait > Duration::ZERO && wait <= Duration::from_millis(200),
            "{wait:?}"
        );
        assert!(
            limits.check("lw").is_ok(),
            "another client has its own bucket"
        );
    }

    #[test]
    fn zero_switches_the_limit_off() {
        let limits = ClientRateLimits::new(0, ["gp"]);
        for _ in 0..10_000 {
            assert!(limits.check("gp").is_ok());
        }
    }
}
