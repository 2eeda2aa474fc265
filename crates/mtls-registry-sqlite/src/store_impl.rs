//! [`Store`] for [`SqliteStore`]: every method is one transaction.

use std::time::Duration;

use mtls_identity::{RevocationReason, Serial, TenantId, TrustDomain};
use mtls_route_spec::RouteSpec;

use crate::error::db;
use crate::rows::parse;
use crate::{SqliteStore, audit, certs, routes, snapshot, tenants, tokens};
use mtls_registry::IssueFn;
use mtls_registry::{
    Actor, AuditEvent, AuditFilter, AuditReport, CertificateRecord, DeletedTenant,
    EnrollmentSecret, RegistryError, RouteId, RouteRecord, Snapshot, Store, TenantLimits,
    TenantRecord, TenantStatus, TokenRecord,
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

    fn tenant(&self, id: &TenantId) -> Result<TenantRecord, RegistryError> {
        tenants::get(&self.lock(), id)
    }

    fn tenants(&self) -> Result<Vec<TenantRecord>, RegistryError> {
        tenants::list(&self.lock())
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
        self.write("add a route", |w| routes::add(w, actor, tenant, spec))
    }

    fn routes(&self, tenant: Option<&TenantId>) -> Result<Vec<RouteRecord>, RegistryError> {
        routes::list(&self.lock(), tenant)
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

    fn verify_audit(&self) -> Result<AuditReport, RegistryError> {
        self.read("verify the audit log", audit::verify)
    }

    fn snapshot(&self) -> Result<Snapshot, RegistryError> {
        self.read("build a snapshot", snapshot::build)
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

    // TEMPORARY (interface stage): the registry helper implements these.
    fn update_tenant(
        &self,
        _actor: &Actor,
        _id: &TenantId,
        _update: &mtls_registry::TenantUpdate,
    ) -> Result<TenantRecord, RegistryError> {
        unimplemented!("update_tenant")
    }

    fn add_tenant_route(
        &self,
        actor: &Actor,
        tenant: &TenantId,
        spec: RouteSpec,
    ) -> Result<RouteRecord, RegistryError> {
        self.add_route(actor, tenant, spec)
    }

    fn renew_certificate(
        &self,
        _actor: &Actor,
        _request: &mtls_registry::RenewalRequest,
        _issue: &mut IssueFn<'_>,
    ) -> Result<CertificateRecord, RegistryError> {
        unimplemented!("renew_certificate")
    }

    fn record_admin_certificate(
        &self,
        _actor: &Actor,
        _admin: &mtls_identity::AdminName,
        _issue: &mut mtls_registry::AdminIssueFn<'_>,
    ) -> Result<mtls_registry::AdminCertificateRecord, RegistryError> {
        unimplemented!("record_admin_certificate")
    }

    fn admin_certificate(
        &self,
        _serial: &Serial,
    ) -> Result<mtls_registry::AdminCertificateRecord, RegistryError> {
        unimplemented!("admin_certificate")
    }

    fn admin_certificates(
        &self,
    ) -> Result<Vec<mtls_registry::AdminCertificateRecord>, RegistryError> {
        unimplemented!("admin_certificates")
    }

    fn revoke_admin_certificate(
        &self,
        _actor: &Actor,
        _serial: &Serial,
        _reason: RevocationReason,
    ) -> Result<mtls_registry::AdminCertificateRecord, RegistryError> {
        unimplemented!("revoke_admin_certificate")
    }

    fn append_audit_event(
        &self,
        _actor: &Actor,
        _action: &str,
        _tenant: Option<&TenantId>,
        _details: serde_json::Value,
    ) -> Result<AuditEvent, RegistryError> {
        unimplemented!("append_audit_event")
    }
}
