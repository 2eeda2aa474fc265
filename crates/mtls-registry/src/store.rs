//! The storage-independent registry interface.

use std::time::Duration;

use mtls_identity::{RevocationReason, Serial, TenantId, TrustDomain};
use mtls_route_spec::RouteSpec;

use mtls_identity::AdminName;
use serde_json::Value;

use crate::{
    Actor, AdminCertificateRecord, AdminIssueFn, AuditEvent, AuditFilter, AuditReport,
    CertificateRecord, Changes, DeletedTenant, EnrollmentSecret, NewCertificate, Page, PageCursor,
    RegistryError, RenewalRequest, RouteId, RouteRecord, Snapshot, TenantLimits, TenantRecord,
    TenantStatus, TenantUpdate, TokenRecord, page,
};

/// The error type `issue` callbacks return.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The callback that signs a certificate inside a registry transaction.
///
/// It receives the (checked, active) tenant, signs the certificate, writes whatever files it
/// must, and returns the facts to record. If it fails, nothing is recorded. It runs while
/// the store holds its write lock: it must not call back into the same store.
pub type IssueFn<'a> = dyn FnMut(&TenantRecord) -> Result<NewCertificate, BoxError> + 'a;

/// The tenant registry: tenants, their certificates, routes and enrollment tokens, and an
/// append-only, hash-chained audit log.
///
/// Every mutating method is atomic: the change, the version bump and its audit event are
/// committed together or not at all. The trait is object safe, so the data plane and the
/// CLI can hold a `Box<dyn Store>` / `Arc<dyn Store>` whatever the backend.
pub trait Store: Send + Sync {
    /// The trust domain the registry was created for.
    fn trust_domain(&self) -> Result<TrustDomain, RegistryError>;

    /// Creates an active tenant. Errors: [`DuplicateTenant`](RegistryError::DuplicateTenant),
    /// [`InvalidDisplayName`](RegistryError::InvalidDisplayName) (1..=64 characters, no
    /// control characters), [`InvalidLimits`](RegistryError::InvalidLimits).
    fn create_tenant(
        &self,
        actor: &Actor,
        id: &TenantId,
        display_name: &str,
        limits: TenantLimits,
    ) -> Result<TenantRecord, RegistryError>;

    /// Creates an active tenant with these settings in one transaction: the tenant as
    /// [`create_tenant`](Self::create_tenant) does, then the [`TenantUpdate`] (route policy,
    /// egress address, limits) as [`update_tenant`](Self::update_tenant) does — both events,
    /// or neither and no tenant. Errors: those of both.
    fn create_tenant_with(
        &self,
        actor: &Actor,
        id: &TenantId,
        display_name: &str,
        limits: TenantLimits,
        settings: &TenantUpdate,
    ) -> Result<TenantRecord, RegistryError>;

    /// One tenant, or [`UnknownTenant`](RegistryError::UnknownTenant).
    fn tenant(&self, id: &TenantId) -> Result<TenantRecord, RegistryError>;

    /// All tenants, ordered by id.
    fn tenants(&self) -> Result<Vec<TenantRecord>, RegistryError>;

    /// One page of [`tenants`](Self::tenants): the first `limit` tenants (1 to
    /// [`MAX_PAGE_LIMIT`](crate::MAX_PAGE_LIMIT)) after `after`, ordered by id. `None`
    /// starts at the first tenant. A tenant id is a valid cursor here (the page starts
    /// after it, whether or not that tenant still exists); anything else is
    /// [`InvalidCursor`](RegistryError::InvalidCursor).
    ///
    /// The default filters [`tenants`](Self::tenants); backends read only the page.
    fn tenants_page(
        &self,
        after: Option<&PageCursor>,
        limit: usize,
    ) -> Result<Page<TenantRecord>, RegistryError> {
        let after = after.map(page::tenant_cursor).transpose()?;
        let tenants = self.tenants()?;
        let rows = tenants
            .into_iter()
            .filter(|t| after.as_ref().is_none_or(|a| t.id > *a))
            .take(page::clamp(limit) + 1)
            .collect();
        Ok(Page::from_rows(rows, page::clamp(limit), |t| {
            page::tenant_cursor_of(&t.id)
        }))
    }

