//! `POST /auth/token` (SMART Backend Services) and `GET /.well-known/smart-configuration`.
//!
//! Errors here follow OAuth 2.0 (RFC 6749 section 5.2: `{"error", "error_description"}`), as SMART requires.

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Form, Json};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use serde_json::json;
use signpost_conformance::smart::{ASSERTION_TYPE, AssertionClaims, unix_now};

use super::Scopes;
use super::client_keys::key_fits;
use crate::state::AppState;
use crate::store::Instant;

/// Longest a client assertion may live, from now (SMART: no more than five minutes).
const MAX_ASSERTION_LIFETIME: u64 = 300;
/// Clock skew tolerated between client and gateway.
const LEEWAY: u64 = 5;

/// The token request form.
#[derive(Debug, Deserialize)]
pub struct TokenRequest {
    grant_type: Option<String>,
    scope: Option<String>,
    client_assertion_type: Option<String>,
    client_assertion: Option<String>,
}

/// The claims checked once the signature verifies (iss, sub and aud are checked by the validation).
#[derive(Debug, Deserialize)]
struct VerifiedClaims {
    exp: u64,
    #[serde(default)]
    iat: Option<u64>,
    jti: String,
}

/// An OAuth error answer.
#[derive(Debug)]
pub struct OAuthError {
    status: StatusCode,
    error: &'static str,
    description: String,
}

impl OAuthError {
    fn client(description: impl Into<String>) -> Self {
        Self {
            status: StatusCode::UNAUTHORIZED,
            error: "invalid_client",
            description: description.into(),
        }
    }

    fn request(error: &'static str, description: impl Into<String>) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            error,
            description: description.into(),
        }
    }
}

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        tracing::info!(reason = self.error, "token refused");
        crate::telemetry::metrics::token("refused", self.error);
        (
            self.status,
            Json(json!({"error": self.error, "error_description": self.description})),
        )
            .into_response()
    }
}

/// The token endpoint URL, the audience client assertions must name.
pub fn token_url(state: &AppState) -> String {
    format!(
        "{}/auth/token",
        state.config.server.base_url.trim_end_matches('/')
    )
}

