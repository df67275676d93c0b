//! What the server answers outside its APIs: `GET /` says where everything is, and a request to
//! a path that does not exist is told where the FHIR base is (a client configured with the
//! server's address instead of its FHIR base is the commonest first mistake).

use axum::extract::State;
use axum::http::{StatusCode, Uri};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};
use signpost_profiles::{Issue, IssueType};

use crate::fhir::ApiError;
use crate::state::AppState;

/// `GET /`.
pub fn router() -> Router<AppState> {
    Router::new().route("/", get(index))
}

async fn index(State(state): State<AppState>) -> Json<Value> {
    let base = state.config.server.base_url.trim_end_matches('/');
    Json(json!({
        "service": "Signpost, the FHIR R4 gateway for social prescribing referrals",
        "fhir_base": format!("{base}/fhir"),
        "capability_statement": format!("{base}/fhir/metadata"),
        "token_endpoint": format!("{base}/auth/token"),
        "smart_configuration": format!("{base}/.well-known/smart-configuration"),
        "health": format!("{base}/healthz"),
        "ready": format!("{base}/readyz"),
        "metrics": format!("{base}/metrics"),
    }))
}

/// Any path no route matches: 404, naming the FHIR base.
pub async fn unknown(State(state): State<AppState>, uri: Uri) -> ApiError {
    let base = state.config.server.base_url.trim_end_matches('/');
    // A long path is not worth echoing back.
    let path = if uri.path().len() <= 200 {
        uri.path()
    } else {
        "/..."
    };
    let hint = if path == "/metadata" {
        format!("the FHIR base is {base}/fhir: its CapabilityStatement is {base}/fhir/metadata")
    } else {
        format!(
            "the FHIR base is {base}/fhir (did you mean {base}/fhir{path}?); GET {base}/ lists every endpoint"
        )
    };
    ApiError::new(
        StatusCode::NOT_FOUND,
        Issue::error(
            IssueType::NotFound,
            format!("nothing is served at {path}: {hint}"),
        ),
    )
}
