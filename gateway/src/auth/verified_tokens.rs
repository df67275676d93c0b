//! Access tokens already verified, so each token pays the ES384 check once rather than on every
//! request: it cost about 330 µs, twice parsing and validating a referral.
//!
//! Keyed by the whole token, so a token differing in any byte (a forged signature, say) is
//! verified afresh; an entry is used only until the token's `exp`. Reads share the lock; a write
//! happens once per new token (every few minutes per client).

use std::collections::HashMap;
use std::sync::{PoisonError, RwLock};

use super::AccessClaims;

/// Tokens held at most; past it, expired ones are dropped, and if none had expired, all.
const CAPACITY: usize = 1024;

/// Verified tokens and their claims.
#[derive(Default)]
pub(super) struct VerifiedTokens {
    entries: RwLock<HashMap<String, AccessClaims>>,
}

impl VerifiedTokens {
    /// The claims of `token` if it was verified and has not expired by `now` (seconds since the epoch).
    pub(super) fn get(&self, token: &str, now: u64) -> Option<AccessClaims> {
        let entries = self.entries.read().unwrap_or_else(PoisonError::into_inner);
        entries.get(token).filter(|c| c.exp > now).cloned()
    }

    /// Remembers a token that passed verification.
    pub(super) fn insert(&self, token: &str, claims: &AccessClaims, now: u64) {
        let mut entries = self.entries.write().unwrap_or_else(PoisonError::into_inner);
        if entries.len() >= CAPACITY {
            entries.retain(|_, c| c.exp > now);
            if entries.len() >= CAPACITY {
                entries.clear();
            }
        }
        entries.insert(token.to_owned(), claims.clone());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(exp: u64) -> AccessClaims {
        AccessClaims {
            iss: "i".into(),
            sub: "c1".into(),
            aud: "a".into(),
            exp,
            iat: 0,
            jti: "j".into(),
            org: "A81001".into(),
            scope: "system/Task.rs".into(),
        }
    }

    #[test]
    fn an_entry_serves_only_its_own_token_and_only_until_it_expires() {
        let cache = VerifiedTokens::default();
        cache.insert("t1", &claims(100), 10);
        assert_eq!(cache.get("t1", 99).map(|c| c.exp), Some(100));
        assert!(cache.get("t1", 100).is_none(), "expired at exp");
        assert!(cache.get("t1x", 50).is_none());
    }

    #[test]
    fn it_stays_within_its_capacity() {
        let cache = VerifiedTokens::default();
        for n in 0..CAPACITY {
            cache.insert(&format!("old{n}"), &claims(5), 0);
        }
        cache.insert("fresh", &claims(100), 10);
        let len = cache.entries.read().map(|e| e.len()).unwrap_or(usize::MAX);
        assert_eq!(len, 1, "the expired ones made room");
        for n in 0..CAPACITY {
            cache.insert(&format!("live{n}"), &claims(100), 10);
        }
        let len = cache.entries.read().map(|e| e.len()).unwrap_or(usize::MAX);
        assert!(len <= CAPACITY, "{len}");
        assert!(cache.get(&format!("live{}", CAPACITY - 1), 10).is_some());
    }
}
