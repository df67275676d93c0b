//! The FHIR REST API under `/fhir`.

mod body;
mod bundle;
mod directory;
mod error;
mod intake;
mod json_patch;
pub mod measure;
pub mod measure_report;
mod messaging;
mod metadata;
mod read;
mod request_ids;
pub mod search_params;
mod transaction;
pub(crate) mod update;

use axum::Router;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

pub(crate) use directory::served;
pub use error::{ApiError, over_limit_as_outcome};

use crate::state::AppState;
use crate::store::StoredResource;

/// The media type of every FHIR answer.
pub const FHIR_JSON: &str = "application/fhir+json; charset=utf-8";

/// An answer with a FHIR JSON body.
pub fn fhir_response(status: StatusCode, body: String) -> Response {
    let mut response = (status, body).into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(FHIR_JSON));
    response
}

/// One resource with its `ETag`, `Last-Modified` and optionally `Location`.
pub fn resource_response(
    status: StatusCode,
    resource: &StoredResource,
    location: Option<String>,
) -> Response {
    let mut response = fhir_response(status, resource.body.get().to_owned());
    let headers = response.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&format!("W/\"{}\"", resource.version)) {
        headers.insert(header::ETAG, v);
    }
    if let Ok(v) = HeaderValue::from_str(&resource.last_updated.to_http_date()) {
        headers.insert(header::LAST_MODIFIED, v);
    }
    if let Some(v) = location.and_then(|l| HeaderValue::from_str(&l).ok()) {
        headers.insert(header::LOCATION, v);
    }
    response
}

async fn unknown_route() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        signpost_profiles::Issue::error(
            signpost_profiles::IssueType::NotSupported,
            "no such FHIR endpoint; see /fhir/metadata for what this server offers",
        ),
    )
}

/// The `/fhir` routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", axum::routing::post(transaction::transaction))
        .route("/metadata", get(metadata::capability_statement))
        // Computed from the store's aggregates, not stored: their own routes before `/{type}`.
        .route("/Measure", get(measure::search))
        .route("/Measure/{id}", get(measure::read))
        .route("/MeasureReport", get(measure_report::search))
        .route("/{type}", get(read::search).post(create))
        .route(
            "/{type}/{id}",
            get(read::read).put(update::put).patch(update::patch),
        )
        .route("/{type}/{id}/_history", get(read::history))
        .route("/{type}/{id}/_history/{vid}", get(read::vread))
        // Applies to the routes above; $process-message checks its ids the BaRS way.
        .route_layer(axum::middleware::from_fn(request_ids::checked))
        .route(
            "/$process-message",
            axum::routing::post(messaging::process_message_handler)
                .layer(axum::middleware::from_fn(messaging::bars_exchange)),
        )
        .fallback(unknown_route)
        .method_not_allowed_fallback(method_not_allowed)
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        signpost_profiles::Issue::error(
            signpost_profiles::IssueType::NotSupported,
            "this method is not supported here; see /fhir/metadata for the interactions offered",
        ),
    )
}

/// `POST /fhir/{type}`: only referrals are created this way.
async fn create(
    state: axum::extract::State<AppState>,
    who: crate::auth::Principal,
    axum::extract::Path(resource_type): axum::extract::Path<String>,
    headers: axum::http::HeaderMap,
    body: body::FhirBody,
) -> Result<Response, ApiError> {
    if resource_type == "ServiceRequest" {
        intake::create_service_request(state, who, headers, body).await
    } else if crate::search_index::params_for(&resource_type).is_some() {
        Err(method_not_allowed().await)
    } else {
        Err(ApiError::not_found(format!(
            "Signpost does not serve {resource_type} resources"
        )))
    }
}
