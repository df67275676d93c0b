//! A bounded soak under faults, on each store: intake and delivery run while an injector
//! `kill -9`s and restarts the gateway, stalls its PostgreSQL connection, and flips the partner
//! between failing and healthy. Then: every 201 is stored and delivered, each referral under one
//! idempotency key (repeats only as documented redeliveries), and no partner saw a Task's
//! versions out of order.
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
use support::{GatewayProcess, PgProxy, fresh_postgres, write_config};

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
    /// Requests answered otherwise, or not at all (the process was killed).
    failed: usize,
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
                {
                    let mut tally = tally.lock().expect("lock");
                    match created {
                        Some(id) => {
                            tally.acknowledged.insert(id);
                        }
                        None => tally.failed += 1,
                    }
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

    // The injector: kill -9 and restart, and (PostgreSQL) stall the database, in turns.
    let deadline = tokio::time::Instant::now() + soak_time();
    let (mut kills, mut stalls) = (0, 0);
    while tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(1500)).await;
        gateway.kill();
        kills += 1;
        gateway = start(&config, dir.path(), &env).await;
        *fhir.write().expect("lock") = gateway.fhir.clone();
        if let Some(proxy) = &proxy {
            tokio::time::sleep(Duration::from_millis(1000)).await;
            proxy.stall(true);
            tokio::time::sleep(Duration::from_millis(1500)).await;
            proxy.stall(false);
            stalls += 1;
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
    let delivered = |partner: &FhirPartner| {
        let mut keys: HashMap<String, HashSet<String>> = HashMap::new();
        for r in partner.received().into_iter().filter(|r| r.accepted) {
            if let Some(focus) = r.body["entry"][1]["resource"]["focus"]["reference"].as_str() {
                keys.entry(focus.trim_start_matches("ServiceRequest/").to_owned())
                    .or_default()
                    .insert(r.request_id.clone().unwrap_or_default());
            }
        }
        keys
    };
    // Polled gently: copying what the partner received holds its lock, and a long soak leaves
    // thousands of requests there, so polling every few milliseconds made the partner time out.
    let patience = tokio::time::Instant::now() + PATIENCE;
    let all_in = loop {
        let got = delivered(&partner);
        if tally.acknowledged.iter().all(|id| got.contains_key(id)) {
            break true;
        }
        if tokio::time::Instant::now() >= patience {
            break false;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    assert!(all_in, "not every 201 was delivered:\n{}", gateway.log());

    let http = reqwest::Client::new();
    for id in &tally.acknowledged {
        let status = http
            .get(format!("{}/ServiceRequest/{id}", gateway.fhir))
            .bearer_auth(&token)
            .send()
            .await
            .expect("get")
            .status();
        assert_eq!(status, 200, "acknowledged {id} was lost");
    }
    let keys = delivered(&partner);
    for (referral, keys) in &keys {
        assert_eq!(keys.len(), 1, "{referral} was delivered under {keys:?}");
    }
    // Per Task, the versions the partner accepted never go backwards.
    let mut last: HashMap<String, i64> = HashMap::new();
    for r in partner.received().into_iter().filter(|r| r.accepted) {
        let task = &r.body["entry"][1]["resource"];
        let (Some(id), Some(version)) = (
            task["id"].as_str(),
            task["meta"]["versionId"]
                .as_str()
                .and_then(|v| v.parse::<i64>().ok()),
        ) else {
            continue;
        };
        let seen = last.entry(id.to_owned()).or_insert(version);
        assert!(
            version >= *seen,
            "Task/{id}: version {version} after {seen}"
        );
        *seen = version;
    }
    let accepted = partner.received().iter().filter(|r| r.accepted).count();
    eprintln!(
        "soak ({}): {:?} of faults, {kills} kill -9, {stalls} database stalls, {} partner flips; \
         {} acknowledged, {} failed or cut off, {} deliveries accepted ({} redeliveries under the same key), \
         {} referrals delivered",
        if store_url.is_some() {
            "postgres"
        } else {
            "sqlite"
        },
        soak_time(),
        flips.load(Ordering::SeqCst),
        tally.acknowledged.len(),
        tally.failed,
        accepted,
        accepted - keys.len(),
        keys.len(),
    );
}

#[tokio::test]
async fn a_soak_under_kills_and_flapping_partners_loses_and_reorders_nothing_on_sqlite() {
    soak(None, None).await;
}

#[tokio::test]
async fn a_soak_under_kills_stalls_and_flapping_partners_loses_and_reorders_nothing_on_postgres() {
    let url = fresh_postgres().await;
    let proxy = PgProxy::start(PgProxy::upstream_of(&url)).await;
    soak(Some(proxy.url_for(&url)), Some(proxy)).await;
}
