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
        ..
    }) = decision.route
    else {
        panic!("not an HTTP decision");
    };
    let explanation = explanation.unwrap();
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
        ..
    }) = decision.route
    else {
        panic!("not an HTTP decision");
    };
    assert_eq!(
        explanation.unwrap().outcome.unwrap_err(),
        NoRoute::NoHostMatch
    );
    assert_eq!(upstream_identity, None);
}

/// acme: `/v1` refuses escaped slashes, `/files` keeps them, `/` catches the rest.
fn path_policy(w: &World, acme: &mtls_ca::IssuedCertificate) -> Policy {
    let http = |prefix: &str, extra: &str| {
        spec(&format!(
            r#"{{"kind":"http","host":"api.acme.test","path_prefix":"{prefix}","upstreams":["http://127.0.0.1:9"]{extra}}}"#
        ))
    };
    Policy::new(snapshot(
        w,
        &[("acme", TenantStatus::Active)],
        &[
            ("acme", http("/v1", "")),
            ("acme", http("/files", r#","escaped_slashes":"keep""#)),
            ("acme", http("/", "")),
        ],
        &[(acme, "acme", false)],
    ))
}

#[test]
fn requests_are_routed_on_the_normalised_path() {
    let w = World::new();
    let acme = w.issue("acme");
    let policy = path_policy(&w, &acme);
    let route = |path| policy.route_http_request(&tid("acme"), "api.acme.test", path);
    let prefix_of = |routed: &HttpRouted<'_, '_>| routed.matched.route.path_prefix.to_string();

    // The issue's escape: a request for /admin/ is not under /v1.
    let routed = route("/v1/../admin/").unwrap();
    assert_eq!((prefix_of(&routed), &*routed.path), ("/".into(), "/admin/"));
    let routed = route("/v1/%2e%2e/admin/").unwrap();
    assert_eq!((prefix_of(&routed), &*routed.path), ("/".into(), "/admin/"));
    let routed = route("/files/../v1/./x//y").unwrap();
    assert_eq!(
        (prefix_of(&routed), &*routed.path),
        ("/v1".into(), "/v1/x/y")
    );
    // Unchanged paths are borrowed.
    assert!(matches!(
        route("/v1/x").unwrap().path,
        std::borrow::Cow::Borrowed("/v1/x")
    ));

    // Escaped slashes: kept by /files, refused by /v1 and by the catch-all.
    let routed = route("/files/a%2fb").unwrap();
    assert_eq!(
        (prefix_of(&routed), &*routed.path),
        ("/files".into(), "/files/a%2Fb")
    );
    match route("/v1/a%2Fb") {
        Err(HttpRefusal::EscapedSlash {
            matched,
            error,
            path,
        }) => {
            assert_eq!(matched.route.path_prefix.to_string(), "/v1");
            assert_eq!(error, PathError::EncodedSlash { at: 5 });
            assert_eq!(path, "/v1/a%2Fb");
        }
        other => panic!("expected an escaped-slash refusal, got {other:?}"),
    }
    // `..%2F..` on /files is one segment: it cannot climb into /v1.
    let routed = route("/files/..%2F..%2Fv1").unwrap();
    assert_eq!(prefix_of(&routed), "/files");
    assert_eq!(
        route("/other/%5c").unwrap_err().path_error(),
        Some(PathError::EncodedBackslash { at: 7 })
    );
    // Refused before routing, whatever the route.
    assert_eq!(
        route("/files/a\\b").unwrap_err().path_error(),
        Some(PathError::Backslash { at: 8 })
    );
    // The asterisk form of OPTIONS is not a path: only the catch-all matches it, as is.
    let routed = route("*").unwrap();
    assert_eq!((prefix_of(&routed), &*routed.path), ("/".into(), "*"));
    match route("/v1/a%zz") {
        Err(HttpRefusal::BadPath(PathError::BadEscape { at: 5 })) => {}
        other => panic!("expected a bad escape, got {other:?}"),
    }
}

#[test]
fn http_decision_shows_the_raw_and_normalised_path_or_the_refusal() {
    let w = World::new();
    let acme = w.issue("acme");
    let policy = path_policy(&w, &acme);
    let now = OffsetDateTime::now_utc();
    let decide = |path| match policy
        .decide(
            Some(&acme.cert_der),
            now,
            Request::Http {
                host: "api.acme.test",
                path,
            },
        )
        .route
    {
        Some(RouteDecision::Http {
            path, explanation, ..
        }) => (
            path,
            explanation.map(|e| e.outcome.map(|m| m.route.path_prefix.to_string())),
        ),
        other => panic!("not an HTTP decision: {other:?}"),
    };

    let (path, winner) = decide("/v1/%2e%2e/admin/?q=/../");
    assert_eq!(
        path,
        PathDecision {
            raw: "/v1/%2e%2e/admin/".into(),
            query: Some("q=/../".into()),
            normalized: Ok("/admin/".into()),
            refusal: None,
        }
    );
    assert_eq!(winner, Some(Ok("/".into())), "the catch-all, not /v1");

    let (path, winner) = decide("/v1/a%2fb");
    assert_eq!(path.normalized.as_deref(), Ok("/v1/a%2Fb"));
    assert_eq!(path.refusal, Some(PathError::EncodedSlash { at: 5 }));
    assert_eq!(winner, Some(Ok("/v1".into())));

    let (path, winner) = decide("/v1/a\\b");
    assert_eq!(path.normalized, Err(PathError::Backslash { at: 5 }));
    assert_eq!(path.refusal, Some(PathError::Backslash { at: 5 }));
    assert_eq!(
        winner, None,
        "nothing is matched for a path refused before routing"
    );
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
