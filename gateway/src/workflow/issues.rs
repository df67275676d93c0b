//! Every resource a client writes is checked against the Signpost profiles and the business rules,
//! and the sender is told every problem at once.

use signpost_profiles::{Issue, Severity};

/// Adds business-rule issues to the profile's, leaving out those about an element the profile
/// already reported an error for.
pub fn merge(mut issues: Vec<Issue>, more: Vec<Issue>) -> Vec<Issue> {
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
