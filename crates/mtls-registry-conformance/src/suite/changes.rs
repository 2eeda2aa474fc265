//! The change log: `changes_since` lists every committed change once, in version order,
//! with its tenant and kind; reads that change nothing are not in it; pages concatenate
//! to the whole list; what the log cannot answer is a gap.

use std::time::Duration;

use mtls_identity::RevocationReason;
use mtls_registry::{
    Change, ChangeKind, Changes, Delta, MAX_CHANGES_PER_READ, SnapshotSource, Store, TenantStatus,
};

use crate::{Fixture, actor, http_route, tid};

fn listed(changes: Changes) -> Vec<Change> {
    match changes {
        Changes::Listed(list) => list,
        Changes::Gap { version } => panic!("a gap at version {version}, expected a list"),
    }
}

/// A registry with one change of each data-plane kind for tenant acme.
fn busy_fixture() -> Fixture {
    let f = Fixture::new();
    f.tenant("acme");
    let cert = f.cert("acme");
    let route = f
        .store
        .add_route(&actor(), &tid("acme"), http_route("acme.test", "/"))
        .unwrap();
    f.store
        .create_enrollment_token(&actor(), &tid("acme"), Duration::from_secs(3600))
        .unwrap();
    f.store
        .set_tenant_status(&actor(), &tid("acme"), TenantStatus::Suspended)
        .unwrap();
    f.store
        .revoke_certificate(&actor(), &cert.serial, RevocationReason::KeyCompromise)
        .unwrap();
    f.store.remove_route(&actor(), &route.id).unwrap();
    f
}

pub fn every_change_is_listed_once_in_order_with_its_tenant_and_kind() {
    let f = busy_fixture();
    let version = Store::version(&*f.store).unwrap();
    let changes = listed(Store::changes_since(&*f.store, 0, MAX_CHANGES_PER_READ).unwrap());
    let versions: Vec<u64> = changes.iter().map(|c| c.version).collect();
    assert_eq!(versions, (1..=version).collect::<Vec<_>>());
    let kinds: Vec<&ChangeKind> = changes.iter().map(|c| &c.kind).collect();
    assert_eq!(
        kinds,
        [
            &ChangeKind::RegistryCreated,
            &ChangeKind::TenantCreated,
            &ChangeKind::CertificateIssued,
            &ChangeKind::RouteAdded,
            &ChangeKind::TokenCreated,
            &ChangeKind::TenantSuspended,
            &ChangeKind::CertificateRevoked,
            &ChangeKind::RouteRemoved,
        ]
    );
    assert_eq!(
        changes[0].tenant, None,
        "the registry's creation is nobody's"
    );
    assert!(changes[1..].iter().all(|c| c.tenant == Some(tid("acme"))));
    // The revocation names its certificate: the data plane can add one serial.
    let revoked = f.store.revoked_certificates().unwrap();
    assert!(
        changes[6]
            .details
            .to_string()
            .contains(revoked[0].serial.to_string().as_str()),
        "{:?}",
        changes[6].details
    );
    // Only the token is nothing the data plane serves.
    let unaffected: Vec<&ChangeKind> = changes
        .iter()
        .map(|c| &c.kind)
        .filter(|k| !k.affects_data_plane())
        .collect();
    assert_eq!(unaffected, [&ChangeKind::TokenCreated]);
}

pub fn a_read_that_changes_nothing_is_not_a_change() {
    let f = busy_fixture();
    let version = Store::version(&*f.store).unwrap();
    f.store
        .append_audit_event(
            &actor(),
            "api.read",
            Some(&tid("acme")),
            serde_json::json!({}),
        )
        .unwrap();
    assert_eq!(Store::version(&*f.store).unwrap(), version);
    assert_eq!(
        Store::changes_since(&*f.store, version, 10).unwrap(),
        Changes::Listed(Vec::new())
    );
    // The next change follows without a hole.
    f.tenant("beta");
    let next = listed(Store::changes_since(&*f.store, version, 10).unwrap());
    assert_eq!(next.len(), 1);
    assert_eq!(
        (next[0].version, &next[0].kind, next[0].tenant.as_ref()),
        (version + 1, &ChangeKind::TenantCreated, Some(&tid("beta")))
    );
}

pub fn pages_concatenate_to_the_whole_list() {
    let f = busy_fixture();
    let whole = listed(Store::changes_since(&*f.store, 0, MAX_CHANGES_PER_READ).unwrap());
    let mut paged = Vec::new();
    let mut at = 0;
    loop {
        let page = listed(Store::changes_since(&*f.store, at, 3).unwrap());
        assert!(page.len() <= 3);
        let Some(last) = page.last() else { break };
        at = last.version;
        paged.extend(page);
    }
    assert_eq!(paged, whole);
    // A limit of 0 still makes progress (one change).
    assert_eq!(
        listed(Store::changes_since(&*f.store, 0, 0).unwrap()).len(),
        1
    );
}

