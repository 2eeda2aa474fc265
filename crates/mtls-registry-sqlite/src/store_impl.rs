//! [`Store`] for [`SqliteStore`]: every method is one transaction.

use mtls_identity::{Serial, TenantId, TrustDomain};

use crate::error::db;
use crate::rows::parse;
use crate::{
    SqliteStore, admin_certs, audit, certs, changes, routes, snapshot, tenant_snapshot, tenants,
    tokens,
};
use mtls_registry::{
    AdminCertificateRecord, AuditEvent, AuditFilter, AuditReport, CertificateRecord, Changes,
    Delta, Page, PageCursor, RegistryError, RouteRecord, Snapshot, Store, TenantRecord,
    TokenRecord,
};

// === impl SqliteStore ===

impl Store for SqliteStore {
    // Every change: mtls_registry::backend's, over this backend's WriteRows.
    mtls_registry::store_writes!();

    fn trust_domain(&self) -> Result<TrustDomain, RegistryError> {
        let text: String = self
            .lock()
            .query_row("SELECT trust_domain FROM meta WHERE id = 1", [], |r| {
                r.get(0)
            })
            .map_err(db("read the trust domain"))?;
        parse("meta.trust_domain", text)
    }

    fn tenant(&self, id: &TenantId) -> Result<TenantRecord, RegistryError> {
        tenants::get(&self.lock(), id)
    }

    fn tenants(&self) -> Result<Vec<TenantRecord>, RegistryError> {
        tenants::list(&self.lock())
    }

    fn tenants_page(
        &self,
        after: Option<&PageCursor>,
        limit: usize,
    ) -> Result<Page<TenantRecord>, RegistryError> {
        tenants::page(&self.lock(), after, limit)
    }

    fn certificate(&self, serial: &Serial) -> Result<CertificateRecord, RegistryError> {
        certs::get(&self.lock(), serial)
    }

    fn certificates(
        &self,
        tenant: Option<&TenantId>,
    ) -> Result<Vec<CertificateRecord>, RegistryError> {
        certs::list(&self.lock(), tenant)
    }

    fn certificates_page(
        &self,
        tenant: Option<&TenantId>,
        after: Option<&PageCursor>,
        limit: usize,
    ) -> Result<Page<CertificateRecord>, RegistryError> {
        certs::page(&self.lock(), tenant, after, limit)
    }

    fn revoked_certificates(&self) -> Result<Vec<CertificateRecord>, RegistryError> {
        certs::revoked(&self.lock())
    }

    fn routes(&self, tenant: Option<&TenantId>) -> Result<Vec<RouteRecord>, RegistryError> {
        routes::list(&self.lock(), tenant)
    }

    fn routes_page(
        &self,
        tenant: Option<&TenantId>,
        after: Option<&PageCursor>,
        limit: usize,
    ) -> Result<Page<RouteRecord>, RegistryError> {
        routes::page(&self.lock(), tenant, after, limit)
    }

    fn tokens(&self, tenant: Option<&TenantId>) -> Result<Vec<TokenRecord>, RegistryError> {
        tokens::list(&self.lock(), tenant)
    }

    fn audit_events(&self, filter: &AuditFilter) -> Result<Vec<AuditEvent>, RegistryError> {
        audit::list(&self.lock(), filter)
    }

    fn audit_page(
        &self,
        filter: &AuditFilter,
        after: Option<&PageCursor>,
        limit: usize,
    ) -> Result<Page<AuditEvent>, RegistryError> {
        audit::page(&self.lock(), filter, after, limit)
    }

    fn verify_audit(&self) -> Result<AuditReport, RegistryError> {
        self.read("verify the audit log", audit::verify)
    }

    fn snapshot(&self) -> Result<Snapshot, RegistryError> {
        self.read("build a snapshot", snapshot::build)
    }

    fn tenant_snapshot(
        &self,
        tenant: &TenantId,
        serial: Option<&Serial>,
    ) -> Result<Snapshot, RegistryError> {
        self.read("build a tenant's snapshot", |conn| {
            tenant_snapshot::build(conn, tenant, serial)
        })
    }

    fn version(&self) -> Result<u64, RegistryError> {
        let conn = self.lock();
        // Cached statement: this is the poll the data plane runs every tick.
        let mut stmt = conn
            .prepare_cached("SELECT version FROM meta WHERE id = 1")
            .map_err(db("read the registry version"))?;
        stmt.query_row([], |r| r.get::<_, i64>(0))
            .map(|v| v.max(0) as u64)
            .map_err(db("read the registry version"))
    }

    fn changes_since(&self, version: u64, limit: usize) -> Result<Changes, RegistryError> {
        self.read("list the changes since a version", |conn| {
            changes::since(conn, version, limit)
        })
    }

    fn delta_since(&self, version: u64) -> Result<Delta, RegistryError> {
        self.read("read the changes since a version", |conn| {
            changes::delta_since(conn, version)
        })
    }

    fn admin_certificate(&self, serial: &Serial) -> Result<AdminCertificateRecord, RegistryError> {
        admin_certs::get(&self.lock(), serial)
    }

    fn admin_certificates(&self) -> Result<Vec<AdminCertificateRecord>, RegistryError> {
        admin_certs::list(&self.lock())
    }
}
