//! Reading a FHIR JSON request body: media type and size first, so nothing else sees a bad body.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::{StatusCode, header};
use signpost_profiles::{Issue, IssueType};

use super::ApiError;

/// A request body that is declared as JSON and fits the size limit.
pub struct FhirBody(pub Bytes);

impl<S: Send + Sync> FromRequest<S> for FhirBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let content_type = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let media_type = content_type
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        if media_type != "application/fhir+json" && media_type != "application/json" {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                Issue::error(
                    IssueType::NotSupported,
                    format!(
                        "send Content-Type: application/fhir+json (got \"{content_type}\"); Signpost speaks FHIR JSON only"
                    ),
                ),
            ));
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|rejection| {
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    Issue::error(
                        IssueType::TooLong,
                        "the body is larger than this server accepts (1 MiB by default)",
                    ),
                )
            } else {
                ApiError::bad_request(
                    IssueType::Structure,
                    format!("could not read the body: {rejection}"),
                )
            }
        })?;
        Ok(FhirBody(bytes))
    }
}