    /// Suspends or resumes a tenant. Asking for the status it already has is
    /// [`TenantAlreadyInStatus`](RegistryError::TenantAlreadyInStatus).
    fn set_tenant_status(
        &self,
        actor: &Actor,
        id: &TenantId,
        status: TenantStatus,
    ) -> Result<TenantRecord, RegistryError>;

    /// Replaces a tenant's limits.
    fn set_tenant_limits(
        &self,
        actor: &Actor,
        id: &TenantId,
        limits: TenantLimits,
    ) -> Result<TenantRecord, RegistryError>;

    /// Applies a [`TenantUpdate`] (limits, route policy, egress address) in one transaction
    /// with one `tenant.update` audit event listing the changed fields. Errors:
    /// [`UnknownTenant`](RegistryError::UnknownTenant),
    /// [`InvalidLimits`](RegistryError::InvalidLimits),
    /// [`EgressAddressTaken`](RegistryError::EgressAddressTaken).
    fn update_tenant(
        &self,
        actor: &Actor,
        id: &TenantId,
        update: &TenantUpdate,
    ) -> Result<TenantRecord, RegistryError>;

    /// Deletes a tenant: revokes its unrevoked certificates (reason
    /// `cessation-of-operation`), deletes its routes and tokens, then the tenant. Certificate
    /// rows stay (the CRL and the audit trail need them).
    fn delete_tenant(&self, actor: &Actor, id: &TenantId) -> Result<DeletedTenant, RegistryError>;

    /// Records a certificate for an active tenant. `issue` runs inside the transaction after
    /// the tenant is checked; if it fails, nothing is recorded.
    ///
    /// Errors: [`UnknownTenant`](RegistryError::UnknownTenant),
    /// [`TenantSuspended`](RegistryError::TenantSuspended),
    /// [`Issue`](RegistryError::Issue), [`DuplicateSerial`](RegistryError::DuplicateSerial),
    /// [`InvalidCertificate`](RegistryError::InvalidCertificate).
    fn record_certificate(
        &self,
        actor: &Actor,
        tenant: &TenantId,
        issue: &mut IssueFn<'_>,
    ) -> Result<CertificateRecord, RegistryError>;

    /// One certificate, or [`UnknownSerial`](RegistryError::UnknownSerial).
    fn certificate(&self, serial: &Serial) -> Result<CertificateRecord, RegistryError>;

    /// Certificates (of one tenant, or all), ordered by issue time.
    fn certificates(
        &self,
        tenant: Option<&TenantId>,
    ) -> Result<Vec<CertificateRecord>, RegistryError>;

    /// One page of [`certificates`](Self::certificates) (of one tenant, or all), in the same
    /// order: the first `limit` (1 to [`MAX_PAGE_LIMIT`](crate::MAX_PAGE_LIMIT)) after
    /// `after`, a cursor from an earlier page of the same listing (`None`: from the
    /// first). Errors: [`InvalidCursor`](RegistryError::InvalidCursor).
    ///
    /// The default filters [`certificates`](Self::certificates) (its cursor is the last
    /// serial, so a cursor whose certificate row is gone is refused); backends read only
    /// the page.
    fn certificates_page(
        &self,
        tenant: Option<&TenantId>,
        after: Option<&PageCursor>,
        limit: usize,
    ) -> Result<Page<CertificateRecord>, RegistryError> {
        page::after_key(
            self.certificates(tenant)?,
            after,
            limit,
            "certificates",
            |c| c.serial.to_string(),
        )
    }

