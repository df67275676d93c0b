//! A referral's CPU work at intake: parse + validate + serialise (what every POST pays before the
//! store), and building the change set that is committed. Profiles-only figures are in
//! `profiles/benches/validation.rs`; whole-request figures in `tests/bench/RESULTS.md`.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use signpost_gateway::config::Config;
use signpost_gateway::routing::Directory;
use signpost_gateway::store::now;
use signpost_gateway::workflow::referral::new_referral;
use signpost_profiles::examples::REFERRAL_FROM_GP;
use signpost_profiles::{Referral, Validator};

const CONFIG: &str = r#"
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

[[route]]
from = "A81001"
to = "LWS001"
"#;

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

    let config = Config::from_toml(CONFIG, |_| None).expect("bench config");
    let directory = Directory::from_config(&config).expect("directory");
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
