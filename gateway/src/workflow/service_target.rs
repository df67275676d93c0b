//! An onward referral to a directory service: which HealthcareService its performer names, whether
//! the service has room, the place it takes, and the alternatives offered when it has none.

use serde_json::{Value, json};
use signpost_profiles::{Issue, IssueType, Severity};

use super::WorkflowError;
use crate::config::{Organisation, Role};
use crate::directory::capacity::{self, Capacity, CapacityStatus};
use crate::directory::service::{
    categories, charity_provider, districts, is_active, provider, sortable_instant,
};
use crate::routing::Directory;
use crate::search_index::index_entries;
use crate::store::{
    Criterion, Instant, ResourceStore, ResourceWrite, SearchQuery, SortOrder, StoreError,
    StoredResource,
};

/// `ServiceRequest.extension` by which a link worker accepts a place on a waiting list.
pub const ACCEPT_WAITLIST_URL: &str =
    "https://signpost.example/fhir/StructureDefinition/accept-waitlist";

/// Alternatives listed when a service is full.
pub const MAX_ALTERNATIVES: usize = 5;

/// The HealthcareService a performer names: (index in `performer`, id).
pub fn named_service(sr: &Value) -> Option<(usize, String)> {
    sr.get("performer")
        .and_then(Value::as_array)?
        .iter()
        .enumerate()
        .find_map(|(i, p)| {
            let r = p.get("reference").and_then(Value::as_str)?;
            let r = r.split("/_history/").next().unwrap_or(r);
            let mut parts = r.rsplit('/');
            let id = parts.next()?;
            (parts.next()? == "HealthcareService" && !id.is_empty()).then(|| (i, id.to_owned()))
        })
}

/// Whether the link worker accepts a waiting-list place.
pub fn accepts_waitlist(sr: &Value) -> bool {
    sr.get("extension")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .any(|e| {
            e.get("url").and_then(Value::as_str) == Some(ACCEPT_WAITLIST_URL)
                && e.get("valueBoolean").and_then(Value::as_bool) == Some(true)
        })
}

/// What was decided, and why: stored with the referral (and with a refusal) for parties and operators.
#[derive(Debug, Clone)]
pub struct Decision {
    /// `HealthcareService/{id}`.
    pub service: String,
    /// The service's name.
    pub name: String,
    /// Its capacity status when the decision was made.
    pub status: CapacityStatus,
    /// Places free before this referral, if counted.
    pub available: Option<u32>,
    /// The categories it was searched by (`system|code`).
    pub categories: Vec<String>,
    /// The postcode districts it serves.
    pub districts: Vec<String>,
    /// Whether the referral was placed.
    pub placed: bool,
    /// In plain words.
    pub reason: String,
}

impl Decision {
    /// The decision as a Task note (the parties read it on the Task).
    pub fn note(&self, at: Instant) -> Value {
        json!({"time": at.to_fhir(), "text": format!("Routing decision: {}", self.reason)})
    }
}

/// A service chosen for an onward referral, with the place it takes.
pub struct Placement<'a> {
    /// The provider organisation that owns the Task.
    pub owner: &'a Organisation,
    /// The new version of the service when a counted place is taken.
    pub service_write: Option<ResourceWrite>,
    /// Why.
    pub decision: Decision,
}

/// The outcome of resolving a named service.
pub enum Resolution<'a> {
    /// It has room (or it is not known to be full): the referral goes there.
    Placed(Placement<'a>),
    /// It is full: the refusal with its alternatives, and the decision to record.
    Full {
        /// The issues of the 409 answer.
        issues: Vec<Issue>,
        /// The alternatives' HealthcareService ids, in the issues' order.
        alternatives: Vec<String>,
        /// Why, for the record.
        decision: Decision,
    },
}

fn unusable(message: String, at: String) -> WorkflowError {
    WorkflowError::Unprocessable(vec![Issue::error(IssueType::BusinessRule, message).at(at)])
}

