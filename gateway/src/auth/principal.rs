//! Who is calling: the bearer token checked and turned into a [`Principal`].

use axum::extract::FromRequestParts;
use axum::http::StatusCode;
use axum::http::request::Parts;
use signpost_profiles::{Issue, IssueType, OdsCode};

use super::{Interaction, Scopes, TokenRejection};
use crate::state::AppState;
use crate::audit::{self, Outcome};
use crate::config::Role;
use crate::fhir::ApiError;

/// An authenticated client acting for one organisation.
#[derive(Debug, Clone)]
pub struct Principal {
    /// Client id.
    pub client_id: String,
    /// The organisation it acts for.
    pub organisation: OdsCode,
    /// That organisation's role.
    pub role: Role,
    /// Scopes granted to this token.
    pub scopes: Scopes,
}

impl Principal {
    /// The organisation as an indexed reference (`Organization/ODS`).
    pub fn party(&self) -> String {
        format!("Organization/{}", self.organisation)
    }

    /// 403 (audited) unless a scope permits the interaction.
    pub async fn require(
        &self,
        state: &AppState,
        resource_type: &str,
        interaction: Interaction,
        target: &str,
    ) -> Result<(), ApiError> {
        if self.scopes.allows(resource_type, interaction) {
            return Ok(());
        }
        audit::refusal(
            state,
            Some(self),
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
                    self.scopes,
                    interaction.name()
                ),
            ),
        ))
    }
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
        let target = parts.uri.path().to_owned();
        let result = authenticate(parts, state);
        if let Err(e) = &result {
            audit::refusal(
                state,
                None,
                Interaction::Read,
                &target,
                Outcome::Refused(e.status.as_u16()),
            )
            .await;
        }
        result
    }
}

fn authenticate(parts: &Parts, state: &AppState) -> Result<Principal, ApiError> {
    let header = parts
        .headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
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
    let scopes = Scopes::parse(&claims.scope).unwrap_or_default();
    Ok(Principal {
        client_id: client.id.clone(),
        organisation,
        role,
        scopes,
    })
}
