//! A search as a client runs it: narrowed to what its organisation is party to, by distance for a
//! directory search near a point, and recorded as unmet demand when it asked for room and found
//! none. The FHIR API's searches and the console's directory search are this one command.

use super::WorkflowError;
use super::nearby_services::search_nearby;
use super::routing_decision::note_search;
use crate::auth::{Principal, tenancy};
use crate::directory::geo::Near;
use crate::store::{SearchPage, SearchQuery, Store};

/// Runs `query` for `who` (restricted to its tenancy here), by distance when `near` is given.
pub async fn run_search(
    store: &dyn Store,
    who: &Principal,
    mut query: SearchQuery,
    near: Option<&Near>,
) -> Result<SearchPage, WorkflowError> {
    tenancy::restrict(who, &mut query);
    let page = match near {
        Some(near) => search_nearby(store, &query, near).await?.into_search_page(),
        None => store.search(&query).await?,
    };
    note_search(store, who, &query, page.total).await?;
    Ok(page)
}
