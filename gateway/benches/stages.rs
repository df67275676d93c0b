//! One referral's intake, stage by stage: the bearer-token check, reading the body (strict JSON
//! and the R4 base definitions), the profile checks, the referral's essentials and routing, the
//! search-index rows, the change set, the AuditEvent, the SQLite commit, and the whole
//! `POST /fhir/ServiceRequest` through the real router and a SQLite store in a temporary
//! directory.
//!
//! Before criterion's timings it prints allocations (count and bytes) per run of each stage,
//! counted by an instrumented global allocator: unlike time, they do not move with the load
//! of a shared machine. (The allocator here is the system's, not the binary's mimalloc, so
//! the timings are a little slower than the binary's.) Run:
//! `cargo bench -p signpost-gateway --bench stages` (or with `-- --allocations-only`).

mod common;

use std::alloc::System;
use std::hint::black_box;

use axum::body::Body;
use axum::http::Request;
use criterion::{BatchSize, Criterion};
use serde_json::Value;
use signpost_conformance::keys::{ClientKey, KeyAlgorithm};
use signpost_gateway::audit::{self, Outcome};
use signpost_gateway::auth::{Interaction, Principal, Scopes};
use signpost_gateway::config::{Config, Role};
use signpost_gateway::search_index::index_entries;
use signpost_gateway::server::Gateway;
use signpost_gateway::store::{ResourceStore, SqliteStore, now};
use signpost_gateway::workflow::referral::new_referral;
use signpost_profiles::examples::REFERRAL_FROM_GP;
use signpost_profiles::{OdsCode, Referral, Validator, parse_resource};
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};
use tower::ServiceExt;

// Counts every allocation and reallocation, and the bytes asked for, on any thread. The
// system allocator underneath (the `signpost` binary uses mimalloc): counts do not depend on
// the allocator, and the workspace forbids the `unsafe` a wrapper of our own would need.
#[global_allocator]
static ALLOCATOR: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

/// Allocations and bytes per run of `f`, averaged over `runs` after one run to warm caches.
fn allocations<T>(runs: u64, mut f: impl FnMut() -> T) -> (f64, f64) {
    black_box(f());
    let region = Region::new(ALLOCATOR);
    for _ in 0..runs {
        black_box(f());
    }
    let change = region.change();
    let count = change.allocations + change.reallocations;
    let bytes = change.bytes_allocated as f64 + change.bytes_reallocated.max(0) as f64;
    (count as f64 / runs as f64, bytes / runs as f64)
}

const CLIENT: &str = "bench-gp-system";

/// A gateway as the load harness configures it, in `dir`: one practice routed to one
/// `fhir-rest` link-worker service (at a closed port: nothing is delivered while measuring).
fn gateway_config(dir: &std::path::Path) -> Config {
    let key = ClientKey::generate(KeyAlgorithm::Es384).expect("client key");
    let jwks = dir.join("gp.jwks.json");
    std::fs::write(&jwks, key.jwks().to_string()).expect("jwks");
    let text = format!(
        r#"[server]
listen = "127.0.0.1:0"
base_url = "http://127.0.0.1:8080"
client_requests_per_second = 0

[store]
url = "sqlite://{db}"

[auth]
signing_key = "{signing}"

[[organisation]]
ods = "A81001"
name = "Riverside Surgery"
role = "gp"

[[organisation]]
ods = "LWS001"
name = "Riverside Social Prescribing Service"
role = "link-worker"
[organisation.adapter]
kind = "fhir-rest"
url = "http://127.0.0.1:9/fhir"

[[client]]
id = "{CLIENT}"
organisation = "A81001"
jwks = "{jwks}"
scopes = ["system/ServiceRequest.crs", "system/Task.rs"]

[[route]]
from = "A81001"
to = "LWS001"
"#,
        db = dir.join("signpost.db").display(),
        signing = dir.join("token-key.pem").display(),
        jwks = jwks.display(),
    );
    Config::from_toml(&text, |_| None).expect("bench config")
}

/// The GP example with identifier `RS-STAGE-n`, so each request is a new referral.
fn body(template: &Value, n: u64) -> Vec<u8> {
    let mut sr = template.clone();
    sr["identifier"][0]["value"] = format!("RS-STAGE-{n}").into();
    serde_json::to_vec(&sr).expect("serialises")
}

fn practice() -> Principal {
    Principal {
        client_id: CLIENT.into(),
        organisation: OdsCode::parse("A81001").expect("ods"),
        role: Role::Gp,
        scopes: Scopes::parse("system/ServiceRequest.crs system/Task.rs").expect("scopes"),
        person: None,
    }
}

