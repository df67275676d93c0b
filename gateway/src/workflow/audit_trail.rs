//! The audit trail as an operator reads it: AuditEvents filtered by who acted (a client id or
//! console account), their organisation, the entity, the action and a date range, newest first,
//! a page at a time.

use super::WorkflowError;
use crate::audit::{self, CLIENT_ID_SYSTEM, CONSOLE_ACCOUNT_SYSTEM};
use crate::auth::{Interaction, Principal};
use crate::store::{Comparator, Criterion, Instant, SearchQuery, SortOrder, Store, StoredResource};

/// Events on one page.
pub const PAGE_SIZE: usize = 50;

/// What the operator asked for; each filter is optional.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    /// A client id or console account id.
    pub agent: Option<String>,
    /// An organisation's ODS code.
    pub organisation: Option<String>,
    /// A resource reference, `Type/id`.
    pub entity: Option<String>,
    /// A FHIR AuditEvent action code: `C`, `R`, `U`, `D` or `E`.
    pub action: Option<String>,
    /// Recorded at or after.
    pub from: Option<Instant>,
    /// Recorded before.
    pub until: Option<Instant>,
    /// Which page, from 0.
    pub page: usize,
}

/// One page of the trail.
#[derive(Debug)]
pub struct AuditPage {
    /// The events, newest first.
    pub events: Vec<StoredResource>,
    /// How many match in all.
    pub total: i64,
}

/// A page of the audit trail for operator `who`; reading it is audited too.
pub async fn audit_trail(
    store: &dyn Store,
    who: &Principal,
    filter: &AuditFilter,
) -> Result<AuditPage, WorkflowError> {
    if !who.scopes.is_admin() {
        return Err(WorkflowError::Forbidden {
            message: "the admin scope is needed to read the audit trail".into(),
            at: None,
        });
    }
    let mut criteria = Vec::new();
    if let Some(agent) = &filter.agent {
        criteria.push(Criterion::Index {
            param: "agent-identifier",
            any_of: vec![
                (Some(CLIENT_ID_SYSTEM.into()), agent.clone()),
                (Some(CONSOLE_ACCOUNT_SYSTEM.into()), agent.clone()),
            ],
        });
    }
    if let Some(organisation) = &filter.organisation {
        criteria.push(Criterion::Index {
            param: "policy",
            any_of: vec![(None, format!("urn:signpost:organisation:{organisation}"))],
        });
    }
    if let Some(entity) = &filter.entity {
        criteria.push(Criterion::Index {
            param: "entity",
            any_of: vec![(None, entity.clone())],
        });
    }
    if let Some(action) = &filter.action {
        criteria.push(Criterion::Index {
            param: "action",
            any_of: vec![(None, action.clone())],
        });
    }
    if let Some(from) = filter.from {
        criteria.push(Criterion::LastUpdated(Comparator::GreaterOrEqual, from));
    }
    if let Some(until) = filter.until {
        criteria.push(Criterion::LastUpdated(Comparator::Less, until));
    }
    let page = store
        .search(&SearchQuery {
            resource_type: "AuditEvent".into(),
            criteria,
            count: PAGE_SIZE,
            offset: filter.page.saturating_mul(PAGE_SIZE),
            sort: SortOrder::LastUpdatedDescending,
        })
        .await?;
    audit::access(store, who, Interaction::Search, "AuditEvent").await?;
    Ok(AuditPage {
        events: page.resources,
        total: page.total,
    })
}
