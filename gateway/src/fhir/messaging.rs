//! `POST /fhir/$process-message`: the HTTP side of NHS BaRS messages (the workflow's
//! `process_message` does the rest).

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use signpost_profiles::{Issue, IssueType, parse_resource};

use super::ApiError;
use super::body::FhirBody;
use super::intake::{Answer, answered};
use super::resource_response;
use crate::auth::{Interaction, Principal};
use crate::state::AppState;
use crate::workflow::process_message::{BarsMessage, Processed, process_message, read_message};

fn missing(message: &str, at: &str) -> ApiError {
    ApiError::new(
        StatusCode::BAD_REQUEST,
        Issue::error(IssueType::Invalid, message).at(at),
    )
}

/// `POST /fhir/$process-message`
pub async fn process_message_handler(
    State(state): State<AppState>,
    who: Principal,
    headers: HeaderMap,
    FhirBody(bytes): FhirBody,
) -> Result<Response, ApiError> {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
    };
    let request_id = header("x-request-id")
        .ok_or_else(|| missing("BaRS messages need an X-Request-Id header", "X-Request-Id"))?;
    let correlation_id = header("x-correlation-id").ok_or_else(|| {
        missing(
            "BaRS messages need an X-Correlation-Id header",
            "X-Correlation-Id",
        )
    })?;
    let bundle = parse_resource(&bytes, Some("Bundle"))?.json;
    let message = read_message(&bundle)?;
    let (resource_type, interaction) = match &message {
        BarsMessage::NewReferral(_) => ("ServiceRequest", Interaction::Create),
        BarsMessage::Cancel { .. } => ("Task", Interaction::Update),
    };
    crate::auth::bearer::require(&who, &state, resource_type, interaction, resource_type).await?;
    let processed = process_message(
        state.services(),
        &who,
        message,
        &request_id,
        correlation_id.clone(),
    )
    .await?;
    let mut response = match processed {
        Processed::Submitted(submitted) => answered(&state, Answer::Resource, submitted),
        Processed::Cancelled(task) => resource_response(StatusCode::OK, &task, None),
    };
    for (name, value) in [
        ("x-request-id", request_id),
        ("x-correlation-id", correlation_id),
    ] {
        if let Ok(v) = HeaderValue::from_str(&value) {
            response.headers_mut().insert(name, v);
        }
    }
    Ok(response)
}
