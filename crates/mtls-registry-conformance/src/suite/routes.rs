//! Routes: behaviour and every error path.

use mtls_registry::{AuditFilter, RegistryError, RouteId};
use mtls_route_spec::{HostPattern, HttpRoute, RouteSpec};

use crate::{Fixture, actor, http_route, tid};

pub fn routes_add_list_remove_and_conflicts() {
    let f = Fixture::new();
    f.tenant("acme");
    f.tenant("beta");
    let r1 = f
        .store
        .add_route(&actor(), &tid("acme"), http_route("api.acme.test", "/v1"))
        .unwrap();
    assert!(r1.id.as_str().starts_with("r-") && r1.id.as_str().len() == 18);
    assert_eq!(r1.id.to_string().parse::<RouteId>().unwrap(), r1.id);
    let r2 = f
        .store
        .add_route(&actor(), &tid("acme"), http_route("api.acme.test", "/v2"))
        .unwrap();

    // Same host and prefix in the same tenant: conflict naming the existing route.
    let err = f
        .store
        .add_route(&actor(), &tid("acme"), http_route("api.acme.test", "/v1"))
        .unwrap_err();
    assert!(
        matches!(&err, RegistryError::RouteConflict { tenant, existing } if tenant.as_str() == "acme" && *existing == r1.id),
        "{err:?}"
    );
    // Another tenant may use the very same spec: tables are per tenant.
    let r3 = f
        .store
        .add_route(&actor(), &tid("beta"), http_route("api.acme.test", "/v1"))
        .unwrap();

    let invalid = RouteSpec::from(HttpRoute::new(
        "api.acme.test".parse::<HostPattern>().unwrap(),
        vec![],
    ));
    let err = f
        .store
        .add_route(&actor(), &tid("acme"), invalid)
        .unwrap_err();
    assert!(
        matches!(&err, RegistryError::InvalidRoute { tenant, .. } if tenant.as_str() == "acme"),
        "{err:?}"
    );
    assert!(std::error::Error::source(&err).is_some());

    // A non-public upstream literal needs allow_private when the route is added.
    let private = RouteSpec::from(HttpRoute::new(
        "private.acme.test".parse::<HostPattern>().unwrap(),
        vec!["http://127.0.0.1:8080".parse().unwrap()],
    ));
    let err = f
        .store
        .add_route(&actor(), &tid("acme"), private)
        .unwrap_err();
    match &err {
        RegistryError::InvalidRoute { source, .. } => assert!(
            source.to_string().contains("loopback (127.0.0.0/8)"),
            "{source}"
        ),
        other => panic!("unexpected {other:?}"),
    }

    assert_eq!(
        f.store.routes(Some(&tid("acme"))).unwrap(),
        [r1.clone(), r2.clone()]
    );
    assert_eq!(
        f.store.routes(None).unwrap(),
        [r1.clone(), r2.clone(), r3.clone()]
    );

    let removed = f.store.remove_route(&actor(), &r1.id).unwrap();
    assert_eq!(removed, r1);
    let err = f.store.remove_route(&actor(), &r1.id).unwrap_err();
    assert!(
        matches!(&err, RegistryError::UnknownRoute { id } if *id == r1.id),
        "{err:?}"
    );
    // With r1 gone the spec is free again.
    f.store
        .add_route(&actor(), &tid("acme"), http_route("api.acme.test", "/v1"))
        .unwrap();

    let ev = f
        .store
        .audit_events(&AuditFilter {
            limit: Some(2),
            ..AuditFilter::default()
        })
        .unwrap();
    assert_eq!(ev.len(), 2);
    assert_eq!(ev[0].action, "route.remove");
    assert_eq!(ev[0].details["route"], r1.id.as_str());
    assert_eq!(ev[1].action, "route.add");
    assert_eq!(ev[1].details["kind"], "http");
}

pub fn route_ids_parse_strictly() {
    for bad in [
        "",
        "r-",
        "r-0123456789abcde",
        "r-0123456789ABCDEF",
        "x-0123456789abcdef",
        "r-0123456789abcdef0",
    ] {
        assert!(bad.parse::<RouteId>().is_err(), "{bad:?}");
    }
    assert!("r-0123456789abcdef".parse::<RouteId>().is_ok());
}