    /// Renews a certificate in one transaction: checks the presented certificate (recorded,
    /// not revoked, its tenant active), enforces the recovery bound of its lineage when
    /// `request.recovery` is set, runs `issue` for the same tenant, records the new
    /// certificate with the presented one's lineage (`renewed_from` = presented,
    /// `recovered` = whether this was a recovery), revokes the presented one (reason
    /// `superseded`) for a recovery or when `revoke_presented` is set, and writes a
    /// `cert.renew` audit event. Errors: [`UnknownSerial`](RegistryError::UnknownSerial),
    /// [`AlreadyRevoked`](RegistryError::AlreadyRevoked),
    /// [`UnknownTenant`](RegistryError::UnknownTenant),
    /// [`TenantSuspended`](RegistryError::TenantSuspended),
    /// [`RecoveryLimitReached`](RegistryError::RecoveryLimitReached), and those of
    /// [`record_certificate`](Self::record_certificate).
    fn renew_certificate(
        &self,
        actor: &Actor,
        request: &RenewalRequest,
        issue: &mut IssueFn<'_>,
    ) -> Result<CertificateRecord, RegistryError>;

    /// Records an admin certificate; `issue` signs it inside the transaction (audit
    /// `admin.cert.issue`, no tenant). Errors: [`AdminIssue`](RegistryError::AdminIssue),
    /// [`InvalidAdminCertificate`](RegistryError::InvalidAdminCertificate),
    /// [`DuplicateSerial`](RegistryError::DuplicateSerial) (serials are unique across admin
    /// and tenant certificates).
    fn record_admin_certificate(
        &self,
        actor: &Actor,
        admin: &AdminName,
        issue: &mut AdminIssueFn<'_>,
    ) -> Result<AdminCertificateRecord, RegistryError>;

    /// One admin certificate, or [`UnknownSerial`](RegistryError::UnknownSerial) (also for a
    /// tenant certificate's serial).
    fn admin_certificate(&self, serial: &Serial) -> Result<AdminCertificateRecord, RegistryError>;

    /// Every admin certificate, ordered by issue time.
    fn admin_certificates(&self) -> Result<Vec<AdminCertificateRecord>, RegistryError>;

    /// Revokes an admin certificate (audit `admin.cert.revoke`). Errors:
    /// [`UnknownSerial`](RegistryError::UnknownSerial),
    /// [`AlreadyRevoked`](RegistryError::AlreadyRevoked).
    fn revoke_admin_certificate(
        &self,
        actor: &Actor,
        serial: &Serial,
        reason: RevocationReason,
    ) -> Result<AdminCertificateRecord, RegistryError>;

    /// Revokes a certificate. Errors: [`UnknownSerial`](RegistryError::UnknownSerial),
    /// [`AlreadyRevoked`](RegistryError::AlreadyRevoked).
    fn revoke_certificate(
        &self,
        actor: &Actor,
        serial: &Serial,
        reason: RevocationReason,
    ) -> Result<CertificateRecord, RegistryError>;

    /// Every revoked certificate (the CRL's contents), ordered by revocation time.
    fn revoked_certificates(&self) -> Result<Vec<CertificateRecord>, RegistryError>;

    /// Adds a route to a tenant (active or suspended). Errors:
    /// [`UnknownTenant`](RegistryError::UnknownTenant),
    /// [`InvalidRoute`](RegistryError::InvalidRoute),
    /// [`RouteConflict`](RegistryError::RouteConflict) (checked against that tenant's routes
    /// only: tenants never see each other's routes).
    fn add_route(
        &self,
        actor: &Actor,
        tenant: &TenantId,
        spec: RouteSpec,
    ) -> Result<RouteRecord, RegistryError>;

    /// Adds a route on the tenant's own behalf (self-service): like [`add_route`](Self::add_route),
    /// and the tenant's stored [`RoutePolicy`](crate::RoutePolicy) is checked inside the same
    /// transaction (so concurrent additions cannot overshoot `max_routes`). Errors as
    /// `add_route`, plus [`PolicyViolation`](RegistryError::PolicyViolation) naming the rule.
    fn add_tenant_route(
        &self,
        actor: &Actor,
        tenant: &TenantId,
        spec: RouteSpec,
    ) -> Result<RouteRecord, RegistryError>;

