//! Routes and tenants through the API: admin additions, tenant self-service bounded by the
//! route policy, invalid specs, unknown tenants and routes, limits and egress updates.

mod support;

use mtls_registry::Store;
use reqwest::{Method, StatusCode};
use serde_json::json;
use support::{Fixture, call, code, get, message, post, relaxed};

#[tokio::test]
async fn admin_manages_tenants_limits_and_egress() {
    let fx = Fixture::start(relaxed()).await;
    let alice = fx.client(Some(&fx.admin("alice")));
    let (status, body) = post(
        &alice,
        &fx.url("/v1/tenants"),
        json!({"id": "acme", "display_name": "ACME Corp", "limits": {"max_routes": 2, "allowed_upstream_hosts": ["*.acme.example"]}}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["limits"]["max_routes"], 2);
    assert_eq!(
        body["limits"]["allowed_upstream_hosts"],
        json!(["*.acme.example"])
    );
    let (status, body) = post(
        &alice,
        &fx.url("/v1/tenants"),
        json!({"id": "acme", "display_name": "Again"}),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    let (status, body) = post(
        &alice,
        &fx.url("/v1/tenants"),
        json!({"id": "Bad_Id", "display_name": "x"}),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(message(&body).contains("id"), "{body}");

    let (status, _, body) = call(
        &alice,
        Method::PUT,
        &fx.url("/v1/tenants/acme/limits"),
        Some(json!({"max_connections": 5, "max_routes": 3, "allowed_upstream_ports": ["443", "8000-8999"]})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let stored = fx.store.tenant(&"acme".parse().unwrap()).unwrap();
    assert_eq!(stored.limits.max_connections, Some(5));
    assert_eq!(stored.route_policy.max_routes, 3);
    assert_eq!(stored.route_policy.allowed_upstream_ports.len(), 2);
    let (status, _, body) = call(
        &alice,
        Method::PUT,
        &fx.url("/v1/tenants/acme/limits"),
        Some(json!({"allowed_upstream_ports": ["99999"]})),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(
        message(&body).contains("allowed_upstream_ports[0]"),
        "{body}"
    );

    // Egress: an address the host holds; one it does not is 400; another tenant's is 409.
    let (status, _, body) = call(
        &alice,
        Method::PUT,
        &fx.url("/v1/tenants/acme/egress"),
        Some(json!({"address": "127.0.0.2"})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["egress_address"], "127.0.0.2");
    let (status, _, body) = call(
        &alice,
        Method::PUT,
        &fx.url("/v1/tenants/acme/egress"),
        Some(json!({"address": "192.0.2.1"})),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(message(&body).contains("192.0.2.1"), "{body}");
    fx.create_tenant("globex");
    let (status, _, body) = call(
        &alice,
        Method::PUT,
        &fx.url("/v1/tenants/globex/egress"),
        Some(json!({"address": "127.0.0.2"})),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");

    for (method, path) in [
        (Method::GET, "/v1/tenants/nobody"),
        (Method::POST, "/v1/tenants/nobody/suspend"),
        (Method::GET, "/v1/tenants/nobody/routes"),
        (Method::DELETE, "/v1/tenants/nobody"),
    ] {
        let (status, _, body) = call(&alice, method.clone(), &fx.url(path), None).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{method} {path}: {body}");
        assert_eq!(code(&body), "not_found");
    }
    let (status, _, body) = call(
        &alice,
        Method::POST,
        &fx.url("/v1/tenants/acme/suspend"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["status"], "suspended");
    let (status, _, body) = call(
        &alice,
        Method::POST,
        &fx.url("/v1/tenants/acme/suspend"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    let (status, body) = get(&alice, &fx.url("/v1/tenants")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["items"].as_array().unwrap().len(), 2);
    fx.stop().await;
}

#[tokio::test]
async fn tenant_routes_are_bounded_by_the_policy_and_specs_are_checked() {
    let fx = Fixture::start(relaxed()).await;
    let (acme, acme_cert) = fx.tenant("acme");
    let tenant = fx.client(Some(&acme_cert));
    let admin = fx.client(Some(&fx.admin("alice")));
    let (status, _, body) = call(
        &admin,
        Method::PUT,
        &fx.url("/v1/tenants/acme/limits"),
        Some(json!({"max_routes": 2, "allowed_upstream_hosts": ["*.acme.example"]})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    let (status, route) = post(
        &tenant,
        &fx.url("/v1/tenants/acme/routes"),
        json!({"kind": "http", "host": "app.acme.test", "upstreams": ["https://backend.acme.example"]}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{route}");
    assert_eq!(route["tenant"], "acme");
    assert_eq!(route["spec"]["host"], "app.acme.test");

    let (status, body) = post(
        &tenant,
        &fx.url("/v1/tenants/acme/routes"),
        json!({"kind": "http", "host": "other.acme.test", "upstreams": ["https://evil.example"]}),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(code(&body), "policy_violation");
    assert!(message(&body).contains("allowed_upstream_hosts"), "{body}");
    let (status, body) = post(
        &tenant,
        &fx.url("/v1/tenants/acme/routes"),
        json!({"kind": "http", "host": "int.acme.test", "upstreams": ["https://backend.acme.example"], "allow_private": true}),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert!(message(&body).contains("allow_private"), "{body}");

    // The admin is not bound by the policy.
    let (status, body) = post(
        &admin,
        &fx.url("/v1/tenants/acme/routes"),
        json!({"kind": "http", "host": "admin.acme.test", "upstreams": ["https://anything.example"]}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    // Now at max_routes (2): the tenant's third is refused.
    let (status, body) = post(
        &tenant,
        &fx.url("/v1/tenants/acme/routes"),
        json!({"kind": "http", "host": "three.acme.test", "upstreams": ["https://backend.acme.example"]}),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert!(message(&body).contains("max_routes"), "{body}");

    // Invalid specs: 400 invalid_route naming the field.
    let (status, body) = post(
        &tenant,
        &fx.url("/v1/tenants/acme/routes"),
        json!({"kind": "http", "host": "x.acme.test", "upstreams": ["backend.acme.example"]}),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(code(&body), "invalid_route");
    assert!(message(&body).contains("upstream"), "{body}");
    let (status, body) = post(
        &tenant,
        &fx.url("/v1/tenants/acme/routes"),
        json!({"kind": "http", "host": "x.acme.test", "upstreams": ["https://backend.acme.example"], "colour": "red"}),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(message(&body).contains("colour"), "{body}");
    assert_eq!(fx.store.routes(Some(&acme)).unwrap().len(), 2);

    // Removal: own route ok; unknown route 404; malformed id 400.
    let id = route["id"].as_str().unwrap();
    let (status, _, body) = call(
        &tenant,
        Method::DELETE,
        &fx.url(&format!("/v1/tenants/acme/routes/{id}")),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, _, body) = call(
        &tenant,
        Method::DELETE,
        &fx.url(&format!("/v1/tenants/acme/routes/{id}")),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    let (status, _, body) = call(
        &tenant,
        Method::DELETE,
        &fx.url("/v1/tenants/acme/routes/not-a-route"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let (status, body) = get(&tenant, &fx.url("/v1/tenants/acme/routes")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["items"].as_array().unwrap().len(), 1);
    let (status, body) = get(&tenant, &fx.url("/v1/tenants/acme/certs")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["items"][0]["serial"], acme_cert.serial.to_string());
    // A tenant may revoke its own certificate.
    let (status, body) = post(
        &tenant,
        &fx.url(&format!("/v1/certs/{}/revoke", acme_cert.serial)),
        json!({}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(
        fx.store
            .certificate(&acme_cert.serial)
            .unwrap()
            .is_revoked()
    );
    fx.stop().await;
}
