//! Paged listings through the API: `?limit=&after=` on tenants, a tenant's routes and
//! certificates, and the audit log; every record once and in order, `next` ends, bad
//! limits and cursors are 400 naming the parameter.

mod support;

use mtls_registry::{AuditFilter, Store, TenantLimits};
use mtls_route_spec::RouteSpec;
use reqwest::StatusCode;
use serde_json::{Value, json};
use support::{Fixture, actor, code, get, message, relaxed};

/// Follows `next` from the first page of `path` (which ends in `?` or `&`), or from
/// `start`, to the end: every item, in order.
async fn all_pages(
    client: &reqwest::Client,
    fx: &Fixture,
    path: &str,
    limit: usize,
    start: Option<&str>,
) -> Vec<Value> {
    let mut items = Vec::new();
    let mut url = match start {
        Some(after) => fx.url(&format!("{path}limit={limit}&after={after}")),
        None => fx.url(&format!("{path}limit={limit}")),
    };
    for _ in 0..1000 {
        let (status, body) = get(client, &url).await;
        assert_eq!(status, StatusCode::OK, "{url}: {body}");
        let page = body["items"].as_array().unwrap();
        assert!(page.len() <= limit, "{url}: over the limit");
        items.extend(page.iter().cloned());
        match body["next"].as_str() {
            Some(next) => {
                assert_eq!(
                    page.len(),
                    limit,
                    "{url}: a short page that is not the last"
                );
                url = fx.url(&format!("{path}limit={limit}&after={next}"));
            }
            None => {
                assert!(body["next"].is_null(), "{body}");
                return items;
            }
        }
    }
    panic!("{path}: the cursor never ends");
}

fn route(i: usize) -> RouteSpec {
    serde_json::from_value(json!({
        "kind": "tcp",
        "sni": format!("s{i}.acme.test"),
        "upstreams": ["db.example.com:5432"],
    }))
    .unwrap()
}

#[tokio::test]
async fn tenants_routes_and_certificates_page_each_once_in_order_until_next_is_null() {
    let fx = Fixture::start(relaxed()).await;
    let alice = fx.client(Some(&fx.admin("alice")));
    for i in (0..250).rev() {
        fx.store
            .create_tenant(
                &actor(),
                &format!("t-{i:03}").parse().unwrap(),
                "T",
                TenantLimits::default(),
            )
            .unwrap();
    }
    let (acme, acme_identity) = fx.tenant("acme");
    for i in 0..250 {
        fx.store.add_route(&actor(), &acme, route(i)).unwrap();
    }
    for _ in 0..120 {
        fx.tenant_cert(&acme, std::time::Duration::from_secs(86_400));
    }

    let ids = |items: &[Value], key: &str| -> Vec<String> {
        items
            .iter()
            .map(|t| t[key].as_str().unwrap().to_owned())
            .collect()
    };
    let want_tenants: Vec<String> = fx
        .store
        .tenants()
        .unwrap()
        .iter()
        .map(|t| t.id.to_string())
        .collect();
    assert_eq!(want_tenants.len(), 251);
    for limit in [7, 100, 1000] {
        let got = all_pages(&alice, &fx, "/v1/tenants?", limit, None).await;
        assert_eq!(ids(&got, "id"), want_tenants, "limit {limit}");
    }
    // Without limit: the default page of 100, and a cursor.
    let (status, body) = get(&alice, &fx.url("/v1/tenants")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["items"].as_array().unwrap().len(), 100);
    assert_eq!(body["next"], want_tenants[99]);

    let want_routes: Vec<String> = fx
        .store
        .routes(Some(&acme))
        .unwrap()
        .iter()
        .map(|r| r.id.to_string())
        .collect();
    let want_certs: Vec<String> = fx
        .store
        .certificates(Some(&acme))
        .unwrap()
        .iter()
        .map(|c| c.serial.to_string())
        .collect();
    // The admin and the tenant itself page the same way.
    let tenant = fx.client(Some(&acme_identity));
    for (client, limit) in [(&alice, 13), (&tenant, 100)] {
        let got = all_pages(client, &fx, "/v1/tenants/acme/routes?", limit, None).await;
        assert_eq!(ids(&got, "id"), want_routes, "limit {limit}");
        let got = all_pages(client, &fx, "/v1/tenants/acme/certs?", limit, None).await;
        assert_eq!(ids(&got, "serial"), want_certs, "limit {limit}");
    }
    fx.stop().await;
}

#[tokio::test]
async fn the_audit_log_pages_forward_from_after_and_the_tail_has_no_next() {
    let fx = Fixture::start(relaxed()).await;
    let alice = fx.client(Some(&fx.admin("alice")));
    let (acme, _) = fx.tenant("acme");
    fx.create_tenant("globex");
    for i in 0..60 {
        fx.store.add_route(&actor(), &acme, route(i)).unwrap();
    }
    let before: Vec<u64> = fx
        .store
        .audit_events(&AuditFilter {
            tenant: Some(acme.clone()),
            ..AuditFilter::default()
        })
        .unwrap()
        .iter()
        .map(|e| e.seq)
        .collect();
    let got = all_pages(&alice, &fx, "/v1/audit?tenant=acme&", 9, Some("0")).await;
    let seqs: Vec<u64> = got.iter().map(|e| e["seq"].as_u64().unwrap()).collect();
    // The log grows while it is read (each read is an event): what was there comes first,
    // each once, in order.
    assert_eq!(seqs[..before.len()], before[..]);
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{seqs:?}");
    assert!(got.iter().all(|e| e["tenant"] == "acme"));

    // Without `after`: the newest events, and no next.
    let (status, body) = get(&alice, &fx.url("/v1/audit?tenant=acme&limit=5")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["items"].as_array().unwrap().len(), 5);
    assert!(body["next"].is_null(), "{body}");
    fx.stop().await;
}

#[tokio::test]
async fn bad_limits_and_cursors_are_400_naming_the_parameter() {
    let fx = Fixture::start(relaxed()).await;
    let alice = fx.client(Some(&fx.admin("alice")));
    let (acme, _) = fx.tenant("acme");
    fx.create_tenant("globex");
    for i in 0..3 {
        fx.store.add_route(&actor(), &acme, route(i)).unwrap();
    }
    let (_, body) = get(&alice, &fx.url("/v1/tenants/acme/routes?limit=1")).await;
    let acme_cursor = body["next"].as_str().unwrap().to_owned();
    for (path, needle) in [
        ("/v1/tenants?limit=0", "limit 0 is outside 1 to 1000"),
        ("/v1/tenants?limit=1001", "limit 1001 is outside 1 to 1000"),
        ("/v1/tenants?after=%20x", "after \" x\" is not a cursor"),
        ("/v1/tenants?after=a.b", "not a tenant id"),
        ("/v1/tenants?page=2", "page"),
        (
            "/v1/tenants/acme/routes?after=acme.x.1",
            "not a position in the routes listing",
        ),
        (
            &format!("/v1/tenants/globex/routes?after={acme_cursor}"),
            "another tenant's listing",
        ),
        ("/v1/tenants/acme/certs?after=acme", "certificates listing"),
        ("/v1/audit?after=acme", "not an event seq"),
        ("/v1/audit?limit=5000", "limit 5000"),
    ] {
        let (status, body) = get(&alice, &fx.url(path)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path}: {body}");
        assert_eq!(code(&body), "invalid_request", "{path}: {body}");
        assert!(message(&body).contains(needle), "{path}: {body}");
    }
    fx.stop().await;
}
