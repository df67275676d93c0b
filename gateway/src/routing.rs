//! Where a referral goes: the performer if it names a known link-worker service, else the requester's route.

use std::collections::HashMap;
use std::sync::Arc;

use signpost_adapters::Outbound;
use signpost_adapters::webhook::StatusUpdates;
use signpost_profiles::{Issue, IssueType, OdsCode, Referral};

use crate::config::{Config, Organisation, Role};

/// Organisations, routes and the adapters that reach them, built once at start.
pub struct Directory {
    organisations: HashMap<OdsCode, Organisation>,
    routes: HashMap<OdsCode, OdsCode>,
    adapters: HashMap<OdsCode, signpost_adapters::Adapter>,
}

/// Why no destination could be chosen.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RoutingError {
    /// The requester is not an organisation Signpost knows.
    #[error("the requester {0} is not an organisation registered with this gateway")]
    UnknownRequester(OdsCode),
    /// An onward referral names no VCS organisation Signpost knows.
    #[error("an onward referral must name a registered VCS organisation as performer")]
    NoVcsPerformer,
    /// Neither a link-worker performer nor a route.
    #[error(
        "no route: the referral names no known link-worker service as performer, and {0} has no [[route]]"
    )]
    NoRoute(OdsCode),
}

impl RoutingError {
    /// The issue explaining the refusal (answered with 422).
    pub fn issue(&self) -> Issue {
        let at = match self {
            RoutingError::UnknownRequester(_) => "ServiceRequest.requester.identifier.value",
            RoutingError::NoRoute(_) | RoutingError::NoVcsPerformer => "ServiceRequest.performer",
        };
        Issue::error(IssueType::BusinessRule, self.to_string()).at(at)
    }
}

impl Directory {
    /// The directory, with the adapters built when the config was loaded.
    pub fn from_config(config: &Config) -> anyhow::Result<Self> {
        // A config is only made by loading it, which builds every adapter; one missing is a bug.
        if let Some(org) = config
            .organisations
            .iter()
            .find(|o| o.adapter.is_some() && !config.adapters.0.contains_key(&o.ods))
        {
            anyhow::bail!("organisation {}: its adapter was not built", org.ods);
        }
        Ok(Self {
            organisations: config
                .organisations
                .iter()
                .map(|o| (o.ods.clone(), o.clone()))
                .collect(),
            routes: config
                .routes
                .iter()
                .map(|r| (r.from.clone(), r.to.clone()))
                .collect(),
            adapters: config.adapters.0.clone(),
        })
    }

    /// The verifier of a webhook partner's status updates.
    pub fn webhook_status(&self, ods: &OdsCode) -> Option<&StatusUpdates> {
        self.adapters.get(ods).and_then(|a| a.webhook_status())
    }

    /// The organisation with this ODS code.
    pub fn organisation(&self, ods: &OdsCode) -> Option<&Organisation> {
        self.organisations.get(ods)
    }

    /// The organisation registered with this charity registration (`[[organisation]] charity`).
    pub fn organisation_by_charity(
        &self,
        (system, number): &(String, String),
    ) -> Option<&Organisation> {
        self.organisations.values().find(|o| {
            o.charity
                .as_deref()
                .and_then(|id| crate::directory::service::charity_from_org_id(id).ok())
                .is_some_and(|(s, n)| &s == system && &n == number)
        })
    }

    /// The adapter that reaches an organisation; `None` when it polls.
    pub fn adapter(&self, ods: &OdsCode) -> Option<&Arc<dyn Outbound>> {
        self.adapters.get(ods).map(|a| &a.outbound)
    }

    /// Chooses the VCS organisation that will own an onward referral's Task: its first VCS performer.
    pub fn onward_destination(&self, referral: &Referral) -> Result<&Organisation, RoutingError> {
        referral
            .performers
            .iter()
            .filter_map(|ods| self.organisation(ods))
            .find(|org| org.role == Role::Vcs)
            .ok_or(RoutingError::NoVcsPerformer)
    }

    /// Chooses the link-worker organisation that will own the referral's Task.
    pub fn destination(&self, referral: &Referral) -> Result<&Organisation, RoutingError> {
        if self.organisation(&referral.requester).is_none() {
            return Err(RoutingError::UnknownRequester(referral.requester.clone()));
        }
        let named = referral
            .performers
            .iter()
            .filter_map(|ods| self.organisation(ods))
            .find(|org| org.role == Role::LinkWorker);
        named
            .or_else(|| {
                self.routes
                    .get(&referral.requester)
                    .and_then(|to| self.organisation(to))
            })
            .ok_or_else(|| RoutingError::NoRoute(referral.requester.clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use signpost_profiles::NhsNumber;

    fn directory() -> Directory {
        let config = Config::from_toml(
            r#"
[[organisation]]
ods = "A81001"
name = "Riverside Surgery"
role = "gp"
[[organisation]]
ods = "A81002"
name = "Hillside Surgery"
role = "gp"
[[organisation]]
ods = "LWS001"
name = "Riverside Link Workers"
role = "link-worker"
[[organisation]]
ods = "LWS002"
name = "City Link Workers"
role = "link-worker"
[[organisation]]
ods = "VCS001"
name = "Walking Group"
role = "vcs"
[[route]]
from = "A81001"
to = "LWS001"
"#,
            |_| None,
        )
        .expect("config");
        Directory::from_config(&config).expect("directory")
    }

    fn referral(requester: &str, performers: &[&str]) -> Referral {
        Referral {
            nhs_number: NhsNumber::parse("9434765919").expect("nhs"),
            requester: OdsCode::parse(requester).expect("ods"),
            performers: performers
                .iter()
                .map(|p| OdsCode::parse(p).expect("ods"))
                .collect(),
        }
    }

    fn dest(r: &Referral) -> Result<String, RoutingError> {
        directory().destination(r).map(|o| o.ods.to_string())
    }

    #[test]
    fn a_named_link_worker_performer_wins_over_the_route() {
        assert_eq!(dest(&referral("A81001", &["LWS002"])), Ok("LWS002".into()));
    }

    #[test]
    fn otherwise_the_requesters_route_decides() {
        assert_eq!(dest(&referral("A81001", &[])), Ok("LWS001".into()));
        assert_eq!(
            dest(&referral("A81001", &["VCS001", "ZZZ999"])),
            Ok("LWS001".into())
        );
    }

    #[test]
    fn no_route_and_unknown_requester_are_refused() {
        assert!(matches!(
            dest(&referral("A81002", &[])),
            Err(RoutingError::NoRoute(_))
        ));
        assert!(matches!(
            dest(&referral("B99999", &["LWS001"])),
            Err(RoutingError::UnknownRequester(_))
        ));
    }
}
