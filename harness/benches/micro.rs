//! Micro-benchmarks of the costs one issuance is made of (issue 8): JWS signing and
//! verification per algorithm, the JWK thumbprint, a replay nonce's round trip,
//! certificate issuance from a CSR, and a whole conformance-suite run against the
//! in-process mock CA. `cargo bench -p acmespec --bench micro`; figures go into
//! reports/performance.md.

use acmespec::mockca::bench::{Issuance, NoncePool};
use acmespec::protocol::jws::{Algorithm, FlattenedJws, KeyId, ParsedJws, acme_protected_header};
use acmespec::protocol::keys::SigningKey;
use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use std::hint::black_box;
use std::time::Duration;

/// A newOrder request body as a client sends it: kid, nonce, url and one identifier.
fn new_order_jws(key: &SigningKey) -> Vec<u8> {
    let protected = acme_protected_header(
        key.alg(),
        &KeyId::Kid("https://127.0.0.1:14000/account/Zm9vYmFyYmF6cXV4".into()),
        Some("kVqzBS3tVr6CIxXDa7tDOw"),
        "https://127.0.0.1:14000/new-order",
    );
    let payload = br#"{"identifiers":[{"type":"dns","value":"bench.acmespec.test"}]}"#;
    serde_json::to_vec(&FlattenedJws::sign(key, &protected, payload).to_value()).expect("a JWS serialises")
}

fn keys() -> Vec<SigningKey> {
    Algorithm::ALL.into_iter().map(|alg| SigningKey::generate(alg).expect("key generation")).collect()
}

fn jws(c: &mut Criterion) {
    let keys = keys();
    let mut group = c.benchmark_group("jws");
    for key in &keys {
        let protected = acme_protected_header(key.alg(), &KeyId::Jwk(key.jwk().clone()), Some("nonce"), "https://x/new-order");
        group.bench_with_input(BenchmarkId::new("sign", key.alg().name()), key, |b, key| {
            b.iter(|| FlattenedJws::sign(key, black_box(&protected), black_box(b"{}")))
        });
    }
    for key in &keys {
        let body = new_order_jws(key);
        group.bench_with_input(BenchmarkId::new("parse", key.alg().name()), &body, |b, body| {
            b.iter(|| ParsedJws::parse(black_box(body)).expect("parses"))
        });
        group.bench_with_input(BenchmarkId::new("parse+verify", key.alg().name()), &body, |b, body| {
            b.iter(|| ParsedJws::parse(black_box(body)).expect("parses").verify(key.jwk()).expect("verifies"))
        });
    }
    for key in &keys {
        group.bench_with_input(BenchmarkId::new("thumbprint", key.alg().name()), key, |b, key| {
            b.iter(|| black_box(key.jwk()).thumbprint())
        });
    }
    group.finish();
}

fn nonces(c: &mut Criterion) {
    let pool = NoncePool::new();
    c.bench_function("nonce/issue+redeem", |b| {
        b.iter(|| {
            let nonce = pool.issue();
            assert!(pool.redeem(black_box(&nonce)));
        })
    });
}

fn issuance(c: &mut Criterion) {
    let mut group = c.benchmark_group("issuance");
    for alg in [Algorithm::Es256, Algorithm::Rs256] {
        let key = SigningKey::generate(alg).expect("key generation");
        let issuance = Issuance::new(&key, &["bench.acmespec.test"]).expect("a CA and a CSR");
        group.bench_function(BenchmarkId::new("csr-to-certificate", alg.name()), |b| {
            b.iter(|| issuance.issue().expect("issues"))
        });
    }
    group.finish();
}

fn suite(c: &mut Criterion) {
    let runtime = tokio::runtime::Runtime::new().expect("a tokio runtime");
    let catalogue = acmespec::scenario::embedded_catalogue().expect("the built-in catalogue loads");
    let mut group = c.benchmark_group("suite");
    group.sample_size(10).measurement_time(Duration::from_secs(90));
    group.bench_function("built-in catalogue vs in-process mock CA", |b| {
        b.iter(|| {
            let report = runtime
                .block_on(acmespec::defect_matrix::run_against_mock_ca(&catalogue, &[]))
                .expect("the run starts");
            assert_eq!(report.summary.pass, report.summary.total, "the reference passes every case");
        })
    });
    group.finish();
}

criterion_group!(benches, jws, nonces, issuance, suite);
criterion_main!(benches);
