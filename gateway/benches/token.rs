//! The bearer-token check every FHIR request pays: a token seen before (served from the verified
//! tokens), a new token (ES384 signature, issuer, audience and expiry), and a forged one; then
//! the granted scopes parsed.

use std::hint::black_box;

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use signpost_gateway::auth::{Scopes, TokenSigner};

fn token(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("tempdir");
    let signer = TokenSigner::load_or_create(
        &dir.path().join("token-key.pem"),
        "http://127.0.0.1:8080".into(),
        "http://127.0.0.1:8080/fhir".into(),
    )
    .expect("token key");
    let token = signer
        .issue(
            "riverside-gp-system",
            "A81001",
            "system/ServiceRequest.crs system/Task.rs",
            300,
        )
        .expect("issue");
    c.bench_function("token/verify+scopes", |b| {
        b.iter(|| {
            let claims = signer.verify(black_box(&token)).expect("valid");
            Scopes::parse(&claims.scope).expect("scopes")
        })
    });
    c.bench_function("token/verify-new+scopes", |b| {
        b.iter_batched(
            || {
                signer
                    .issue("riverside-gp-system", "A81001", "system/Task.rs", 300)
                    .expect("issue")
            },
            |fresh| {
                let claims = signer.verify(&fresh).expect("valid");
                Scopes::parse(&claims.scope).expect("scopes")
            },
            BatchSize::SmallInput,
        )
    });
    c.bench_function("token/refuse-forged", |b| {
        // A token whose signature was tampered with: refused work costs the same verification.
        let forged = format!("{}A", &token[..token.len() - 1]);
        b.iter(|| signer.verify(black_box(&forged)).is_err())
    });
}

criterion_group!(benches, token);
criterion_main!(benches);
