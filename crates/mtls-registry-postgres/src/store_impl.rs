//! [`Store`] for [`PostgresStore`]: every change is one write transaction under the
//! registry's write lock, every multi-statement read one REPEATABLE READ transaction.

use mtls_identity::{Serial, TenantId, TrustDomain};

use crate::{PostgresStore, admin_certs, audit, certs, routes, snapshot, tenants, tokens};
use mtls_registry::{
    AdminCertificateRecord, AuditEvent, AuditFilter, AuditReport, CertificateRecord, Changes,
    Delta, Page, PageCursor, RegistryError, RouteRecord, Snapshot, Store, TenantRecord,
    TokenRecord,
};

// === impl PostgresStore ===

impl PostgresStore {
    /// Runs one read on a pooled connection, outside any explicit transaction (a single
    /// statement sees one snapshot by itself).
    fn one<T>(
        &self,
        operation: &'static str,
        f: impl FnOnce(&mut postgres::Client) -> Result<T, RegistryError>,
    ) -> Result<T, RegistryError> {
        f(&mut *self.conn(operation)?)
    }
}

impl Store for PostgresStore {
    // Every change: mtls_registry::backend's, over this backend's WriteRows.
    mtls_registry::store_writes!();

    fn trust_domain(&self) -> Result<TrustDomain, RegistryError> {
        self.one("read the trust domain", snapshot::trust_domain)
    }

    fn tenant(&self, id: &TenantId) -> Result<TenantRecord, RegistryError> {
        self.one("read a tenant", |c| tenants::get(c, id))
    }

    fn tenants(&self) -> Result<Vec<TenantRecord>, RegistryError> {
        self.one("list tenants", tenants::list)
    }

    fn tenants_page(
        &self,
        after: Option<&PageCursor>,
        limit: usize,
    ) -> Result<Page<TenantRecord>, RegistryError> {
        self.one("list a page of tenants", |c| tenants::page(c, after, limit))
    }

    fn certificate(&self, serial: &Serial) -> Result<CertificateRecord, RegistryError> {
        self.one("read a certificate", |c| certs::get(c, serial))
    }

    fn certificates(
        &self,
        tenant: Option<&TenantId>,
    ) -> Result<Vec<CertificateRecord>, RegistryError> {
        self.one("list certificates", |c| certs::list(c, tenant))
    }

    fn certificates_page(
        &self,
        tenant: Option<&TenantId>,
        after: Option<&PageCursor>,
        limit: usize,
    ) -> Result<Page<CertificateRecord>, RegistryError> {
        self.one("list a page of certificates", |c| {
            certs::page(c, tenant, after, limit)
        })
    }

    fn admin_certificate(&self, serial: &Serial) -> Result<AdminCertificateRecord, RegistryError> {
        self.one("read an admin certificate", |c| admin_certs::get(c, serial))
    }

    fn admin_certificates(&self) -> Result<Vec<AdminCertificateRecord>, RegistryError> {
        self.one("list admin certificates", admin_certs::list)
    }

    fn revoked_certificates(&self) -> Result<Vec<CertificateRecord>, RegistryError> {
        self.one("list revoked certificates", certs::revoked)
    }

    fn routes(&self, tenant: Option<&TenantId>) -> Result<Vec<RouteRecord>, RegistryError> {
        self.one("list routes", |c| routes::list(c, tenant))
    }

    fn routes_page(
        &self,
        tenant: Option<&TenantId>,
        after: Option<&PageCursor>,
        limit: usize,
    ) -> Result<Page<RouteRecord>, RegistryError> {
        self.one("list a page of routes", |c| {
            routes::page(c, tenant, after, limit)
        })
    }

    fn tokens(&self, tenant: Option<&TenantId>) -> Result<Vec<TokenRecord>, RegistryError> {
        self.one("list enrollment tokens", |c| tokens::list(c, tenant))
    }

    fn audit_events(&self, filter: &AuditFilter) -> Result<Vec<AuditEvent>, RegistryError> {
        self.one("list audit events", |c| audit::list(c, filter))
    }

    fn audit_page(
        &self,
        filter: &AuditFilter,
        after: Option<&PageCursor>,
        limit: usize,
    ) -> Result<Page<AuditEvent>, RegistryError> {
        self.one("list a page of audit events", |c| {
            audit::page(c, filter, after, limit)
        })
    }

    fn verify_audit(&self) -> Result<AuditReport, RegistryError> {
        self.read("verify the audit log", |tx| audit::verify(tx))
    }

    fn snapshot(&self) -> Result<Snapshot, RegistryError> {
        self.read("build a snapshot", |tx| snapshot::build(tx))
    }

    fn tenant_snapshot(
        &self,
        tenant: &TenantId,
        serial: Option<&Serial>,
    ) -> Result<Snapshot, RegistryError> {
        self.read("build a tenant's snapshot", |tx| {
            snapshot::build_tenant(tx, tenant, serial)
        })
    }

    fn version(&self) -> Result<u64, RegistryError> {
        self.one("read the registry version", snapshot::current_version)
    }

    fn changes_since(&self, version: u64, limit: usize) -> Result<Changes, RegistryError> {
        self.read("list the changes since a version", |tx| {
            snapshot::changes_since(tx, version, limit)
        })
    }

    fn delta_since(&self, version: u64) -> Result<Delta, RegistryError> {
        self.read("read the changes since a version", |tx| {
            snapshot::delta_since(tx, version)
        })
    }
}
