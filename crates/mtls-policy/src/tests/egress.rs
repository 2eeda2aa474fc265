//! The effective source address of the winning route, as the decision reports it.

use std::net::IpAddr;

use mtls_registry::{
    RouteId, RouteRecord, SnapshotBuilder, SnapshotTenant, TenantLimits, TenantStatus,
};
use time::OffsetDateTime;

use super::{World, spec, tid};
use crate::*;

fn ip(text: &str) -> IpAddr {
    text.parse().unwrap()
}

/// Tenant `a` (egress 127.0.0.2) with an HTTP route, a TCP route with its own egress_bind and
/// a CONNECT route; tenant `b` with no egress address and one HTTP route.
fn policy(world: &World, certs: &[(&mtls_ca::IssuedCertificate, &str)]) -> Policy {
    let mut b = SnapshotBuilder::new(7, world.domain.clone());
    for (id, egress) in [("a", Some(ip("127.0.0.2"))), ("b", None)] {
        b.tenant(
            tid(id),
            SnapshotTenant {
                display_name: id.to_owned(),
                status: TenantStatus::Active,
                limits: TenantLimits::default(),
                egress_address: egress,
            },
        )
        .unwrap();
    }
    let routes = [
        (
            "a",
            r#"{"kind":"http","host":"a.test","upstreams":["https://api.example.com"]}"#,
        ),
        (
            "a",
            r#"{"kind":"tcp","sni":"db.a.test","upstreams":["db.example.com:5432"],"egress_bind":"127.0.0.9"}"#,
        ),
        ("a", r#"{"kind":"connect","allow":["*.example.com:443"]}"#),
        (
            "b",
            r#"{"kind":"http","host":"b.test","upstreams":["https://api.example.com"]}"#,
        ),
    ];
    for (tenant, json) in routes {
        b.route(RouteRecord {
            id: RouteId::random(),
            tenant: tid(tenant),
            spec: spec(json).into(),
            created_at: OffsetDateTime::now_utc(),
        })
        .unwrap();
    }
    for (cert, tenant) in certs {
        b.certificate(cert.serial.clone(), tid(tenant), false)
            .unwrap();
    }
    Policy::new(b.build())
}

#[test]
fn the_winning_routes_source_is_its_own_then_the_tenants_then_the_default() {
    let w = World::new();
    let (a, b) = (w.issue("a"), w.issue("b"));
    let policy = policy(&w, &[(&a, "a"), (&b, "b")]);
    let now = OffsetDateTime::now_utc();
    let decide = |cert: &mtls_ca::IssuedCertificate, request| {
        policy.decide(Some(&cert.cert_der), now, request).egress
    };
    let tenant = EgressSource {
        address: Some(ip("127.0.0.2")),
        origin: EgressOrigin::Tenant,
    };
    let http = Request::Http {
        host: "a.test",
        path: "/x",
    };
    assert_eq!(decide(&a, http), Some(tenant));
    let connect = Request::Connect {
        host: "api.example.com",
        port: 443,
    };
    assert_eq!(decide(&a, connect), Some(tenant));
    let tcp = Request::Tcp { sni: "db.a.test" };
    assert_eq!(
        decide(&a, tcp),
        Some(EgressSource {
            address: Some(ip("127.0.0.9")),
            origin: EgressOrigin::Route,
        })
    );
    let http_b = Request::Http {
        host: "b.test",
        path: "/",
    };
    assert_eq!(decide(&b, http_b), Some(EgressSource::DEFAULT));
}

#[test]
fn no_winner_no_source() {
    let w = World::new();
    let (a, b) = (w.issue("a"), w.issue("b"));
    let policy = policy(&w, &[(&a, "a")]);
    let now = OffsetDateTime::now_utc();
    // No route for the host; a path refused before routing; an escaped slash the winner
    // refuses; a tenant the registry does not admit (b's certificate is unknown).
    for request in [
        Request::Http {
            host: "nothing.test",
            path: "/",
        },
        Request::Http {
            host: "a.test",
            path: "/a\\b",
        },
        Request::Http {
            host: "a.test",
            path: "/a%2Fb",
        },
        Request::Tcp {
            sni: "other.a.test",
        },
    ] {
        assert_eq!(
            policy.decide(Some(&a.cert_der), now, request).egress,
            None,
            "{request:?}"
        );
    }
    let refused = policy.decide(
        Some(&b.cert_der),
        now,
        Request::Http {
            host: "b.test",
            path: "/",
        },
    );
    assert!(refused.admission.is_err());
    assert_eq!(refused.egress, None);
}

#[test]
fn egress_of_follows_the_route_and_its_tenant() {
    let w = World::new();
    let policy = policy(&w, &[]);
    let a = tid("a");
    let http = policy.route_http(&a, "a.test", "/").unwrap();
    assert_eq!(
        policy.egress_of(&a, http.key).address,
        Some(ip("127.0.0.2"))
    );
    assert_eq!(
        policy.egress_of(&a, &RouteId::random()),
        EgressSource::DEFAULT
    );
    // Another tenant's route id gets nothing of this tenant's.
    assert_eq!(policy.egress_of(&tid("b"), http.key), EgressSource::DEFAULT);
}

#[test]
fn an_admin_certificate_is_refused_as_one_not_as_a_stranger() {
    let w = World::new();
    let alice: mtls_identity::AdminName = "alice".parse().unwrap();
    let cert =
        w.ca.issue_admin(&mtls_ca::AdminCertRequest::new(w.domain.clone(), alice))
            .unwrap();
    let policy = policy(&w, &[]);
    let now = OffsetDateTime::now_utc();
    let refused = admit(policy.snapshot(), Some(&cert.cert_der), now).unwrap_err();
    assert_eq!(refused.reason, AdmissionRefusal::AdminCertificate);
    assert_eq!(refused.reason.as_str(), "admin_certificate");
    assert!(
        refused.detail.starts_with(
            "the certificate is admin alice's (spiffe://example.test/admin/alice, serial "
        ) && refused.detail.contains("admins are not tenants"),
        "{}",
        refused.detail
    );
    // The same certificate under another trust domain is only a stranger.
    let mut other = SnapshotBuilder::new(1, "other.test".parse().unwrap());
    other
        .tenant(
            tid("a"),
            SnapshotTenant {
                display_name: "a".into(),
                status: TenantStatus::Active,
                limits: TenantLimits::default(),
                egress_address: None,
            },
        )
        .unwrap();
    let refused = admit(&other.build(), Some(&cert.cert_der), now).unwrap_err();
    assert_eq!(refused.reason, AdmissionRefusal::NoTenant);
}