fn parse(resource: &StoredResource) -> Result<Value, StoreError> {
    serde_json::from_str(resource.body.get()).map_err(|e| {
        StoreError::Corrupt(format!(
            "HealthcareService/{} is not JSON: {e}",
            resource.id
        ))
    })
}

/// The configured organisation providing a service: named by ODS code or, for a group without
/// one, by its charity registration. Either way its ODS code in the config stays the tenant key.
pub fn provider_organisation<'a>(
    service: &Value,
    directory: &'a Directory,
) -> Option<&'a Organisation> {
    provider(service)
        .and_then(|ods| directory.organisation(&ods))
        .or_else(|| charity_provider(service).and_then(|c| directory.organisation_by_charity(&c)))
}

/// Resolves the service `id` named at `performer[index]`: its provider must be a registered VCS
/// organisation and it must be active; then its capacity decides.
pub async fn resolve<'a>(
    store: &dyn ResourceStore,
    directory: &'a Directory,
    (index, id): (usize, String),
    waitlist_accepted: bool,
    at: Instant,
) -> Result<Resolution<'a>, WorkflowError> {
    let here = format!("ServiceRequest.performer[{index}].reference");
    let stored = store.read("HealthcareService", &id).await?.ok_or_else(|| {
        unusable(
            format!("HealthcareService/{id} is not in the directory"),
            here.clone(),
        )
    })?;
    let service = parse(&stored)?;
    if !is_active(&service) {
        return Err(unusable(
            format!("HealthcareService/{id} is no longer active in the directory"),
            here,
        ));
    }
    let owner = provider_organisation(&service, directory)
        .filter(|org| org.role == Role::Vcs)
        .ok_or_else(|| {
            unusable(
                format!(
                    "HealthcareService/{id} is not provided by a VCS organisation registered with this gateway"
                ),
                here.clone(),
            )
        })?;
    // A declaration that cannot be read is treated as no declaration: unknown, never room.
    let declared: Option<Capacity> = capacity::read(&service).ok().flatten();
    let status = declared
        .as_ref()
        .map_or(CapacityStatus::Unknown, |c| c.effective(at));
    let mut decision = Decision {
        service: format!("HealthcareService/{id}"),
        name: service
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or("(unnamed)")
            .to_owned(),
        status,
        available: declared.as_ref().and_then(|c| c.available),
        categories: categories(&service)
            .into_iter()
            .map(|(s, c)| format!("{s}|{c}"))
            .collect(),
        districts: districts(&service),
        placed: true,
        reason: String::new(),
    };
    let admitted = declared
        .as_ref()
        .is_none_or(|c| c.admits(at, waitlist_accepted));
    if !admitted {
        decision.placed = false;
        decision.reason = format!(
            "{} ({}) is {}{}",
            decision.service,
            decision.name,
            status.code(),
            if status == CapacityStatus::Waitlist {
                "; the referral did not accept a waiting-list place"
            } else {
                ""
            }
        );
        let alternatives = alternatives(store, &service, &id, at).await?;
        let mut issues = vec![
            Issue::error(
                IssueType::BusinessRule,
                format!(
                    "{}: this service has no room now. {}",
                    decision.reason,
                    if alternatives.is_empty() {
                        "No service of the same category and area has room.".to_owned()
                    } else {
                        format!(
                            "{} service(s) of the same category and area have room; they follow.",
                            alternatives.len()
                        )
                    }
                ),
            )
            .at(here),
        ];
        let (ids, offered): (Vec<String>, Vec<Issue>) = alternatives.into_iter().unzip();
        issues.extend(offered);
        return Ok(Resolution::Full {
            issues,
            alternatives: ids,
            decision,
        });
    }
    decision.reason = match (status, decision.available) {
        (CapacityStatus::Capacity, Some(n)) => format!(
            "{} ({}) has capacity: {n} place(s) free before this referral",
            decision.service, decision.name
        ),
        (CapacityStatus::Waitlist, _) => format!(
            "{} ({}) keeps a waiting list, which the referral accepted",
            decision.service, decision.name
        ),
        (s, _) => format!(
            "{} ({}) capacity is {}: referred, the provider decides",
            decision.service,
            decision.name,
            s.code()
        ),
    };
    let service_write = match &declared {
        Some(c) if c.effective(at) == CapacityStatus::Capacity && c.available.is_some() => {
            let mut next = service.clone();
            c.after_place_taken(at).write_to(&mut next);
            Some(new_version(&stored, next, at)?)
        }
        _ => None,
    };
    Ok(Resolution::Placed(Placement {
        owner,
        service_write,
        decision,
    }))
}

