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
/// Searches and capacity checks run untimed before the timed ones.
const WARM_UP: usize = 300;
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

/// Nanoseconds the threads of this process have spent runnable but waiting for a CPU so far
/// (Linux `/proc/.../schedstat`, its second field): the part of a sample that was the machine's
/// load, not the work. Read outside the timed part.
fn cpu_wait_ns() -> u64 {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return 0;
    };
    tasks
        .filter_map(Result::ok)
        .filter_map(|t| std::fs::read_to_string(t.path().join("schedstat")).ok())
        .filter_map(|stat| stat.split_whitespace().nth(1)?.parse::<u64>().ok())
        .sum()
}

/// Times `work`, with how long this process's threads waited for a CPU during it.
async fn timed<T>(work: impl std::future::Future<Output = T>) -> (T, (Duration, u64)) {
    let before = cpu_wait_ns();
    let t = Clock::now();
    let out = work.await;
    let elapsed = t.elapsed();
    (out, (elapsed, cpu_wait_ns().saturating_sub(before)))
}

/// Prints p50, p99 and max of `samples` (in the order they were taken) and where the slowest
/// ones fell in the run, so a tail that comes from the first touches, or from something periodic,
/// shows; with `SIGNPOST_BENCH_SAMPLES` naming a directory, writes every sample there as CSV.
fn report(name: &str, timed: Vec<(Duration, u64)>) {
    let samples: Vec<Duration> = timed.iter().map(|(d, _)| *d).collect();
    let mut sorted = samples.clone();
    sorted.sort();
    let at = |q: f64| sorted[((sorted.len() as f64 * q) as usize).min(sorted.len() - 1)];
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!(
        "{name}: n={} p50={:.2} ms p99={:.2} ms max={:.2} ms (load average after: {})",
        sorted.len(),
        at(0.50).as_secs_f64() * 1e3,
        at(0.99).as_secs_f64() * 1e3,
        sorted[sorted.len() - 1].as_secs_f64() * 1e3,
        load.split_whitespace().next().unwrap_or("?")
    );
    let threshold = at(0.99);
    let slow: Vec<String> = samples
        .iter()
        .enumerate()
        .filter(|(_, d)| **d >= threshold)
        .map(|(i, d)| format!("#{i} {:.2}", d.as_secs_f64() * 1e3))
        .collect();
    println!("  (slowest 1 %, iteration and ms: {})", slow.join(", "));
    // Summed over threads, so a wait of two threads at once counts twice: an upper bound.
    let waited = |of: &mut dyn Iterator<Item = &(Duration, u64)>| {
        let (mut n, mut took, mut waited) = (0_u32, 0.0, 0.0);
        for (d, wait_ns) in of {
            n += 1;
            took += d.as_secs_f64() * 1e3;
            waited += *wait_ns as f64 / 1e6;
        }
        let n = f64::from(n.max(1));
        format!(
            "{:.2} ms of which {:.2} ms waiting for a CPU",
            took / n,
            waited / n
        )
    };
    println!(
        "  (mean of the slowest 1 %: {}; of all: {})",
        waited(&mut timed.iter().filter(|(d, _)| *d >= threshold)),
        waited(&mut timed.iter())
    );
    if let Ok(dir) = std::env::var("SIGNPOST_BENCH_SAMPLES") {
        let file: String = name
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
            .collect();
        let mut csv = String::from("iteration,microseconds,cpu_wait_microseconds\n");
        for (i, (d, wait_ns)) in timed.iter().enumerate() {
            csv.push_str(&format!("{i},{},{}\n", d.as_micros(), wait_ns / 1_000));
        }
        let path = std::path::Path::new(&dir).join(format!("{file}.csv"));
        std::fs::write(&path, csv).expect("write samples");
    }
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

        // Warm-up, untimed: a directory in use has been read before. Every service once (each
        // page in the cache), and some searches and checks (prepared statements on every pooled
        // connection, the allocator's arenas).
        let started = Clock::now();
        for n in 0..SERVICES {
            store
                .read("HealthcareService", &format!("hs-{n}"))
                .await
                .expect("read")
                .expect("stored");
        }
        for n in 0..WARM_UP {
            let query = format!(
                "service-category={TAXONOMY}|cat{}&postcode=S{}&capacity=capacity&active=true",
                n % CATEGORIES,
                n % DISTRICTS + 1
            );
            let parsed = parse_search("HealthcareService", &query).expect("query");
            store.search(&parsed.query).await.expect("search");
            resolve(
                store,
                &directory,
                (0, format!("hs-{}", n * 7 % SERVICES)),
                false,
                now(),
            )
            .await
            .expect("resolved");
        }
        println!(
            "warm-up (every service read, {WARM_UP} searches and checks) in {:.1} s",
            started.elapsed().as_secs_f64()
        );

        let mut searches = Vec::with_capacity(ROUNDS);
        let mut found = 0;
        for _ in 0..ROUNDS {
            let query = format!(
                "service-category={TAXONOMY}|cat{}&postcode=S{}&capacity=capacity&active=true",
                rng.next(CATEGORIES),
                rng.next(DISTRICTS) + 1
            );
            let (page, sample) = timed(async {
                let parsed = parse_search("HealthcareService", &query).expect("query");
                store.search(&parsed.query).await.expect("search")
            })
            .await;
            searches.push(sample);
            found += page.total;
        }
        report("category + area search for services with room", searches);
        println!(
            "  (matches per search: {:.1})",
            found as f64 / ROUNDS as f64
        );

        // The primary-key read alone, the store's part of a capacity check.
        let mut reads = Vec::with_capacity(ROUNDS);
        for _ in 0..ROUNDS {
            let n = rng.next(SERVICES);
            let id = format!("hs-{n}");
            let (read, sample) = timed(store.read("HealthcareService", &id)).await;
            reads.push(sample);
            read.expect("read").expect("stored");
        }
        report("the service's read alone", reads);

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
                let (decided, sample) = timed(async {
                    resolve(store, &directory, (0, format!("hs-{n}")), false, now())
                        .await
                        .map(|_| ())
                })
                .await;
                checks.push(sample);
                decided.expect("resolved");
            }
            report(label, checks);
        }
    }
}
