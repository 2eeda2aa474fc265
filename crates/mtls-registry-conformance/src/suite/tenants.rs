//! Tenants and the audit filter: behaviour and every error path.

use mtls_registry::{Actor, AuditFilter, RegistryError, TenantLimits, TenantStatus};

use crate::{Fixture, START, actor, issue_ok, tcp_route, tid};

pub fn actor_names_are_validated() {
    assert!(Actor::new("").is_err());
    assert!(Actor::new("a".repeat(129)).is_err());
    assert!(Actor::new("cli:\u{7}bell").is_err());
    assert_eq!(Actor::new("a".repeat(128)).unwrap().as_str().len(), 128);
    assert_eq!(
        "api:admin".parse::<Actor>().unwrap().to_string(),
        "api:admin"
    );
}

pub fn tenant_lifecycle() {
    let f = Fixture::new();
    let limits = TenantLimits {
        max_connections: Some(100),
        requests_per_second: None,
    };
    let t = f
        .store
        .create_tenant(&actor(), &tid("acme"), "ACME Corp", limits)
        .unwrap();
    assert_eq!(t.status, TenantStatus::Active);
    assert_eq!(t.created_at, START);
    assert_eq!(f.store.tenant(&tid("acme")).unwrap(), t);
    f.tenant("beta");
    f.tenant("aaa");
    let ids: Vec<String> = f
        .store
        .tenants()
        .unwrap()
        .into_iter()
        .map(|t| t.id.to_string())
        .collect();
    assert_eq!(ids, ["aaa", "acme", "beta"]);

    f.clock.advance(time::Duration::minutes(5));
    let t = f
        .store
        .set_tenant_status(&actor(), &tid("acme"), TenantStatus::Suspended)
        .unwrap();
    assert_eq!(t.status, TenantStatus::Suspended);
    assert_eq!(t.updated_at, START + time::Duration::minutes(5));
    let new_limits = TenantLimits {
        max_connections: None,
        requests_per_second: Some(50),
    };
    let t = f
        .store
        .set_tenant_limits(&actor(), &tid("acme"), new_limits)
        .unwrap();
    assert_eq!(t.limits, new_limits);
    assert_eq!(f.store.tenant(&tid("acme")).unwrap().limits, new_limits);
    let t = f
        .store
        .set_tenant_status(&actor(), &tid("acme"), TenantStatus::Active)
        .unwrap();
    assert_eq!(t.status, TenantStatus::Active);

    let actions: Vec<String> = f
        .store
        .audit_events(&AuditFilter {
            tenant: Some(tid("acme")),
            ..AuditFilter::default()
        })
        .unwrap()
        .into_iter()
        .map(|e| e.action)
        .collect();
    assert_eq!(
        actions,
        [
            "tenant.create",
            "tenant.suspend",
            "tenant.limits",
            "tenant.resume"
        ]
    );
}

pub fn tenant_errors() {
    let f = Fixture::new();
    f.tenant("acme");
    let err = f
        .store
        .create_tenant(&actor(), &tid("acme"), "Again", TenantLimits::default())
        .unwrap_err();
    assert!(
        matches!(&err, RegistryError::DuplicateTenant { id } if id.as_str() == "acme"),
        "{err:?}"
    );

    for (name, why) in [
        ("", "empty"),
        (&"x".repeat(65)[..], "64"),
        ("tab\there", "control"),
    ] {
        let err = f
            .store
            .create_tenant(&actor(), &tid("new"), name, TenantLimits::default())
            .unwrap_err();
        assert!(
            matches!(&err, RegistryError::InvalidDisplayName { name: n, .. } if n == name),
            "{err:?}"
        );
        assert!(err.to_string().contains(why), "{err}");
    }
    // 64 characters (not bytes) is fine.
    f.store
        .create_tenant(
            &actor(),
            &tid("wide"),
            &"é".repeat(64),
            TenantLimits::default(),
        )
        .unwrap();

    let zero = TenantLimits {
        max_connections: Some(0),
        requests_per_second: None,
    };
    let err = f
        .store
        .create_tenant(&actor(), &tid("zero"), "Zero", zero)
        .unwrap_err();
    assert!(
        matches!(
            err,
            RegistryError::InvalidLimits {
                field: "max_connections",
                ..
            }
        ),
        "{err:?}"
    );
    let zero = TenantLimits {
        max_connections: None,
        requests_per_second: Some(0),
    };
    let err = f
        .store
        .set_tenant_limits(&actor(), &tid("acme"), zero)
        .unwrap_err();
    assert!(
        matches!(
            err,
            RegistryError::InvalidLimits {
                field: "requests_per_second",
                ..
            }
        ),
        "{err:?}"
    );

    let ghost = tid("ghost");
    for err in [
        f.store.tenant(&ghost).unwrap_err(),
        f.store
            .set_tenant_status(&actor(), &ghost, TenantStatus::Suspended)
            .unwrap_err(),
        f.store
            .set_tenant_limits(&actor(), &ghost, TenantLimits::default())
            .unwrap_err(),
        f.store.delete_tenant(&actor(), &ghost).unwrap_err(),
        f.store
            .record_certificate(&actor(), &ghost, &mut issue_ok())
            .unwrap_err(),
        f.store
            .add_route(&actor(), &ghost, tcp_route("db.ghost.test"))
            .unwrap_err(),
        f.store
            .create_enrollment_token(&actor(), &ghost, std::time::Duration::from_secs(600))
            .unwrap_err(),
    ] {
        assert!(
            matches!(&err, RegistryError::UnknownTenant { id } if *id == ghost),
            "{err:?}"
        );
        assert!(err.is_not_found());
    }

    let err = f
        .store
        .set_tenant_status(&actor(), &tid("acme"), TenantStatus::Active)
        .unwrap_err();
    assert!(
        matches!(&err, RegistryError::TenantAlreadyInStatus { id, status: TenantStatus::Active } if id.as_str() == "acme"),
        "{err:?}"
    );
    f.store
        .set_tenant_status(&actor(), &tid("acme"), TenantStatus::Suspended)
        .unwrap();
    let err = f
        .store
        .set_tenant_status(&actor(), &tid("acme"), TenantStatus::Suspended)
        .unwrap_err();
    assert_eq!(err.to_string(), "tenant acme is already suspended");
}

pub fn audit_filter_by_tenant_since_and_limit() {
    let f = Fixture::new();
    f.tenant("acme");
    f.clock.advance(time::Duration::hours(1));
    f.tenant("beta");
    f.cert("acme");
    let since = f
        .store
        .audit_events(&AuditFilter {
            since: Some(START + time::Duration::minutes(30)),
            ..AuditFilter::default()
        })
        .unwrap();
    let actions: Vec<_> = since.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(actions, ["tenant.create", "cert.issue"]);
    assert_eq!(since[0].tenant, Some(tid("beta")));
    let acme = f
        .store
        .audit_events(&AuditFilter {
            tenant: Some(tid("acme")),
            limit: Some(1),
            ..AuditFilter::default()
        })
        .unwrap();
    assert_eq!(acme.len(), 1);
    assert_eq!(acme[0].action, "cert.issue");
    let all = f.store.audit_events(&AuditFilter::default()).unwrap();
    let seqs: Vec<u64> = all.iter().map(|e| e.seq).collect();
    assert_eq!(seqs, [1, 2, 3, 4]);
    assert_eq!(all[0].action, "registry.init");
    assert_eq!(all[0].tenant, None);
}
