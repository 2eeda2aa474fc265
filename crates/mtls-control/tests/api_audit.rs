//! Every call is audited with the caller and its address: changes by the store, reads as
//! api.read, refusals as api.refused with method, path, status and code.

mod support;

use mtls_control::{ControlSettings, RateLimit};
use reqwest::{Method, StatusCode};
use serde_json::json;
use support::{Fixture, call, get, post, relaxed};

#[tokio::test]
async fn reads_refusals_and_changes_name_the_caller_and_its_address() {
    let fx = Fixture::start(relaxed()).await;
    let alice = fx.client(Some(&fx.admin("alice")));
    let (_, acme) = fx.tenant("acme");
    let acme = fx.client(Some(&acme));
    let anon = fx.client(None);
    let seq = fx.last_seq();

    let (status, _) = get(&alice, &fx.url("/v1/tenants")).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = post(
        &alice,
        &fx.url("/v1/tenants"),
        json!({"id": "globex", "display_name": "Globex"}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, _) = get(&acme, &fx.url("/v1/tenants/globex")).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _, _) = call(&anon, Method::GET, &fx.url("/v1/tenants"), None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    let events = fx.events_after(seq);
    let actions: Vec<&str> = events.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(
        actions,
        ["api.read", "tenant.create", "api.refused", "api.refused"],
        "{events:#?}"
    );
    let from = |actor: &str, who: &str| {
        let rest = actor
            .strip_prefix(&format!("api:{who} from 127.0.0.1:"))
            .unwrap_or_else(|| panic!("{actor}"));
        assert!(rest.parse::<u16>().is_ok(), "{actor}");
    };
    from(&events[0].actor, "admin/alice");
    assert_eq!(
        events[0].details,
        json!({"method": "GET", "path": "/v1/tenants", "status": 200, "code": null})
    );
    from(&events[1].actor, "admin/alice");
    from(&events[2].actor, "tenant/acme");
    assert_eq!(events[2].tenant.as_ref().map(|t| t.as_str()), Some("acme"));
    assert_eq!(
        events[2].details,
        json!({"method": "GET", "path": "/v1/tenants/globex", "status": 403, "code": "forbidden"})
    );
    from(&events[3].actor, "anonymous");
    assert_eq!(events[3].details["code"], "unauthenticated");

    // The admin reads them back through the API, filtered by time and count.
    let (status, body) = get(&alice, &fx.url("/v1/audit?limit=2")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["items"].as_array().unwrap().len(), 2);
    let (status, body) = get(&alice, &fx.url("/v1/audit?since=yesterday")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(
        body["error"]["message"].as_str().unwrap().contains("since"),
        "{body}"
    );
    let (status, body) = get(&alice, &fx.url("/v1/audit?limit=0")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");

    // Filtered by tenant on the server, before the limit: an admin's filter, and a tenant
    // may name only itself.
    let (status, body) = get(&alice, &fx.url("/v1/audit?tenant=globex&limit=1000")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let globex = body["items"].as_array().unwrap();
    assert!(!globex.is_empty());
    assert!(globex.iter().all(|e| e["tenant"] == "globex"), "{body}");
    let (status, body) = get(&acme, &fx.url("/v1/audit?tenant=acme")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(
        body["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["tenant"] == "acme")
    );
    let (status, body) = get(&acme, &fx.url("/v1/audit?tenant=globex")).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(body["error"]["code"], "forbidden");
    let (status, body) = get(&alice, &fx.url("/v1/audit?tenant=Not_An_Id")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("tenant"),
        "{body}"
    );
    fx.stop().await;
}

#[tokio::test]
async fn unauthenticated_calls_are_audited_within_a_per_source_budget_and_counted_beyond_it() {
    let fx = Fixture::start(ControlSettings {
        anonymous_audit_per_ip: RateLimit::per_minute(3, 3),
        ..relaxed()
    })
    .await;
    let alice = fx.client(Some(&fx.admin("alice")));
    let anon = fx.client(None);
    let seq = fx.last_seq();

    // Ten anonymous calls (public reads and refusals alike) are all answered as usual...
    for i in 0..10 {
        let path = if i % 2 == 0 { "/v1/crl" } else { "/v1/tenants" };
        let (status, _, _) = call(&anon, Method::GET, &fx.url(path), None).await;
        let expected = if i % 2 == 0 {
            StatusCode::OK
        } else {
            StatusCode::UNAUTHORIZED
        };
        assert_eq!(status, expected, "{path}");
    }
    // ...but only the first three write audit events; the rest are counted.
    let anonymous: Vec<_> = fx
        .events_after(seq)
        .into_iter()
        .filter(|e| e.actor.starts_with("api:anonymous from "))
        .collect();
    assert_eq!(anonymous.len(), 3, "{anonymous:#?}");
    assert_eq!(fx.stats.unaudited_total(), 7);

    // An authenticated caller is audited whatever the anonymous budget.
    let before = fx.last_seq();
    for _ in 0..5 {
        let (status, _) = get(&alice, &fx.url("/v1/tenants")).await;
        assert_eq!(status, StatusCode::OK);
    }
    assert_eq!(fx.events_after(before).len(), 5);
    assert_eq!(fx.stats.unaudited_total(), 7);
    fx.stop().await;
}
