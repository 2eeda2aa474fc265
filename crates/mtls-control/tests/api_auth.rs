//! Who may call what: anonymous, admin and tenant callers over real mTLS, and the callers
//! the registry no longer accepts (revoked, suspended, deleted, revoked admin).

mod support;

use mtls_identity::RevocationReason;
use mtls_registry::{Store, TenantStatus};
use reqwest::{Method, StatusCode};
use serde_json::json;
use support::{Fixture, call, code, get, message, post, relaxed};
use x509_parser::prelude::FromDer;

#[tokio::test]
async fn no_certificate_is_401_except_on_the_public_endpoints() {
    let fx = Fixture::start(relaxed()).await;
    let anon = fx.client(None);
    for (method, path) in [
        (Method::GET, "/v1/tenants"),
        (Method::GET, "/v1/whoami"),
        (Method::GET, "/v1/audit"),
        (Method::GET, "/v1/tenants/acme"),
        (Method::POST, "/v1/renew"),
        (Method::DELETE, "/v1/tenants/acme"),
    ] {
        let (status, _, body) = call(&anon, method.clone(), &fx.url(path), Some(json!({}))).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{method} {path}: {body}");
        assert_eq!(code(&body), "unauthenticated");
    }
    let (status, _) = get(&anon, &fx.url("/openapi.json")).await;
    assert_eq!(status, StatusCode::OK);
    let crl = anon.get(fx.url("/v1/crl")).send().await.unwrap();
    assert_eq!(crl.status(), StatusCode::OK);
    assert!(
        crl.text()
            .await
            .unwrap()
            .starts_with("-----BEGIN X509 CRL-----")
    );
    fx.stop().await;
}

#[tokio::test]
async fn whoami_names_admins_and_tenants() {
    let fx = Fixture::start(relaxed()).await;
    let alice = fx.admin("alice");
    let (_, acme) = fx.tenant("acme");
    let (status, body) = get(&fx.client(Some(&alice)), &fx.url("/v1/whoami")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["kind"], "admin");
    assert_eq!(body["name"], "alice");
    assert_eq!(body["serial"], alice.serial.to_string());
    let (status, body) = get(&fx.client(Some(&acme)), &fx.url("/v1/whoami")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["kind"], "tenant");
    assert_eq!(body["name"], "acme");
    fx.stop().await;
}

