//! Unmet demand for commissioners: per service category, postcode district and ISO week, the
//! onward referrals refused because the service was full and the directory searches that found
//! nothing with room, counted from the decision records, disclosed under the deployment's
//! report policy (`reports::disclosure`, the one place disclosure control is done).

use std::collections::BTreeMap;

use serde_json::Value;

use super::WorkflowError;
use super::reports::Policy;
use super::routing_decision::{NOTHING_WITH_ROOM, ROUTING_DECISION, SUBTYPE_SYSTEM};
use crate::store::{Criterion, SearchQuery, SortOrder, Store, StoreError};

/// One row of the report: a category, a district and a week.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct DemandRow {
    /// `system|code` of the service category (`*` when none was given).
    pub category: String,
    /// Postcode district (`*` when none was given).
    pub district: String,
    /// ISO week, e.g. `2026-W48`.
    pub week: String,
    /// Referrals refused for capacity (`None` when suppressed).
    pub refused_for_capacity: Option<u64>,
    /// Searches that found nothing with room (`None` when suppressed).
    pub searches_without_room: Option<u64>,
    /// Whether any count of the row was suppressed.
    pub suppressed: bool,
}

/// The report, as JSON for an operator's endpoint.
#[derive(Debug, serde::Serialize)]
pub struct UnmetDemand {
    /// The disclosure policy's name.
    pub policy: &'static str,
    /// Counts below this are not shown.
    pub disclosure_threshold: u64,
    /// Counts shown are rounded to a multiple of this.
    pub round_to: u64,
    /// One row per category, district and week with any demand.
    pub rows: Vec<DemandRow>,
}

fn details<'a>(event: &'a Value, kind: &str) -> Vec<&'a str> {
    event
        .get("entity")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|e| e.get("detail").and_then(Value::as_array))
        .flatten()
        .filter(|d| d.get("type").and_then(Value::as_str) == Some(kind))
        .filter_map(|d| d.get("valueString").and_then(Value::as_str))
        .collect()
}

async fn refusals(store: &dyn Store, subtype: &str) -> Result<Vec<Value>, StoreError> {
    let mut out = Vec::new();
    let mut offset = 0;
    loop {
        let page = store
            .search(&SearchQuery {
                resource_type: "AuditEvent".into(),
                criteria: vec![
                    Criterion::Index {
                        param: "subtype",
                        any_of: vec![(Some(SUBTYPE_SYSTEM.into()), subtype.into())],
                    },
                    Criterion::Index {
                        param: "outcome",
                        any_of: vec![(None, "4".into())],
                    },
                ],
                count: 500,
                offset,
                sort: SortOrder::LastUpdatedAscending,
            })
            .await?;
        offset += page.resources.len();
        for r in &page.resources {
            out.push(serde_json::from_str(r.body.get()).map_err(|e| {
                StoreError::Corrupt(format!("AuditEvent/{} is not JSON: {e}", r.id))
            })?);
        }
        if page.resources.len() < 500 {
            return Ok(out);
        }
    }
}

/// Counts unmet demand under `policy`.
pub async fn unmet_demand(store: &dyn Store, policy: Policy) -> Result<UnmetDemand, WorkflowError> {
    let mut counts: BTreeMap<(String, String, String), (u64, u64)> = BTreeMap::new();
    for (subtype, refused) in [(ROUTING_DECISION, true), (NOTHING_WITH_ROOM, false)] {
        for event in refusals(store, subtype).await? {
            let week = details(&event, "week")
                .first()
                .copied()
                .unwrap_or("*")
                .to_owned();
            let mut categories = details(&event, "category");
            let mut districts = details(&event, "district");
            if categories.is_empty() {
                categories.push("*");
            }
            if districts.is_empty() {
                districts.push("*");
            }
            // A service in two categories or districts counts as demand in each.
            for c in &categories {
                for d in &districts {
                    let entry = counts
                        .entry(((*c).to_owned(), (*d).to_owned(), week.clone()))
                        .or_default();
                    if refused {
                        entry.0 += 1;
                    } else {
                        entry.1 += 1;
                    }
                }
            }
        }
    }
    let rows = counts
        .into_iter()
        .map(|((category, district, week), (refused, searches))| {
            // The two counts of a row are of different things, so neither is a total of the
            // other and no secondary suppression applies.
            let refused_for_capacity = policy.count(refused);
            let searches_without_room = policy.count(searches);
            DemandRow {
                suppressed: refused_for_capacity.is_none() || searches_without_room.is_none(),
                category,
                district,
                week,
                refused_for_capacity,
                searches_without_room,
            }
        })
        .collect();
    Ok(UnmetDemand {
        policy: policy.name(),
        disclosure_threshold: policy.threshold(),
        round_to: policy.round_to(),
        rows,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_counts_are_suppressed_and_the_rest_rounded_by_the_report_policy() {
        // The old [directory] default (under 5 suppressed, rounded to 5) is the mental-health
        // policy; the default policy suppresses 1 to 7.
        let shown = |p: Policy| [0, 4, 5, 7, 8].map(|n| p.count(n)).to_vec();
        assert_eq!(
            shown(Policy::NhsDigitalMentalHealth),
            vec![Some(0), None, Some(5), Some(5), Some(10)]
        );
        assert_eq!(
            shown(Policy::SignpostDefault),
            vec![Some(0), None, None, None, Some(10)]
        );
    }
}
