//! A directory search by distance: the store narrows the services to those indexed in the map
//! cells around the point, and this keeps those with a location within the distance, nearest
//! first, and serves the page asked for.

use serde_json::Value;

use super::WorkflowError;
use crate::directory::geo::{Near, nearest_km};
use crate::store::{ResourceStore, SearchPage, SearchQuery, StoreError, StoredResource};

/// Most services a search by distance orders in one go. The cells over its circle are a square
/// around it, so this bounds the work of one search; past it the caller is asked to narrow it.
pub const MAX_CANDIDATES: usize = 1_000;

/// A page of services within the distance, nearest first, with each one's distance in km.
#[derive(Debug)]
pub struct NearbyPage {
    /// The services of the page, with how far the nearest of each one's locations is.
    pub services: Vec<(StoredResource, f64)>,
    /// Services within the distance in all.
    pub total: i64,
}

impl NearbyPage {
    /// The page as the store's search answers it, for what every search does next.
    pub fn into_search_page(self) -> SearchPage {
        SearchPage {
            resources: self.services.into_iter().map(|(r, _)| r).collect(),
            total: self.total,
        }
    }
}

/// Runs `query` (already holding the cells of `near` and the caller's restrictions) and keeps the
/// services within `near`'s distance, nearest first (then by id, so pages do not overlap).
pub async fn search_nearby(
    store: &dyn ResourceStore,
    query: &SearchQuery,
    near: &Near,
) -> Result<NearbyPage, WorkflowError> {
    let candidates = store
        .search(&SearchQuery {
            count: MAX_CANDIDATES + 1,
            offset: 0,
            ..query.clone()
        })
        .await?;
    if candidates.resources.len() > MAX_CANDIDATES {
        return Err(WorkflowError::Invalid {
            message: format!(
                "more than {MAX_CANDIDATES} services are around that point: add a category or \
                 type, or search a shorter distance"
            ),
            at: "near".into(),
        });
    }
    let mut within: Vec<(StoredResource, f64)> = Vec::new();
    for r in candidates.resources {
        let json: Value = serde_json::from_str(r.body.get()).map_err(|e| {
            StoreError::Corrupt(format!("HealthcareService/{} is not JSON: {e}", r.id))
        })?;
        // A cell holds a square; the circle within it is decided here.
        if let Some(km) = nearest_km(&json, &near.centre).filter(|km| *km <= near.km) {
            within.push((r, km));
        }
    }
    within.sort_by(|(a, da), (b, db)| da.total_cmp(db).then_with(|| a.id.cmp(&b.id)));
    let total = i64::try_from(within.len()).unwrap_or(i64::MAX);
    let services = within
        .into_iter()
        .skip(query.offset)
        .take(query.count)
        .collect();
    Ok(NearbyPage { services, total })
}
