//! `Policy::decide`: the whole decision, as `tenantctl explain` prints it, agrees with the
//! per-request lookups the gateway makes.

use mtls_registry::TenantStatus;
use mtls_router::{NoRoute, Verdict};
use time::OffsetDateTime;

use super::{World, snapshot, spec, tid};
use crate::*;

#[test]
fn http_decision_names_the_winner_its_candidates_and_the_upstream_identity() {
    let w = World::new();
    let acme = w.issue("acme");
    let globex = w.issue("globex");
    let s = snapshot(
        &w,
        &[
            ("acme", TenantStatus::Active),
            ("globex", TenantStatus::Active),
        ],
        &[
            (
                "acme",
                spec(r#"{"kind":"http","host":"*.acme.test","upstreams":["http://127.0.0.1:9"]}"#),
            ),
            (
                "acme",
                spec(
                    r#"{"kind":"http","host":"api.acme.test","path_prefix":"/v1","upstreams":["https://127.0.0.1:9"],"upstream_tls":{"identity":"partner"}}"#,
                ),
            ),
            (
                "globex",
                spec(
                    r#"{"kind":"http","host":"api.globex.test","upstreams":["http://127.0.0.1:9"]}"#,
                ),
            ),
        ],
        &[(&acme, "acme", false), (&globex, "globex", false)],
    );
    let policy = Policy::new(s);
    let now = OffsetDateTime::now_utc();

    let decision = policy.decide(
        Some(&acme.cert_der),
        now,
        Request::Http {
            host: "api.acme.test",
            path: "/v1/orders",
        },
    );
    assert_eq!(decision.admission.as_ref().unwrap().tenant, tid("acme"));
    let Some(RouteDecision::Http {
        explanation,
        upstream_identity,
    }) = decision.route
    else {
        panic!("not an HTTP decision");
    };
    let winner = explanation.outcome.unwrap();
    let fast = policy
        .route_http(&tid("acme"), "api.acme.test", "/v1/orders")
        .unwrap();
    assert_eq!(
        winner.key, fast.key,
        "explain and the gateway's lookup agree"
    );
    assert_eq!(upstream_identity, Some(UpstreamIdentity::Named("partner")));
    assert_eq!(explanation.candidates.len(), 2);
    assert_eq!(explanation.candidates[1].verdict, Verdict::LessSpecificHost);

    // Another tenant's host is not found in acme's routes.
    let decision = policy.decide(
        Some(&acme.cert_der),
        now,
        Request::Http {
            host: "api.globex.test",
            path: "/",
        },
    );
    let Some(RouteDecision::Http {
        explanation,
        upstream_identity,
    }) = decision.route
    else {
        panic!("not an HTTP decision");
    };
    assert_eq!(explanation.outcome.unwrap_err(), NoRoute::NoHostMatch);
    assert_eq!(upstream_identity, None);
}

#[test]
fn connect_decision_carries_the_destination_verdict() {
    let w = World::new();
    let acme = w.issue("acme");
    let s = snapshot(
        &w,
        &[("acme", TenantStatus::Active)],
        &[
            (
                "acme",
                spec(r#"{"kind":"connect","allow":["*.acme.test:443"],"allow_private":false}"#),
            ),
            (
                "acme",
                spec(r#"{"kind":"connect","allow":["127.0.0.1:22"],"allow_private":true}"#),
            ),
        ],
        &[(&acme, "acme", false)],
    );
    let policy = Policy::new(s);
    let now = OffsetDateTime::now_utc();
    let decide = |host, port| match policy
        .decide(Some(&acme.cert_der), now, Request::Connect { host, port })
        .route
    {
        Some(RouteDecision::Connect(outcome)) => outcome.map(|d| d.destination),
        other => panic!("not a CONNECT decision: {other:?}"),
    };
    assert_eq!(
        decide("db.acme.test", 443),
        Ok(DestinationVerdict::ResolvedAtDial {
            allow_private: false
        })
    );
    // A private literal can only be allowed by a route that says so (route validation refuses
    // it otherwise), and the verdict names its range.
    assert!(matches!(
        decide("127.0.0.1", 22),
        Ok(DestinationVerdict::PrivateAllowed {
            range: "loopback",
            ..
        })
    ));
    assert_eq!(decide("evil.test", 22), Err(NoRoute::NotAllowed));
}

#[test]
fn a_refused_connection_gets_no_route_decision() {
    let w = World::new();
    let acme = w.issue("acme");
    let s = snapshot(
        &w,
        &[("acme", TenantStatus::Suspended)],
        &[(
            "acme",
            spec(r#"{"kind":"tcp","sni":"db.acme.test","upstreams":["127.0.0.1:5432"]}"#),
        )],
        &[(&acme, "acme", false)],
    );
    let policy = Policy::new(s);
    let decision = policy.decide(
        Some(&acme.cert_der),
        OffsetDateTime::now_utc(),
        Request::Tcp {
            sni: "db.acme.test",
        },
    );
    assert_eq!(
        decision.admission.unwrap_err().reason,
        AdmissionRefusal::Registry(mtls_registry::Refusal::TenantSuspended)
    );
    assert!(decision.route.is_none());
    // The lookup itself still works: suspension is an admission matter.
    assert!(policy.route_tcp(&tid("acme"), "db.acme.test").is_ok());
}