/// Everything the stages share: the validator, the directory, a gateway and its router.
struct Bench {
    runtime: tokio::runtime::Runtime,
    validator: &'static Validator,
    directory: signpost_gateway::routing::Directory,
    template: Value,
    router: axum::Router,
    store: SqliteStore,
    authorization: String,
    token: String,
    signer: std::sync::Arc<signpost_gateway::auth::TokenSigner>,
    _dir: tempfile::TempDir,
}

impl Bench {
    fn new() -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        let dir = tempfile::tempdir().expect("tempdir");
        let config = gateway_config(dir.path());
        let gateway = runtime
            .block_on(Gateway::start(config))
            .expect("gateway starts");
        let state = gateway.state.clone();
        let token = state
            .token_signer
            .issue(
                CLIENT,
                "A81001",
                "system/ServiceRequest.crs system/Task.rs",
                3600,
            )
            .expect("token");
        let store = runtime
            .block_on(SqliteStore::open(&format!(
                "sqlite://{}",
                dir.path().join("stages.db").display()
            )))
            .expect("store");
        Self {
            runtime,
            validator: Validator::standard().expect("profiles"),
            directory: common::directory(),
            template: serde_json::from_str(REFERRAL_FROM_GP).expect("json"),
            router: signpost_gateway::app::app(state.clone()),
            store,
            authorization: format!("Bearer {token}"),
            token,
            signer: state.token_signer.clone(),
            _dir: dir,
        }
    }

    /// One whole `POST /fhir/ServiceRequest`, answered 201 and its body read.
    fn post(&self, body: Vec<u8>) {
        let request = Request::post("/fhir/ServiceRequest")
            .header("content-type", "application/fhir+json")
            .header("authorization", &self.authorization)
            .body(Body::from(body))
            .expect("request");
        self.runtime.block_on(async {
            let response = self
                .router
                .clone()
                .oneshot(request)
                .await
                .expect("infallible");
            assert_eq!(response.status(), 201, "the referral is accepted");
            axum::body::to_bytes(response.into_body(), usize::MAX)
                .await
                .expect("body")
        });
    }

    /// The change set intake commits for `sr`, its AuditEvent included.
    fn changes(&self, sr: &Value) -> signpost_gateway::store::ChangeSet {
        let referral = Referral::from_service_request(sr).expect("essentials");
        let owner = self.directory.destination(&referral).expect("routed");
        let at = now();
        let mut built = new_referral(sr, &referral, owner, &self.directory, "corr", None, at)
            .expect("change set");
        let target = format!("ServiceRequest/{}", built.service_request_id);
        built.changes.writes.push(
            audit::event(
                Some(&practice()),
                Interaction::Create,
                &target,
                Outcome::Success,
                at,
            )
            .expect("audit event"),
        );
        built.changes
    }
}

