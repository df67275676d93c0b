//! `[reports]`: the disclosure policy commissioners' reports are published under, the primary
//! care networks (groupings of practices) they are cut by, and practices' registered list sizes.

use std::collections::BTreeMap;

use serde::Deserialize;

/// `[reports]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReportsConfig {
    /// The disclosure policy's name: `signpost-default` (STANDARDS.md 7.3) or
    /// `nhs-digital-mental-health`.
    #[serde(default)]
    pub policy: PolicyName,
    /// Primary care networks.
    #[serde(default, rename = "pcn")]
    pub pcns: Vec<PcnConfig>,
    /// Registered patients per practice (ODS code), for referrals per 1,000.
    #[serde(default)]
    pub list_sizes: BTreeMap<String, u64>,
    /// Seconds between background updates of the report projection, so that a report finds
    /// it nearly up to date; 0 updates it only when a report is asked for.
    #[serde(default = "default_refresh_seconds")]
    pub refresh_seconds: u64,
}

fn default_refresh_seconds() -> u64 {
    600
}

impl Default for ReportsConfig {
    fn default() -> Self {
        Self {
            policy: PolicyName::default(),
            pcns: Vec::new(),
            list_sizes: BTreeMap::new(),
            refresh_seconds: default_refresh_seconds(),
        }
    }
}

/// A disclosure policy, parsed from its name so a mistake stops start-up with the key's path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(try_from = "String")]
pub struct PolicyName(pub crate::workflow::reports::Policy);

impl TryFrom<String> for PolicyName {
    type Error = crate::workflow::reports::UnknownPolicy;
    fn try_from(name: String) -> Result<Self, Self::Error> {
        crate::workflow::reports::Policy::parse(&name).map(PolicyName)
    }
}

/// `[[reports.pcn]]`: a primary care network.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PcnConfig {
    /// Its code (NHS England's PCN code, e.g. `U12345`).
    pub code: String,
    /// Its name.
    pub name: String,
    /// ODS codes of its member practices.
    pub practices: Vec<String>,
}

impl ReportsConfig {
    /// Pushes every mistake: PCNs named twice, practices that are not configured GP
    /// organisations (or in two PCNs), list sizes of unknown practices or of zero.
    pub(super) fn check(
        &self,
        practice: impl Fn(&str) -> Option<bool>,
        errors: &mut Vec<(String, String)>,
    ) {
        let mut codes = std::collections::HashSet::new();
        let mut member_of: BTreeMap<&str, &str> = BTreeMap::new();
        for (i, pcn) in self.pcns.iter().enumerate() {
            if !codes.insert(pcn.code.as_str()) {
                errors.push((
                    format!("reports.pcn[{i}].code"),
                    format!("PCN {} is configured twice", pcn.code),
                ));
            }
            for (j, ods) in pcn.practices.iter().enumerate() {
                let at = format!("reports.pcn[{i}].practices[{j}]");
                match practice(ods) {
                    Some(true) => {}
                    Some(false) => {
                        errors.push((at.clone(), format!("{ods} is not a gp organisation")))
                    }
                    None => errors.push((
                        at.clone(),
                        format!("{ods} is not a configured organisation"),
                    )),
                }
                if let Some(other) = member_of.insert(ods.as_str(), pcn.code.as_str()) {
                    errors.push((at, format!("{ods} is already a member of PCN {other}")));
                }
            }
        }
        for (ods, size) in &self.list_sizes {
            let at = format!("reports.list_sizes.{ods}");
            if practice(ods) != Some(true) {
                errors.push((
                    at.clone(),
                    format!("{ods} is not a configured gp organisation"),
                ));
            }
            if *size == 0 {
                errors.push((at, "a list size must be at least 1".into()));
            }
        }
    }

    /// The PCNs a practice belongs to (at most one, as checked).
    pub fn pcn_of(&self, practice: &str) -> Option<&PcnConfig> {
        self.pcns
            .iter()
            .find(|p| p.practices.iter().any(|m| m == practice))
    }
}
