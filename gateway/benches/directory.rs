//! The service directory at 10,000 generated services on SQLite (WAL): a category + area search
//! for services with room, and what an onward referral's capacity check adds (resolving the named
//! service: its read, its capacity and the place it would take; and, for a full service, the
//! alternatives). Prints p50, p99 and max of each; the figures go in tests/bench/RESULTS.md.
//!
//! `cargo bench -p signpost-gateway --bench directory` (SQLite); with
//! `SIGNPOST_BENCH_POSTGRES=postgres://...` naming an empty database, PostgreSQL as well.

use std::time::{Duration, Instant as Clock};

use serde_json::{Value, json};
use signpost_gateway::config::Config;
use signpost_gateway::directory::capacity::{
    GRAVITY_CAPACITY_SYSTEM, GRAVITY_CAPACITY_URL, SIGNPOST_CAPACITY_URL,
};
use signpost_gateway::fhir::search_params::parse_search;
use signpost_gateway::routing::Directory;
use signpost_gateway::search_index::index_entries;
use signpost_gateway::store::{
    ChangeSet, PostgresStore, ResourceWrite, SqliteStore, Store, StoredResource, now,
};
use signpost_gateway::workflow::service_target::resolve;

const SERVICES: usize = 10_000;
const PROVIDERS: usize = 10;
const CATEGORIES: usize = 40;
const DISTRICTS: usize = 30;
const ROUNDS: usize = 2_000;
const TAXONOMY: &str = "https://openreferraluk.org/taxonomy/bench";

/// A small deterministic generator (no dependency): xorshift.
struct Rng(u64);
impl Rng {
    fn next(&mut self, below: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % below as u64) as usize
    }
}

fn directory() -> Directory {
    let mut toml = String::new();
    for p in 0..PROVIDERS {
        toml.push_str(&format!(
            "[[organisation]]\nods = \"VCS{p:03}\"\nname = \"Provider {p}\"\nrole = \"vcs\"\n"
        ));
    }
    let config = Config::from_toml(&toml, |_| None).expect("bench config");
    Directory::from_config(&config).expect("directory")
}

/// Service `n`: a third with room (counted), a third full, a third unknown.
fn service(n: usize) -> Value {
    let status = ["capacity", "no-capacity", "unknown"][n % 3];
    let mut s = json!({
        "resourceType": "HealthcareService",
        "identifier": [{"system": "https://bench.test/services", "value": format!("s{n}")}],
        "active": true,
        "providedBy": {"identifier": {"system": signpost_profiles::ODS_SYSTEM, "value": format!("VCS{:03}", n % PROVIDERS)}},
        "category": [{"coding": [{"system": TAXONOMY, "code": format!("cat{}", n % CATEGORIES)}]}],
        "name": format!("Bench service {n}"),
        "contained": [{"resourceType": "Location", "id": "loc0", "address": {"postalCode": format!("S{} 1AA", n / CATEGORIES % DISTRICTS + 1)}}],
        "location": [{"reference": "#loc0"}],
    });
    if status != "unknown" {
        let available = if status == "capacity" { 5 } else { 0 };
        s["extension"] = json!([
            {"url": GRAVITY_CAPACITY_URL, "extension": [{"url": "capacityStatus", "valueCodeableConcept": {"coding": [{"system": GRAVITY_CAPACITY_SYSTEM, "code": status}]}}]},
            {"url": SIGNPOST_CAPACITY_URL, "extension": [
                {"url": "available", "valueUnsignedInt": available}, {"url": "maximum", "valueUnsignedInt": 10},
                {"url": "source", "valueCode": "provider"}, {"url": "asOf", "valueInstant": now().to_fhir()},
                {"url": "expires", "valueInstant": now().plus_millis(86_400_000).to_fhir()}
            ]}
        ]);
    }
    s
}

fn write(n: usize) -> ResourceWrite {
    let mut json = service(n);
    let id = format!("hs-{n}");
    json["id"] = json!(id);
    json["meta"] = json!({"versionId": "1", "lastUpdated": now().to_fhir()});
    ResourceWrite {
        index: index_entries(&json),
        resource: StoredResource {
            resource_type: "HealthcareService".into(),
            id,
            version: 1,
            last_updated: now(),
            body: serde_json::value::to_raw_value(&json).expect("json"),
        },
    }
}

fn report(name: &str, mut samples: Vec<Duration>) {
    samples.sort();
    let at = |q: f64| samples[((samples.len() as f64 * q) as usize).min(samples.len() - 1)];
    println!(
        "{name}: n={} p50={:.2} ms p99={:.2} ms max={:.2} ms",
        samples.len(),
        at(0.50).as_secs_f64() * 1e3,
        at(0.99).as_secs_f64() * 1e3,
        samples[samples.len() - 1].as_secs_f64() * 1e3
    );
}

fn main() {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        let dir = tempfile::tempdir().expect("tempdir");
        let sqlite = SqliteStore::open(&format!(
            "sqlite://{}",
            dir.path().join("bench.db").display()
        ))
        .await
        .expect("store");
        println!("## SQLite (WAL)");
        run(&sqlite).await;
        if let Ok(url) = std::env::var("SIGNPOST_BENCH_POSTGRES") {
            let postgres = PostgresStore::open(&url).await.expect("PostgreSQL store");
            println!("## PostgreSQL");
            run(&postgres).await;
        }
    });
}

async fn run(store: &dyn Store) {
    {
        let started = Clock::now();
        for batch in (0..SERVICES).collect::<Vec<_>>().chunks(500) {
            store
                .commit(ChangeSet {
                    writes: batch.iter().map(|n| write(*n)).collect(),
                    ..ChangeSet::default()
                })
                .await
                .expect("commit");
        }
        println!(
            "{SERVICES} services written in {:.1} s",
            started.elapsed().as_secs_f64()
        );
        // As a directory import does after its writes (`import_services`).
        store.refresh_statistics().await.expect("statistics");
        let directory = directory();
        let mut rng = Rng(0x5eed_cafe);

        let mut searches = Vec::with_capacity(ROUNDS);
        let mut found = 0;
        for _ in 0..ROUNDS {
            let query = format!(
                "service-category={TAXONOMY}|cat{}&postcode=S{}&capacity=capacity&active=true",
                rng.next(CATEGORIES),
                rng.next(DISTRICTS) + 1
            );
            let t = Clock::now();
            let parsed = parse_search("HealthcareService", &query).expect("query");
            let page = store.search(&parsed.query).await.expect("search");
            searches.push(t.elapsed());
            found += page.total;
        }
        report("category + area search for services with room", searches);
        println!(
            "  (matches per search: {:.1})",
            found as f64 / ROUNDS as f64
        );

        for (label, residue) in [
            (
                "capacity check, service with room (read, decide, next version)",
                0,
            ),
            (
                "capacity check, full service (read, decide, up to five alternatives)",
                1,
            ),
            ("capacity check, capacity unknown (read, decide)", 2),
        ] {
            let mut checks = Vec::with_capacity(ROUNDS);
            for _ in 0..ROUNDS {
                let n = rng.next(SERVICES / 3) * 3 + residue;
                let t = Clock::now();
                let decided = resolve(store, &directory, (0, format!("hs-{n}")), false, now())
                    .await
                    .map(|_| ());
                checks.push(t.elapsed());
                decided.expect("resolved");
            }
            report(label, checks);
        }
    }
}
