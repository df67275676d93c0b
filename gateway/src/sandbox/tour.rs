//! `signpost sandbox tour`: the guide's journey, sent by Signpost itself against a running
//! sandbox, printing every request and answer.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;
use signpost_conformance::keys::ClientKey;
use signpost_conformance::smart::request_token;

use super::examples::ONWARD_REFERRAL;
use super::journey::{Action, Body, Method, Party, onward_body, service_performer_json, steps};
use crate::config::Config;

/// Why the tour stopped.
#[derive(Debug, thiserror::Error)]
pub enum TourError {
    /// The HTTP client could not be built.
    #[error("cannot make an HTTP client: {0}")]
    Client(reqwest::Error),
    /// The sandbox did not answer.
    #[error(
        "{url}: {source}\nIs the sandbox running? Start it with `cargo run --release -- serve` (or `signpost serve`) in this directory first."
    )]
    Unreachable {
        /// What was asked.
        url: String,
        /// Why it failed.
        source: reqwest::Error,
    },
    /// A demo client's key or an example file is not where the sandbox writes it.
    #[error(
        "cannot read {path}: {source}\nRun the tour in the directory where `signpost serve` created signpost-data/."
    )]
    File {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A file's content could not be used.
    #[error("{path}: {why}")]
    Content {
        /// The file.
        path: PathBuf,
        /// Why.
        why: String,
    },
    /// The gateway refused a token, or did not answer.
    #[error(
        "no token for {client}: {why}\nIs the sandbox running? Start it with `cargo run --release -- serve` (or `signpost serve`) in this directory first."
    )]
    Token {
        /// The demo client.
        client: String,
        /// The gateway's answer.
        why: String,
    },
    /// A request was refused.
    #[error("{method} {url} answered {status}; the tour stops here")]
    Refused {
        /// The method.
        method: &'static str,
        /// The URL.
        url: String,
        /// The status.
        status: u16,
    },
    /// The journey's steps are out of order (a bug in the steps, not in the sandbox).
    #[error("{0}")]
    Step(String),
    /// An answer lacked what the next step needs.
    #[error("the answer has no {pointer}, which the next steps need ({var})")]
    Missing {
        /// The variable.
        var: String,
        /// Where it was looked for.
        pointer: String,
    },
}

/// Runs the journey against the sandbox at `base` (its configuration is `config`), with files
/// under `data`, printing every exchange.
pub async fn run(config: &Config, base: &str, data: &Path) -> Result<(), TourError> {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .map_err(TourError::Client)?;
    let tour = Tour {
        http,
        base: base.trim_end_matches('/').to_owned(),
        data: data.to_owned(),
        vars: HashMap::new(),
    };
    tour.walk(config).await
}

struct Tour {
    http: reqwest::Client,
    base: String,
    data: PathBuf,
    /// The guide's shell variables: tokens and ids.
    vars: HashMap<String, String>,
}

fn pretty(value: &Value) -> String {
    serde_json::to_string_pretty(value).unwrap_or_else(|_| value.to_string())
}

fn indented(text: &str) -> String {
    text.lines()
        .map(|l| format!("    {l}\n"))
        .collect::<String>()
}

impl Tour {
    async fn walk(mut self, config: &Config) -> Result<(), TourError> {
        for (n, step) in steps(config).iter().enumerate() {
            println!("\n== {}. {}", n + 1, step.title);
            for action in &step.actions {
                self.act(action).await?;
            }
        }
        println!(
            "\nThe journey is complete: the GP's referral is completed, with the outcome scores."
        );
        Ok(())
    }

    /// `$VAR` in a path, replaced by the variable's value.
    fn expand(&self, text: &str) -> String {
        let mut result = text.to_owned();
        // Longest names first, so `$SR` does not eat the start of a longer name.
        let mut names: Vec<&String> = self.vars.keys().collect();
        names.sort_by_key(|n| std::cmp::Reverse(n.len()));
        for name in names {
            result = result.replace(&format!("${name}"), &self.vars[name]);
        }
        result
    }

    fn read(&self, file: &str) -> Result<String, TourError> {
        let path = self.data.join(file);
        std::fs::read_to_string(&path).map_err(|source| TourError::File { path, source })
    }

