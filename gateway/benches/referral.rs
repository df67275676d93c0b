//! A referral's CPU work at intake: parse + validate + serialise (what every POST pays before the
//! store), and building the change set that is committed. Profiles-only figures are in
//! `profiles/benches/validation.rs`; whole-request figures in `tests/bench/RESULTS.md`.

mod common;

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use signpost_gateway::store::now;
use signpost_gateway::workflow::referral::new_referral;
use signpost_profiles::examples::REFERRAL_FROM_GP;
use signpost_profiles::{Referral, Validator};

fn referral(c: &mut Criterion) {
    let validator = Validator::standard().expect("the shipped profiles load");
    let bytes = REFERRAL_FROM_GP.as_bytes();
    let mut group = c.benchmark_group("referral");
    group.throughput(Throughput::Bytes(bytes.len() as u64));
    group.bench_function("parse+validate+serialise", |b| {
        b.iter(|| {
            let checked = validator.check(black_box(bytes), Some("ServiceRequest"));
            assert!(!checked.has_errors());
            let resource = checked.resource.expect("the example parses");
            serde_json::to_vec(&resource.json).expect("serialises")
        })
    });

    let directory = common::directory();
    let sr: serde_json::Value = serde_json::from_str(REFERRAL_FROM_GP).expect("json");
    group.bench_function("essentials+route+change-set", |b| {
        b.iter(|| {
            let referral = Referral::from_service_request(black_box(&sr)).expect("essentials");
            let owner = directory.destination(&referral).expect("routed");
            new_referral(&sr, &referral, owner, &directory, "corr", None, now())
                .expect("change set")
        })
    });
    group.finish();
}

criterion_group!(benches, referral);
criterion_main!(benches);