pub fn a_version_the_registry_never_had_is_a_gap() {
    let f = busy_fixture();
    let version = Store::version(&*f.store).unwrap();
    assert_eq!(
        Store::changes_since(&*f.store, version + 5, 10).unwrap(),
        Changes::Gap { version }
    );
}

pub fn a_log_with_a_hole_is_a_gap() {
    let f = busy_fixture();
    let version = Store::version(&*f.store).unwrap();
    // Someone with database access clears one event's version (an UPDATE through the
    // append-only trigger is refused, so drop the trigger first, as an attacker could).
    f.db.drop_audit_guard();
    f.sql("UPDATE audit_events SET version = NULL WHERE version = 4");
    assert_eq!(
        Store::changes_since(&*f.store, 2, 10).unwrap(),
        Changes::Gap { version }
    );
    // After the hole the log still answers.
    assert_eq!(
        listed(Store::changes_since(&*f.store, 4, 10).unwrap()).len(),
        4
    );
}

pub fn the_data_plane_source_lists_what_the_store_lists() {
    let f = busy_fixture();
    let source = f.db.source();
    for since in 0..=SnapshotSource::version(&*source).unwrap() {
        assert_eq!(
            SnapshotSource::changes_since(&*source, since, 4).unwrap(),
            Store::changes_since(&*f.store, since, 4).unwrap(),
            "since {since}"
        );
    }
}

/// A delta from any version of the busy registry, applied to the snapshot at that version,
/// is the snapshot now; through the data plane's source too.
pub fn a_delta_from_any_version_brings_that_snapshot_up_to_date() {
    let f = Fixture::new();
    let mut snapshots = vec![Store::snapshot(&*f.store).unwrap()];
    f.tenant("acme");
    snapshots.push(Store::snapshot(&*f.store).unwrap());
    f.tenant("beta");
    let acme_cert = f.cert("acme");
    f.cert("beta");
    let route = f
        .store
        .add_route(&actor(), &tid("beta"), http_route("beta.test", "/"))
        .unwrap();
    snapshots.push(Store::snapshot(&*f.store).unwrap());
    f.store
        .revoke_certificate(&actor(), &acme_cert.serial, RevocationReason::KeyCompromise)
        .unwrap();
    f.store
        .set_tenant_status(&actor(), &tid("beta"), TenantStatus::Suspended)
        .unwrap();
    f.store.remove_route(&actor(), &route.id).unwrap();
    snapshots.push(Store::snapshot(&*f.store).unwrap());
    f.store.delete_tenant(&actor(), &tid("acme")).unwrap();
    let now = Store::snapshot(&*f.store).unwrap();
    let source = f.db.source();
    for old in snapshots {
        for delta in [
            Store::delta_since(&*f.store, old.version()).unwrap(),
            SnapshotSource::delta_since(&*source, old.version()).unwrap(),
        ] {
            let Delta::Tenants {
                version, tenants, ..
            } = delta
            else {
                panic!("a gap from version {}", old.version());
            };
            assert_eq!(version, now.version());
            let mut applied = old.clone();
            applied.apply(version, tenants);
            assert_eq!(applied, now, "from version {}", old.version());
        }
    }
    assert!(now.tenant(&tid("acme")).is_none());
}

/// Tokens are listed in a delta but touch no tenant; the current version gives an empty
/// delta; a version the registry never had is a gap.
pub fn a_delta_of_tokens_touches_no_tenant_and_a_foreign_version_is_a_gap() {
    let f = Fixture::new();
    f.tenant("acme");
    let before = Store::version(&*f.store).unwrap();
    f.store
        .create_enrollment_token(&actor(), &tid("acme"), Duration::from_secs(3600))
        .unwrap();
    let version = Store::version(&*f.store).unwrap();
    let Delta::Tenants {
        changes, tenants, ..
    } = Store::delta_since(&*f.store, before).unwrap()
    else {
        panic!("a gap after a token")
    };
    assert_eq!(changes.len(), 1);
    assert_eq!(changes[0].kind, ChangeKind::TokenCreated);
    assert!(tenants.is_empty());
    assert_eq!(
        Store::delta_since(&*f.store, version).unwrap(),
        Delta::Tenants {
            version,
            changes: Vec::new(),
            tenants: Vec::new()
        }
    );
    assert_eq!(
        Store::delta_since(&*f.store, version + 3).unwrap(),
        Delta::Gap { version }
    );
}
