//! `append_audit_event`: chained events that record no change and bump no version.

use mtls_registry::{AuditFilter, RegistryError, Store};
use serde_json::json;

use crate::{Fixture, actor, tid, version};

pub fn appended_events_are_chained_but_do_not_bump_the_version() {
    let f = Fixture::new();
    f.tenant("acme");
    let v = version(&*f.store);
    let other = f.reopen();
    let before = other.verify_audit().unwrap().head_hash;
    let event = f
        .store
        .append_audit_event(
            &actor(),
            "api.tenant.read",
            Some(&tid("acme")),
            json!({ "path": "/v1/tenants/acme" }),
        )
        .unwrap();
    assert_eq!(version(&*f.store), v, "a read is no registry change");
    assert_eq!(Store::snapshot(&*f.store).unwrap().version(), v);
    let refused = f
        .store
        .append_audit_event(
            &actor(),
            "api.refused",
            None,
            json!({ "code": "forbidden" }),
        )
        .unwrap();
    assert_eq!(refused.seq, event.seq + 1);
    assert_eq!(refused.prev_hash, event.hash);
    assert_eq!(version(&*f.store), v);

    // What it returned is what is stored, and it verifies as part of the chain.
    let all = f.store.audit_events(&AuditFilter::default()).unwrap();
    assert_eq!(all[all.len() - 2..], [event.clone(), refused.clone()]);
    assert_eq!(event.compute_hash(), event.hash);
    let report = f.store.verify_audit().unwrap();
    assert_eq!(report.head_hash, refused.hash);
    // The tenant filter finds it.
    let acme = f
        .store
        .audit_events(&AuditFilter {
            tenant: Some(tid("acme")),
            ..AuditFilter::default()
        })
        .unwrap();
    assert_eq!(acme.last(), Some(&event));
    // Another handle sees the commit (the head moved), though the version did not.
    let seen = other.verify_audit().unwrap();
    assert_ne!(seen.head_hash, before);
    assert_eq!(seen.head_hash, refused.hash);
    assert_eq!(version(&*other), v);

    // A real change after it continues the chain and bumps the version once.
    f.tenant("globex");
    assert_eq!(version(&*f.store), v + 1);
    f.store.verify_audit().unwrap();
}

pub fn invalid_action_names_are_refused_before_anything_is_written() {
    let f = Fixture::new();
    let head = f.store.verify_audit().unwrap().head_hash;
    let long = "a".repeat(65);
    for (action, reason) in [
        ("", "empty"),
        (long.as_str(), "longer than 64"),
        ("Tenant.Read", "only a-z"),
        ("api read", "only a-z"),
        ("api/read", "only a-z"),
        ("api.réad", "only a-z"),
    ] {
        let err = f
            .store
            .append_audit_event(&actor(), action, None, json!({}))
            .unwrap_err();
        match &err {
            RegistryError::InvalidAuditAction {
                action: a,
                reason: r,
            } => {
                assert_eq!(a, action);
                assert!(r.contains(reason), "{action:?}: {r}");
            }
            other => panic!("{action:?}: expected InvalidAuditAction, got {other:?}"),
        }
    }
    assert_eq!(f.store.verify_audit().unwrap().head_hash, head);
    // The longest and the widest valid names are fine.
    let max = "z".repeat(64);
    f.store
        .append_audit_event(&actor(), &max, None, json!({}))
        .unwrap();
    f.store
        .append_audit_event(&actor(), "a-z_0.9", None, json!({}))
        .unwrap();
    f.store.verify_audit().unwrap();
}