    fn token(&self, party: &Party) -> Result<&str, TourError> {
        self.vars
            .get(party.token_var)
            .map(String::as_str)
            .ok_or_else(|| TourError::Step(format!("no token yet for {}", party.client)))
    }

    async fn act(&mut self, action: &Action) -> Result<(), TourError> {
        match action {
            Action::Token(party) => self.get_token(party).await,
            Action::Request {
                party,
                method,
                path,
                body,
                capture,
                ..
            } => {
                let body = self.body(body)?;
                let answer = self.send(party, *method, &self.expand(path), body).await?;
                if let Some((var, pointer)) = capture {
                    let value = answer
                        .pointer(pointer)
                        .and_then(Value::as_str)
                        .ok_or_else(|| TourError::Missing {
                            var: (*var).to_owned(),
                            pointer: (*pointer).to_owned(),
                        })?
                        .to_owned();
                    println!("  ${var} = {value}");
                    self.vars.insert((*var).to_owned(), value);
                }
                Ok(())
            }
            Action::PatchTask { party, task, body } => {
                let path = self.expand(&format!("/fhir/Task/${task}"));
                let current = self.send_quietly(party, &path).await?;
                let version = current
                    .pointer("/meta/versionId")
                    .and_then(Value::as_str)
                    .ok_or_else(|| TourError::Missing {
                        var: "the Task's version".into(),
                        pointer: "/meta/versionId".into(),
                    })?
                    .to_owned();
                let patch = self.body(body)?.ok_or_else(|| {
                    TourError::Step("a Task update step names no JSON Patch".into())
                })?;
                println!("  (the Task is at version {version})");
                self.patch(party, &path, &patch, &version).await
            }
            Action::Refused {
                party, path, body, ..
            } => {
                let url = format!("{}{}", self.base, self.expand(path));
                let body = self.body(body)?.unwrap_or(Value::Null);
                println!("-> POST {url}   (as {}, expecting a refusal)", party.who);
                print!("{}", indented(&pretty(&body)));
                let request = self
                    .http
                    .post(&url)
                    .bearer_auth(self.token(party)?)
                    .header("content-type", "application/fhir+json")
                    .body(body.to_string());
                let response = request
                    .send()
                    .await
                    .map_err(|source| TourError::Unreachable {
                        url: url.clone(),
                        source,
                    })?;
                let status = response.status();
                let answer: Value = response.json().await.unwrap_or(Value::Null);
                println!("<- {status}");
                print!("{}", indented(&pretty(&answer)));
                if status != reqwest::StatusCode::CONFLICT {
                    return Err(TourError::Step(format!(
                        "POST {url} should have been refused with 409 (the service is full), not {status}"
                    )));
                }
                Ok(())
            }
            Action::Pause(d) => {
                println!("  (waiting {} s for the delivery worker)", d.as_secs());
                tokio::time::sleep(*d).await;
                Ok(())
            }
        }
    }

    fn body(&self, body: &Body) -> Result<Option<Value>, TourError> {
        let parse = |file: &str, text: &str| {
            serde_json::from_str::<Value>(text).map_err(|e| TourError::Content {
                path: self.data.join(file),
                why: e.to_string(),
            })
        };
        Ok(match body {
            Body::Empty => None,
            Body::Resource(file) | Body::PatchFile(file) => Some(parse(file, &self.read(file)?)?),
            Body::Patch(patch) => Some(patch.clone()),
            Body::Onward {
                based_on,
                performer,
            } => {
                let sr = self.vars.get(*based_on).ok_or_else(|| TourError::Missing {
                    var: (*based_on).to_owned(),
                    pointer: "/id".into(),
                })?;
                let text = self.read(ONWARD_REFERRAL)?;
                Some(
                    onward_body(&text, sr, *performer).map_err(|e| TourError::Content {
                        path: self.data.join(ONWARD_REFERRAL),
                        why: e.to_string(),
                    })?,
                )
            }
            Body::OnwardToService { based_on, service } => {
                let var = |name: &str| {
                    self.vars.get(name).ok_or_else(|| TourError::Missing {
                        var: name.to_owned(),
                        pointer: "/id".into(),
                    })
                };
                let (sr, service) = (var(based_on)?, var(service)?);
                let text = self.read(ONWARD_REFERRAL)?;
                let mut body =
                    onward_body(&text, sr, ("", "")).map_err(|e| TourError::Content {
                        path: self.data.join(ONWARD_REFERRAL),
                        why: e.to_string(),
                    })?;
                body["performer"] = service_performer_json(service);
                Some(body)
            }
        })
    }

