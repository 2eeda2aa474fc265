//! The hash-chained audit log: it verifies, and tampering is caught at the right event.

use std::time::Duration;

use mtls_identity::RevocationReason;
use mtls_registry::{AuditFilter, GENESIS_HASH, RegistryError, TenantStatus};

use crate::{Fixture, actor, tcp_route, tid};

/// A registry with a few dozen events of every kind.
fn busy_registry() -> Fixture {
    let f = Fixture::new();
    for i in 0..5 {
        let id = format!("tenant-{i}");
        f.tenant(&id);
        f.clock.advance(time::Duration::seconds(1));
        let cert = f.cert(&id);
        f.store
            .add_route(&actor(), &tid(&id), tcp_route(&format!("db.{id}.test")))
            .unwrap();
        let (secret, _) = f
            .store
            .create_enrollment_token(&actor(), &tid(&id), Duration::from_secs(600))
            .unwrap();
        f.store
            .redeem_enrollment_token(&actor(), secret.expose(), &mut crate::issue_ok())
            .unwrap();
        if i % 2 == 0 {
            f.store
                .revoke_certificate(&actor(), &cert.serial, RevocationReason::Superseded)
                .unwrap();
            f.store
                .set_tenant_status(&actor(), &tid(&id), TenantStatus::Suspended)
                .unwrap();
        }
    }
    f.store.delete_tenant(&actor(), &tid("tenant-4")).unwrap();
    f
}

fn broken_at(f: &Fixture) -> (u64, String) {
    match f.store.verify_audit() {
        Err(RegistryError::AuditChainBroken { seq, problem }) => (seq, problem),
        other => panic!("expected a broken chain, got {other:?}"),
    }
}

fn untrigger(f: &Fixture) {
    f.db.drop_audit_guard();
}

pub fn chain_verifies_after_many_operations() {
    let f = busy_registry();
    let report = f.store.verify_audit().unwrap();
    let events = f.store.audit_events(&AuditFilter::default()).unwrap();
    assert_eq!(report.events, events.len() as u64);
    assert_eq!(report.events, f.store.version().unwrap());
    assert_eq!(report.head_hash, events.last().unwrap().hash);
    assert_eq!(events[0].prev_hash, GENESIS_HASH);
    for pair in events.windows(2) {
        assert_eq!(pair[1].prev_hash, pair[0].hash);
        assert_eq!(pair[1].seq, pair[0].seq + 1);
    }
    for e in &events {
        assert_eq!(e.compute_hash(), e.hash);
    }
    // A second handle verifies the same chain.
    assert_eq!(f.reopen().verify_audit().unwrap(), report);
}

pub fn edited_details_are_caught() {
    let f = busy_registry();
    untrigger(&f);
    f.sql("UPDATE audit_events SET details = replace(details, 'Tenant tenant-0', 'Evil') WHERE seq = 2");
    let (seq, problem) = broken_at(&f);
    assert_eq!(seq, 2);
    assert!(problem.contains("altered"), "{problem}");
}

pub fn edited_actor_is_caught() {
    let f = busy_registry();
    untrigger(&f);
    f.sql("UPDATE audit_events SET actor = 'cli:mallory' WHERE seq = 7");
    assert_eq!(broken_at(&f).0, 7);
}

pub fn unparsable_details_are_caught() {
    let f = busy_registry();
    untrigger(&f);
    f.sql("UPDATE audit_events SET details = '{not json' WHERE seq = 4");
    assert_eq!(broken_at(&f).0, 4);
}

pub fn deleted_middle_event_is_caught() {
    let f = busy_registry();
    untrigger(&f);
    f.sql("DELETE FROM audit_events WHERE seq = 5");
    let (seq, problem) = broken_at(&f);
    assert_eq!(seq, 5);
    assert!(problem.contains("missing"), "{problem}");
}

pub fn deleted_last_event_is_caught() {
    let f = busy_registry();
    let last = f.store.verify_audit().unwrap().events;
    untrigger(&f);
    f.sql(&format!("DELETE FROM audit_events WHERE seq = {last}"));
    let (seq, problem) = broken_at(&f);
    assert_eq!(seq, last);
    assert!(problem.contains("missing"), "{problem}");
}

pub fn changed_hash_is_caught() {
    let f = busy_registry();
    untrigger(&f);
    f.sql(&format!(
        "UPDATE audit_events SET hash = '{}' WHERE seq = 3",
        "ab".repeat(32)
    ));
    assert_eq!(broken_at(&f).0, 3);
}

pub fn rewritten_chain_is_caught_by_the_head() {
    // An attacker who edits an event and recomputes every later hash still has to move the
    // head in `meta`; if they don't, the last event is reported.
    let f = busy_registry();
    let last = f.store.verify_audit().unwrap().events;
    untrigger(&f);
    let mut events = f.store.audit_events(&AuditFilter::default()).unwrap();
    events[1].actor = "cli:mallory".into();
    let mut prev = GENESIS_HASH.to_owned();
    for e in &mut events {
        e.prev_hash = prev.clone();
        e.hash = e.compute_hash();
        f.sql(&format!(
            "UPDATE audit_events SET actor = '{}', prev_hash = '{}', hash = '{}' WHERE seq = {}",
            e.actor, e.prev_hash, e.hash, e.seq
        ));
        prev = e.hash.clone();
    }
    let (seq, problem) = broken_at(&f);
    assert_eq!(seq, last);
    assert!(problem.contains("head"), "{problem}");
}

pub fn appended_event_outside_the_api_is_caught() {
    let f = busy_registry();
    let report = f.store.verify_audit().unwrap();
    f.sql(&format!(
        "INSERT INTO audit_events (seq, at, actor, action, tenant, details, prev_hash, hash)
         VALUES ({}, 0, 'cli:mallory', 'tenant.create', NULL, '{{}}', '{}', 'x')",
        report.events + 1,
        report.head_hash
    ));
    assert_eq!(broken_at(&f).0, report.events + 1);
}
