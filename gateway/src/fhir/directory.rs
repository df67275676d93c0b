//! `HealthcareService`: the service directory as served (capacity as it holds now) and a
//! provider's capacity declaration by `PUT` or `PATCH`.

use axum::http::StatusCode;
use axum::response::Response;
use serde_json::Value;
use signpost_profiles::{Issue, IssueType, parse_resource};

use super::{ApiError, json_patch, resource_response};
use crate::auth::{Interaction, Principal};
use crate::directory::capacity::as_served;
use crate::state::AppState;
use crate::store::{StoredResource, now};
use crate::workflow::WorkflowError;
use crate::workflow::declare_capacity::{Declaration, declare_capacity};

/// A directory entry as served: a declaration past its expiry shows as `unknown`.
pub fn served(resource: StoredResource) -> StoredResource {
    if resource.resource_type != "HealthcareService" {
        return resource;
    }
    let Ok(json) = serde_json::from_str::<Value>(resource.body.get()) else {
        return resource;
    };
    match as_served(&json, now()).and_then(|v| serde_json::value::to_raw_value(&v).ok()) {
        Some(body) => StoredResource { body, ..resource },
        None => resource,
    }
}

async fn declare(
    state: &AppState,
    who: &Principal,
    id: &str,
    expected: i64,
    propose: impl Fn(&Value) -> Result<Value, WorkflowError>,
) -> Result<Response, ApiError> {
    let target = format!("HealthcareService/{id}");
    crate::auth::bearer::require(
        who,
        state,
        "HealthcareService",
        Interaction::Update,
        &target,
    )
    .await?;
    let declaration = Declaration {
        id: id.to_owned(),
        expected: Some(expected),
        once: None,
    };
    let stored = declare_capacity(state.services(), who, declaration, propose).await?;
    Ok(resource_response(StatusCode::OK, &served(stored), None))
}

/// `PUT /fhir/HealthcareService/{id}`: the whole entry with the new capacity.
pub async fn put(
    state: &AppState,
    who: &Principal,
    id: &str,
    expected: i64,
    bytes: &[u8],
) -> Result<Response, ApiError> {
    declare(state, who, id, expected, |_| {
        let proposed = parse_resource(bytes, Some("HealthcareService"))?.json;
        match proposed.get("id").and_then(Value::as_str) {
            Some(body_id) if body_id == id => Ok(proposed),
            other => Err(WorkflowError::Invalid {
                message: format!(
                    "the body's id ({}) must equal the URL's ({id})",
                    other.unwrap_or("missing")
                ),
                at: "HealthcareService.id".into(),
            }),
        }
    })
    .await
}

/// `PATCH /fhir/HealthcareService/{id}` with a JSON Patch of the capacity extensions.
pub async fn patch(
    state: &AppState,
    who: &Principal,
    id: &str,
    expected: i64,
    ops: &Value,
) -> Result<Response, ApiError> {
    declare(state, who, id, expected, |current| {
        let mut patched = current.clone();
        json_patch::apply(&mut patched, ops, state.config.server.max_body_bytes).map_err(|e| {
            WorkflowError::Unprocessable(vec![Issue::error(IssueType::Invalid, e.to_string())])
        })?;
        let bytes = serde_json::to_vec(&patched).map_err(|e| {
            WorkflowError::Internal(format!("a patched HealthcareService is not JSON: {e}"))
        })?;
        Ok(parse_resource(&bytes, Some("HealthcareService"))?.json)
    })
    .await
}