    async fn get_token(&mut self, party: &Party) -> Result<(), TourError> {
        let path = self.data.join("keys").join(format!("{}.pem", party.client));
        let pem = std::fs::read_to_string(&path).map_err(|source| TourError::File {
            path: path.clone(),
            source,
        })?;
        let key = ClientKey::from_pem(&pem).map_err(|e| TourError::Content {
            path,
            why: e.to_string(),
        })?;
        let url = format!("{}/auth/token", self.base);
        println!(
            "-> POST {url}\n    {} asks for '{}' with a client assertion signed by its key",
            party.who, party.scope
        );
        let token = request_token(&self.http, &url, party.client, &key, party.scope)
            .await
            .map_err(|e| TourError::Token {
                client: party.client.to_owned(),
                why: e.to_string(),
            })?;
        println!(
            "<- 200: a bearer token for '{}', valid {} s  (${})",
            token.scope, token.expires_in, party.token_var
        );
        self.vars
            .insert(party.token_var.to_owned(), token.access_token);
        Ok(())
    }

    async fn send(
        &self,
        party: &Party,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value, TourError> {
        let url = format!("{}{path}", self.base);
        let (name, mut request) = match method {
            Method::Get => ("GET", self.http.get(&url)),
            Method::Post => ("POST", self.http.post(&url)),
        };
        request = request.bearer_auth(self.token(party)?);
        println!("-> {name} {url}   (as {})", party.who);
        if let Some(body) = body {
            print!("{}", indented(&pretty(&body)));
            request = request
                .header("content-type", "application/fhir+json")
                .body(body.to_string());
        }
        self.exchange(name, url, request, true).await
    }

    /// Reads a resource without printing the exchange (the tour shows the update that follows).
    async fn send_quietly(&self, party: &Party, path: &str) -> Result<Value, TourError> {
        let url = format!("{}{path}", self.base);
        let request = self.http.get(&url).bearer_auth(self.token(party)?);
        self.exchange("GET", url, request, false).await
    }

    async fn patch(
        &self,
        party: &Party,
        path: &str,
        patch: &Value,
        version: &str,
    ) -> Result<(), TourError> {
        let url = format!("{}{path}", self.base);
        println!(
            "-> PATCH {url}   (as {}, If-Match: W/\"{version}\")",
            party.who
        );
        print!("{}", indented(&pretty(patch)));
        let request = self
            .http
            .patch(&url)
            .bearer_auth(self.token(party)?)
            .header("content-type", "application/json-patch+json")
            .header("if-match", format!("W/\"{version}\""))
            .body(patch.to_string());
        self.exchange("PATCH", url, request, true).await.map(|_| ())
    }

    /// Sends `request`; prints the answer when `shown`; a refusal ends the tour.
    async fn exchange(
        &self,
        method: &'static str,
        url: String,
        request: reqwest::RequestBuilder,
        shown: bool,
    ) -> Result<Value, TourError> {
        let response = request
            .send()
            .await
            .map_err(|source| TourError::Unreachable {
                url: url.clone(),
                source,
            })?;
        let status = response.status();
        let text = response
            .text()
            .await
            .map_err(|source| TourError::Unreachable {
                url: url.clone(),
                source,
            })?;
        let value: Value = serde_json::from_str(&text).unwrap_or(Value::String(text));
        if shown || !status.is_success() {
            println!("<- {status}");
            print!("{}", indented(&pretty(&value)));
        }
        if !status.is_success() {
            return Err(TourError::Refused {
                method,
                url,
                status: status.as_u16(),
            });
        }
        Ok(value)
    }
}
