//! The data plane's view: admission, versions, change detection across handles.

use mtls_identity::{RevocationReason, Serial};
use mtls_registry::{Refusal, Store, TenantLimits, TenantStatus};

use crate::{Fixture, actor, domain, http_route, tcp_route, tid};

pub fn admit_covers_every_refusal() {
    let f = Fixture::new();
    f.tenant("acme");
    f.tenant("beta");
    f.tenant("sleepy");
    let good = f.cert("acme");
    let revoked = f.cert("acme");
    let betas = f.cert("beta");
    let sleepy = f.cert("sleepy");
    f.store
        .revoke_certificate(&actor(), &revoked.serial, RevocationReason::KeyCompromise)
        .unwrap();
    f.store
        .set_tenant_status(&actor(), &tid("sleepy"), TenantStatus::Suspended)
        .unwrap();

    let snap = f.store.snapshot().unwrap();
    let acme = snap.admit(&tid("acme"), &good.serial).unwrap();
    assert_eq!(acme.display_name, "Tenant acme");
    assert_eq!(acme.status, TenantStatus::Active);

    let cases = [
        (tid("ghost"), good.serial.clone(), Refusal::UnknownTenant),
        (
            tid("sleepy"),
            sleepy.serial.clone(),
            Refusal::TenantSuspended,
        ),
        (tid("acme"), Serial::random(), Refusal::UnknownCertificate),
        (
            tid("acme"),
            betas.serial.clone(),
            Refusal::CertificateOfOtherTenant,
        ),
        (
            tid("acme"),
            revoked.serial.clone(),
            Refusal::CertificateRevoked,
        ),
    ];
    for (tenant, serial, refusal) in &cases {
        assert_eq!(
            snap.admit(tenant, serial).unwrap_err(),
            *refusal,
            "{tenant} {serial}"
        );
    }
    let labels: Vec<&str> = Refusal::ALL.iter().map(|r| r.as_str()).collect();
    assert_eq!(
        labels,
        [
            "unknown_tenant",
            "tenant_suspended",
            "unknown_certificate",
            "certificate_of_other_tenant",
            "certificate_revoked"
        ]
    );
    assert_eq!(
        Refusal::CertificateRevoked.to_string(),
        "certificate_revoked"
    );

    assert!(snap.is_revoked(&revoked.serial));
    assert!(!snap.is_revoked(&good.serial));
    assert!(!snap.is_revoked(&Serial::random()));
    assert_eq!(
        snap.tenant(&tid("sleepy")).unwrap().status,
        TenantStatus::Suspended
    );
    assert!(snap.tenant(&tid("ghost")).is_none());
    assert_eq!(snap.tenants().count(), 3);
    assert_eq!(snap.tenant_count(), 3);
    assert_eq!(snap.trust_domain(), &domain());
}

pub fn deleted_tenant_is_unknown_and_its_certificates_revoked() {
    let f = Fixture::new();
    f.tenant("acme");
    let cert = f.cert("acme");
    f.store.delete_tenant(&actor(), &tid("acme")).unwrap();
    let snap = f.store.snapshot().unwrap();
    assert_eq!(
        snap.admit(&tid("acme"), &cert.serial).unwrap_err(),
        Refusal::UnknownTenant
    );
    assert!(snap.is_revoked(&cert.serial));
}

pub fn routes_are_per_tenant() {
    let f = Fixture::new();
    f.tenant("acme");
    f.tenant("beta");
    f.tenant("empty");
    let a1 = f
        .store
        .add_route(&actor(), &tid("acme"), tcp_route("db.acme.test"))
        .unwrap();
    let a2 = f
        .store
        .add_route(&actor(), &tid("acme"), http_route("api.acme.test", "/"))
        .unwrap();
    let b1 = f
        .store
        .add_route(&actor(), &tid("beta"), tcp_route("db.acme.test"))
        .unwrap();
    let snap = f.store.snapshot().unwrap();
    assert_eq!(snap.routes(&tid("acme")), [a1, a2]);
    assert_eq!(snap.routes(&tid("beta")), [b1]);
    assert!(snap.routes(&tid("empty")).is_empty());
    assert!(snap.routes(&tid("ghost")).is_empty());
}

