//! `[directory]`: the service directory's feeds, the services declared here, and its reporting
//! policy.

use serde::Deserialize;

/// `[directory]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DirectoryConfig {
    /// No longer read: unmet demand is disclosed under `[reports] policy`, like every other
    /// report. Kept so that a config still setting it stops start-up saying so.
    #[serde(default)]
    pub disclosure_threshold: Option<u64>,
    /// No longer read, as `disclosure_threshold`.
    #[serde(default)]
    pub round_to: Option<u64>,
    /// Open Referral UK feeds re-synced on a schedule.
    #[serde(default, rename = "feed")]
    pub feeds: Vec<FeedConfig>,
    /// Services declared by the operator, loaded into the directory at start-up.
    #[serde(default, rename = "service")]
    pub services: Vec<ServiceConfig>,
}

/// `[[directory.service]]`: a service declared by the operator rather than imported from a feed.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceConfig {
    /// Its identifier value, unique among the declared services (the system is Signpost's).
    pub id: String,
    /// Its name.
    pub name: String,
    /// The ODS code of the `vcs` organisation that provides it.
    pub provider: String,
    /// Categories as `system|code`, at least one.
    pub category: Vec<String>,
    /// Types as `system|code`.
    #[serde(default, rename = "type")]
    pub types: Vec<String>,
    /// The postcode it is held at.
    #[serde(default)]
    pub postcode: Option<String>,
    /// Postcodes or districts it covers.
    #[serde(default)]
    pub coverage: Vec<String>,
    /// Whether it takes referrals now.
    #[serde(default = "default_active")]
    pub active: bool,
    /// Its capacity as first declared (source `operator`): one of the capacity-status codes.
    #[serde(default)]
    pub capacity: Option<String>,
    /// Places free, with `capacity`.
    #[serde(default)]
    pub available: Option<u32>,
    /// Places in all, with `capacity`.
    #[serde(default)]
    pub maximum: Option<u32>,
    /// A telephone number.
    #[serde(default)]
    pub phone: Option<String>,
    /// An email address.
    #[serde(default)]
    pub email: Option<String>,
}

fn default_active() -> bool {
    true
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

fn default_every() -> u64 {
    60
}
