//! An HTTP client that records every exchange, so a failure can show what was sent and what came back.

use std::sync::{Arc, Mutex};

use reqwest::RequestBuilder;
use reqwest::header::HeaderMap;
use serde_json::Value;

use super::check::{Failure, fail};

/// One request and its answer, as shown in reports (credentials masked).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exchange {
    /// `POST http://…/fhir/ServiceRequest`.
    pub request: String,
    /// Request headers worth showing.
    pub request_headers: Vec<(String, String)>,
    /// Request body (UTF-8, lossy).
    pub request_body: String,
    /// Status, or none when no answer came.
    pub status: Option<u16>,
    /// Answer body, or the transport error.
    pub response_body: String,
}

/// An answer.
#[derive(Debug, Clone)]
pub struct Answer {
    /// HTTP status.
    pub status: u16,
    /// Headers.
    pub headers: HeaderMap,
    /// Body as text.
    pub body: String,
}

impl Answer {
    /// The body as JSON (`Null` when it is not).
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }

    /// A header's value.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Fails unless the status is `want`.
    pub fn expect_status(&self, want: u16, what: &str) -> Result<&Self, Failure> {
        if self.status == want {
            Ok(self)
        } else {
            Err(fail(
                format!("{what}: HTTP {want}"),
                format!("HTTP {}: {}", self.status, shorten(&self.body)),
            ))
        }
    }
}

/// Cuts a long body for a one-line message (the full body is in the exchange).
pub fn shorten(body: &str) -> String {
    const MAX: usize = 300;
    if body.len() <= MAX {
        return body.to_owned();
    }
    let mut end = MAX;
    while !body.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &body[..end])
}

/// Headers shown in reports; others (and credentials) are left out.
const SHOWN: [&str; 6] = [
    "content-type",
    "if-match",
    "if-none-exist",
    "x-request-id",
    "webhook-id",
    "authorization",
];

/// A recording client.
#[derive(Clone, Default)]
pub struct Http {
    client: reqwest::Client,
    log: Arc<Mutex<Vec<Exchange>>>,
}

impl Http {
    /// A client with a fresh, empty log.
    pub fn new(client: reqwest::Client) -> Self {
        Self {
            client,
            log: Arc::default(),
        }
    }

    /// The underlying client, to build requests with.
    pub fn client(&self) -> &reqwest::Client {
        &self.client
    }

    /// A client sharing the connection pool but starting a new log.
    pub fn fresh(&self) -> Self {
        Self::new(self.client.clone())
    }

    /// Everything recorded so far.
    pub fn exchanges(&self) -> Vec<Exchange> {
        self.log.lock().map(|l| l.clone()).unwrap_or_default()
    }

    /// Sends a request, recording it; a transport error is a failure.
    pub async fn send(&self, request: RequestBuilder) -> Result<Answer, Failure> {
        let request = request
            .build()
            .map_err(|e| fail("a request that can be built", e.to_string()))?;
        let mut exchange = Exchange {
            request: format!("{} {}", request.method(), request.url()),
            request_headers: request
                .headers()
                .iter()
                .filter(|(k, _)| SHOWN.contains(&k.as_str()))
                .map(|(k, v)| {
                    let value = if k == "authorization" {
                        "Bearer …".to_owned()
                    } else {
                        v.to_str().unwrap_or_default().to_owned()
                    };
                    (k.as_str().to_owned(), value)
                })
                .collect(),
            request_body: request
                .body()
                .and_then(|b| b.as_bytes())
                .map(|b| mask_secrets(&String::from_utf8_lossy(b)))
                .unwrap_or_default(),
            status: None,
            response_body: String::new(),
        };
        let result = self.client.execute(request).await;
        let answer = match result {
            Ok(response) => {
                let status = response.status().as_u16();
                let headers = response.headers().clone();
                let body = response.text().await.unwrap_or_default();
                exchange.status = Some(status);
                exchange.response_body = mask_secrets(&body);
                Ok(Answer {
                    status,
                    headers,
                    body,
                })
            }
            Err(e) => {
                exchange.response_body = format!("no answer: {e}");
                Err(fail("an answer", format!("no answer: {e}")))
            }
        };
        if let Ok(mut log) = self.log.lock() {
            log.push(exchange);
        }
        answer
    }
}

/// Access tokens and client assertions are credentials: reports never show them.
fn mask_secrets(text: &str) -> String {
    if let Ok(mut json) = serde_json::from_str::<Value>(text)
        && let Some(token) = json.get_mut("access_token")
    {
        *token = Value::String("…".into());
        return json.to_string();
    }
    if text.contains("client_assertion=") {
        return text
            .split('&')
            .map(|pair| {
                if pair.starts_with("client_assertion=") {
                    "client_assertion=…"
                } else {
                    pair
                }
            })
            .collect::<Vec<_>>()
            .join("&");
    }
    text.to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_are_masked() {
        assert_eq!(
            mask_secrets(r#"{"access_token":"eyJ.secret","token_type":"bearer"}"#),
            r#"{"access_token":"…","token_type":"bearer"}"#
        );
        assert_eq!(
            mask_secrets("grant_type=client_credentials&client_assertion=eyJ.x.y&scope=a"),
            "grant_type=client_credentials&client_assertion=…&scope=a"
        );
    }

    #[test]
    fn long_bodies_are_shortened_on_a_character_boundary() {
        let body = "é".repeat(400);
        let short = shorten(&body);
        assert!(short.ends_with('…') && short.len() < body.len());
    }
}
