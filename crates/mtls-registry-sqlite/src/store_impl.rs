//! [`Store`] for [`SqliteStore`]: every method is one transaction.

use std::time::Duration;

use mtls_identity::{AdminName, RevocationReason, Serial, TenantId, TrustDomain};
use mtls_route_spec::RouteSpec;
use serde_json::Value;

use crate::error::db;
use crate::routes::AddedBy;
use crate::rows::parse;
use crate::{
    SqliteStore, admin_certs, audit, certs, changes, routes, snapshot, tenant_snapshot, tenants,
    tokens,
};
use mtls_registry::{
    Actor, AdminCertificateRecord, AdminIssueFn, AuditEvent, AuditFilter, AuditReport,
    CertificateRecord, Changes, DeletedTenant, Delta, EnrollmentSecret, IssueFn, Page, PageCursor,
    RegistryError, RenewalRequest, RouteId, RouteRecord, Snapshot, Store, TenantLimits,
    TenantRecord, TenantStatus, TenantUpdate, TokenRecord, validate_audit_action,
};

// === impl SqliteStore ===

impl Store for SqliteStore {
    fn trust_domain(&self) -> Result<TrustDomain, RegistryError> {
        let text: String = self
            .lock()
            .query_row("SELECT trust_domain FROM meta WHERE id = 1", [], |r| {
                r.get(0)
            })
            .map_err(db("read the trust domain"))?;
        parse("meta.trust_domain", text)
    }

    fn create_tenant(
        &self,
        actor: &Actor,
        id: &TenantId,
        display_name: &str,
        limits: TenantLimits,
    ) -> Result<TenantRecord, RegistryError> {
        self.write("create a tenant", |w| {
            tenants::create(w, actor, id, display_name, limits)
        })
    }

    fn create_tenant_with(
        &self,
        actor: &Actor,
        id: &TenantId,
        display_name: &str,
        limits: TenantLimits,
        settings: &mtls_registry::TenantUpdate,
    ) -> Result<TenantRecord, RegistryError> {
        self.write("create a tenant", |w| {
            let created = tenants::create(w, actor, id, display_name, limits)?;
            if *settings == mtls_registry::TenantUpdate::default() {
                return Ok(created);
            }
            tenants::update(w, actor, id, settings)
        })
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

    fn set_tenant_status(
        &self,
        actor: &Actor,
        id: &TenantId,
        status: TenantStatus,
    ) -> Result<TenantRecord, RegistryError> {
        self.write("change a tenant's status", |w| {
            tenants::set_status(w, actor, id, status)
        })
    }

    fn set_tenant_limits(
        &self,
        actor: &Actor,
        id: &TenantId,
        limits: TenantLimits,
    ) -> Result<TenantRecord, RegistryError> {
        self.write("change a tenant's limits", |w| {
            tenants::set_limits(w, actor, id, limits)
        })
    }

    fn delete_tenant(&self, actor: &Actor, id: &TenantId) -> Result<DeletedTenant, RegistryError> {
        self.write("delete a tenant", |w| tenants::delete(w, actor, id))
    }

    fn record_certificate(
        &self,
        actor: &Actor,
        tenant: &TenantId,
        issue: &mut IssueFn<'_>,
    ) -> Result<CertificateRecord, RegistryError> {
        self.write("record a certificate", |w| {
            certs::record(w, actor, tenant, issue)
        })
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

    fn revoke_certificate(
        &self,
        actor: &Actor,
        serial: &Serial,
        reason: RevocationReason,
    ) -> Result<CertificateRecord, RegistryError> {
        self.write("revoke a certificate", |w| {
            certs::revoke(w, actor, serial, reason)
        })
    }

    fn revoked_certificates(&self) -> Result<Vec<CertificateRecord>, RegistryError> {
        certs::revoked(&self.lock())
    }

    fn add_route(
        &self,
        actor: &Actor,
        tenant: &TenantId,
        spec: RouteSpec,
    ) -> Result<RouteRecord, RegistryError> {
        self.write("add a route", |w| {
            routes::add(w, actor, tenant, spec, AddedBy::Admin)
        })
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

    fn remove_route(&self, actor: &Actor, id: &RouteId) -> Result<RouteRecord, RegistryError> {
        self.write("remove a route", |w| routes::remove(w, actor, id))
    }

    fn create_enrollment_token(
        &self,
        actor: &Actor,
        tenant: &TenantId,
        ttl: Duration,
    ) -> Result<(EnrollmentSecret, TokenRecord), RegistryError> {
        self.write("create an enrollment token", |w| {
            tokens::create(w, actor, tenant, ttl)
        })
    }

    fn tokens(&self, tenant: Option<&TenantId>) -> Result<Vec<TokenRecord>, RegistryError> {
        tokens::list(&self.lock(), tenant)
    }

    fn redeem_enrollment_token(
        &self,
        actor: &Actor,
        secret: &str,
        issue: &mut IssueFn<'_>,
    ) -> Result<CertificateRecord, RegistryError> {
        self.write("redeem an enrollment token", |w| {
            tokens::redeem(w, actor, secret, issue)
        })
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

    fn update_tenant(
        &self,
        actor: &Actor,
        id: &TenantId,
        update: &TenantUpdate,
    ) -> Result<TenantRecord, RegistryError> {
        self.write("update a tenant", |w| tenants::update(w, actor, id, update))
    }

    fn add_tenant_route(
        &self,
        actor: &Actor,
        tenant: &TenantId,
        spec: RouteSpec,
    ) -> Result<RouteRecord, RegistryError> {
        self.write("add a tenant's own route", |w| {
            routes::add(w, actor, tenant, spec, AddedBy::Tenant)
        })
    }

    fn renew_certificate(
        &self,
        actor: &Actor,
        request: &RenewalRequest,
        issue: &mut IssueFn<'_>,
    ) -> Result<CertificateRecord, RegistryError> {
        self.write("renew a certificate", |w| {
            certs::renew(w, actor, request, issue)
        })
    }

    fn record_admin_certificate(
        &self,
        actor: &Actor,
        admin: &AdminName,
        issue: &mut AdminIssueFn<'_>,
    ) -> Result<AdminCertificateRecord, RegistryError> {
        self.write("record an admin certificate", |w| {
            admin_certs::record(w, actor, admin, issue)
        })
    }

    fn admin_certificate(&self, serial: &Serial) -> Result<AdminCertificateRecord, RegistryError> {
        admin_certs::get(&self.lock(), serial)
    }

    fn admin_certificates(&self) -> Result<Vec<AdminCertificateRecord>, RegistryError> {
        admin_certs::list(&self.lock())
    }

    fn revoke_admin_certificate(
        &self,
        actor: &Actor,
        serial: &Serial,
        reason: RevocationReason,
    ) -> Result<AdminCertificateRecord, RegistryError> {
        self.write("revoke an admin certificate", |w| {
            admin_certs::revoke(w, actor, serial, reason)
        })
    }

    fn append_audit_event(
        &self,
        actor: &Actor,
        action: &str,
        tenant: Option<&TenantId>,
        details: Value,
    ) -> Result<AuditEvent, RegistryError> {
        validate_audit_action(action)?;
        self.write("append an audit event", |w| {
            w.audit_without_change(actor, action, tenant, details)
        })
    }
}