/// The allocation table: one line a stage, then the whole request.
fn allocation_report(bench: &Bench) {
    let bytes = REFERRAL_FROM_GP.as_bytes();
    let sr: Value = serde_json::from_str(REFERRAL_FROM_GP).expect("json");
    let referral = Referral::from_service_request(&sr).expect("essentials");
    let who = practice();
    let mut n = 0;
    let mut rows: Vec<(&str, (f64, f64))> = vec![
        (
            "token (seen before) + scopes",
            allocations(200, || {
                let claims = bench.signer.verify(&bench.token).expect("valid");
                Scopes::parse(&claims.scope).expect("scopes")
            }),
        ),
        (
            "JSON only (serde_json::Value)",
            allocations(200, || {
                serde_json::from_slice::<Value>(bytes).expect("json")
            }),
        ),
        (
            "parse (strict JSON + R4 base)",
            allocations(200, || {
                parse_resource(bytes, Some("ServiceRequest")).expect("parses")
            }),
        ),
        (
            "validate (profiles)",
            allocations(200, || bench.validator.validate(&sr)),
        ),
        (
            "essentials + routing",
            allocations(200, || {
                let referral = Referral::from_service_request(&sr).expect("essentials");
                bench
                    .directory
                    .destination(&referral)
                    .map(|o| o.ods.clone())
            }),
        ),
        (
            "index rows (ServiceRequest)",
            allocations(200, || index_entries(&sr)),
        ),
        (
            "change set (SR + Task + outbox, index rows)",
            allocations(200, || {
                let owner = bench.directory.destination(&referral).expect("routed");
                new_referral(&sr, &referral, owner, &bench.directory, "corr", None, now())
                    .expect("change set")
            }),
        ),
        (
            "audit event (with its index rows)",
            allocations(200, || {
                audit::event(
                    Some(&who),
                    Interaction::Create,
                    "ServiceRequest/x",
                    Outcome::Success,
                    now(),
                )
                .expect("audit event")
            }),
        ),
    ];
    let commit = {
        let mut sets: Vec<_> = (0..101)
            .map(|i| {
                let mut sr = bench.template.clone();
                sr["identifier"][0]["value"] = format!("RS-ALLOC-{i}").into();
                bench.changes(&sr)
            })
            .collect();
        allocations(100, || {
            let changes = sets.pop().expect("enough change sets");
            bench
                .runtime
                .block_on(bench.store.commit(changes))
                .expect("commit")
        })
    };
    rows.push(("SQLite commit (store.commit)", commit));
    let bodies: Vec<Vec<u8>> = (0..201)
        .map(|i| body(&bench.template, 1_000_000 + i))
        .collect();
    let mut bodies = bodies.into_iter();
    rows.push((
        "whole POST /fhir/ServiceRequest (router, SQLite)",
        allocations(200, || {
            n += 1;
            bench.post(bodies.next().expect("enough bodies"))
        }),
    ));
    println!("\nallocations per run (counted, after one warm-up run)");
    println!("| stage | allocations | bytes |");
    println!("|---|---:|---:|");
    for (name, (count, bytes)) in rows {
        println!("| {name} | {count:.0} | {bytes:.0} |");
    }
    println!();
}

fn timings(c: &mut Criterion, bench: &Bench) {
    let bytes = REFERRAL_FROM_GP.as_bytes();
    let sr: Value = serde_json::from_str(REFERRAL_FROM_GP).expect("json");
    let referral = Referral::from_service_request(&sr).expect("essentials");
    let who = practice();
    let mut group = c.benchmark_group("stage");
    group.bench_function("token", |b| {
        b.iter(|| {
            let claims = bench.signer.verify(black_box(&bench.token)).expect("valid");
            Scopes::parse(&claims.scope).expect("scopes")
        })
    });
    group.bench_function("json-only", |b| {
        b.iter(|| serde_json::from_slice::<Value>(black_box(bytes)).expect("json"))
    });
    group.bench_function("parse", |b| {
        b.iter(|| parse_resource(black_box(bytes), Some("ServiceRequest")).expect("parses"))
    });
    group.bench_function("validate", |b| {
        b.iter(|| bench.validator.validate(black_box(&sr)))
    });
    group.bench_function("essentials+routing", |b| {
        b.iter(|| {
            let referral = Referral::from_service_request(black_box(&sr)).expect("essentials");
            bench
                .directory
                .destination(&referral)
                .map(|o| o.ods.clone())
        })
    });
    group.bench_function("index-rows", |b| b.iter(|| index_entries(black_box(&sr))));
    group.bench_function("change-set", |b| {
        b.iter(|| {
            let owner = bench.directory.destination(&referral).expect("routed");
            new_referral(&sr, &referral, owner, &bench.directory, "corr", None, now())
                .expect("change set")
        })
    });
    group.bench_function("audit-event", |b| {
        b.iter(|| {
            audit::event(
                Some(&who),
                Interaction::Create,
                "ServiceRequest/x",
                Outcome::Success,
                now(),
            )
            .expect("audit event")
        })
    });
    let mut n = 0u64;
    group.bench_function("commit", |b| {
        b.iter_batched(
            || {
                n += 1;
                let mut sr = bench.template.clone();
                sr["identifier"][0]["value"] = format!("RS-COMMIT-{n}").into();
                bench.changes(&sr)
            },
            |changes| {
                bench
                    .runtime
                    .block_on(bench.store.commit(changes))
                    .expect("commit")
            },
            BatchSize::SmallInput,
        )
    });
    let mut n = 2_000_000u64;
    group.bench_function("whole-request", |b| {
        b.iter_batched(
            || {
                n += 1;
                body(&bench.template, n)
            },
            |body| bench.post(body),
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

fn main() {
    let bench = Bench::new();
    allocation_report(&bench);
    if std::env::args().any(|a| a == "--allocations-only") {
        return;
    }
    let mut criterion = Criterion::default().configure_from_args();
    timings(&mut criterion, &bench);
    criterion.final_summary();
}
