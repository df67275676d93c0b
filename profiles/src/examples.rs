//! Example resources shipped with the profiles, for the sandbox guide, tests and documentation.

/// A social prescribing referral as a GP clinical system posts it (contained Patient, no performer).
pub const REFERRAL_FROM_GP: &str = include_str!("../examples/valid/referral-from-gp.json");
