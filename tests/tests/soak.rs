//! A bounded soak under faults, on each store: intake, cancellations and delivery run while an
//! injector `kill -9`s and restarts the gateway, stalls or cuts its PostgreSQL connections, and
//! flips the partner between failing and healthy. Then: every 201 is stored and delivered, each
//! Task version under one idempotency key (repeats only as documented redeliveries), no partner
//! saw a Task's versions out of order, and every acknowledged cancellation is the last thing the
//! partner holds of its Task.
//!
//! `SIGNPOST_SOAK_SECONDS` sets how long the faults run (default 8, for CI); the README gives
//! the numbers of a longer run.

use crate::support;

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use serde_json::Value;
use signpost_conformance::simulators::FhirPartner;
use support::{GatewayProcess, PgProxy, TempPostgres, write_config};

const REFERRAL: &str = signpost_profiles::examples::REFERRAL_FROM_GP;
const PATIENCE: Duration = Duration::from_secs(120);

fn soak_time() -> Duration {
    let seconds = std::env::var("SIGNPOST_SOAK_SECONDS")
        .ok()
        .map(|s| {
            s.parse::<u64>()
                .unwrap_or_else(|_| panic!("SIGNPOST_SOAK_SECONDS={s} is not a number"))
        })
        .unwrap_or(8);
    Duration::from_secs(seconds)
}

/// What the soak saw.
#[derive(Default)]
struct Tally {
    /// ServiceRequest ids answered 201.
    acknowledged: HashSet<String>,
    /// Task ids whose cancellation by the GP was answered 200.
    cancelled: HashSet<String>,
    /// Requests answered otherwise, or not at all (the process was killed).
    failed: usize,
}

/// The GP cancels the referral's Task (`PUT` with `If-Match`); the Task id if answered 200.
/// Any failure (the gateway killed, the database cut) just means no acknowledged cancellation.
async fn cancel_referral(
    http: &reqwest::Client,
    base: &str,
    token: &str,
    referral: &str,
) -> Option<String> {
    let found: Value = http
        .get(format!("{base}/Task?focus=ServiceRequest/{referral}"))
        .bearer_auth(token)
        .send()
        .await
        .ok()?
        .json()
        .await
        .ok()?;
    let mut task = found["entry"][0]["resource"].clone();
    let id = task["id"].as_str()?.to_owned();
    let version = task["meta"]["versionId"].as_str()?.to_owned();
    task["status"] = Value::String("cancelled".into());
    let answer = http
        .put(format!("{base}/Task/{id}"))
        .bearer_auth(token)
        .header("content-type", "application/fhir+json")
        .header("if-match", format!("W/\"{version}\""))
        .body(task.to_string())
        .send()
        .await
        .ok()?;
    (answer.status() == 200).then_some(id)
}

/// What the partner accepted, in the order it accepted it.
struct Seen {
    /// Idempotency keys per (Task id, version).
    keys: HashMap<(String, i64), HashSet<String>>,
    /// Referrals (ServiceRequest ids) delivered at least once.
    referrals: HashSet<String>,
    /// The last (version, status) accepted per Task.
    last: HashMap<String, (i64, String)>,
    /// Each Task version accepted after a later one.
    backwards: Vec<String>,
}

impl Seen {
    fn of(partner: &FhirPartner) -> Self {
        let mut seen = Seen {
            keys: HashMap::new(),
            referrals: HashSet::new(),
            last: HashMap::new(),
            backwards: Vec::new(),
        };
        for r in partner.received().into_iter().filter(|r| r.accepted) {
            let task = &r.body["entry"][1]["resource"];
            let (Some(id), Some(version), Some(status), Some(focus)) = (
                task["id"].as_str(),
                task["meta"]["versionId"]
                    .as_str()
                    .and_then(|v| v.parse::<i64>().ok()),
                task["status"].as_str(),
                task["focus"]["reference"].as_str(),
            ) else {
                continue;
            };
            seen.referrals
                .insert(focus.trim_start_matches("ServiceRequest/").to_owned());
            seen.keys
                .entry((id.to_owned(), version))
                .or_default()
                .insert(r.request_id.clone().unwrap_or_default());
            if let Some((before, _)) = seen.last.get(id)
                && *before > version
            {
                seen.backwards
                    .push(format!("Task/{id}: version {version} after {before}"));
            }
            seen.last
                .insert(id.to_owned(), (version, status.to_owned()));
        }
        seen
    }
}

