//! A server under load and one request to it.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, LOCATION};

use crate::referrals::Referrals;

/// One server of a target: the URL referrals are posted to and, where it checks tokens, `Bearer ...`.
#[derive(Debug, Clone)]
pub struct Endpoint {
    /// The URL referrals are posted to.
    pub url: String,
    /// `Bearer ...`, where the server checks tokens.
    pub authorization: Option<String>,
}

/// Where referrals are posted, as whom, and which process serves them (for its memory). A target
/// of several endpoints (replicas) gets its requests in turn.
#[derive(Debug, Clone)]
pub struct Target {
    /// Short name for the report (`signpost`, `bare`, `sqlite`).
    pub name: &'static str,
    /// The servers, posted to in turn.
    endpoints: Arc<[Endpoint]>,
    /// The (first) serving process.
    pub pid: u32,
    /// Unique referrals for this target, numbered across all its phases.
    referrals: Arc<Referrals>,
    next: Arc<AtomicU64>,
}

/// One request's outcome.
#[derive(Debug, Clone)]
pub struct Sample {
    /// From when it was due (open loop) or sent (closed loop) to the end of the answer.
    pub latency: std::time::Duration,
    /// When the answer was fully read.
    pub done: Instant,
    /// The HTTP status, or `None` if no answer came.
    pub status: Option<u16>,
    /// The created ServiceRequest's id, from `Location`, when the server names one.
    pub created: Option<String>,
}

impl Sample {
    /// Created, as asked.
    pub fn ok(&self) -> bool {
        self.status == Some(201)
    }
}

/// The id in a `.../ServiceRequest/{id}/_history/1` location.
fn created_id(location: &str) -> Option<String> {
    let mut parts = location.split('/');
    parts.find(|p| *p == "ServiceRequest")?;
    parts.next().filter(|id| !id.is_empty()).map(str::to_owned)
}

impl Target {
    /// A target posting unique referrals of `referrals` to `url`.
    pub fn new(
        name: &'static str,
        url: String,
        authorization: Option<String>,
        pid: u32,
        referrals: Arc<Referrals>,
    ) -> Self {
        Self::replicated(name, vec![Endpoint { url, authorization }], pid, referrals)
    }

    /// A target of several servers taking requests in turn; `pid` is the one whose memory is read.
    pub fn replicated(
        name: &'static str,
        endpoints: Vec<Endpoint>,
        pid: u32,
        referrals: Arc<Referrals>,
    ) -> Self {
        assert!(!endpoints.is_empty(), "a target needs a server");
        Self {
            name,
            endpoints: endpoints.into(),
            pid,
            referrals,
            next: Arc::default(),
        }
    }

    /// Posts the next unique referral; `since` is when the request counts from.
    pub async fn post(&self, http: &reqwest::Client, since: Instant) -> Sample {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        let body = self.referrals.body(n);
        // `n` counts every request of the target, so replicas take turns whatever the phase.
        let endpoint = &self.endpoints[(n % self.endpoints.len() as u64) as usize];
        let mut request = http
            .post(&endpoint.url)
            .header(CONTENT_TYPE, "application/fhir+json")
            .body(body);
        if let Some(auth) = &endpoint.authorization {
            request = request.header(AUTHORIZATION, auth);
        }
        let (status, created) = match request.send().await {
            Ok(response) => {
                let status = response.status().as_u16();
                let created = response
                    .headers()
                    .get(LOCATION)
                    .and_then(|v| v.to_str().ok())
                    .and_then(created_id);
                // Read the whole answer: the client has it only then, and the connection is reusable.
                match response.bytes().await {
                    Ok(_) => (Some(status), created),
                    Err(_) => (None, None),
                }
            }
            Err(_) => (None, None),
        };
        let done = Instant::now();
        Sample {
            latency: done.saturating_duration_since(since),
            done,
            status,
            created,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_created_id_comes_from_the_location() {
        assert_eq!(
            created_id("http://127.0.0.1:9/fhir/ServiceRequest/0193-ab/_history/1").as_deref(),
            Some("0193-ab")
        );
        assert_eq!(created_id("http://127.0.0.1:9/fhir/Task/x"), None);
        assert_eq!(created_id("http://h/fhir/ServiceRequest/"), None);
    }
}