/// The next version of a stored service; the store refuses it if another version came first, so
/// two referrals racing for the last place cannot both take it.
pub fn new_version(
    stored: &StoredResource,
    json: Value,
    at: Instant,
) -> Result<ResourceWrite, WorkflowError> {
    let json = super::referral::with_identity(&json, &stored.id, stored.version + 1, at);
    Ok(ResourceWrite {
        index: index_entries(&json),
        resource: StoredResource {
            resource_type: stored.resource_type.clone(),
            id: stored.id.clone(),
            version: stored.version + 1,
            last_updated: at,
            body: serde_json::value::to_raw_value(&json)
                .map_err(|e| WorkflowError::Unstorable(e.to_string()))?,
        },
    })
}

/// Up to five active services of the same category and area with room now: each one's id and
/// information issue.
async fn alternatives(
    store: &dyn ResourceStore,
    service: &Value,
    id: &str,
    at: Instant,
) -> Result<Vec<(String, Issue)>, WorkflowError> {
    let mut criteria = vec![
        Criterion::Index {
            param: "active",
            any_of: vec![(None, "true".into())],
        },
        Criterion::Index {
            param: "capacity",
            any_of: vec![(
                Some(CapacityStatus::Capacity.system().to_owned()),
                CapacityStatus::Capacity.code().to_owned(),
            )],
        },
        Criterion::IndexedFrom {
            param: "capacity-until",
            from: sortable_instant(at),
            present: true,
        },
    ];
    let categories = categories(service);
    if !categories.is_empty() {
        criteria.push(Criterion::Index {
            param: "service-category",
            any_of: categories.into_iter().map(|(s, c)| (Some(s), c)).collect(),
        });
    }
    let districts = districts(service);
    if !districts.is_empty() {
        criteria.push(Criterion::Index {
            param: "postcode",
            any_of: districts.into_iter().map(|d| (None, d)).collect(),
        });
    }
    let page = store
        .search(&SearchQuery {
            resource_type: "HealthcareService".into(),
            criteria,
            count: MAX_ALTERNATIVES + 1,
            offset: 0,
            sort: SortOrder::LastUpdatedDescending,
        })
        .await?;
    let mut out = Vec::new();
    for other in page
        .resources
        .iter()
        .filter(|r| r.id != id)
        .take(MAX_ALTERNATIVES)
    {
        let json = parse(other)?;
        let name = json
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or("(unnamed)");
        let room = capacity::read(&json)
            .ok()
            .flatten()
            .and_then(|c| c.available)
            .map_or_else(|| "has room".to_owned(), |n| format!("{n} place(s) free"));
        out.push((
            other.id.clone(),
            Issue::new(
                Severity::Information,
                IssueType::Informational,
                format!(
                    "alternative: HealthcareService/{} ({name}) {room}",
                    other.id
                ),
            ),
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_named_service_among_performers() {
        let sr = json!({"performer": [
            {"identifier": {"system": "https://fhir.nhs.uk/Id/ods-organization-code", "value": "VCS001"}},
            {"reference": "http://gateway.test/fhir/HealthcareService/walk-1/_history/2"}
        ]});
        assert_eq!(named_service(&sr), Some((1, "walk-1".into())));
        assert_eq!(
            named_service(&json!({"performer": [{"reference": "Organization/x"}]})),
            None
        );
    }

    #[test]
    fn waitlist_is_accepted_only_when_asked() {
        assert!(!accepts_waitlist(&json!({})));
        assert!(accepts_waitlist(
            &json!({"extension": [{"url": ACCEPT_WAITLIST_URL, "valueBoolean": true}]})
        ));
    }
}
