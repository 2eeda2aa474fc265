//! Unit tests of the snapshot builder: it refuses what would make a snapshot inconsistent.

use mtls_route_spec::RouteSpec;

use super::*;

fn tid(id: &str) -> TenantId {
    id.parse().unwrap()
}

fn active() -> SnapshotTenant {
    SnapshotTenant {
        display_name: "T".into(),
        status: TenantStatus::Active,
        limits: TenantLimits::default(),
        egress_address: None,
    }
}

fn route(tenant: &str, sni: &str) -> RouteRecord {
    let spec: RouteSpec = serde_json::from_value(serde_json::json!({
        "kind": "tcp", "sni": sni, "upstreams": ["10.0.0.7:5432"],
    }))
    .unwrap();
    RouteRecord {
        id: RouteId::random(),
        tenant: tid(tenant),
        spec: spec.into(),
        created_at: time::OffsetDateTime::UNIX_EPOCH,
    }
}

fn builder() -> SnapshotBuilder {
    SnapshotBuilder::new(3, "proxy.example.com".parse().unwrap())
}

#[test]
fn rows_are_kept_as_added() {
    let mut b = builder();
    b.tenant(tid("acme"), active()).unwrap();
    b.tenant(tid("beta"), active()).unwrap();
    let (first, second) = (route("acme", "b.acme.test"), route("acme", "a.acme.test"));
    b.route(first.clone()).unwrap();
    b.route(route("beta", "db.beta.test")).unwrap();
    b.route(second.clone()).unwrap();
    let (mine, theirs) = (Serial::random(), Serial::random());
    b.certificate(mine.clone(), tid("acme"), false).unwrap();
    // A certificate of a deleted tenant: kept, and refused for anyone.
    b.certificate(theirs.clone(), tid("gone"), true).unwrap();
    let snap = b.build();

    assert_eq!(snap.version(), 3);
    assert_eq!(snap.trust_domain().as_str(), "proxy.example.com");
    assert_eq!(snap.tenant_count(), 2);
    assert_eq!(
        snap.routes(&tid("acme")),
        [first, second],
        "in the order added"
    );
    assert_eq!(snap.routes(&tid("beta")).len(), 1);
    assert!(snap.admit(&tid("acme"), &mine).is_ok());
    assert!(snap.is_revoked(&theirs));
    assert_eq!(
        snap.admit(&tid("beta"), &theirs).unwrap_err(),
        Refusal::CertificateOfOtherTenant
    );
}

#[test]
fn inconsistent_rows_are_refused_and_change_nothing() {
    let mut b = builder();
    b.tenant(tid("acme"), active()).unwrap();
    assert_eq!(
        b.tenant(tid("acme"), active()).unwrap_err(),
        SnapshotError::DuplicateTenant { id: tid("acme") }
    );

    let orphan = route("ghost", "db.ghost.test");
    assert_eq!(
        b.route(orphan.clone()).unwrap_err(),
        SnapshotError::RouteOfUnknownTenant {
            route: orphan.id,
            tenant: tid("ghost"),
        }
    );

    let r = route("acme", "db.acme.test");
    b.route(r.clone()).unwrap();
    let mut again = route("acme", "other.acme.test");
    again.id = r.id.clone();
    assert_eq!(
        b.route(again).unwrap_err(),
        SnapshotError::DuplicateRoute { id: r.id.clone() }
    );

    let serial = Serial::random();
    b.certificate(serial.clone(), tid("acme"), false).unwrap();
    let err = b
        .certificate(serial.clone(), tid("acme"), true)
        .unwrap_err();
    assert_eq!(
        err,
        SnapshotError::DuplicateSerial {
            serial: serial.clone()
        }
    );
    assert!(err.to_string().contains("appears twice"), "{err}");

    let snap = b.build();
    assert_eq!(snap.routes(&tid("acme")), [r]);
    assert!(!snap.is_revoked(&serial), "the refused row changed nothing");
    assert!(snap.tenant(&tid("ghost")).is_none());
}
