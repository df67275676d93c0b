//! Exponential backoff with jitter, so partners coming back up are not hit by every retry at once.

use std::time::Duration;

use crate::config::DeliveryConfig;

/// When to try again after a failed attempt.
#[derive(Debug, Clone, Copy)]
pub struct Backoff {
    base_ms: u64,
    max_ms: u64,
}

impl Backoff {
    /// From the `[delivery]` settings.
    pub fn from_config(config: &DeliveryConfig) -> Self {
        Self {
            base_ms: config.backoff_base_ms,
            max_ms: config.backoff_max_ms,
        }
    }

    /// The delay after `attempt` (1-based) failed attempts: base × 2^(attempt-1), capped, then
    /// "equal jitter" (half fixed, half random). A partner's `Retry-After` is a floor.
    pub fn delay(&self, attempt: u32, retry_after: Option<Duration>) -> Duration {
        let exponent = attempt.saturating_sub(1).min(32);
        let ceiling = self
            .base_ms
            .saturating_mul(1u64 << exponent)
            .min(self.max_ms);
        let half = ceiling / 2;
        let jittered = half + fastrand::u64(0..=ceiling - half);
        let delay = Duration::from_millis(jittered);
        // A partner's Retry-After is honoured up to the longest backoff, so it cannot park a delivery forever.
        retry_after.map_or(delay, |floor| {
            delay.max(floor.min(Duration::from_millis(self.max_ms)))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn backoff() -> Backoff {
        Backoff {
            base_ms: 100,
            max_ms: 1_000,
        }
    }

    #[test]
    fn grows_exponentially_within_jitter_bounds() {
        for (attempt, ceiling) in [(1, 100), (2, 200), (3, 400), (4, 800)] {
            for _ in 0..50 {
                let d = backoff().delay(attempt, None).as_millis() as u64;
                assert!(
                    (ceiling / 2..=ceiling).contains(&d),
                    "attempt {attempt}: {d}ms"
                );
            }
        }
    }

    #[test]
    fn never_exceeds_the_cap_even_after_many_attempts() {
        for attempt in [5, 10, 40, u32::MAX] {
            let d = backoff().delay(attempt, None).as_millis() as u64;
            assert!((500..=1_000).contains(&d), "attempt {attempt}: {d}ms");
        }
    }

    #[test]
    fn jitter_spreads_retries() {
        let delays: std::collections::HashSet<_> =
            (0..50).map(|_| backoff().delay(4, None)).collect();
        assert!(delays.len() > 1, "all 50 delays were identical");
    }

    #[test]
    fn retry_after_is_honoured_as_a_floor_up_to_the_cap() {
        let generous = Backoff {
            base_ms: 100,
            max_ms: 60_000,
        };
        assert_eq!(
            generous.delay(1, Some(Duration::from_secs(7))),
            Duration::from_secs(7)
        );
        assert_eq!(
            generous.delay(1, Some(Duration::from_secs(9_999_999_999))),
            Duration::from_secs(60)
        );
    }
}
