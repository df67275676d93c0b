//! Validation per resource: the structural R4 parse plus the profile checks, for each shipped example.
//! Latest figures: `profiles/benches/RESULTS.md`.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use signpost_profiles::Validator;
use std::hint::black_box;

fn examples() -> Vec<(String, Vec<u8>)> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/valid");
    let mut out: Vec<_> = std::fs::read_dir(dir)
        .expect("examples")
        .map(|e| {
            let path = e.expect("entry").path();
            let name = path
                .file_stem()
                .expect("name")
                .to_string_lossy()
                .into_owned();
            (name, std::fs::read(&path).expect("read"))
        })
        .collect();
    out.sort();
    out
}

fn validation(c: &mut Criterion) {
    let validator = Validator::standard().expect("definitions load");
    let mut group = c.benchmark_group("validate");
    for (name, bytes) in examples() {
        group.throughput(Throughput::Bytes(bytes.len() as u64));
        group.bench_function(format!("check/{name}"), |b| {
            b.iter(|| validator.check(black_box(&bytes), None))
        });
        let json: serde_json::Value = serde_json::from_slice(&bytes).expect("json");
        group.bench_function(format!("profiles-only/{name}"), |b| {
            b.iter(|| validator.validate(black_box(&json)))
        });
    }
    group.finish();
    // Loading every shipped definition (done once at start-up, never per request).
    let empty = std::env::temp_dir().join(format!("signpost-bench-{}", std::process::id()));
    std::fs::create_dir_all(&empty).expect("empty dir");
    c.bench_function("definitions/load", |b| {
        b.iter(|| Validator::with_dir(&empty).expect("loads"))
    });
    // The R4 base definitions, which `Validator::standard()` reads on first use (start-up).
    c.bench_function("definitions/load-r4-base", |b| {
        b.iter(|| signpost_profiles::load_base_definitions().expect("loads"))
    });
    stages(c);
}

/// Where a referral's check spends its time: reading the JSON alone.
fn stages(c: &mut Criterion) {
    let bytes = signpost_profiles::examples::REFERRAL_FROM_GP.as_bytes();
    let mut group = c.benchmark_group("stages/referral-from-gp");
    group.bench_function("serde_json", |b| {
        b.iter(|| serde_json::from_slice::<serde_json::Value>(black_box(bytes)).expect("json"))
    });
    group.finish();
}

criterion_group!(benches, validation);
criterion_main!(benches);
