//! Renewal and expired-certificate recovery over real handshakes: certificates a few
//! seconds long are left to expire, then renew; the expired one is revoked, cannot be
//! used twice, and the lineage stops recovering at max_recoveries.

mod support;

use std::time::Duration;

use mtls_ca::AdminCertRequest;
use mtls_control::{ControlSettings, RateLimit};
use mtls_identity::AdminName;
use mtls_registry::Store;
use reqwest::StatusCode;
use serde_json::json;
use support::{
    Fixture, code, csr, get, issued_identity, message, post, relaxed, wait_until_expired,
};

#[tokio::test]
async fn a_plain_renewal_keeps_the_lineage_and_the_old_certificate() {
    let fx = Fixture::start(relaxed()).await;
    let (_, cert) = fx.tenant("acme");
    let (csr_pem, key) = csr(None);
    let (status, body) = post(
        &fx.client(Some(&cert)),
        &fx.url("/v1/renew"),
        json!({"csr": csr_pem}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["lineage"], cert.serial.to_string());
    let renewed = issued_identity(&body, &key);
    let record = fx.store.certificate(&renewed.serial).unwrap();
    assert_eq!(record.renewed_from.as_ref(), Some(&cert.serial));
    assert!(!record.recovered);
    assert!(!fx.store.certificate(&cert.serial).unwrap().is_revoked());
    // revoke_previous: the presented certificate is revoked with the renewal.
    let (csr_pem, _) = csr(None);
    let (status, body) = post(
        &fx.client(Some(&renewed)),
        &fx.url("/v1/renew"),
        json!({"csr": csr_pem, "revoke_previous": true}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(fx.store.certificate(&renewed.serial).unwrap().is_revoked());
    // Admins do not renew through the API.
    let alice = fx.admin("alice");
    let (csr_pem, _) = csr(None);
    let (status, body) = post(
        &fx.client(Some(&alice)),
        &fx.url("/v1/renew"),
        json!({"csr": csr_pem}),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    fx.stop().await;
}

#[tokio::test]
async fn an_expired_certificate_recovers_once_and_the_lineage_stops_at_the_limit() {
    let settings = ControlSettings {
        cert_validity: Duration::from_secs(2),
        max_recoveries: 1,
        ..relaxed()
    };
    let fx = Fixture::start(settings).await;
    let acme = fx.create_tenant("acme");
    let old = fx.tenant_cert(&acme, Duration::from_secs(2));
    wait_until_expired(old.not_after).await;

    let expired = fx.client(Some(&old));
    let (status, body) = get(&expired, &fx.url("/v1/whoami")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert!(message(&body).contains("expired"), "{body}");
    assert!(message(&body).contains("/v1/renew"), "{body}");

    let (csr_pem, key) = csr(None);
    let (status, body) = post(&expired, &fx.url("/v1/renew"), json!({"csr": csr_pem})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let recovered = issued_identity(&body, &key);
    assert_eq!(body["lineage"], old.serial.to_string());
    let record = fx.store.certificate(&recovered.serial).unwrap();
    assert!(record.recovered);
    assert!(
        fx.store.certificate(&old.serial).unwrap().is_revoked(),
        "a recovery revokes the expired certificate"
    );

    // The same expired certificate cannot recover twice.
    let (csr_pem, _) = csr(None);
    let (status, body) = post(
        &fx.client(Some(&old)),
        &fx.url("/v1/renew"),
        json!({"csr": csr_pem}),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert!(message(&body).contains("revoked"), "{body}");

    // The recovered certificate works, then expires too (cert_validity 2 s): the lineage
    // has used its one recovery.
    let (status, body) = get(&fx.client(Some(&recovered)), &fx.url("/v1/whoami")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    wait_until_expired(recovered.not_after).await;
    let (csr_pem, _) = csr(None);
    let (status, body) = post(
        &fx.client(Some(&recovered)),
        &fx.url("/v1/renew"),
        json!({"csr": csr_pem}),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(code(&body), "recovery_limit_reached");
    assert!(
        !fx.store
            .certificate(&recovered.serial)
            .unwrap()
            .is_revoked(),
        "a refused recovery changes nothing"
    );
    fx.stop().await;
}

#[tokio::test]
async fn expired_admin_certificates_and_a_zero_window_fail_the_handshake() {
    // Admin certificates never get the (default, 30-day) window.
    let fx = Fixture::start(relaxed()).await;
    // A zero window: no tenant certificate recovers.
    let closed = Fixture::start(ControlSettings {
        recovery_window: Duration::ZERO,
        ..relaxed()
    })
    .await;
    let acme = closed.create_tenant("acme");
    let tenant = closed.tenant_cert(&acme, Duration::from_secs(2));
    // An admin certificate of 2 s.
    let mut admin = None;
    fx.store
        .record_admin_certificate(
            &support::actor(),
            &AdminName::try_new("alice").unwrap(),
            &mut |name| {
                let mut req = AdminCertRequest::new(fx.domain.clone(), name.clone());
                req.validity = Duration::from_secs(2);
                let issued = fx.ca.issue_admin(&req)?;
                let facts = mtls_registry::NewCertificate {
                    serial: issued.serial.clone(),
                    fingerprint: issued.fingerprint,
                    not_before: issued.not_before,
                    not_after: issued.not_after,
                    kind: mtls_registry::CertificateKind::Client,
                };
                admin = Some(support::Identity {
                    chain_pem: issued.chain_pem.clone(),
                    key_pem: issued.key_pem.as_ref().unwrap().as_str().to_owned(),
                    serial: issued.serial.clone(),
                    not_after: issued.not_after,
                });
                Ok(facts)
            },
        )
        .unwrap();
    let admin = admin.unwrap();
    wait_until_expired(admin.not_after.max(tenant.not_after)).await;
    for (fx, who) in [(&fx, &admin), (&closed, &tenant)] {
        let (csr_pem, _) = csr(None);
        let result = fx
            .client(Some(who))
            .post(fx.url("/v1/renew"))
            .json(&json!({"csr": csr_pem}))
            .send()
            .await;
        assert!(
            result.is_err(),
            "the handshake refuses an expired certificate: {result:?}"
        );
    }
    assert_eq!(closed.store.certificates(Some(&acme)).unwrap().len(), 1);
    fx.stop().await;
    closed.stop().await;
}

#[tokio::test]
async fn renewals_are_rate_limited_per_tenant() {
    let settings = ControlSettings {
        renew_per_tenant: RateLimit::per_hour(1, 1),
        ..relaxed()
    };
    let fx = Fixture::start(settings).await;
    let (_, cert) = fx.tenant("acme");
    let client = fx.client(Some(&cert));
    let (csr_pem, _) = csr(None);
    let (status, body) = post(&client, &fx.url("/v1/renew"), json!({"csr": csr_pem})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (csr_pem, _) = csr(None);
    let (status, headers, body) = support::call(
        &client,
        reqwest::Method::POST,
        &fx.url("/v1/renew"),
        Some(json!({"csr": csr_pem})),
    )
    .await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    let retry: u64 = headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!(retry > 60, "an hourly limit waits minutes: {retry}");
    assert_eq!(fx.stats.rate_limited_total(), 1);
    fx.stop().await;
}