pub fn version_bumps_on_every_change_and_only_then() {
    let f = Fixture::new();
    let v0 = f.store.version().unwrap();
    assert_eq!(f.store.snapshot().unwrap().version(), v0);
    f.tenant("acme");
    let v1 = f.store.version().unwrap();
    assert_eq!(v1, v0 + 1);
    let cert = f.cert("acme");
    f.store
        .set_tenant_limits(
            &actor(),
            &tid("acme"),
            TenantLimits {
                max_connections: Some(5),
                requests_per_second: None,
            },
        )
        .unwrap();
    f.store
        .revoke_certificate(&actor(), &cert.serial, RevocationReason::Unspecified)
        .unwrap();
    assert_eq!(f.store.version().unwrap(), v1 + 3);
    // Reads and failed changes leave it alone.
    f.store.tenants().unwrap();
    f.store.snapshot().unwrap();
    f.store
        .revoke_certificate(&actor(), &cert.serial, RevocationReason::Unspecified)
        .unwrap_err();
    assert_eq!(f.store.version().unwrap(), v1 + 3);
    let snap = f.store.snapshot().unwrap();
    assert_eq!(snap.version(), v1 + 3);
    assert_eq!(
        snap.tenant(&tid("acme")).unwrap().limits.max_connections,
        Some(5)
    );
}

pub fn another_handle_sees_changes() {
    let f = Fixture::new();
    let reader = f.reopen();
    let snap = reader.snapshot().unwrap();
    // (SQLite's data_version, which moves on another connection's commit, is checked in
    // that crate's own tests.)
    f.tenant("acme");
    let cert = f.cert("acme");
    let v = reader.version().unwrap();
    assert!(v > snap.version());
    assert_eq!(v, f.store.version().unwrap());
    let snap = reader.snapshot().unwrap();
    assert!(snap.admit(&tid("acme"), &cert.serial).is_ok());

    // A suspension made through the reader is seen by the writer's next snapshot.
    reader
        .set_tenant_status(&actor(), &tid("acme"), TenantStatus::Suspended)
        .unwrap();
    let snap = f.store.snapshot().unwrap();
    assert_eq!(
        snap.admit(&tid("acme"), &cert.serial).unwrap_err(),
        Refusal::TenantSuspended
    );
}

pub fn a_route_whose_tenant_is_gone_is_left_out() {
    let f = Fixture::new();
    f.tenant("acme");
    f.store
        .add_route(&actor(), &tid("acme"), tcp_route("db.acme.test"))
        .unwrap();
    // Only possible by hand, with foreign keys off.
    f.db.execute_without_foreign_keys(
        r#"INSERT INTO routes (id, tenant, spec, created_at) VALUES ('r-00000000000000aa', 'ghost',
               '{"kind":"tcp","sni":"db.ghost.test","upstreams":["10.0.0.7:5432"]}', 0)"#,
    )
    .unwrap();
    let snap = f.store.snapshot().unwrap();
    assert_eq!(snap.routes(&tid("acme")).len(), 1);
    assert!(snap.routes(&tid("ghost")).is_empty());
    assert_eq!(snap.tenant_count(), 1);
}

/// Thousands of routes over a few tenants arrive, each tenant's in creation order; and a
/// stored spec that does not parse, deep in the rows, fails the snapshot naming the column,
/// instead of being skipped.
pub fn many_routes_are_read_in_order_and_a_bad_stored_spec_fails_the_snapshot() {
    let f = Fixture::new();
    let tenants = ["acme", "beta", "gamma"];
    let mut added = Vec::new();
    for t in tenants {
        f.tenant(t);
    }
    for i in 0..2100 {
        let t = tenants[i % tenants.len()];
        let route = f
            .store
            .add_route(
                &actor(),
                &tid(t),
                http_route(&format!("h{i}.{t}.test"), "/"),
            )
            .unwrap();
        added.push(route);
    }
    let snapshot = Store::snapshot(&*f.store).unwrap();
    for t in tenants {
        let want: Vec<_> = added
            .iter()
            .filter(|r| r.tenant == tid(t))
            .map(|r| &r.id)
            .collect();
        let got: Vec<_> = snapshot.routes(&tid(t)).iter().map(|r| &r.id).collect();
        assert_eq!(got, want, "routes of {t}");
    }

    let last = added.last().unwrap();
    f.sql(&format!(
        "UPDATE routes SET spec = '{{\"kind\":\"http\"' WHERE id = '{}'",
        last.id
    ));
    let err = Store::snapshot(&*f.store).unwrap_err();
    assert!(
        matches!(
            err,
            mtls_registry::RegistryError::InvalidStoredValue {
                column: "routes.spec",
                ..
            }
        ),
        "{err:?}"
    );
}
