//! Correlation and request ids: the one id that threads every log line, span and message about
//! one change, and the id of one request. Both are UUIDs (BaRS requires it, and a partner is
//! never handed a value Signpost did not check); anything else is refused, not passed on.

use axum::http::HeaderMap;

/// Header naming the conversation a referral belongs to.
pub const CORRELATION_HEADER: &str = "x-correlation-id";
/// Header naming one request (BaRS: one message; a retry repeats it).
pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// Marks a request that came without an `X-Correlation-Id`: the one its headers now carry was made here.
#[derive(Debug, Clone, Copy)]
pub struct CorrelationMadeHere;

/// An id header that is present but not a UUID.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{header} must be a UUID (e.g. 3f2b0c9e-6a71-4c1b-9a52-0d7e3c1f8a44)")]
pub struct IdHeaderError {
    /// The header, as it is written in documentation.
    pub header: &'static str,
}

/// The header's value if present: a UUID, or an error naming the header.
fn uuid_header(
    headers: &HeaderMap,
    name: &str,
    display: &'static str,
) -> Result<Option<String>, IdHeaderError> {
    let Some(value) = headers.get(name) else {
        return Ok(None);
    };
    value
        .to_str()
        .ok()
        .filter(|v| uuid::Uuid::try_parse(v).is_ok())
        .map(|v| Some(v.to_owned()))
        .ok_or(IdHeaderError { header: display })
}

/// The caller's `X-Correlation-Id`, or a new one when it sent none: it threads every message
/// about one change.
pub fn correlation_id(headers: &HeaderMap) -> Result<String, IdHeaderError> {
    Ok(
        uuid_header(headers, CORRELATION_HEADER, "X-Correlation-Id")?
            .unwrap_or_else(|| uuid::Uuid::new_v4().to_string()),
    )
}

/// The caller's `X-Request-Id`, if it sent one.
pub fn request_id(headers: &HeaderMap) -> Result<Option<String>, IdHeaderError> {
    uuid_header(headers, REQUEST_ID_HEADER, "X-Request-Id")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.insert(*k, v.parse().expect("header"));
        }
        map
    }

    #[test]
    fn uuids_are_taken_and_anything_else_refused() {
        let id = "3f2b0c9e-6a71-4c1b-9a52-0d7e3c1f8a44";
        assert_eq!(
            correlation_id(&headers(&[(CORRELATION_HEADER, id)])),
            Ok(id.to_owned())
        );
        assert_eq!(
            correlation_id(&headers(&[(CORRELATION_HEADER, "xyz")])),
            Err(IdHeaderError {
                header: "X-Correlation-Id"
            })
        );
        let made = correlation_id(&headers(&[])).expect("made");
        assert!(uuid::Uuid::try_parse(&made).is_ok(), "{made}");
        assert_eq!(request_id(&headers(&[])), Ok(None));
        assert_eq!(
            request_id(&headers(&[(REQUEST_ID_HEADER, "req-1")])),
            Err(IdHeaderError {
                header: "X-Request-Id"
            })
        );
    }
}
