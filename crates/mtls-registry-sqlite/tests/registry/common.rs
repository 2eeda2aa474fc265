//! Shared fixtures.

use std::path::PathBuf;
use std::sync::Arc;

use mtls_identity::{Fingerprint, Serial, TenantId, TrustDomain};
use mtls_registry::{
    Actor, BoxError, CertificateKind, CertificateRecord, ManualClock, NewCertificate, Store,
    TenantLimits, TenantRecord,
};
use mtls_registry_sqlite::SqliteStore;
use mtls_route_spec::RouteSpec;
use time::OffsetDateTime;

/// The fixed start time of every test clock.
pub(crate) const START: OffsetDateTime = time::macros::datetime!(2026-11-02 10:00:00 UTC);

pub(crate) struct Fixture {
    pub(crate) _dir: tempfile::TempDir,
    pub(crate) path: PathBuf,
    pub(crate) store: SqliteStore,
    pub(crate) clock: ManualClock,
}

// === impl Fixture ===

impl Fixture {
    pub(crate) fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("registry.db");
        let clock = ManualClock::new(START);
        let store =
            SqliteStore::create_with_clock(&path, &domain(), &actor(), Arc::new(clock.clone()))
                .unwrap();
        Self {
            _dir: dir,
            path,
            store,
            clock,
        }
    }

    /// A second, independent store on the same file (same clock).
    pub(crate) fn reopen(&self) -> SqliteStore {
        SqliteStore::open_with_clock(&self.path, Arc::new(self.clock.clone())).unwrap()
    }

    /// A raw connection to the file, as an attacker (or a test) with file access has.
    pub(crate) fn raw(&self) -> rusqlite::Connection {
        let conn = rusqlite::Connection::open(&self.path).unwrap();
        conn.busy_timeout(std::time::Duration::from_secs(5))
            .unwrap();
        conn
    }

    pub(crate) fn tenant(&self, id: &str) -> TenantRecord {
        self.store
            .create_tenant(
                &actor(),
                &tid(id),
                &format!("Tenant {id}"),
                TenantLimits::default(),
            )
            .unwrap()
    }

    pub(crate) fn cert(&self, tenant: &str) -> CertificateRecord {
        self.store
            .record_certificate(&actor(), &tid(tenant), &mut issue_ok())
            .unwrap()
    }
}

pub(crate) fn domain() -> TrustDomain {
    "proxy.example.com".parse().unwrap()
}

pub(crate) fn actor() -> Actor {
    Actor::new("cli:test").unwrap()
}

pub(crate) fn tid(id: &str) -> TenantId {
    id.parse().unwrap()
}

pub(crate) fn new_cert(serial: Serial) -> NewCertificate {
    NewCertificate {
        fingerprint: Fingerprint::of_der(serial.as_bytes()),
        serial,
        not_before: START,
        not_after: START + time::Duration::days(90),
        kind: CertificateKind::Client,
    }
}

/// An `issue` callback that "signs" a certificate with a random serial.
pub(crate) fn issue_ok() -> impl FnMut(&TenantRecord) -> Result<NewCertificate, BoxError> {
    |_| Ok(new_cert(Serial::random()))
}

/// An `issue` callback that fails like a CA would.
pub(crate) fn issue_fail() -> impl FnMut(&TenantRecord) -> Result<NewCertificate, BoxError> {
    |tenant| Err(format!("CA key unavailable while signing for {}", tenant.id).into())
}

pub(crate) fn tcp_route(sni: &str) -> RouteSpec {
    serde_json::from_value(serde_json::json!({
        "kind": "tcp",
        "sni": sni,
        "upstreams": ["10.0.0.7:5432"],
        "allow_private": true,
    }))
    .unwrap()
}

pub(crate) fn http_route(host: &str, prefix: &str) -> RouteSpec {
    serde_json::from_value(serde_json::json!({
        "kind": "http",
        "host": host,
        "path_prefix": prefix,
        "upstreams": ["https://10.0.0.5:8443"],
        "allow_private": true,
    }))
    .unwrap()
}

/// A TCP route to a public DNS name: what a tenant may add under the default route policy.
pub(crate) fn public_tcp_route(sni: &str) -> RouteSpec {
    serde_json::from_value(serde_json::json!({
        "kind": "tcp",
        "sni": sni,
        "upstreams": ["db.example.com:5432"],
    }))
    .unwrap()
}

/// The registry version, through the `Store` trait.
pub(crate) fn version(store: &SqliteStore) -> u64 {
    Store::version(store).unwrap()
}

/// Every audit event with `action`.
pub(crate) fn events(store: &SqliteStore, action: &str) -> Vec<mtls_registry::AuditEvent> {
    store
        .audit_events(&mtls_registry::AuditFilter::default())
        .unwrap()
        .into_iter()
        .filter(|e| e.action == action)
        .collect()
}
