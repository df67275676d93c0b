//! `--role gateway`: the kit plays a GP system, a link-worker platform and a VCS provider
//! against a Signpost-compatible gateway.

mod checks;
mod directory;
mod parties;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};

pub use checks::CHECKS;
pub use parties::{Parties, PartiesError, Party};

use super::KitError;
use super::check::{Failure, fail};
use super::http::{Answer, Exchange, Http};
use super::runner::{Context, skip};
use crate::smart::request_token;

/// FHIR's JSON media type.
pub const FHIR_JSON: &str = "application/fhir+json";
/// ODS organisation code system.
pub const ODS: &str = "https://fhir.nhs.uk/Id/ods-organization-code";

/// What every gateway check runs with.
pub struct GatewayContext {
    /// Recording client (fresh per check).
    pub http: Http,
    /// The gateway's FHIR base URL.
    pub fhir: String,
    /// Who the kit acts as.
    pub parties: Arc<Parties>,
    /// Access tokens by client id, shared across checks.
    tokens: Arc<Mutex<HashMap<String, String>>>,
}

impl Context for GatewayContext {
    fn exchanges(&self) -> Vec<Exchange> {
        self.http.exchanges()
    }
}

/// What `GET {base}/metadata` answered: `Ok` for a CapabilityStatement, else a description.
async fn metadata_at(http: &reqwest::Client, base: &str) -> Result<(), String> {
    let response = http
        .get(format!("{base}/metadata"))
        .header("accept", FHIR_JSON)
        .send()
        .await
        .map_err(|e| format!("no answer: {e}"))?;
    let status = response.status().as_u16();
    let body = response.text().await.unwrap_or_default();
    let json: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
    if status == 200 && json["resourceType"] == "CapabilityStatement" {
        Ok(())
    } else {
        Err(format!("HTTP {status}"))
    }
}

/// Refuses a target that is a server's root when its `/fhir` below it is the FHIR base, rather
/// than letting every check fail on a wrong address; any other target is left to the checks.
pub async fn probe_fhir_base(target: &str) -> Result<(), KitError> {
    let target = target.trim_end_matches('/');
    let http = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(10))
        // A root that redirects /metadata to the FHIR base still is not one: the checks' other
        // requests would not be redirected.
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap_or_default();
    let Err(got) = metadata_at(&http, target).await else {
        return Ok(());
    };
    let base = format!("{target}/fhir");
    match metadata_at(&http, &base).await {
        Ok(()) => Err(KitError::NotFhirBase {
            target: target.to_owned(),
            got,
            base,
        }),
        Err(_) => Ok(()),
    }
}

/// Builds a fresh context per check, sharing the connection pool and the token cache.
pub fn contexts(fhir: &str, parties: Parties) -> impl Fn() -> GatewayContext {
    let http = Http::new(reqwest::Client::new());
    let fhir = fhir.trim_end_matches('/').to_owned();
    let parties = Arc::new(parties);
    let tokens = Arc::default();
    move || GatewayContext {
        http: http.fresh(),
        fhir: fhir.clone(),
        parties: parties.clone(),
        tokens: Arc::clone(&tokens),
    }
}

impl GatewayContext {
    /// The link-worker client; a check that needs it is skipped when the kit was given none.
    pub fn link_worker(&self) -> Result<&Party, Failure> {
        self.parties.link_worker.as_ref().ok_or_else(|| {
            skip(
                "needs a link-worker client the kit was not given: \
                 pass --parties FILE with a [link_worker] table",
            )
        })
    }

    /// The VCS provider's client; a check that needs it is skipped when the kit was given none.
    pub fn vcs(&self) -> Result<&Party, Failure> {
        self.parties.vcs.as_ref().ok_or_else(|| {
            skip(
                "needs a VCS provider's client the kit was not given: \
                 pass --parties FILE with a [vcs] table",
            )
        })
    }

    /// The token endpoint, from SMART discovery at the FHIR base.
    pub async fn token_url(&self) -> Result<String, Failure> {
        let answer = self
            .http
            .send(
                self.http
                    .client()
                    .get(format!("{}/.well-known/smart-configuration", self.fhir)),
            )
            .await?;
        answer.expect_status(200, "SMART configuration")?;
        answer.json()["token_endpoint"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| {
                fail(
                    "a token_endpoint in the SMART configuration",
                    answer.body.clone(),
                )
            })
    }

