//! A circuit breaker per partner: after a run of failures, that partner's deliveries wait a
//! cool-down instead of each burning its attempts, and other partners are not held up.

use std::collections::HashMap;
use std::time::{Duration, Instant};

/// Consecutive failures and, when tripped, when the partner may be tried again.
#[derive(Debug, Default, Clone, Copy)]
struct State {
    consecutive_failures: u32,
    open_until: Option<Instant>,
}

/// Where a partner's breaker stands, for operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BreakerState {
    /// Deliveries flow; `failures` in a row so far.
    Closed {
        /// Consecutive failures, below the threshold.
        failures: u32,
    },
    /// Tripped: deliveries wait out the cool-down.
    Open,
    /// Cool-down over: one trial delivery at a time.
    HalfOpen,
}

/// Breakers for every partner, by ODS code.
#[derive(Debug)]
pub struct Breakers {
    threshold: u32,
    cool_down: Duration,
    partners: HashMap<String, State>,
}

impl Breakers {
    /// Trips after `threshold` consecutive failures and stays open for `cool_down`.
    pub fn new(threshold: u32, cool_down: Duration) -> Self {
        Self {
            threshold: threshold.max(1),
            cool_down,
            partners: HashMap::new(),
        }
    }

    /// Breakers as `[delivery]` configures them.
    pub fn from_config(config: &crate::config::DeliveryConfig) -> Self {
        Self::new(
            config.breaker_failures,
            Duration::from_secs(config.breaker_open_seconds),
        )
    }

    /// Where `partner`'s breaker stands now.
    pub fn state(&self, partner: &str, now: Instant) -> BreakerState {
        if self.is_open(partner, now) {
            BreakerState::Open
        } else if self.half_open(partner, now) {
            BreakerState::HalfOpen
        } else {
            BreakerState::Closed {
                failures: self
                    .partners
                    .get(partner)
                    .map_or(0, |s| s.consecutive_failures),
            }
        }
    }

    /// Whether deliveries to `partner` must wait. After the cool-down one trial is let through
    /// (half-open); its failure opens the breaker again straight away.
    pub fn is_open(&self, partner: &str, now: Instant) -> bool {
        self.partners
            .get(partner)
            .and_then(|s| s.open_until)
            .is_some_and(|until| now < until)
    }

    /// The partner acknowledged a delivery.
    pub fn success(&mut self, partner: &str) {
        self.partners.remove(partner);
    }

    /// A delivery to the partner failed; returns true if this tripped (or re-tripped) the breaker.
    pub fn failure(&mut self, partner: &str, now: Instant) -> bool {
        let state = self.partners.entry(partner.to_owned()).or_default();
        state.consecutive_failures += 1;
        if state.consecutive_failures >= self.threshold {
            state.open_until = Some(now + self.cool_down);
            true
        } else {
            false
        }
    }

    /// Whether the partner is on trial: tripped, cool-down over, not yet answered well. One
    /// delivery at a time then; its success closes the breaker, its failure reopens it.
    pub fn half_open(&self, partner: &str, now: Instant) -> bool {
        self.partners.get(partner).is_some_and(|s| {
            s.consecutive_failures >= self.threshold
                && s.open_until.is_some_and(|until| now >= until)
        })
    }

    /// Partners on trial now (see [`Breakers::half_open`]).
    pub fn on_trial(&self, now: Instant) -> Vec<String> {
        self.partners
            .keys()
            .filter(|p| self.half_open(p, now))
            .cloned()
            .collect()
    }

    /// Partners whose breaker is open now.
    pub fn open(&self, now: Instant) -> Vec<String> {
        self.partners
            .iter()
            .filter(|(_, s)| s.open_until.is_some_and(|u| now < u))
            .map(|(p, _)| p.clone())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trips_after_the_threshold_and_closes_on_success() {
        let mut b = Breakers::new(3, Duration::from_secs(30));
        let t = Instant::now();
        assert!(!b.failure("LWS001", t));
        assert!(!b.failure("LWS001", t));
        assert!(!b.is_open("LWS001", t));
        assert!(b.failure("LWS001", t));
        assert!(b.is_open("LWS001", t));
        assert!(
            !b.is_open("VCS001", t),
            "one partner's failures do not affect another"
        );
        assert_eq!(b.open(t), vec!["LWS001".to_owned()]);
        b.success("LWS001");
        assert!(!b.is_open("LWS001", t));
    }

    #[test]
    fn half_opens_after_the_cool_down_and_a_failed_trial_reopens() {
        let mut b = Breakers::new(2, Duration::from_secs(30));
        let t = Instant::now();
        b.failure("LWS001", t);
        b.failure("LWS001", t);
        let later = t + Duration::from_secs(31);
        assert!(
            !b.is_open("LWS001", later),
            "a trial is allowed after the cool-down"
        );
        assert!(b.half_open("LWS001", later), "one trial at a time");
        assert!(!b.half_open("VCS001", later));
        assert!(!b.half_open("LWS001", t), "still open, not yet on trial");
        assert!(
            b.failure("LWS001", later),
            "a failed trial trips it again at once"
        );
        assert!(b.is_open("LWS001", later));
    }
}