    /// Routes (of one tenant, or all), ordered by tenant then creation.
    fn routes(&self, tenant: Option<&TenantId>) -> Result<Vec<RouteRecord>, RegistryError>;

    /// One page of [`routes`](Self::routes) (of one tenant, or all), in the same order
    /// (tenant, then creation): the first `limit` (1 to
    /// [`MAX_PAGE_LIMIT`](crate::MAX_PAGE_LIMIT)) after `after`, a cursor from an earlier
    /// page of the same listing (`None`: from the first). Errors:
    /// [`InvalidCursor`](RegistryError::InvalidCursor) (also for a cursor of another
    /// tenant's routes). An unknown tenant has no routes: an empty last page.
    ///
    /// The default filters [`routes`](Self::routes) (its cursor is the last route id, so a
    /// cursor whose route was removed is refused); backends read only the page.
    fn routes_page(
        &self,
        tenant: Option<&TenantId>,
        after: Option<&PageCursor>,
        limit: usize,
    ) -> Result<Page<RouteRecord>, RegistryError> {
        page::after_key(self.routes(tenant)?, after, limit, "routes", |r| {
            r.id.to_string()
        })
    }

    /// Removes a route, or [`UnknownRoute`](RegistryError::UnknownRoute).
    fn remove_route(&self, actor: &Actor, id: &RouteId) -> Result<RouteRecord, RegistryError>;

    /// Creates a one-time enrollment token for an active tenant, valid for `ttl` (1 minute
    /// ..= 30 days, else [`InvalidTtl`](RegistryError::InvalidTtl)). Only the secret's
    /// SHA-256 is stored: the returned secret cannot be shown again.
    fn create_enrollment_token(
        &self,
        actor: &Actor,
        tenant: &TenantId,
        ttl: Duration,
    ) -> Result<(EnrollmentSecret, TokenRecord), RegistryError>;

    /// Enrollment tokens (of one tenant, or all), ordered by creation.
    fn tokens(&self, tenant: Option<&TenantId>) -> Result<Vec<TokenRecord>, RegistryError>;

    /// Redeems an enrollment token in one transaction: finds it by the secret's hash
    /// ([`UnknownToken`](RegistryError::UnknownToken), which never says whether it existed),
    /// refuses used ([`TokenAlreadyUsed`](RegistryError::TokenAlreadyUsed)) and expired
    /// ([`TokenExpired`](RegistryError::TokenExpired)) tokens and suspended tenants, runs
    /// `issue` (which signs the CSR), records the certificate, marks the token used and
    /// writes a `token.redeem` audit event. If `issue` fails, the token stays unused.
    fn redeem_enrollment_token(
        &self,
        actor: &Actor,
        secret: &str,
        issue: &mut IssueFn<'_>,
    ) -> Result<CertificateRecord, RegistryError>;

    /// Appends an audit event that records no registry change (a read or a refused call of
    /// the control-plane API): chained like every other event, without bumping the version
    /// (the data plane does not rebuild its snapshot for it). `action` is 1..=64 characters
    /// of `a-z`, `0-9`, `.`, `_`, `-`, else
    /// [`InvalidAuditAction`](RegistryError::InvalidAuditAction); `details` must not hold
    /// secrets.
    fn append_audit_event(
        &self,
        actor: &Actor,
        action: &str,
        tenant: Option<&TenantId>,
        details: Value,
    ) -> Result<AuditEvent, RegistryError>;

    /// Audit events matching `filter`, in ascending `seq` order.
    fn audit_events(&self, filter: &AuditFilter) -> Result<Vec<AuditEvent>, RegistryError>;

