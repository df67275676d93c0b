//! Every resource a client writes passes the same two gates: FHIR R4 structure (400) and the
//! Signpost profiles (422, listing every problem at once).

use serde_json::Value;
use signpost_profiles::{Issue, Severity, parse_resource};

use super::error::ApiError;
use crate::state::AppState;

/// Parses `bytes` as the `resource_type` and checks it against the profiles.
///
/// Returns the resource and the profile's issues, errors included: the caller adds its business
/// rules' issues before refusing, so the sender sees everything at once.
pub(crate) fn profiled(
    state: &AppState,
    bytes: &[u8],
    resource_type: &str,
) -> Result<(Value, Vec<Issue>), ApiError> {
    let resource = parse_resource(bytes, Some(resource_type))?.json;
    let issues = state.validator.validate(&resource);
    Ok((resource, issues))
}

/// Adds business-rule issues to the profile's, leaving out those about an element the profile
/// already reported an error for.
pub(crate) fn merge(mut issues: Vec<Issue>, more: Vec<Issue>) -> Vec<Issue> {
    for issue in more {
        let repeated = issues
            .iter()
            .any(|i| i.severity == Severity::Error && i.expression == issue.expression);
        if !repeated {
            issues.push(issue);
        }
    }
    issues
}
