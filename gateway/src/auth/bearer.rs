//! The HTTP edge of authentication: the bearer token checked and turned into a [`Principal`],
//! and the scope check that answers 403.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::StatusCode;
use axum::http::request::Parts;
use signpost_profiles::{Issue, IssueType, OdsCode};

use super::{Interaction, Principal, Scopes, TokenRejection};
use crate::audit::unauthenticated::Verdict;
use crate::audit::{self, Outcome};
use crate::fhir::ApiError;
use crate::state::AppState;

/// 403 (audited) unless one of the caller's scopes permits the interaction.
pub async fn require(
    who: &Principal,
    state: &AppState,
    resource_type: &str,
    interaction: Interaction,
    target: &str,
) -> Result<(), ApiError> {
    if who.scopes.allows(resource_type, interaction) {
        return Ok(());
    }
    audit::refusal(
        state.store.as_ref(),
        Some(who),
        interaction,
        target,
        Outcome::Refused(403),
    )
    .await;
    Err(ApiError::new(
        StatusCode::FORBIDDEN,
        Issue::error(
            IssueType::Forbidden,
            format!(
                "this token's scopes ({}) do not allow {} of {resource_type}",
                who.scopes,
                interaction.name()
            ),
        ),
    ))
}

fn unauthorized(code: IssueType, message: String, error: Option<&str>) -> ApiError {
    let challenge = match error {
        Some(e) => {
            format!("Bearer realm=\"signpost\", error=\"{e}\", error_description=\"{message}\"")
        }
        None => "Bearer realm=\"signpost\"".to_owned(),
    };
    ApiError::new(StatusCode::UNAUTHORIZED, Issue::error(code, message)).with_challenge(challenge)
}

impl FromRequestParts<AppState> for Principal {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let who = match authenticate(parts, state) {
            Ok(who) => who,
            Err(refused) => {
                // Counted per source and minute, not audited one by one: a loop of token-less
                // requests must not be able to fill the disk through the audit trail.
                let peer = parts
                    .extensions
                    .get::<ConnectInfo<SocketAddr>>()
                    .map(|ConnectInfo(addr)| addr.ip());
                let now = crate::store::now().0 / 1_000_000;
                return match state.unauthenticated.note(peer, now) {
                    Verdict::Refuse => Err(refused),
                    Verdict::Limited {
                        retry_after_seconds,
                    } => Err(ApiError::too_many_requests(
                        "too many requests without a valid token from this address; retry later",
                        retry_after_seconds,
                    )),
                };
            }
        };
        if let Err(wait) = state.client_limits.check(&who.client_id) {
            tracing::info!(client = %who.client_id, "client over its request rate");
            return Err(ApiError::too_many_requests(
                "this client is over its request rate; retry after the time given",
                wait.as_secs_f64().ceil() as u64,
            ));
        }
        Ok(who)
    }
}

fn authenticate(parts: &Parts, state: &AppState) -> Result<Principal, ApiError> {
    let mut headers = parts
        .headers
        .get_all(axum::http::header::AUTHORIZATION)
        .iter();
    let header = headers.next();
    // Two credentials leave it to chance which one is checked and which one is logged or passed on.
    if headers.next().is_some() {
        return Err(ApiError::bad_request(
            IssueType::Invalid,
            "the request has more than one Authorization header; send exactly one",
        ));
    }
    let header = header.and_then(|v| v.to_str().ok());
    let Some(header) = header else {
        return Err(unauthorized(
            IssueType::Login,
            "a bearer token is required: see /.well-known/smart-configuration".into(),
            None,
        ));
    };
    let token = match header.split_once(' ') {
        Some((scheme, token))
            if scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty() =>
        {
            token.trim()
        }
        _ => {
            return Err(unauthorized(
                IssueType::Login,
                "the Authorization header must be \"Bearer <token>\"".into(),
                Some("invalid_request"),
            ));
        }
    };
    let claims = state.token_signer.verify(token).map_err(|e| match e {
        TokenRejection::Expired => {
            unauthorized(IssueType::Login, e.to_string(), Some("invalid_token"))
        }
        TokenRejection::Invalid(_) => unauthorized(
            IssueType::Login,
            "the access token is not valid".into(),
            Some("invalid_token"),
        ),
    })?;
    let client = state.config.clients.iter().find(|c| c.id == claims.sub);
    let organisation = OdsCode::parse(&claims.org).ok();
    let (Some(client), Some(organisation)) = (client, organisation) else {
        return Err(unauthorized(
            IssueType::Login,
            "the token's client is no longer registered".into(),
            Some("invalid_token"),
        ));
    };
    if client.organisation != organisation {
        return Err(unauthorized(
            IssueType::Login,
            "the token's organisation no longer matches its client".into(),
            Some("invalid_token"),
        ));
    }
    let role = state
        .directory
        .organisation(&organisation)
        .map(|o| o.role)
        .ok_or_else(|| {
            unauthorized(
                IssueType::Login,
                "the token's organisation is no longer registered".into(),
                Some("invalid_token"),
            )
        })?;
    // The gateway signed these scopes itself, so one that does not parse means a bad token.
    let scopes = Scopes::parse(&claims.scope).map_err(|_| {
        unauthorized(
            IssueType::Login,
            "the access token is not valid".into(),
            Some("invalid_token"),
        )
    })?;
    Ok(Principal {
        client_id: client.id.clone(),
        organisation,
        role,
        scopes,
        person: None,
    })
}