    /// One page of the audit log, paging forward: the first `limit` events (1 to
    /// [`MAX_PAGE_LIMIT`](crate::MAX_PAGE_LIMIT)) matching `filter.tenant` and
    /// `filter.since` whose `seq` is greater than `after`, in ascending `seq` order
    /// (`filter.limit` is not used: `limit` is). The cursor is a `seq` in decimal (`0`, or
    /// `None`: from the first event); anything else is
    /// [`InvalidCursor`](RegistryError::InvalidCursor). The log is append-only, so paging
    /// to the end sees every event once, and a later read from the last cursor sees the
    /// events appended since.
    ///
    /// The default filters [`audit_events`](Self::audit_events); backends read only the
    /// page.
    fn audit_page(
        &self,
        filter: &AuditFilter,
        after: Option<&PageCursor>,
        limit: usize,
    ) -> Result<Page<AuditEvent>, RegistryError> {
        let after = after.map(page::seq_cursor).transpose()?.unwrap_or(0);
        let events = self.audit_events(&AuditFilter {
            limit: None,
            ..filter.clone()
        })?;
        let limit = page::clamp(limit);
        let rows = events
            .into_iter()
            .filter(|e| e.seq > after)
            .take(limit + 1)
            .collect();
        Ok(Page::from_rows(rows, limit, |e| page::seq_cursor_of(e.seq)))
    }

    /// Walks the whole audit log: recomputes every hash, checks the links, the sequence
    /// and the recorded head. The first problem is
    /// [`AuditChainBroken`](RegistryError::AuditChainBroken) naming its `seq`.
    fn verify_audit(&self) -> Result<AuditReport, RegistryError>;

    /// A consistent, immutable view for the data plane.
    fn snapshot(&self) -> Result<Snapshot, RegistryError>;

    /// A snapshot that holds only what deciding about one tenant's connections needs:
    /// that tenant (if the registry holds it) with its routes and certificates, and the
    /// certificate `serial` whichever tenant it was issued to. For that tenant and that
    /// certificate, [`Snapshot::admit`] and the routes answer exactly as in the full
    /// [`snapshot`](Self::snapshot) at the same version (what `tenantctl explain` needs,
    /// without reading every tenant).
    ///
    /// The default is the full snapshot (right, but it reads every tenant); backends read
    /// the one tenant with indexed reads.
    fn tenant_snapshot(
        &self,
        tenant: &TenantId,
        serial: Option<&Serial>,
    ) -> Result<Snapshot, RegistryError> {
        let _ = (tenant, serial);
        self.snapshot()
    }

    /// The registry version: bumped by every committed change. Cheap (one primary-key
    /// read); poll it and rebuild the [`Snapshot`] when it changes.
    fn version(&self) -> Result<u64, RegistryError>;

    /// The changes committed after `version`, oldest first, at most `limit` of them (at
    /// least one when there is one, and never more than
    /// [`MAX_CHANGES_PER_READ`](crate::MAX_CHANGES_PER_READ)); see
    /// [`Changes`](crate::Changes). A reader that got a full list is at the last listed
    /// version; one that got `limit` changes asks again from the last.
    ///
    /// The default answers [`Changes::Gap`](crate::Changes::Gap) (rebuild from a
    /// snapshot): right for a backend that keeps no change log, never wrong for one that
    /// does.
    fn changes_since(&self, version: u64, limit: usize) -> Result<Changes, RegistryError> {
        let _ = (version, limit);
        Ok(Changes::Gap {
            version: self.version()?,
        })
    }

    /// What brings a view at `version` up to date, read in one read transaction: the
    /// changes since and the current state of every tenant they touched
    /// ([`Delta::Tenants`](crate::Delta::Tenants)), or [`Delta::Gap`](crate::Delta::Gap)
    /// when it cannot be given that way (see there). The default is `Gap`.
    fn delta_since(&self, version: u64) -> Result<crate::Delta, RegistryError> {
        let _ = version;
        Ok(crate::Delta::Gap {
            version: self.version()?,
        })
    }
}
