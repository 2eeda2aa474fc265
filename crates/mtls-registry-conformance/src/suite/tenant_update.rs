//! `update_tenant`: limits, route policy and egress address in one audited change.

use std::net::IpAddr;

use mtls_registry::{RegistryError, RoutePolicy, Store, TenantLimits, TenantUpdate};
use serde_json::json;

use crate::{Fixture, actor, events, tid, version};

fn ip(text: &str) -> IpAddr {
    text.parse().unwrap()
}

pub fn an_update_changes_every_given_field_in_one_event() {
    let f = Fixture::new();
    f.tenant("acme");
    let before = version(&*f.store);
    f.clock.advance(time::Duration::seconds(30));
    let policy = RoutePolicy {
        max_routes: 5,
        allowed_upstream_hosts: vec!["*.example.com".parse().unwrap()],
        ..RoutePolicy::default()
    };
    let limits = TenantLimits {
        max_connections: Some(10),
        requests_per_second: None,
    };
    let updated = f
        .store
        .update_tenant(
            &actor(),
            &tid("acme"),
            &TenantUpdate {
                limits: Some(limits),
                route_policy: Some(policy.clone()),
                egress_address: Some(Some(ip("192.0.2.10"))),
            },
        )
        .unwrap();
    assert_eq!(updated.limits, limits);
    assert_eq!(updated.route_policy, policy);
    assert_eq!(updated.egress_address, Some(ip("192.0.2.10")));
    assert_eq!(
        updated.updated_at,
        crate::START + time::Duration::seconds(30)
    );
    // What it returned is what is stored, in this handle and another.
    assert_eq!(f.store.tenant(&tid("acme")).unwrap(), updated);
    assert_eq!(f.reopen().tenant(&tid("acme")).unwrap(), updated);
    assert_eq!(version(&*f.store), before + 1, "one change, one version");

    let update_events = events(&*f.store, "tenant.update");
    assert_eq!(update_events.len(), 1);
    let details = &update_events[0].details;
    assert_eq!(
        details["changed"],
        json!(["limits", "route_policy", "egress_address"])
    );
    assert_eq!(details["to"]["limits"]["max_connections"], json!(10));
    assert_eq!(details["from"]["limits"]["max_connections"], json!(null));
    assert_eq!(details["to"]["route_policy"]["max_routes"], json!(5));
    assert_eq!(
        details["to"]["route_policy"]["allowed_upstream_hosts"],
        json!(["*.example.com"])
    );
    assert_eq!(details["from"]["egress_address"], json!(null));
    assert_eq!(details["to"]["egress_address"], json!("192.0.2.10"));
    assert_eq!(update_events[0].tenant, Some(tid("acme")));

    // The data plane sees the egress address.
    let snapshot = Store::snapshot(&*f.store).unwrap();
    assert_eq!(
        snapshot.tenant(&tid("acme")).unwrap().egress_address,
        Some(ip("192.0.2.10"))
    );
    f.store.verify_audit().unwrap();
}

pub fn only_changed_fields_are_recorded_and_an_unchanged_update_writes_nothing() {
    let f = Fixture::new();
    f.tenant("acme");
    let v0 = version(&*f.store);
    let same = TenantUpdate {
        limits: Some(TenantLimits::default()),
        route_policy: Some(RoutePolicy::default()),
        egress_address: Some(None),
    };
    let record = f
        .store
        .update_tenant(&actor(), &tid("acme"), &same)
        .unwrap();
    assert_eq!(record, f.store.tenant(&tid("acme")).unwrap());
    let empty = f
        .store
        .update_tenant(&actor(), &tid("acme"), &TenantUpdate::default())
        .unwrap();
    assert_eq!(empty, record);
    assert_eq!(version(&*f.store), v0, "no change, no version bump");
    assert!(events(&*f.store, "tenant.update").is_empty());

    // Same limits, new policy: only the policy is named.
    let policy = RoutePolicy {
        allow_private: true,
        ..RoutePolicy::default()
    };
    f.store
        .update_tenant(
            &actor(),
            &tid("acme"),
            &TenantUpdate {
                route_policy: Some(policy),
                ..same
            },
        )
        .unwrap();
    let update_events = events(&*f.store, "tenant.update");
    assert_eq!(update_events.len(), 1);
    assert_eq!(update_events[0].details["changed"], json!(["route_policy"]));
    assert_eq!(
        update_events[0].details["to"]["route_policy"]["allow_private"],
        json!(true)
    );
    assert!(update_events[0].details["to"].get("limits").is_none());
}

