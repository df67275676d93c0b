//! The store on the intake and polling paths, on SQLite (WAL, `synchronous=FULL`): committing one
//! referral (ServiceRequest, Task, AuditEvent, index rows and the outbox row, as intake does),
//! and the searches partners poll with against 1,000 referrals (query-string parsing, tenancy
//! restriction, the page and the total).

mod common;

use std::hint::black_box;

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use signpost_gateway::audit::{self, Outcome};
use signpost_gateway::auth::Interaction;
use signpost_gateway::auth::tenancy::restrict;
use signpost_gateway::auth::{Principal, Scopes};
use signpost_gateway::config::Role;
use signpost_gateway::fhir::search_params::parse_search;
use signpost_gateway::routing::Directory;
use signpost_gateway::store::ChangeSet;
use signpost_gateway::store::{ResourceStore, SqliteStore, now};
use signpost_gateway::workflow::referral::new_referral;
use signpost_profiles::examples::REFERRAL_FROM_GP;
use signpost_profiles::{OdsCode, Referral};

const REFERRALS: usize = 1_000;

/// What intake commits for referral `n` (identifier `RS-BENCH-n`): the same change set, audit
/// event included.
fn referral_changes(directory: &Directory, template: &serde_json::Value, n: usize) -> ChangeSet {
    let mut sr = template.clone();
    sr["identifier"][0]["value"] = format!("RS-BENCH-{n}").into();
    let referral = Referral::from_service_request(&sr).expect("essentials");
    let owner = directory.destination(&referral).expect("routed");
    let at = now();
    let mut built =
        new_referral(&sr, &referral, owner, directory, "corr", None, at).expect("change set");
    let practice = principal("A81001", Role::Gp);
    let target = format!("ServiceRequest/{}", built.service_request_id);
    let event = audit::event(
        Some(&practice),
        Interaction::Create,
        &target,
        Outcome::Success,
        at,
    )
    .expect("audit event");
    built.changes.writes.push(event);
    built.changes
}

fn template() -> serde_json::Value {
    serde_json::from_str(REFERRAL_FROM_GP).expect("json")
}

/// A store with `REFERRALS` referrals, as intake would have left it.
async fn populated(dir: &std::path::Path) -> SqliteStore {
    let url = format!("sqlite://{}", dir.join("bench.db").display());
    let store = SqliteStore::open(&url).await.expect("store");
    let (directory, template) = (common::directory(), template());
    for n in 0..REFERRALS {
        store
            .commit(referral_changes(&directory, &template, n))
            .await
            .expect("commit");
    }
    store
}

fn principal(ods: &str, role: Role) -> Principal {
    Principal {
        client_id: "bench".into(),
        organisation: OdsCode::parse(ods).expect("ods"),
        role,
        scopes: Scopes::parse("system/*.rs").expect("scopes"),
        person: None,
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

fn commit(c: &mut Criterion) {
    let runtime = runtime();
    let dir = tempfile::tempdir().expect("tempdir");
    let store = runtime.block_on(populated(dir.path()));
    let (directory, template) = (common::directory(), template());
    let mut n = REFERRALS;
    c.bench_function("store/commit-referral", |b| {
        b.iter_batched(
            || {
                n += 1;
                referral_changes(&directory, &template, n)
            },
            |changes| runtime.block_on(store.commit(changes)).expect("commit"),
            BatchSize::SmallInput,
        )
    });
}

fn search(c: &mut Criterion) {
    let runtime = runtime();
    let dir = tempfile::tempdir().expect("tempdir");
    let store = runtime.block_on(populated(dir.path()));
    let link_worker = principal("LWS001", Role::LinkWorker);
    let practice = principal("A81001", Role::Gp);
    let cases = [
        (
            "task-worklist",
            "Task",
            "owner=LWS001&status=requested&_count=20",
            &link_worker,
        ),
        (
            "service-request-by-identifier",
            "ServiceRequest",
            "identifier=https://fhir.riverside-surgery.example/referral|RS-BENCH-500",
            &practice,
        ),
    ];
    let mut group = c.benchmark_group("search");
    for (name, resource_type, raw, who) in cases {
        group.bench_function(name, |b| {
            b.iter(|| {
                let mut query = parse_search(resource_type, black_box(raw))
                    .expect("valid search")
                    .query;
                restrict(who, &mut query);
                runtime.block_on(store.search(&query)).expect("search")
            })
        });
    }
    group.finish();
}

criterion_group!(benches, commit, search);
criterion_main!(benches);
