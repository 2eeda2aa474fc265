//! Certificate issuance throughput of `mtls-ca`.
//!
//! - `issue_client_p256`: generate an ECDSA P-256 key and sign a tenant client certificate
//!   (what `tenantctl issue` does per tenant);
//! - `sign_csr_p256`: verify a P-256 CSR (prepared once, outside the loop) and sign a
//!   certificate for its key (the enrollment path);
//! - `issue_client_ed25519`: the same as the first with an Ed25519 key and CA.
//!
//! Throughput is reported in certificates per second.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use mtls_ca::{CaConfig, CertificateAuthority, ClientCertRequest, KeyAlgorithm};

fn ca(algorithm: KeyAlgorithm) -> CertificateAuthority {
    CertificateAuthority::generate(&CaConfig {
        common_name: "bench root CA".into(),
        algorithm,
        intermediate: true,
        ..CaConfig::default()
    })
    .expect("generate CA")
}

fn request(algorithm: KeyAlgorithm) -> ClientCertRequest {
    let mut req = ClientCertRequest::new(
        "example.test".parse().expect("trust domain"),
        "acme".parse().expect("tenant id"),
        "Acme Corp",
    );
    req.key_algorithm = algorithm;
    req
}

/// A P-256 CSR made with `openssl req`, as a tenant would make it.
fn p256_csr() -> Vec<u8> {
    let dir = tempfile::tempdir().expect("tempdir");
    let key = dir.path().join("key.pem");
    let csr = dir.path().join("csr.pem");
    let status = std::process::Command::new("openssl")
        .args([
            "req",
            "-new",
            "-nodes",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
        ])
        .args(["-subj", "/CN=bench", "-keyout"])
        .arg(&key)
        .arg("-out")
        .arg(&csr)
        .status()
        .expect("run openssl");
    assert!(status.success(), "openssl req failed");
    std::fs::read(&csr).expect("read CSR")
}

fn issuance(c: &mut Criterion) {
    let p256 = ca(KeyAlgorithm::EcdsaP256);
    let req = request(KeyAlgorithm::EcdsaP256);
    let mut group = c.benchmark_group("issue_client_p256");
    group.throughput(Throughput::Elements(1));
    group.bench_function("generate_key_and_sign", |b| {
        b.iter(|| p256.issue_client(&req).expect("issue"))
    });
    group.finish();

    let csr = p256_csr();
    let mut group = c.benchmark_group("sign_csr_p256");
    group.throughput(Throughput::Elements(1));
    group.bench_function("verify_and_sign", |b| {
        b.iter(|| p256.sign_csr(&csr, &req).expect("sign CSR"))
    });
    group.finish();

    let ed = ca(KeyAlgorithm::Ed25519);
    let req = request(KeyAlgorithm::Ed25519);
    let mut group = c.benchmark_group("issue_client_ed25519");
    group.throughput(Throughput::Elements(1));
    group.bench_function("generate_key_and_sign", |b| {
        b.iter(|| ed.issue_client(&req).expect("issue"))
    });
    group.finish();
}

criterion_group!(benches, issuance);
criterion_main!(benches);
