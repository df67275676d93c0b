//! read, vread, history and search.

use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use signpost_profiles::IssueType;

use super::search_params::parse_search;
use super::{ApiError, bundle, fhir_response, resource_response};
use crate::audit::{self, Outcome};
use crate::auth::{Interaction, Principal, tenancy};
use crate::search_index::params_for;
use crate::state::AppState;
use crate::store::StoredResource;
use crate::workflow::visible::visible;

/// What `who` is shown of a resource: its tenancy view, and a directory entry's capacity as it holds now.
fn shown(who: &Principal, resource: &StoredResource) -> StoredResource {
    super::directory::served(tenancy::view(who, resource).into_owned())
}

fn served(resource_type: &str) -> Result<(), ApiError> {
    params_for(resource_type).map(|_| ()).ok_or_else(|| {
        ApiError::not_found(format!("Signpost does not serve {resource_type} resources"))
    })
}

/// As [`served`], but a token that only reads the reports is refused (403) whatever the type:
/// it is told it may read nothing but aggregates rather than which types exist.
async fn served_to(
    state: &AppState,
    who: &Principal,
    resource_type: &str,
    interaction: Interaction,
    target: &str,
) -> Result<(), ApiError> {
    if who.scopes.is_commissioner_only() {
        crate::auth::bearer::require(who, state, resource_type, interaction, target).await?;
    }
    served(resource_type)
}

/// `GET /fhir/{type}/{id}`
pub async fn read(
    State(state): State<AppState>,
    who: Principal,
    Path((rtype, id)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let target = format!("{rtype}/{id}");
    served_to(&state, &who, &rtype, Interaction::Read, &target).await?;
    crate::auth::bearer::require(&who, &state, &rtype, Interaction::Read, &target).await?;
    let resource = visible(state.store.as_ref(), &who, &rtype, &id).await?;
    audit::access(state.store.as_ref(), &who, Interaction::Read, &target).await?;
    Ok(resource_response(
        StatusCode::OK,
        &shown(&who, &resource),
        None,
    ))
}

/// `GET /fhir/{type}/{id}/_history/{vid}`
pub async fn vread(
    State(state): State<AppState>,
    who: Principal,
    Path((rtype, id, vid)): Path<(String, String, String)>,
) -> Result<Response, ApiError> {
    let target = format!("{rtype}/{id}/_history/{vid}");
    served_to(&state, &who, &rtype, Interaction::Read, &target).await?;
    crate::auth::bearer::require(&who, &state, &rtype, Interaction::Read, &target).await?;
    visible(state.store.as_ref(), &who, &rtype, &id).await?;
    let version: i64 = vid.parse().map_err(|_| {
        ApiError::bad_request(
            IssueType::Invalid,
            format!("\"{vid}\" is not a version number"),
        )
    })?;
    let resource = state
        .store
        .vread(&rtype, &id, version)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("{rtype}/{id} has no version {version}")))?;
    audit::access(state.store.as_ref(), &who, Interaction::Read, &target).await?;
    Ok(resource_response(
        StatusCode::OK,
        &shown(&who, &resource),
        None,
    ))
}

/// `GET /fhir/{type}/{id}/_history`
pub async fn history(
    State(state): State<AppState>,
    who: Principal,
    Path((rtype, id)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let target = format!("{rtype}/{id}/_history");
    served_to(&state, &who, &rtype, Interaction::Read, &target).await?;
    crate::auth::bearer::require(&who, &state, &rtype, Interaction::Read, &target).await?;
    visible(state.store.as_ref(), &who, &rtype, &id).await?;
    let versions: Vec<StoredResource> = state
        .store
        .history(&rtype, &id)
        .await?
        .iter()
        .map(|v| shown(&who, v))
        .collect();
    audit::access(state.store.as_ref(), &who, Interaction::Read, &target).await?;
    let base = state.config.server.fhir_base();
    let self_url = format!("{base}/{rtype}/{id}/_history");
    Ok(fhir_response(
        StatusCode::OK,
        bundle::history(&base, &versions, self_url),
    ))
}

/// `GET /fhir/{type}?...`
pub async fn search(
    State(state): State<AppState>,
    who: Principal,
    Path(rtype): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    // Audited with identifier values as keyed hashes: the trail holds no NHS numbers.
    let target = state
        .audit_key
        .search_target(&rtype, raw.as_deref().unwrap_or(""));
    served_to(&state, &who, &rtype, Interaction::Search, &target).await?;
    crate::auth::bearer::require(&who, &state, &rtype, Interaction::Search, &target).await?;
    let parsed = parse_search(&rtype, raw.as_deref().unwrap_or(""))?;
    // A VCS provider's view carries no NHS number, so it may not search by one either.
    if who.role == crate::config::Role::Vcs
        && parsed
            .used
            .iter()
            .any(|(name, _)| name == "subject:identifier")
    {
        audit::refusal(
            state.store.as_ref(),
            Some(&who),
            Interaction::Search,
            &target,
            Outcome::Refused(403),
        )
        .await;
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            signpost_profiles::Issue::error(
                IssueType::Forbidden,
                "VCS providers cannot search by NHS number; search your Tasks by owner and status",
            ),
        ));
    }
    let mut query = parsed.query.clone();
    // A distance from a postcode is a distance from where the directory's locations put it.
    let near = match &parsed.near_postcode {
        Some(from) => {
            let centre =
                crate::workflow::postcode_position::locate(state.store.as_ref(), &from.postcode)
                    .await?;
            Some(super::search_params::near_position(
                &mut query, centre, from.km,
            ))
        }
        None => parsed.near,
    };
    let mut page =
        crate::workflow::search::run_search(state.store.as_ref(), &who, query, near.as_ref())
            .await?;
    page.resources = page.resources.iter().map(|r| shown(&who, r)).collect();
    // The directory holds no patient data: its searches are not accesses to a referral, and a
    // row written per search would cost more than the search (issue 24).
    if rtype != "HealthcareService" {
        audit::access(state.store.as_ref(), &who, Interaction::Search, &target).await?;
    }
    let base = state.config.server.fhir_base();
    let link = |offset: usize| {
        let mut pairs: Vec<String> = parsed
            .used
            .iter()
            .map(|(k, v)| {
                format!(
                    "{}={}",
                    utf8_percent_encode(k, NON_ALPHANUMERIC),
                    utf8_percent_encode(v, NON_ALPHANUMERIC)
                )
            })
            .collect();
        if offset > 0 {
            pairs.push(format!("_offset={offset}"));
        }
        format!("{base}/{rtype}?{}", pairs.join("&"))
    };
    let shown = parsed.query.offset + page.resources.len();
    let next = (page.resources.len() == parsed.query.count
        && i64::try_from(shown).unwrap_or(i64::MAX) < page.total)
        .then(|| link(shown));
    let body = bundle::searchset(
        &base,
        &page.resources,
        page.total,
        link(parsed.query.offset),
        next,
    );
    Ok(fhir_response(StatusCode::OK, body))
}
