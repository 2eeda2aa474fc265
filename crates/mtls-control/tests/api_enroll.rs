//! Enrollment: the token decides the tenant, and every bad token, CSR and body is refused
//! with its own code; the per-IP rate limit answers 429 with Retry-After and writes no
//! audit event.

mod support;

use mtls_control::{ControlSettings, RateLimit};
use mtls_registry::Store;
use reqwest::{Method, StatusCode};
use serde_json::json;
use support::{Fixture, code, csr, get, issued_identity, message, post, relaxed};

async fn token(fx: &Fixture, tenant: &str) -> String {
    let alice = fx.admin(&format!("alice-{tenant}"));
    let (status, body) = post(
        &fx.client(Some(&alice)),
        &fx.url(&format!("/v1/tenants/{tenant}/tokens")),
        json!({"ttl_seconds": 600}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["tenant"], tenant);
    body["token"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn enrollment_issues_the_tokens_tenant_whatever_the_csr_asks_and_the_cert_works() {
    let fx = Fixture::start(relaxed()).await;
    fx.create_tenant("acme");
    fx.create_tenant("globex");
    let secret = token(&fx, "acme").await;
    // The CSR asks for globex's identity: the CA ignores it.
    let (csr_pem, key) = csr(Some("spiffe://proxy.example.test/tenant/globex"));
    let (status, body) = post(
        &fx.client(None),
        &fx.url("/v1/enroll"),
        json!({"token": secret, "csr": csr_pem}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["tenant"], "acme");
    assert_eq!(body["lineage"], body["serial"]);
    assert!(body["ca"].as_str().unwrap().contains("BEGIN CERTIFICATE"));
    let identity = issued_identity(&body, &key);
    let leaf = rustls::pki_types::CertificateDer::from(x509_der(&identity.chain_pem));
    let peer = mtls_identity::PeerIdentity::from_der(&leaf, Some(&fx.domain)).unwrap();
    assert_eq!(peer.tenant.unwrap().as_str(), "acme");
    assert!(
        !peer.uris.iter().any(|u| u.contains("globex")),
        "{:?}",
        peer.uris
    );
    let record = fx.store.certificate(&identity.serial).unwrap();
    assert_eq!(record.tenant.as_str(), "acme");
    // The new certificate authenticates.
    let (status, body) = get(&fx.client(Some(&identity)), &fx.url("/v1/whoami")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["name"], "acme");

    // Reused: 410, nothing issued.
    let before = fx.store.certificates(None).unwrap().len();
    let (csr_pem, _) = csr(None);
    let (status, body) = post(
        &fx.client(None),
        &fx.url("/v1/enroll"),
        json!({"token": secret, "csr": csr_pem}),
    )
    .await;
    assert_eq!(status, StatusCode::GONE, "{body}");
    assert_eq!(code(&body), "token_gone");
    assert_eq!(fx.store.certificates(None).unwrap().len(), before);
    fx.stop().await;
}

fn x509_der(pem: &str) -> Vec<u8> {
    use rustls::pki_types::pem::PemObject;
    rustls::pki_types::CertificateDer::pem_slice_iter(pem.as_bytes())
        .next()
        .unwrap()
        .unwrap()
        .to_vec()
}

#[tokio::test]
async fn unknown_expired_tokens_and_bad_csrs_are_refused_and_keep_the_token() {
    let fx = Fixture::start(relaxed()).await;
    fx.create_tenant("acme");
    let anon = fx.client(None);
    let (csr_pem, _) = csr(None);
    let (status, body) = post(
        &anon,
        &fx.url("/v1/enroll"),
        json!({"token": "mtls-enroll-not-a-real-token", "csr": csr_pem}),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(code(&body), "unauthenticated");

    let secret = token(&fx, "acme").await;
    let (status, body) = post(
        &anon,
        &fx.url("/v1/enroll"),
        json!({"token": secret, "csr": "-----BEGIN CERTIFICATE REQUEST-----\nbm90IGEgQ1NS\n-----END CERTIFICATE REQUEST-----\n"}),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(code(&body), "invalid_csr");
    // Tampered: flip a byte inside the signed part of a real CSR.
    let der = {
        use rustls::pki_types::pem::PemObject;
        rustls::pki_types::CertificateSigningRequestDer::from_pem_slice(csr_pem.as_bytes())
            .unwrap()
            .as_ref()
            .to_vec()
    };
    let mut tampered = der.clone();
    let at = tampered.len() / 2;
    tampered[at] ^= 0x01;
    let tampered_pem = pem("CERTIFICATE REQUEST", &tampered);
    let (status, body) = post(
        &anon,
        &fx.url("/v1/enroll"),
        json!({"token": secret, "csr": tampered_pem}),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(code(&body), "invalid_csr");
    // The token survived both failures.
    let (status, body) = post(
        &anon,
        &fx.url("/v1/enroll"),
        json!({"token": secret, "csr": csr_pem}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // Expired: the registry's clock moves past the token's lifetime.
    let secret = token(&fx, "acme").await;
    fx.clock.advance(time::Duration::minutes(11));
    let (csr_pem, _) = csr(None);
    let (status, body) = post(
        &anon,
        &fx.url("/v1/enroll"),
        json!({"token": secret, "csr": csr_pem}),
    )
    .await;
    assert_eq!(status, StatusCode::GONE, "{body}");
    assert_eq!(code(&body), "token_gone");
    assert!(message(&body).contains("expired"), "{body}");
    fx.stop().await;
}

fn pem(label: &str, der: &[u8]) -> String {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let lines: Vec<&str> = b64
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect();
    format!(
        "-----BEGIN {label}-----\n{}\n-----END {label}-----\n",
        lines.join("\n")
    )
}

#[tokio::test]
async fn malformed_oversized_and_mistyped_bodies() {
    let settings = ControlSettings {
        max_body_bytes: 4096,
        ..relaxed()
    };
    let fx = Fixture::start(settings).await;
    let anon = fx.client(None);
    let (status, body) = post(&anon, &fx.url("/v1/enroll"), json!({"token": "x"})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(code(&body), "invalid_request");
    assert!(
        message(&body).contains("csr"),
        "names the missing field: {body}"
    );
    let (status, body) = post(
        &anon,
        &fx.url("/v1/enroll"),
        json!({"token": "x", "csr": "y", "extra": 1}),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(message(&body).contains("extra"), "{body}");

    let big = "A".repeat(8192);
    let (status, body) = post(
        &anon,
        &fx.url("/v1/enroll"),
        json!({"token": big, "csr": "x"}),
    )
    .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
    assert_eq!(code(&body), "payload_too_large");

    let response = anon
        .post(fx.url("/v1/enroll"))
        .header("content-type", "text/plain")
        .body("token=x")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(code(&body), "unsupported_media_type");

    let response = anon
        .post(fx.url("/v1/enroll"))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    fx.stop().await;
}

#[tokio::test]
async fn too_many_enrollments_from_one_address_are_429_with_retry_after_and_not_audited() {
    let settings = ControlSettings {
        enroll_per_ip: RateLimit::per_minute(1, 2),
        ..relaxed()
    };
    let fx = Fixture::start(settings).await;
    let anon = fx.client(None);
    let body = json!({"token": "mtls-enroll-unknown", "csr": "x"});
    for _ in 0..2 {
        let (status, b) = post(&anon, &fx.url("/v1/enroll"), body.clone()).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{b}");
    }
    let seq = fx.last_seq();
    let mut refused = 0;
    for _ in 0..5 {
        let (status, headers, b) = support::call(
            &anon,
            Method::POST,
            &fx.url("/v1/enroll"),
            Some(body.clone()),
        )
        .await;
        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{b}");
        assert_eq!(code(&b), "rate_limited");
        let retry: u64 = headers["retry-after"].to_str().unwrap().parse().unwrap();
        assert!((1..=60).contains(&retry), "Retry-After {retry}");
        refused += 1;
    }
    assert_eq!(fx.stats.rate_limited_total(), refused);
    assert!(fx.events_after(seq).is_empty(), "429s write no audit event");
    fx.stop().await;
}
