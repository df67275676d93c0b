//! `POST /fhir/$process-message`: the HTTP side of NHS BaRS messages (the workflow's
//! `process_message` does the rest). The exchange follows BaRS: `X-Request-Id` and
//! `X-Correlation-Id` required and UUIDs, both echoed on every answer, and every refusal
//! carrying the BaRS error code.

use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::{Extension, http::HeaderValue};
use signpost_profiles::{Issue, IssueType, parse_resource};

use super::ApiError;
use super::body::FhirBody;
use super::error::in_bars_dialect;
use super::intake::{Answer, answered, prefers_outcome};
use super::resource_response;
use crate::auth::{Interaction, Principal};
use crate::state::AppState;
use crate::telemetry::{CorrelationMadeHere, correlation_id, request_id};
use crate::workflow::process_message::{BarsMessage, Processed, process_message, read_message};

/// The ids of one BaRS exchange, checked.
#[derive(Debug, Clone)]
pub struct BarsIds {
    /// `X-Request-Id`: this message (a retry repeats it).
    pub request_id: String,
    /// `X-Correlation-Id`: the conversation.
    pub correlation_id: String,
}

fn missing(header: &str) -> ApiError {
    ApiError::new(
        StatusCode::BAD_REQUEST,
        Issue::error(
            IssueType::Required,
            format!("BaRS messages need an {header} header (a UUID)"),
        )
        .at(header),
    )
}

fn required_ids(request: &Request) -> Result<BarsIds, ApiError> {
    let headers = request.headers();
    let request_id = request_id(headers)?.ok_or_else(|| missing("X-Request-Id"))?;
    // The trace layer makes a correlation id for a request without one; BaRS requires the sender's.
    if request.extensions().get::<CorrelationMadeHere>().is_some() {
        return Err(missing("X-Correlation-Id"));
    }
    Ok(BarsIds {
        request_id,
        correlation_id: correlation_id(headers)?,
    })
}

/// The BaRS exchange around the handler: ids required, refusals in the BaRS dialect.
pub async fn bars_exchange(mut request: Request, next: Next) -> Response {
    let response = match required_ids(&request) {
        Ok(ids) => {
            request.extensions_mut().insert(ids);
            next.run(request).await
        }
        Err(refused) => refused.into_response(),
    };
    in_bars_dialect(response)
}

/// `POST /fhir/$process-message`
pub async fn process_message_handler(
    State(state): State<AppState>,
    Extension(ids): Extension<BarsIds>,
    who: Principal,
    headers: HeaderMap,
    FhirBody(bytes): FhirBody,
) -> Result<Response, ApiError> {
    let bundle = parse_resource(&bytes, Some("Bundle"))?.json;
    let message = read_message(&bundle)?;
    let (resource_type, interaction) = match &message {
        BarsMessage::NewReferral(_) => ("ServiceRequest", Interaction::Create),
        BarsMessage::Cancel(_) | BarsMessage::Progress(_) => ("Task", Interaction::Update),
    };
    crate::auth::bearer::require(&who, &state, resource_type, interaction, resource_type).await?;
    let processed = process_message(
        state.services(),
        &who,
        message,
        &ids.request_id,
        ids.correlation_id.clone(),
    )
    .await?;
    let answer = if prefers_outcome(&headers) {
        Answer::Outcome
    } else {
        Answer::Resource
    };
    let mut response = match processed {
        Processed::Submitted(submitted) => answered(&state, answer, submitted),
        Processed::Cancelled(task) | Processed::Progressed(task) => {
            resource_response(StatusCode::OK, &task, None)
        }
    };
    // The trace layer echoes both too; set here so the answer is complete on its own.
    for (name, value) in [
        ("x-request-id", ids.request_id),
        ("x-correlation-id", ids.correlation_id),
    ] {
        if let Ok(v) = HeaderValue::from_str(&value) {
            response.headers_mut().insert(name, v);
        }
    }
    Ok(response)
}
