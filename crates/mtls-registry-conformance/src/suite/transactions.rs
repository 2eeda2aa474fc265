//! Atomicity: a failure anywhere in a change leaves nothing behind.

use std::time::Duration;

use mtls_identity::RevocationReason;
use mtls_registry::{
    CertificateRecord, RegistryError, RouteRecord, Store, TenantLimits, TenantRecord, TenantStatus,
    TokenRecord,
};

use crate::{Fixture, actor, issue_fail, issue_ok, tcp_route, tid};

#[derive(Debug, PartialEq)]
struct State {
    tenants: Vec<TenantRecord>,
    routes: Vec<RouteRecord>,
    certs: Vec<CertificateRecord>,
    tokens: Vec<TokenRecord>,
    version: u64,
    events: u64,
}

fn state(store: &dyn Store) -> State {
    State {
        tenants: store.tenants().unwrap(),
        routes: store.routes(None).unwrap(),
        certs: store.certificates(None).unwrap(),
        tokens: store.tokens(None).unwrap(),
        version: store.version().unwrap(),
        events: store.verify_audit().unwrap().events,
    }
}

fn populated() -> (Fixture, CertificateRecord, RouteRecord) {
    let f = Fixture::new();
    f.tenant("acme");
    f.tenant("beta");
    let cert = f.cert("acme");
    f.cert("acme");
    let route = f
        .store
        .add_route(&actor(), &tid("acme"), tcp_route("db.acme.test"))
        .unwrap();
    f.store
        .create_enrollment_token(&actor(), &tid("acme"), Duration::from_secs(600))
        .unwrap();
    (f, cert, route)
}

pub fn failing_issue_records_nothing() {
    let (f, _, _) = populated();
    let before = state(&*f.store);
    let err = f
        .store
        .record_certificate(&actor(), &tid("acme"), &mut issue_fail())
        .unwrap_err();
    assert!(matches!(err, RegistryError::Issue { .. }), "{err:?}");
    assert_eq!(state(&*f.store), before);
}

pub fn panicking_issue_records_nothing_and_the_store_keeps_working() {
    let (f, _, _) = populated();
    let before = state(&*f.store);
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        f.store
            .record_certificate(&actor(), &tid("acme"), &mut |_| panic!("signer crashed"))
    }));
    assert!(result.is_err());
    assert_eq!(state(&*f.store), before);
    f.cert("acme");
}

/// A trigger that fails the audit insert: the last step before commit, after the change.
fn inject_audit_failure(f: &Fixture) {
    f.db.inject_audit_failure(true);
}

fn assert_injected(err: RegistryError) {
    assert!(
        matches!(
            err,
            RegistryError::Database {
                operation: "append an audit event",
                ..
            }
        ),
        "{err:?}"
    );
}

pub fn failure_after_the_change_rolls_everything_back() {
    let (f, cert, route) = populated();
    // A second handle opened before the trigger exists must also see the failure.
    let other = f.reopen();
    inject_audit_failure(&f);
    let before = state(&*f.store);

    assert_injected(f.store.delete_tenant(&actor(), &tid("acme")).unwrap_err());
    assert_injected(
        f.store
            .add_route(&actor(), &tid("beta"), tcp_route("db.beta.test"))
            .unwrap_err(),
    );
    assert_injected(
        f.store
            .revoke_certificate(&actor(), &cert.serial, RevocationReason::KeyCompromise)
            .unwrap_err(),
    );
    assert_injected(f.store.remove_route(&actor(), &route.id).unwrap_err());
    assert_injected(
        f.store
            .create_tenant(&actor(), &tid("gamma"), "Gamma", TenantLimits::default())
            .unwrap_err(),
    );
    assert_injected(
        f.store
            .set_tenant_status(&actor(), &tid("acme"), TenantStatus::Suspended)
            .unwrap_err(),
    );
    assert_injected(
        f.store
            .record_certificate(&actor(), &tid("acme"), &mut issue_ok())
            .unwrap_err(),
    );
    assert_injected(
        f.store
            .create_enrollment_token(&actor(), &tid("acme"), Duration::from_secs(600))
            .unwrap_err(),
    );
    assert_injected(other.delete_tenant(&actor(), &tid("beta")).unwrap_err());

    assert_eq!(state(&*f.store), before);
    assert_eq!(state(&*other), before);

    // Remove the fault: everything works again and the chain is intact.
    f.db.inject_audit_failure(false);
    let deleted = f.store.delete_tenant(&actor(), &tid("acme")).unwrap();
    assert_eq!(deleted.revoked.len(), 2);
    assert_eq!(f.store.version().unwrap(), before.version + 1);
    f.store.verify_audit().unwrap();
}

pub fn failed_redeem_after_issue_leaves_the_token_unused() {
    let f = Fixture::new();
    f.tenant("acme");
    let (secret, token) = f
        .store
        .create_enrollment_token(&actor(), &tid("acme"), Duration::from_secs(600))
        .unwrap();
    inject_audit_failure(&f);
    let before = state(&*f.store);
    let mut issued = 0;
    let err = f
        .store
        .redeem_enrollment_token(&actor(), secret.expose(), &mut |t| {
            issued += 1;
            issue_ok()(t)
        })
        .unwrap_err();
    assert_injected(err);
    assert_eq!(issued, 1);
    assert_eq!(state(&*f.store), before);
    assert!(
        !before
            .tokens
            .iter()
            .find(|t| t.id == token.id)
            .unwrap()
            .is_used()
    );
}

pub fn audit_table_is_append_only_through_sql() {
    let f = Fixture::new();
    f.tenant("acme");
    let err =
        f.db.execute("UPDATE audit_events SET actor = 'mallory'")
            .unwrap_err();
    assert!(err.contains("append-only"), "{err}");
    let err = f.db.execute("DELETE FROM audit_events").unwrap_err();
    assert!(err.contains("append-only"), "{err}");
    f.store.verify_audit().unwrap();
}
