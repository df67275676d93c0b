//! Who may be party to a referral (DESIGN.md section 13), decided in this one place: a GP
//! referral's performers are registered link-worker services; an onward referral names exactly
//! one performer, a registered VCS organisation or one of the directory's services (whose
//! provider `service_target` checks is a registered VCS). Every party named on a referral can read it, so
//! an extra or wrong performer would hand the person's record to an unrelated organisation.

use signpost_profiles::{Issue, IssueType, OdsCode, Referral};

use super::WorkflowError;
use crate::config::Role;
use crate::routing::Directory;

/// Whether `ods` may receive an onward referral.
fn is_vcs_party(directory: &Directory, ods: &OdsCode) -> bool {
    directory
        .organisation(ods)
        .is_some_and(|org| org.role == Role::Vcs)
}

fn is_link_worker(directory: &Directory, ods: &OdsCode) -> bool {
    directory
        .organisation(ods)
        .is_some_and(|org| org.role == Role::LinkWorker)
}

/// Refuses (422, naming each offending `performer`) a referral whose parties break the rules for
/// its kind: `onward` is true for a referral `basedOn` a GP's; `service` is the index of a
/// `performer` naming a directory HealthcareService, which `referral.performers` leaves out.
pub fn check_parties(
    directory: &Directory,
    referral: &Referral,
    onward: bool,
    service: Option<usize>,
) -> Result<(), WorkflowError> {
    let mut issues = Vec::new();
    let named = referral.performers.len() + usize::from(service.is_some());
    if onward {
        if named != 1 {
            issues.push(
                Issue::error(
                    IssueType::BusinessRule,
                    format!(
                        "an onward referral names exactly one performer, the VCS organisation or service it goes to; this one names {named}"
                    ),
                )
                .at("ServiceRequest.performer"),
            );
        }
        for (i, ods) in referral.performers.iter().enumerate() {
            if !is_vcs_party(directory, ods) {
                issues.push(
                    Issue::error(
                        IssueType::BusinessRule,
                        format!("{ods} is not a VCS organisation registered with this gateway"),
                    )
                    .at(format!("ServiceRequest.performer[{i}].identifier.value")),
                );
            }
        }
    } else {
        if let Some(i) = service {
            issues.push(
                Issue::error(
                    IssueType::BusinessRule,
                    "a GP referral goes to a link-worker service named by its ODS code; a directory HealthcareService is named only by a link worker's onward referral",
                )
                .at(format!("ServiceRequest.performer[{i}]")),
            );
        }
        for (i, ods) in referral.performers.iter().enumerate() {
            if !is_link_worker(directory, ods) {
                issues.push(
                    Issue::error(
                        IssueType::BusinessRule,
                        format!(
                            "{ods} is not a link-worker service registered with this gateway; a GP referral's performers are link-worker services"
                        ),
                    )
                    .at(format!("ServiceRequest.performer[{i}].identifier.value")),
                );
            }
        }
    }
    if issues.is_empty() {
        Ok(())
    } else {
        Err(WorkflowError::Unprocessable(issues))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use signpost_profiles::NhsNumber;

    fn directory() -> Directory {
        let config = Config::from_toml(
            r#"
[[organisation]]
ods = "A81001"
name = "Riverside Surgery"
role = "gp"
[[organisation]]
ods = "B82002"
name = "Another Surgery"
role = "gp"
[[organisation]]
ods = "LWS001"
name = "Riverside Link Workers"
role = "link-worker"
[[organisation]]
ods = "VCS001"
name = "Walking Group"
role = "vcs"
[[organisation]]
ods = "VCS002"
name = "Debt Advice"
role = "vcs"
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

    fn refused_at(result: Result<(), WorkflowError>) -> Vec<String> {
        match result {
            Err(WorkflowError::Unprocessable(issues)) => issues
                .into_iter()
                .map(|i| i.expression.unwrap_or_default())
                .collect(),
            other => panic!("expected a 422, got {other:?}"),
        }
    }

    #[test]
    fn a_gp_referral_names_link_worker_services_only() {
        let d = directory();
        assert!(check_parties(&d, &referral("A81001", &[]), false, None).is_ok());
        assert!(check_parties(&d, &referral("A81001", &["LWS001"]), false, None).is_ok());
        assert_eq!(
            refused_at(check_parties(
                &d,
                &referral("A81001", &["LWS001", "B82002"]),
                false,
                None
            )),
            vec!["ServiceRequest.performer[1].identifier.value"]
        );
        assert_eq!(
            refused_at(check_parties(
                &d,
                &referral("A81001", &["VCS001"]),
                false,
                None
            )),
            vec!["ServiceRequest.performer[0].identifier.value"]
        );
        assert_eq!(
            refused_at(check_parties(
                &d,
                &referral("A81001", &["X99999"]),
                false,
                None
            )),
            vec!["ServiceRequest.performer[0].identifier.value"]
        );
    }

    #[test]
    fn an_onward_referral_names_exactly_one_registered_vcs_organisation() {
        let d = directory();
        assert!(check_parties(&d, &referral("LWS001", &["VCS001"]), true, None).is_ok());
        assert_eq!(
            refused_at(check_parties(
                &d,
                &referral("LWS001", &["VCS001", "B82002"]),
                true,
                None
            )),
            vec![
                "ServiceRequest.performer",
                "ServiceRequest.performer[1].identifier.value"
            ]
        );
        assert_eq!(
            refused_at(check_parties(
                &d,
                &referral("LWS001", &["VCS001", "VCS002"]),
                true,
                None
            )),
            vec!["ServiceRequest.performer"]
        );
        assert_eq!(
            refused_at(check_parties(&d, &referral("LWS001", &[]), true, None)),
            vec!["ServiceRequest.performer"]
        );
        // A directory service alone is one performer; beside an organisation it makes two.
        assert!(check_parties(&d, &referral("LWS001", &[]), true, Some(0)).is_ok());
        assert_eq!(
            refused_at(check_parties(
                &d,
                &referral("LWS001", &["VCS001"]),
                true,
                Some(1)
            )),
            vec!["ServiceRequest.performer"]
        );
        // A GP cannot bypass the link worker by naming a service.
        assert_eq!(
            refused_at(check_parties(&d, &referral("A81001", &[]), false, Some(0))),
            vec!["ServiceRequest.performer[0]"]
        );
        assert_eq!(
            refused_at(check_parties(
                &d,
                &referral("LWS001", &["LWS001"]),
                true,
                None
            )),
            vec!["ServiceRequest.performer[0].identifier.value"]
        );
    }
}
