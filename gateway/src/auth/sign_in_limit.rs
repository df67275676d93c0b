//! Failed console sign-ins counted per account and per source address, so neither guessing one
//! person's password nor trying one password against many accounts goes on unchecked.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;

/// Failed sign-ins allowed per account within the window.
pub const PER_ACCOUNT: u32 = 5;
/// Failed sign-ins allowed per source address within the window, across every account.
pub const PER_ADDRESS: u32 = 20;
/// The window, in microseconds (15 minutes).
pub const WINDOW_US: i64 = 15 * 60 * 1_000_000;
/// Counters kept before expired ones are swept, so a flood of new names cannot grow memory
/// without bound.
const SWEEP_AT: usize = 10_000;

#[derive(Clone, PartialEq, Eq, Hash)]
enum Key {
    Account(String),
    Address(IpAddr),
}

/// Failed sign-ins in the current window, per account and per address.
#[derive(Default)]
pub struct SignInLimits {
    /// Key -> (failures, window start in microseconds).
    failures: Mutex<HashMap<Key, (u32, i64)>>,
}

impl SignInLimits {
    /// Whether a sign-in for `email` from `address` at `now_us` is refused for past failures.
    pub fn refused(&self, email: &str, address: Option<IpAddr>, now_us: i64) -> bool {
        let map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        let over = |key: Key, limit: u32| matches!(map.get(&key), Some((n, start)) if *n >= limit && now_us - start < WINDOW_US);
        over(Key::Account(email.to_owned()), PER_ACCOUNT)
            || address.is_some_and(|a| over(Key::Address(a), PER_ADDRESS))
    }

    /// Counts one failed sign-in against the account and the address.
    pub fn record_failure(&self, email: &str, address: Option<IpAddr>, now_us: i64) {
        let mut map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() >= SWEEP_AT {
            map.retain(|_, (_, start)| now_us - *start < WINDOW_US);
        }
        let keys = std::iter::once(Key::Account(email.to_owned())).chain(address.map(Key::Address));
        for key in keys {
            let entry = map.entry(key).or_insert((0, now_us));
            if now_us - entry.1 >= WINDOW_US {
                *entry = (0, now_us);
            }
            entry.0 = entry.0.saturating_add(1);
        }
    }

    /// Forgets an account's failures once its owner has signed in.
    pub fn signed_in(&self, email: &str) {
        let mut map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        map.remove(&Key::Account(email.to_owned()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOME: Option<IpAddr> = Some(IpAddr::V4(std::net::Ipv4Addr::LOCALHOST));

    #[test]
    fn an_account_is_refused_after_its_failures_until_the_window_ends() {
        let limits = SignInLimits::default();
        for _ in 0..PER_ACCOUNT {
            assert!(!limits.refused("a@example.org", None, 0));
            limits.record_failure("a@example.org", None, 0);
        }
        assert!(limits.refused("a@example.org", None, 1));
        assert!(!limits.refused("b@example.org", None, 1));
        assert!(!limits.refused("a@example.org", None, WINDOW_US));
    }

    #[test]
    fn one_address_trying_many_accounts_is_refused_for_every_account() {
        let limits = SignInLimits::default();
        for n in 0..PER_ADDRESS {
            limits.record_failure(&format!("person{n}@example.org"), HOME, 0);
        }
        assert!(limits.refused("untried@example.org", HOME, 1));
        assert!(!limits.refused("untried@example.org", None, 1));
    }

    #[test]
    fn signing_in_clears_the_accounts_failures_but_not_the_addresss() {
        let limits = SignInLimits::default();
        for _ in 0..PER_ACCOUNT {
            limits.record_failure("a@example.org", HOME, 0);
        }
        limits.signed_in("a@example.org");
        assert!(!limits.refused("a@example.org", None, 1));
        for n in 0..PER_ADDRESS {
            limits.record_failure(&format!("p{n}@example.org"), HOME, 2);
        }
        limits.signed_in("a@example.org");
        assert!(limits.refused("a@example.org", HOME, 3));
    }
}