    /// An access token for `party` (asked for once, then reused).
    pub async fn token(&self, party: &Party) -> Result<String, Failure> {
        if let Some(token) = self
            .tokens
            .lock()
            .ok()
            .and_then(|t| t.get(&party.client_id).cloned())
        {
            return Ok(token);
        }
        let url = self.token_url().await?;
        let token = request_token(
            self.http.client(),
            &url,
            &party.client_id,
            &party.key,
            &party.scope,
        )
        .await
        .map_err(|e| {
            fail(
                format!("an access token for {}", party.client_id),
                e.to_string(),
            )
        })?
        .access_token;
        if let Ok(mut tokens) = self.tokens.lock() {
            tokens.insert(party.client_id.clone(), token.clone());
        }
        Ok(token)
    }

    /// GET `path` (relative to the FHIR base) as `party`.
    pub async fn get(&self, party: &Party, path: &str) -> Result<Answer, Failure> {
        let token = self.token(party).await?;
        self.http
            .send(
                self.http
                    .client()
                    .get(format!("{}/{path}", self.fhir))
                    .bearer_auth(token),
            )
            .await
    }

    /// POSTs a ServiceRequest as `party`, with optional If-None-Exist.
    pub async fn post_referral(
        &self,
        party: &Party,
        body: &Value,
        if_none_exist: Option<&str>,
    ) -> Result<Answer, Failure> {
        let token = self.token(party).await?;
        let mut request = self
            .http
            .client()
            .post(format!("{}/ServiceRequest", self.fhir))
            .bearer_auth(token)
            .header("content-type", FHIR_JSON)
            .body(body.to_string());
        if let Some(criteria) = if_none_exist {
            request = request.header("if-none-exist", criteria);
        }
        self.http.send(request).await
    }

    /// PUTs a Task as `party` with `If-Match` on `version` (none: no header).
    pub async fn put_task(
        &self,
        party: &Party,
        task: &Value,
        version: Option<i64>,
    ) -> Result<Answer, Failure> {
        let token = self.token(party).await?;
        let id = task["id"].as_str().unwrap_or_default();
        let mut request = self
            .http
            .client()
            .put(format!("{}/Task/{id}", self.fhir))
            .bearer_auth(token)
            .header("content-type", FHIR_JSON)
            .body(task.to_string());
        if let Some(v) = version {
            request = request.header("if-match", format!("W/\"{v}\""));
        }
        self.http.send(request).await
    }

    /// A valid referral from `requester`, with an identifier no earlier run used.
    pub fn referral(&self, requester: &Party) -> Value {
        let mut sr: Value = serde_json::from_str(signpost_profiles::examples::REFERRAL_FROM_GP)
            .unwrap_or(Value::Null);
        sr["identifier"] = json!([{"system": "https://signpost.example/conformance-kit/referral", "value": uuid::Uuid::new_v4().to_string()}]);
        sr["requester"] = json!({"identifier": {"system": ODS, "value": requester.ods}});
        sr
    }

    /// The GP refers; returns the stored referral and the link worker's Task as the GP sees them.
    pub async fn refer(&self) -> Result<(Value, Value), Failure> {
        let gp = &self.parties.gp;
        let created = self.post_referral(gp, &self.referral(gp), None).await?;
        created.expect_status(201, "a valid referral is created")?;
        let sr = created.json();
        let id = sr["id"].as_str().unwrap_or_default().to_owned();
        let tasks = self
            .get(gp, &format!("Task?focus=ServiceRequest/{id}"))
            .await?;
        tasks.expect_status(200, "the referrer can search its referral's Tasks")?;
        let task = tasks.json()["entry"][0]["resource"].clone();
        if task.is_null() {
            return Err(fail(
                format!("a Task whose focus is ServiceRequest/{id}"),
                tasks.body,
            ));
        }
        Ok((sr, task))
    }
}

/// A resource's `meta.versionId` as a number.
pub fn version(resource: &Value) -> Option<i64> {
    resource["meta"]["versionId"]
        .as_str()
        .and_then(|v| v.parse().ok())
}

/// The first issue's (code, expression) of an OperationOutcome.
pub fn issues(outcome: &Value) -> Vec<(String, String)> {
    outcome["issue"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|i| {
            (
                i["code"].as_str().unwrap_or_default().to_owned(),
                i["expression"][0].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}