pub fn update_errors_change_nothing() {
    let f = Fixture::new();
    f.tenant("acme");
    let v0 = version(&*f.store);
    let err = f
        .store
        .update_tenant(
            &actor(),
            &tid("ghost"),
            &TenantUpdate {
                limits: Some(TenantLimits::default()),
                ..TenantUpdate::default()
            },
        )
        .unwrap_err();
    assert!(
        matches!(err, RegistryError::UnknownTenant { ref id } if id.as_str() == "ghost"),
        "{err}"
    );

    // An invalid limit refuses the whole update, including the valid policy next to it.
    let err = f
        .store
        .update_tenant(
            &actor(),
            &tid("acme"),
            &TenantUpdate {
                limits: Some(TenantLimits {
                    max_connections: Some(0),
                    requests_per_second: None,
                }),
                route_policy: Some(RoutePolicy {
                    max_routes: 1,
                    ..RoutePolicy::default()
                }),
                egress_address: None,
            },
        )
        .unwrap_err();
    assert!(
        matches!(
            err,
            RegistryError::InvalidLimits {
                field: "max_connections",
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(
        f.store.tenant(&tid("acme")).unwrap().route_policy,
        RoutePolicy::default()
    );
    assert_eq!(version(&*f.store), v0);
    f.store.verify_audit().unwrap();
}

pub fn an_egress_address_belongs_to_one_tenant_at_a_time() {
    let f = Fixture::new();
    f.tenant("acme");
    f.tenant("globex");
    let assign = |tenant: &str, address: Option<IpAddr>| {
        f.store.update_tenant(
            &actor(),
            &tid(tenant),
            &TenantUpdate {
                egress_address: Some(address),
                ..TenantUpdate::default()
            },
        )
    };
    assign("acme", Some(ip("2001:db8::10"))).unwrap();
    let v = version(&*f.store);
    // The same address in another spelling is the same address.
    let err = assign("globex", Some(ip("2001:db8:0:0:0:0:0:10"))).unwrap_err();
    match &err {
        RegistryError::EgressAddressTaken { address, owner } => {
            assert_eq!(*address, ip("2001:db8::10"));
            assert_eq!(owner.as_str(), "acme");
        }
        other => panic!("expected EgressAddressTaken, got {other:?}"),
    }
    assert!(err.to_string().contains("2001:db8::10") && err.to_string().contains("acme"));
    assert_eq!(version(&*f.store), v);
    assert_eq!(f.store.tenant(&tid("globex")).unwrap().egress_address, None);

    // Re-assigning a tenant its own address is no change; the database's unique index
    // backs the check.
    assign("acme", Some(ip("2001:db8::10"))).unwrap();
    assert_eq!(version(&*f.store), v);
    let direct =
        f.db.execute("UPDATE tenants SET egress_address = '2001:db8::10' WHERE id = 'globex'");
    assert!(direct.is_err(), "the unique index refuses a second holder");

    // An IPv4-mapped address is its IPv4 address: stored as such, and taken as such.
    let mapped = assign("globex", Some(ip("::ffff:192.0.2.20"))).unwrap();
    assert_eq!(mapped.egress_address, Some(ip("192.0.2.20")));
    let err = assign("acme", Some(ip("192.0.2.20"))).unwrap_err();
    assert!(
        matches!(err, RegistryError::EgressAddressTaken { .. }),
        "{err}"
    );
    assign("globex", None).unwrap();

    // Once released, the address can move.
    assign("acme", None).unwrap();
    assign("globex", Some(ip("2001:db8::10"))).unwrap();
    assert_eq!(
        f.store.tenant(&tid("globex")).unwrap().egress_address,
        Some(ip("2001:db8::10"))
    );
    assert_eq!(f.store.tenant(&tid("acme")).unwrap().egress_address, None);
    // A deleted tenant releases its address.
    f.store.delete_tenant(&actor(), &tid("globex")).unwrap();
    assign("acme", Some(ip("2001:db8::10"))).unwrap();
    f.store.verify_audit().unwrap();
}

pub fn a_taken_address_refuses_the_whole_update() {
    let f = Fixture::new();
    f.tenant("acme");
    f.tenant("globex");
    f.store
        .update_tenant(
            &actor(),
            &tid("acme"),
            &TenantUpdate {
                egress_address: Some(Some(ip("192.0.2.10"))),
                ..TenantUpdate::default()
            },
        )
        .unwrap();
    let v = version(&*f.store);
    let err = f
        .store
        .update_tenant(
            &actor(),
            &tid("globex"),
            &TenantUpdate {
                limits: Some(TenantLimits {
                    max_connections: Some(5),
                    requests_per_second: None,
                }),
                route_policy: Some(RoutePolicy {
                    max_routes: 1,
                    ..RoutePolicy::default()
                }),
                egress_address: Some(Some(ip("192.0.2.10"))),
            },
        )
        .unwrap_err();
    assert!(
        matches!(err, RegistryError::EgressAddressTaken { .. }),
        "{err}"
    );
    let globex = f.store.tenant(&tid("globex")).unwrap();
    assert_eq!(globex.limits, TenantLimits::default());
    assert_eq!(globex.route_policy, RoutePolicy::default());
    assert_eq!(version(&*f.store), v);
    f.store.verify_audit().unwrap();
}

pub fn the_data_planes_read_only_source_sees_egress_addresses() {
    let f = Fixture::new();
    f.tenant("acme");
    let source = f.db.source();
    assert_eq!(
        source
            .snapshot()
            .unwrap()
            .tenant(&tid("acme"))
            .unwrap()
            .egress_address,
        None
    );
    f.store
        .update_tenant(
            &actor(),
            &tid("acme"),
            &TenantUpdate {
                egress_address: Some(Some(ip("127.0.0.2"))),
                ..TenantUpdate::default()
            },
        )
        .unwrap();
    assert_eq!(source.version().unwrap(), version(&*f.store));
    let snapshot = source.snapshot().unwrap();
    assert_eq!(
        snapshot.tenant(&tid("acme")).unwrap().egress_address,
        Some(ip("127.0.0.2"))
    );
}

pub fn create_tenant_with_settings_is_one_transaction() {
    let f = Fixture::new();
    f.tenant("acme");
    f.store
        .update_tenant(
            &actor(),
            &tid("acme"),
            &TenantUpdate {
                egress_address: Some(Some(ip("192.0.2.10"))),
                ..TenantUpdate::default()
            },
        )
        .unwrap();
    let strict = RoutePolicy {
        max_routes: 3,
        ..RoutePolicy::default()
    };

    // Created with its policy: both events in one commit.
    let v = version(&*f.store);
    let created = f
        .store
        .create_tenant_with(
            &actor(),
            &tid("globex"),
            "Globex",
            TenantLimits::default(),
            &TenantUpdate {
                route_policy: Some(strict.clone()),
                ..TenantUpdate::default()
            },
        )
        .unwrap();
    assert_eq!(created.route_policy, strict);
    assert_eq!(f.store.tenant(&tid("globex")).unwrap().route_policy, strict);
    let after = version(&*f.store);
    assert!(after > v);

    // Settings that fail (an address another tenant holds) leave no tenant behind.
    let err = f
        .store
        .create_tenant_with(
            &actor(),
            &tid("initech"),
            "Initech",
            TenantLimits::default(),
            &TenantUpdate {
                route_policy: Some(strict),
                egress_address: Some(Some(ip("192.0.2.10"))),
                ..TenantUpdate::default()
            },
        )
        .unwrap_err();
    assert!(
        matches!(err, RegistryError::EgressAddressTaken { .. }),
        "{err}"
    );
    assert!(matches!(
        f.store.tenant(&tid("initech")),
        Err(RegistryError::UnknownTenant { .. })
    ));
    assert_eq!(
        version(&*f.store),
        after,
        "nothing of the failed creation was committed"
    );
    f.store.verify_audit().unwrap();
}
