//! `[directory]`: the service directory's feeds and its reporting policy.

use serde::Deserialize;

/// `[directory]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DirectoryConfig {
    /// Counts below this are suppressed in the unmet-demand report (shown as `null`, with
    /// `suppressed: true`): NHS Digital's statistics suppress counts under 5.
    #[serde(default = "default_threshold")]
    pub disclosure_threshold: u64,
    /// Counts shown are rounded to the nearest multiple of this (1: exact); NHS Digital rounds to 5.
    #[serde(default = "default_rounding")]
    pub round_to: u64,
    /// Open Referral UK feeds re-synced on a schedule.
    #[serde(default, rename = "feed")]
    pub feeds: Vec<FeedConfig>,
}

/// `[[directory.feed]]`: one Open Referral UK feed.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeedConfig {
    /// The feed's base URL (its `GET /` answers the API version).
    pub url: String,
    /// Minutes between two syncs (the first runs at start).
    #[serde(default = "default_every")]
    pub every_minutes: u64,
}

fn default_threshold() -> u64 {
    5
}
fn default_rounding() -> u64 {
    5
}
fn default_every() -> u64 {
    60
}

impl Default for DirectoryConfig {
    fn default() -> Self {
        Self {
            disclosure_threshold: default_threshold(),
            round_to: default_rounding(),
            feeds: Vec::new(),
        }
    }
}