async fn start(config: &Path, dir: &Path, env: &[(String, String)]) -> GatewayProcess {
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    GatewayProcess::start_with(config, dir, &env).await
}

/// Runs the soak; `proxy` (PostgreSQL only) is stalled now and then.
async fn soak(store_url: Option<String>, proxy: Option<PgProxy>) {
    let dir = tempfile::tempdir().expect("tempdir");
    let partner = FhirPartner::start().await.expect("partner");
    let config = write_config(dir.path(), &partner.url());
    let mut env = vec![(
        "SIGNPOST_SERVER_BASE_URL".to_owned(),
        "http://signpost.test".to_owned(),
    )];
    if let Some(url) = &store_url {
        env.push(("SIGNPOST_STORE_URL".to_owned(), url.clone()));
    }
    let mut gateway = start(&config, dir.path(), &env).await;
    let token = gateway.gp_token(dir.path()).await;
    let fhir = Arc::new(RwLock::new(gateway.fhir.clone()));
    let tally: Arc<Mutex<Tally>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));

    let mut clients = Vec::new();
    for client in 0..4 {
        let (fhir, token, tally, stop) = (fhir.clone(), token.clone(), tally.clone(), stop.clone());
        clients.push(tokio::spawn(async move {
            let http = reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()
                .expect("client");
            let mut n = 0;
            while !stop.load(Ordering::SeqCst) {
                n += 1;
                let base = fhir.read().expect("lock").clone();
                let body = REFERRAL.replace("RS-2026-000184", &format!("RS-SOAK-{client}-{n}"));
                let answer = http
                    .post(format!("{base}/ServiceRequest"))
                    .bearer_auth(&token)
                    .header("content-type", "application/fhir+json")
                    .body(body)
                    .send()
                    .await;
                let created = match answer {
                    Ok(r) if r.status() == 201 => r
                        .json::<Value>()
                        .await
                        .ok()
                        .and_then(|sr| sr["id"].as_str().map(str::to_owned)),
                    _ => None,
                };
                let failed = created.is_none();
                let cancel = created.clone().filter(|_| n % 3 == 0);
                {
                    let mut tally = tally.lock().expect("lock");
                    match created {
                        Some(id) => {
                            tally.acknowledged.insert(id);
                        }
                        None => tally.failed += 1,
                    }
                }
                // Every third referral the GP cancels at once, racing its creation's delivery.
                if let Some(id) = cancel
                    && let Some(task) = cancel_referral(&http, &base, &token, &id).await
                {
                    tally.lock().expect("lock").cancelled.insert(task);
                }
                if failed {
                    // While the gateway restarts, a failing request comes back at once.
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }));
    }

    let flips = Arc::new(AtomicUsize::new(0));
    let flipper = {
        let (partner, stop, flips) = (partner.clone(), stop.clone(), flips.clone());
        tokio::spawn(async move {
            let mut down = false;
            while !stop.load(Ordering::SeqCst) {
                tokio::time::sleep(Duration::from_millis(700)).await;
                down = !down;
                partner.set_down(down);
                flips.fetch_add(1, Ordering::SeqCst);
            }
            partner.set_down(false);
        })
    };

    // The injector: kill -9 and restart, and (PostgreSQL) stall or cut the database, in turns.
    let deadline = tokio::time::Instant::now() + soak_time();
    let (mut kills, mut stalls, mut cuts) = (0, 0, 0);
    while tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(1500)).await;
        gateway.kill();
        kills += 1;
        gateway = start(&config, dir.path(), &env).await;
        *fhir.write().expect("lock") = gateway.fhir.clone();
        if let Some(proxy) = &proxy {
            tokio::time::sleep(Duration::from_millis(1000)).await;
            if (stalls + cuts) % 2 == 0 {
                proxy.stall(true);
                tokio::time::sleep(Duration::from_millis(1500)).await;
                proxy.stall(false);
                stalls += 1;
            } else {
                proxy.cut_for(Duration::from_millis(1500)).await;
                cuts += 1;
            }
        }
    }
    stop.store(true, Ordering::SeqCst);
    for c in clients {
        c.await.expect("client");
    }
    flipper.await.expect("flipper");

    let tally = std::mem::take(&mut *tally.lock().expect("lock"));
    assert!(
        tally.acknowledged.len() >= 5,
        "too little load to mean anything: {} acknowledged",
        tally.acknowledged.len()
    );
    // Polled gently: copying what the partner received holds its lock, and a long soak leaves
    // thousands of requests there, so polling every few milliseconds made the partner time out.
    let patience = tokio::time::Instant::now() + PATIENCE;
    let all_in = loop {
        let seen = Seen::of(&partner);
        let cancellations_in = tally.cancelled.iter().all(|task| {
            seen.last
                .get(task)
                .is_some_and(|(_, status)| status == "cancelled")
        });
        if tally
            .acknowledged
            .iter()
            .all(|id| seen.referrals.contains(id))
            && cancellations_in
        {
            break true;
        }
        if tokio::time::Instant::now() >= patience {
            break false;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    assert!(
        all_in,
        "not every 201 was delivered, or a partner's last word on a cancelled Task is not the cancellation:\n{}",
        gateway.log()
    );

    let http = reqwest::Client::new();
    for id in &tally.acknowledged {
        // Reading back every referral in a tight loop trips the client's rate limit: wait as the
        // 429's Retry-After says, as a well-behaved client would, rather than count it as a loss.
        let status = loop {
            let answer = http
                .get(format!("{}/ServiceRequest/{id}", gateway.fhir))
                .bearer_auth(&token)
                .send()
                .await
                .expect("get");
            if answer.status() != reqwest::StatusCode::TOO_MANY_REQUESTS {
                break answer.status();
            }
            let wait = answer
                .headers()
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<u64>().ok())
                .expect("a 429 says when to come back");
            tokio::time::sleep(std::time::Duration::from_secs(wait.max(1))).await;
        };
        assert_eq!(status, 200, "acknowledged {id} was lost");
    }
    let seen = Seen::of(&partner);
    for ((task, version), keys) in &seen.keys {
        assert_eq!(
            keys.len(),
            1,
            "Task/{task} version {version} was delivered under {keys:?}"
        );
    }
    assert!(
        seen.backwards.is_empty(),
        "versions out of order: {:?}",
        seen.backwards
    );
    let accepted = partner.received().iter().filter(|r| r.accepted).count();
    eprintln!(
        "soak ({}): {:?} of faults, {kills} kill -9, {stalls} database stalls, {cuts} database cuts, {} partner flips; \
         {} acknowledged, {} cancellations acknowledged, {} failed or cut off, {} deliveries accepted \
         ({} redeliveries under the same key), {} referrals delivered",
        if store_url.is_some() {
            "postgres"
        } else {
            "sqlite"
        },
        soak_time(),
        flips.load(Ordering::SeqCst),
        tally.acknowledged.len(),
        tally.cancelled.len(),
        tally.failed,
        accepted,
        accepted - seen.keys.len(),
        seen.referrals.len(),
    );
}

#[tokio::test]
async fn a_soak_under_kills_and_flapping_partners_loses_and_reorders_nothing_on_sqlite() {
    soak(None, None).await;
}

#[tokio::test]
async fn a_soak_under_kills_stalls_and_flapping_partners_loses_and_reorders_nothing_on_postgres() {
    let db = TempPostgres::create().await;
    let url = db.url.clone();
    let proxy = PgProxy::start(PgProxy::upstream_of(&url)).await;
    soak(Some(proxy.url_for(&url)), Some(proxy)).await;
}