#[tokio::test]
async fn a_tenant_on_an_admin_endpoint_is_403_and_nothing_changes() {
    let fx = Fixture::start(relaxed()).await;
    let (_, acme) = fx.tenant("acme");
    let client = fx.client(Some(&acme));
    let (status, body) = get(&client, &fx.url("/v1/tenants")).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(code(&body), "forbidden");
    let (status, body) = post(
        &client,
        &fx.url("/v1/tenants"),
        json!({"id": "evil", "display_name": "Evil"}),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    let (status, body) = post(&client, &fx.url("/v1/tenants/acme/tokens"), json!({})).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    let (status, body) = get(&client, &fx.url("/v1/tenants/acme/tokens")).await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "token listings are admin-only: {body}"
    );
    let (status, _, body) = call(
        &client,
        Method::PUT,
        &fx.url("/v1/tenants/acme/limits"),
        Some(json!({"max_routes": 1000, "allow_private": true})),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(fx.store.tenants().unwrap().len(), 1);
    assert!(fx.store.tokens(None).unwrap().is_empty());
    assert!(
        !fx.store
            .tenant(&"acme".parse().unwrap())
            .unwrap()
            .route_policy
            .allow_private
    );
    fx.stop().await;
}

#[tokio::test]
async fn a_tenant_touching_another_tenant_is_403_and_nothing_changes() {
    let fx = Fixture::start(relaxed()).await;
    let (_, acme) = fx.tenant("acme");
    let (globex, globex_cert) = fx.tenant("globex");
    let route = fx
        .store
        .add_route(
            &support::actor(),
            &globex,
            serde_json::from_value(json!({"kind": "http", "host": "app.globex.test", "upstreams": ["https://backend.globex.example"]})).unwrap(),
        )
        .unwrap();
    let client = fx.client(Some(&acme));
    for path in [
        "/v1/tenants/globex",
        "/v1/tenants/globex/routes",
        "/v1/tenants/globex/certs",
    ] {
        let (status, body) = get(&client, &fx.url(path)).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{path}: {body}");
        assert_eq!(code(&body), "forbidden");
        assert!(message(&body).contains("globex"), "{body}");
    }
    let (status, body) = post(
        &client,
        &fx.url("/v1/tenants/globex/routes"),
        json!({"kind": "http", "host": "steal.globex.test", "upstreams": ["https://steal.example"]}),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    let (status, _, body) = call(
        &client,
        Method::DELETE,
        &fx.url(&format!("/v1/tenants/globex/routes/{}", route.id)),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    // Deleting globex's route through acme's own path: not acme's route, so 404.
    let (status, _, body) = call(
        &client,
        Method::DELETE,
        &fx.url(&format!("/v1/tenants/acme/routes/{}", route.id)),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    // Revoking globex's certificate: 404, still valid.
    let (status, body) = post(
        &client,
        &fx.url(&format!("/v1/certs/{}/revoke", globex_cert.serial)),
        json!({}),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert!(
        !fx.store
            .certificate(&globex_cert.serial)
            .unwrap()
            .is_revoked()
    );
    assert_eq!(fx.store.routes(Some(&globex)).unwrap().len(), 1);
    // The audit log a tenant reads holds its own events only.
    let (status, body) = get(&client, &fx.url("/v1/audit?limit=1000")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let events = body["items"].as_array().unwrap();
    assert!(!events.is_empty());
    assert!(events.iter().all(|e| e["tenant"] == "acme"), "{body}");
    fx.stop().await;
}

#[tokio::test]
async fn revoked_suspended_and_deleted_callers_are_refused() {
    let fx = Fixture::start(relaxed()).await;
    let (acme, acme_cert) = fx.tenant("acme");
    let (globex, globex_cert) = fx.tenant("globex");
    let (_, initech_cert) = fx.tenant("initech");

    fx.store
        .revoke_certificate(
            &support::actor(),
            &acme_cert.serial,
            RevocationReason::KeyCompromise,
        )
        .unwrap();
    let (status, body) = get(&fx.client(Some(&acme_cert)), &fx.url("/v1/tenants/acme")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert!(message(&body).contains("revoked"), "{body}");

    fx.store
        .set_tenant_status(&support::actor(), &globex, TenantStatus::Suspended)
        .unwrap();
    let (status, body) = get(&fx.client(Some(&globex_cert)), &fx.url("/v1/whoami")).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(code(&body), "tenant_suspended");

    let alice = fx.admin("alice");
    let (status, body) = call(
        &fx.client(Some(&alice)),
        Method::DELETE,
        &fx.url("/v1/tenants/initech"),
        None,
    )
    .await
    .into_status_body();
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["revoked"], json!([initech_cert.serial.to_string()]));
    let (status, body) = get(&fx.client(Some(&initech_cert)), &fx.url("/v1/whoami")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(acme.as_str(), "acme");
    fx.stop().await;
}

#[tokio::test]
async fn a_revoked_admin_certificate_is_refused_and_listed_in_the_crl() {
    let fx = Fixture::start(relaxed()).await;
    let alice = fx.admin("alice");
    let bob = fx.admin("bob");
    let (status, body) = post(
        &fx.client(Some(&alice)),
        &fx.url(&format!("/v1/certs/{}/revoke", bob.serial)),
        json!({"reason": "key-compromise"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["tenant"], "admin/bob");
    assert!(
        fx.store
            .admin_certificate(&bob.serial)
            .unwrap()
            .is_revoked()
    );
    let (status, body) = get(&fx.client(Some(&bob)), &fx.url("/v1/tenants")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert!(message(&body).contains("revoked"), "{body}");

    let der = fx
        .client(None)
        .get(fx.url("/v1/crl?format=der"))
        .send()
        .await
        .unwrap();
    assert_eq!(der.headers()["content-type"], "application/pkix-crl");
    let der = der.bytes().await.unwrap();
    let (_, crl) = x509_parser::revocation_list::CertificateRevocationList::from_der(&der).unwrap();
    let serials: Vec<Vec<u8>> = crl
        .iter_revoked_certificates()
        .map(|r| r.raw_serial().to_vec())
        .collect();
    assert!(
        serials.iter().any(|s| s.ends_with(bob.serial.as_bytes())),
        "bob's serial in the CRL"
    );
    // Accept: application/pkix-crl also picks DER.
    let by_accept = fx
        .client(None)
        .get(fx.url("/v1/crl"))
        .header("accept", "application/pkix-crl")
        .send()
        .await
        .unwrap();
    assert_eq!(by_accept.headers()["content-type"], "application/pkix-crl");
    fx.stop().await;
}

trait IntoStatusBody {
    fn into_status_body(self) -> (StatusCode, serde_json::Value);
}

impl IntoStatusBody for (StatusCode, reqwest::header::HeaderMap, serde_json::Value) {
    fn into_status_body(self) -> (StatusCode, serde_json::Value) {
        (self.0, self.2)
    }
}
