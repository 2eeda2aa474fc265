//! [`Store`] for [`PostgresStore`]: every change is one write transaction under the
//! registry's write lock, every multi-statement read one REPEATABLE READ transaction.

use std::time::Duration;

use mtls_identity::{AdminName, RevocationReason, Serial, TenantId, TrustDomain};
use mtls_route_spec::RouteSpec;
use serde_json::Value;

use crate::routes::AddedBy;
use crate::{PostgresStore, admin_certs, audit, certs, routes, snapshot, tenants, tokens};
use mtls_registry::{
    Actor, AdminCertificateRecord, AdminIssueFn, AuditEvent, AuditFilter, AuditReport,
    CertificateRecord, Changes, DeletedTenant, Delta, EnrollmentSecret, IssueFn, Page, PageCursor,
    RegistryError, RenewalRequest, RouteId, RouteRecord, Snapshot, Store, TenantLimits,
    TenantRecord, TenantStatus, TenantUpdate, TokenRecord, validate_audit_action,
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
    fn trust_domain(&self) -> Result<TrustDomain, RegistryError> {
        self.one("read the trust domain", snapshot::trust_domain)
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
        settings: &TenantUpdate,
    ) -> Result<TenantRecord, RegistryError> {
        self.write("create a tenant", |w| {
            let created = tenants::create(w, actor, id, display_name, limits)?;
            if *settings == TenantUpdate::default() {
                return Ok(created);
            }
            tenants::update(w, actor, id, settings)
        })
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

    fn update_tenant(
        &self,
        actor: &Actor,
        id: &TenantId,
        update: &TenantUpdate,
    ) -> Result<TenantRecord, RegistryError> {
        self.write("update a tenant", |w| tenants::update(w, actor, id, update))
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
        self.one("read an admin certificate", |c| admin_certs::get(c, serial))
    }

    fn admin_certificates(&self) -> Result<Vec<AdminCertificateRecord>, RegistryError> {
        self.one("list admin certificates", admin_certs::list)
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
        self.one("list revoked certificates", certs::revoked)
    }

    fn add_route(
        &self,
        actor: &Actor,
        tenant: &TenantId,
        spec: RouteSpec,
    ) -> Result<RouteRecord, RegistryError> {
        self.write("add a route", |w| {
            routes::add(w, actor, tenant, &spec, AddedBy::Admin)
        })
    }

    fn add_tenant_route(
        &self,
        actor: &Actor,
        tenant: &TenantId,
        spec: RouteSpec,
    ) -> Result<RouteRecord, RegistryError> {
        self.write("add a tenant's own route", |w| {
            routes::add(w, actor, tenant, &spec, AddedBy::Tenant)
        })
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
        self.one("list enrollment tokens", |c| tokens::list(c, tenant))
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

    fn append_audit_event(
        &self,
        actor: &Actor,
        action: &str,
        tenant: Option<&TenantId>,
        details: Value,
    ) -> Result<AuditEvent, RegistryError> {
        validate_audit_action(action)?;
        self.write("append an audit event", |w| {
            w.audit_without_change(actor, action, tenant, details.clone())
        })
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
