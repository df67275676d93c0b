//! What every HTTP adapter shares: its client, and the retry verdict for HTTP answers.

use std::time::Duration;

use crate::registry::AdapterConfigError;
use crate::{DeliveryError, Receipt};

/// The client an adapter sends with; refuses rather than fall back to a client without timeouts,
/// which would let a hung partner hold a delivery past its lease.
pub fn client(
    connect_timeout: Option<Duration>,
    timeout: Duration,
) -> Result<reqwest::Client, AdapterConfigError> {
    let mut builder = reqwest::Client::builder().timeout(timeout);
    if let Some(connect_timeout) = connect_timeout {
        builder = builder.connect_timeout(connect_timeout);
    }
    builder
        .build()
        .map_err(|e| AdapterConfigError::HttpClient(e.to_string()))
}

/// Longest answer body kept in an error message (partners sometimes answer with a whole web page).
const MAX_BODY_IN_ERROR: usize = 1024;

/// Longest acknowledgement body kept in a receipt.
const MAX_ANSWER: usize = 64 * 1024;

/// Classifies a partner's HTTP answer: 2xx is a receipt; 408, 429 and 5xx are transient; other codes are permanent.
pub async fn classify(response: reqwest::Response) -> Result<Receipt, DeliveryError> {
    let status = response.status();
    if status.is_success() {
        let body = response.text().await.unwrap_or_default();
        let answer = (!body.is_empty()).then(|| body.chars().take(MAX_ANSWER).collect());
        return Ok(Receipt {
            status: status.as_u16(),
            answer,
        });
    }
    let retry_after = response
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs);
    let body = response.text().await.unwrap_or_default();
    let mut shown: String = body.chars().take(MAX_BODY_IN_ERROR).collect();
    if body.len() > shown.len() {
        shown.push('…');
    }
    let reason = format!("partner answered {status}");
    let answer = Some(shown).filter(|s| !s.is_empty());
    if status.is_server_error() || status.as_u16() == 408 || status.as_u16() == 429 {
        Err(DeliveryError::Transient {
            reason,
            retry_after,
            answer,
        })
    } else {
        Err(DeliveryError::Permanent { reason, answer })
    }
}

/// `traceparent` for the partner, when the delivery runs in a trace.
pub fn trace_headers<R>(delivery: &crate::Delivery<R>) -> reqwest::header::HeaderMap {
    let mut headers = reqwest::header::HeaderMap::new();
    if let Some(value) = delivery
        .traceparent
        .as_deref()
        .and_then(|t| reqwest::header::HeaderValue::from_str(t).ok())
    {
        headers.insert("traceparent", value);
    }
    headers
}

/// Connection failures and timeouts are always worth another try.
pub fn transport_error(error: &reqwest::Error) -> DeliveryError {
    let what = if error.is_timeout() {
        "timed out"
    } else if error.is_connect() {
        "could not connect"
    } else {
        "request failed"
    };
    DeliveryError::transient(format!("{what}: {error}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_client_gives_up_on_a_partner_that_never_answers() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        // Accepts the connection and holds it open without a word.
        let held = tokio::spawn(async move { listener.accept().await });
        let client =
            client(Some(Duration::from_secs(1)), Duration::from_millis(200)).expect("client");
        let error = client
            .get(format!("http://{addr}/"))
            .send()
            .await
            .expect_err("no answer");
        assert!(error.is_timeout(), "{error}");
        held.abort();
    }
}
