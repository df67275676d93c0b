//! Unique, valid referrals: the shipped GP example with its business identifier varied.

use anyhow::Context;
use signpost_profiles::examples::REFERRAL_FROM_GP;

/// The example's own identifier value, replaced per referral.
const EXAMPLE_IDENTIFIER: &str = "\"RS-2026-000184\"";

/// Makes referral bodies that differ only in `identifier[0].value`.
#[derive(Debug, Clone)]
pub struct Referrals {
    before: String,
    after: String,
    run: String,
}

impl Referrals {
    /// Splits the shipped example around its identifier; `run` keeps runs apart in one database.
    pub fn new(run: &str) -> anyhow::Result<Self> {
        // Compact first: the body sent is the size a GP system would send, not pretty-printed.
        let compact = serde_json::to_string(&serde_json::from_str::<serde_json::Value>(
            REFERRAL_FROM_GP,
        )?)?;
        let (before, after) = compact
            .split_once(EXAMPLE_IDENTIFIER)
            .context("the example referral no longer carries RS-2026-000184")?;
        Ok(Self {
            before: before.to_owned(),
            after: after.to_owned(),
            run: run.to_owned(),
        })
    }

    /// The `n`th referral of this run.
    pub fn body(&self, n: u64) -> Vec<u8> {
        format!("{}\"RS-{}-{n:08}\"{}", self.before, self.run, self.after).into_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_are_unique_and_still_the_example() {
        let referrals = Referrals::new("t1").expect("template");
        let a: serde_json::Value = serde_json::from_slice(&referrals.body(1)).expect("json");
        let b: serde_json::Value = serde_json::from_slice(&referrals.body(2)).expect("json");
        assert_eq!(a["identifier"][0]["value"], "RS-t1-00000001");
        assert_ne!(a["identifier"], b["identifier"]);
        assert_eq!(a["requester"], b["requester"]);
        let validator = signpost_profiles::Validator::standard().expect("profiles");
        let checked = validator.check(&referrals.body(3), Some("ServiceRequest"));
        assert!(!checked.has_errors(), "{:?}", checked.issues);
    }
}