/// `POST /auth/token`
pub async fn token(
    State(state): State<AppState>,
    Form(form): Form<TokenRequest>,
) -> Result<Response, OAuthError> {
    if form.grant_type.as_deref() != Some("client_credentials") {
        return Err(OAuthError::request(
            "unsupported_grant_type",
            "grant_type must be client_credentials",
        ));
    }
    if form.client_assertion_type.as_deref() != Some(ASSERTION_TYPE) {
        return Err(OAuthError::client(format!(
            "client_assertion_type must be {ASSERTION_TYPE}"
        )));
    }
    let assertion = form
        .client_assertion
        .as_deref()
        .filter(|a| !a.is_empty())
        .ok_or_else(|| OAuthError::client("client_assertion is missing"))?;

    let header = jsonwebtoken::decode_header(assertion).map_err(|e| {
        OAuthError::client(format!("the client assertion is not a signed JWT: {e}"))
    })?;
    if !matches!(header.alg, Algorithm::RS384 | Algorithm::ES384) {
        return Err(OAuthError::client(
            "the client assertion must be signed with RS384 or ES384",
        ));
    }
    // An extension the sender marks critical must be understood; Signpost understands none.
    if header.crit.is_some() {
        return Err(OAuthError::client(
            "the client assertion's header lists crit extensions; Signpost supports none",
        ));
    }
    let kid = header
        .kid
        .ok_or_else(|| OAuthError::client("the client assertion header needs a kid"))?;
    // Only to find whose keys to check against; nothing is trusted until the signature verifies.
    let unverified: AssertionClaims = jsonwebtoken::dangerous::insecure_decode_claims(assertion)
        .map_err(|e| {
            OAuthError::client(format!("the client assertion claims are incomplete: {e}"))
        })?;
    // One answer whether the client, its key or the key's fit is wrong: a stranger must not
    // learn which client ids exist. The operator finds the reason in the log.
    let unverifiable = |reason: &str| {
        // The claimed iss is the sender's text, unverified: it stays out of the log.
        tracing::info!(reason, "client assertion not verifiable");
        OAuthError::client(
            "the client assertion could not be verified: check iss, kid and the keys registered for the client",
        )
    };
    let client = state
        .config
        .clients
        .iter()
        .find(|c| c.id == unverified.iss)
        .ok_or_else(|| unverifiable("unknown client"))?;
    let jwk = state
        .client_keys
        .key(&client.id, &kid)
        .await
        .map_err(|e| unverifiable(&e.to_string()))?;
    if !key_fits(&jwk, header.alg) {
        return Err(unverifiable(
            "the key named by kid does not fit the algorithm",
        ));
    }
    let key = DecodingKey::from_jwk(&jwk)
        .map_err(|e| OAuthError::client(format!("the registered key is unusable: {e}")))?;
    let mut validation = Validation::new(header.alg);
    validation.leeway = LEEWAY;
    validation.set_audience(&[token_url(&state)]);
    validation.set_issuer(&[&client.id]);
    validation.sub = Some(client.id.clone());
    validation.set_required_spec_claims(&["exp", "iss", "sub", "aud"]);
    validation.validate_nbf = true;
    let claims = jsonwebtoken::decode::<VerifiedClaims>(assertion, &key, &validation)
        .map_err(|e| OAuthError::client(format!("the client assertion was refused: {e}")))?
        .claims;
    if claims.exp > unix_now() + MAX_ASSERTION_LIFETIME + LEEWAY {
        return Err(OAuthError::client(
            "the client assertion's exp is more than 5 minutes ahead",
        ));
    }
    // An assertion issued in the future was made on a wrong clock or made to outlive its exp check.
    if claims.iat.is_some_and(|iat| iat > unix_now() + LEEWAY) {
        return Err(OAuthError::client(
            "the client assertion's iat is in the future",
        ));
    }
    if claims.jti.trim().is_empty() {
        return Err(OAuthError::client("the client assertion needs a jti"));
    }
    // Kept while the assertion could still pass (exp plus the clock-skew leeway), so it cannot be replayed then.
    let expires = Instant(
        i64::try_from(claims.exp + LEEWAY)
            .unwrap_or(i64::MAX)
            .saturating_mul(1_000_000),
    );
    let fresh = state
        .store
        .remember_once(&format!("jti:{}", client.id), &claims.jti, expires)
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "could not record a jti");
            OAuthError {
                status: StatusCode::SERVICE_UNAVAILABLE,
                error: "temporarily_unavailable",
                description: "try again".into(),
            }
        })?;
    if !fresh {
        return Err(OAuthError::client(
            "this client assertion (jti) has already been used",
        ));
    }

    let requested = Scopes::parse(form.scope.as_deref().unwrap_or(""))
        .map_err(|e| OAuthError::request("invalid_scope", e.to_string()))?;
    let granted = Scopes::grant(&requested, &client.allowed_scopes);
    if granted.is_empty() {
        return Err(OAuthError::request(
            "invalid_scope",
            format!(
                "none of the requested scopes is allowed for this client; allowed: {}",
                client.scopes.join(" ")
            ),
        ));
    }
    let ttl = state.config.auth.token_ttl_seconds;
    let access_token = state
        .token_signer
        .issue(
            &client.id,
            client.organisation.as_str(),
            &granted.to_string(),
            ttl,
        )
        .map_err(|e| OAuthError {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            error: "server_error",
            description: e.to_string(),
        })?;
    tracing::info!(client = %client.id, scope = %granted, "token granted");
    crate::telemetry::metrics::token("granted", "");
    Ok(Json(json!({
        "access_token": access_token,
        "token_type": "bearer",
        "expires_in": ttl,
        "scope": granted.to_string(),
    }))
    .into_response())
}

/// `GET /.well-known/smart-configuration`
pub async fn smart_configuration(State(state): State<AppState>) -> Json<serde_json::Value> {
    Json(json!({
        "token_endpoint": token_url(&state),
        "grant_types_supported": ["client_credentials"],
        "token_endpoint_auth_methods_supported": ["private_key_jwt"],
        "token_endpoint_auth_signing_alg_values_supported": ["RS384", "ES384"],
        "scopes_supported": [
            "system/ServiceRequest.crs", "system/Task.crus", "system/*.rs",
            "system/ServiceRequest.read", "system/Task.read", "system/Task.write", "admin"
        ],
        "capabilities": ["client-confidential-asymmetric"],
    }))
}

/// `/auth/token` and `/.well-known/smart-configuration` (at the root and, as SMART asks, at the FHIR base).
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/auth/token", post(token))
        .route("/.well-known/smart-configuration", get(smart_configuration))
        .route(
            "/fhir/.well-known/smart-configuration",
            get(smart_configuration),
        )
}
