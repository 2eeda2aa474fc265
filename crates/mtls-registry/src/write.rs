//! Every registry change, written once for every SQL backend: the checks, their order, the
//! errors, the rows to write and the audit event. A backend implements [`WriteRows`] over
//! its open write transaction (holding its write lock, so nothing it reads can change
//! before the commit) with its own SQL, and its `Store` methods call these functions
//! inside that transaction.

use std::net::IpAddr;
use std::time::Duration;

use mtls_identity::{AdminName, RevocationReason, Serial, TenantId};
use mtls_route_spec::RouteSpec;
use serde_json::{Value, json};
use time::OffsetDateTime;

use crate::ops::{
    admin_issue_details, admin_revoke_details, cert_details, check_new_route, limits_details,
    plan_tenant_update, renew_details, revoke_details, route_add_details, route_remove_details,
    stored_validity, tenant_create_details, tenant_delete_details,
};
use crate::util::audit_time;
use crate::{
    Actor, AdminCertificateRecord, AdminIssueFn, AuditEvent, CertificateRecord, DeletedTenant,
    EnrollmentSecret, IssueFn, MAX_TOKEN_TTL, MIN_TOKEN_TTL, RegistryError, RenewalRequest,
    RouteId, RouteRecord, TenantLimits, TenantRecord, TenantStatus, TenantUpdate, TokenRecord,
    validate_display_name,
};

/// The certificate tables a serial can be revoked in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CertTable {
    /// Tenant certificates.
    Tenant,
    /// Admin certificates.
    Admin,
}

/// The reads and writes of one write transaction, in a backend's SQL. Times are
/// [`now`](Self::now) unless a record says otherwise.
pub trait WriteRows {
    /// The time of the change (whole seconds).
    fn now(&self) -> OffsetDateTime;
    /// Appends the audit event that follows the head ([`next_event`](crate::backend::next_event))
    /// in this transaction and moves the head to it; with `bump_version`, bumps the version
    /// too and records the version the event produced (the change log).
    fn append(
        &mut self,
        actor: &Actor,
        action: &str,
        tenant: Option<&TenantId>,
        details: Value,
        bump_version: bool,
    ) -> Result<AuditEvent, RegistryError>;
    /// Appends the audit event of a change (bumping the version).
    fn audit(
        &mut self,
        actor: &Actor,
        action: &str,
        tenant: Option<&TenantId>,
        details: Value,
    ) -> Result<(), RegistryError> {
        self.append(actor, action, tenant, details, true)
            .map(|_| ())
    }
    /// Appends an audit event that records no change (no version bump).
    fn audit_without_change(
        &mut self,
        actor: &Actor,
        action: &str,
        tenant: Option<&TenantId>,
        details: Value,
    ) -> Result<AuditEvent, RegistryError> {
        self.append(actor, action, tenant, details, false)
    }
    /// Marks a write that changed nothing (and so has no audit event).
    fn nothing_changed(&mut self);

    /// One tenant.
    fn tenant(&mut self, id: &TenantId) -> Result<Option<TenantRecord>, RegistryError>;
    /// Inserts an active tenant created (and updated) now.
    fn insert_tenant(
        &mut self,
        id: &TenantId,
        display_name: &str,
        limits: TenantLimits,
    ) -> Result<(), RegistryError>;
    /// Sets a tenant's status, updated now.
    fn set_status(&mut self, id: &TenantId, status: TenantStatus) -> Result<(), RegistryError>;
    /// Writes a tenant's limits, route policy and egress address, updated now.
    fn update_settings(&mut self, tenant: &TenantRecord) -> Result<(), RegistryError>;
    /// The tenant other than `except` that holds egress `address`.
    fn egress_owner(
        &mut self,
        address: IpAddr,
        except: &TenantId,
    ) -> Result<Option<TenantId>, RegistryError>;
    /// Revokes the tenant's unrevoked certificates now for `reason` (their serials, in
    /// any order), deletes its routes and tokens (how many), then the tenant.
    fn delete_tenant_rows(
        &mut self,
        id: &TenantId,
        reason: RevocationReason,
    ) -> Result<DeletedTenant, RegistryError>;

    /// One tenant certificate.
    fn certificate(&mut self, serial: &Serial) -> Result<Option<CertificateRecord>, RegistryError>;
    /// Whether `serial` is recorded, as a tenant's or an admin's certificate.
    fn serial_taken(&mut self, serial: &Serial) -> Result<bool, RegistryError>;
    /// Inserts a tenant certificate.
    fn insert_certificate(&mut self, cert: &CertificateRecord) -> Result<(), RegistryError>;
    /// Marks a certificate of `table` revoked now.
    fn mark_revoked(
        &mut self,
        table: CertTable,
        serial: &Serial,
        reason: RevocationReason,
    ) -> Result<(), RegistryError>;
    /// How many certificates of `lineage` a recovery issued.
    fn recoveries(&mut self, lineage: &Serial) -> Result<u64, RegistryError>;
    /// One admin certificate.
    fn admin_certificate(
        &mut self,
        serial: &Serial,
    ) -> Result<Option<AdminCertificateRecord>, RegistryError>;
    /// Inserts an admin certificate.
    fn insert_admin_certificate(
        &mut self,
        record: &AdminCertificateRecord,
    ) -> Result<(), RegistryError>;

    /// A tenant's routes, in creation order.
    fn routes_of(&mut self, tenant: &TenantId) -> Result<Vec<RouteRecord>, RegistryError>;
    /// One route.
    fn route(&mut self, id: &RouteId) -> Result<Option<RouteRecord>, RegistryError>;
    /// Whether a route has this id.
    fn route_id_taken(&mut self, id: &RouteId) -> Result<bool, RegistryError>;
    /// Inserts a route created now (`spec_json`: the spec as stored).
    fn insert_route(
        &mut self,
        id: &RouteId,
        tenant: &TenantId,
        spec_json: &str,
    ) -> Result<(), RegistryError>;
    /// Deletes a route.
    fn delete_route(&mut self, id: &RouteId) -> Result<(), RegistryError>;

    /// Inserts an enrollment token with the SHA-256 of its secret.
    fn insert_token(&mut self, token: &TokenRecord, secret_hash: &str)
    -> Result<(), RegistryError>;
    /// The token whose stored hash is `secret_hash`, with that stored hash.
    fn token_by_hash(
        &mut self,
        secret_hash: &str,
    ) -> Result<Option<(TokenRecord, String)>, RegistryError>;
    /// Marks an unused token used now; false when it was used already.
    fn mark_token_used(&mut self, id: &str) -> Result<bool, RegistryError>;
}

fn get<W: WriteRows + ?Sized>(w: &mut W, id: &TenantId) -> Result<TenantRecord, RegistryError> {
    w.tenant(id)?
        .ok_or_else(|| RegistryError::UnknownTenant { id: id.clone() })
}

fn get_active<W: WriteRows + ?Sized>(
    w: &mut W,
    id: &TenantId,
) -> Result<TenantRecord, RegistryError> {
    let tenant = get(w, id)?;
    if tenant.status != TenantStatus::Active {
        return Err(RegistryError::TenantSuspended { id: id.clone() });
    }
    Ok(tenant)
}

/// [`Store::create_tenant`](crate::Store::create_tenant).
pub fn create_tenant<W: WriteRows + ?Sized>(
    w: &mut W,
    actor: &Actor,
    id: &TenantId,
    display_name: &str,
    limits: TenantLimits,
) -> Result<TenantRecord, RegistryError> {
    validate_display_name(display_name)?;
    limits.validate()?;
    if w.tenant(id)?.is_some() {
        return Err(RegistryError::DuplicateTenant { id: id.clone() });
    }
    w.insert_tenant(id, display_name, limits)?;
    w.audit(
        actor,
        "tenant.create",
        Some(id),
        tenant_create_details(display_name, &limits),
    )?;
    let now = w.now();
    Ok(TenantRecord {
        id: id.clone(),
        display_name: display_name.to_owned(),
        status: TenantStatus::Active,
        limits,
        route_policy: Default::default(),
        egress_address: None,
        created_at: now,
        updated_at: now,
    })
}

/// [`Store::create_tenant_with`](crate::Store::create_tenant_with).
pub fn create_tenant_with<W: WriteRows + ?Sized>(
    w: &mut W,
    actor: &Actor,
    id: &TenantId,
    display_name: &str,
    limits: TenantLimits,
    settings: &TenantUpdate,
) -> Result<TenantRecord, RegistryError> {
    let created = create_tenant(w, actor, id, display_name, limits)?;
    if *settings == TenantUpdate::default() {
        return Ok(created);
    }
    update_tenant(w, actor, id, settings)
}

/// [`Store::set_tenant_status`](crate::Store::set_tenant_status).
pub fn set_tenant_status<W: WriteRows + ?Sized>(
    w: &mut W,
    actor: &Actor,
    id: &TenantId,
    status: TenantStatus,
) -> Result<TenantRecord, RegistryError> {
    let mut tenant = get(w, id)?;
    if tenant.status == status {
        return Err(RegistryError::TenantAlreadyInStatus {
            id: id.clone(),
            status,
        });
    }
    w.set_status(id, status)?;
    w.audit(
        actor,
        status.audit_action(),
        Some(id),
        json!({ "from": tenant.status.as_str(), "to": status.as_str() }),
    )?;
    tenant.status = status;
    tenant.updated_at = w.now();
    Ok(tenant)
}

/// [`Store::set_tenant_limits`](crate::Store::set_tenant_limits).
pub fn set_tenant_limits<W: WriteRows + ?Sized>(
    w: &mut W,
    actor: &Actor,
    id: &TenantId,
    limits: TenantLimits,
) -> Result<TenantRecord, RegistryError> {
    limits.validate()?;
    let mut tenant = get(w, id)?;
    let from = limits_details(&tenant.limits);
    tenant.limits = limits;
    w.update_settings(&tenant)?;
    w.audit(
        actor,
        "tenant.limits",
        Some(id),
        json!({ "from": from, "to": limits_details(&limits) }),
    )?;
    tenant.updated_at = w.now();
    Ok(tenant)
}

/// [`Store::update_tenant`](crate::Store::update_tenant).
pub fn update_tenant<W: WriteRows + ?Sized>(
    w: &mut W,
    actor: &Actor,
    id: &TenantId,
    update: &TenantUpdate,
) -> Result<TenantRecord, RegistryError> {
    let tenant = get(w, id)?;
    let planned = plan_tenant_update(tenant, update, |address| w.egress_owner(address, id))?;
    let mut tenant = planned.tenant;
    let Some(details) = planned.details else {
        w.nothing_changed();
        return Ok(tenant);
    };
    w.update_settings(&tenant)?;
    w.audit(actor, "tenant.update", Some(id), details)?;
    tenant.updated_at = w.now();
    Ok(tenant)
}

/// [`Store::delete_tenant`](crate::Store::delete_tenant).
pub fn delete_tenant<W: WriteRows + ?Sized>(
    w: &mut W,
    actor: &Actor,
    id: &TenantId,
) -> Result<DeletedTenant, RegistryError> {
    get(w, id)?;
    let reason = RevocationReason::CessationOfOperation;
    let mut deleted = w.delete_tenant_rows(id, reason)?;
    deleted.revoked.sort();
    let details = tenant_delete_details(&deleted, reason, w.now());
    w.audit(actor, "tenant.delete", Some(id), details)?;
    Ok(deleted)
}

/// Where a new certificate sits in its renewal chain.
struct Lineage {
    /// The chain's first serial; `None`: the new certificate starts its own chain.
    lineage: Option<Serial>,
    /// The certificate it renews.
    renewed_from: Option<Serial>,
    /// Whether it recovers an expired certificate.
    recovered: bool,
}

/// A first issue (direct or by token): a chain of its own.
const FIRST: Lineage = Lineage {
    lineage: None,
    renewed_from: None,
    recovered: false,
};

/// Runs `issue` for `tenant` and inserts what it returns; the caller writes the event.
fn issue_and_insert<W: WriteRows + ?Sized>(
    w: &mut W,
    tenant: &TenantRecord,
    issue: &mut IssueFn<'_>,
    chain: Lineage,
) -> Result<CertificateRecord, RegistryError> {
    let new = issue(tenant).map_err(|source| RegistryError::Issue {
        tenant: tenant.id.clone(),
        source,
    })?;
    let Some((not_before, not_after)) = stored_validity(new.not_before, new.not_after) else {
        return Err(RegistryError::InvalidCertificate {
            tenant: tenant.id.clone(),
            serial: new.serial,
            reason: "not_after is not after not_before",
        });
    };
    if w.serial_taken(&new.serial)? {
        return Err(RegistryError::DuplicateSerial { serial: new.serial });
    }
    let cert = CertificateRecord {
        lineage: chain.lineage.unwrap_or_else(|| new.serial.clone()),
        serial: new.serial,
        tenant: tenant.id.clone(),
        fingerprint: new.fingerprint,
        kind: new.kind,
        not_before,
        not_after,
        issued_at: w.now(),
        revoked_at: None,
        revocation_reason: None,
        renewed_from: chain.renewed_from,
        recovered: chain.recovered,
    };
    w.insert_certificate(&cert)?;
    Ok(cert)
}

/// [`Store::record_certificate`](crate::Store::record_certificate).
pub fn record_certificate<W: WriteRows + ?Sized>(
    w: &mut W,
    actor: &Actor,
    tenant: &TenantId,
    issue: &mut IssueFn<'_>,
) -> Result<CertificateRecord, RegistryError> {
    let tenant = get_active(w, tenant)?;
    let cert = issue_and_insert(w, &tenant, issue, FIRST)?;
    w.audit(
        actor,
        "cert.issue",
        Some(&tenant.id),
        Value::Object(cert_details(&cert)),
    )?;
    Ok(cert)
}

/// [`AlreadyRevoked`](RegistryError::AlreadyRevoked) for a certificate revoked at
/// `revoked_at`.
fn not_revoked(serial: &Serial, revoked_at: Option<OffsetDateTime>) -> Result<(), RegistryError> {
    match revoked_at {
        Some(revoked_at) => Err(RegistryError::AlreadyRevoked {
            serial: serial.clone(),
            revoked_at,
        }),
        None => Ok(()),
    }
}

/// [`Store::revoke_certificate`](crate::Store::revoke_certificate).
pub fn revoke_certificate<W: WriteRows + ?Sized>(
    w: &mut W,
    actor: &Actor,
    serial: &Serial,
    reason: RevocationReason,
) -> Result<CertificateRecord, RegistryError> {
    let mut cert = w
        .certificate(serial)?
        .ok_or_else(|| RegistryError::UnknownSerial {
            serial: serial.clone(),
        })?;
    not_revoked(serial, cert.revoked_at)?;
    w.mark_revoked(CertTable::Tenant, serial, reason)?;
    w.audit(
        actor,
        "cert.revoke",
        Some(&cert.tenant),
        revoke_details(serial, reason),
    )?;
    cert.revoked_at = Some(w.now());
    cert.revocation_reason = Some(reason);
    Ok(cert)
}

/// [`Store::renew_certificate`](crate::Store::renew_certificate). Expiry is not checked
/// here: whether an expired certificate may be recovered is the caller's decision (it sets
/// `request.recovery`).
pub fn renew_certificate<W: WriteRows + ?Sized>(
    w: &mut W,
    actor: &Actor,
    request: &RenewalRequest,
    issue: &mut IssueFn<'_>,
) -> Result<CertificateRecord, RegistryError> {
    let presented =
        w.certificate(&request.presented)?
            .ok_or_else(|| RegistryError::UnknownSerial {
                serial: request.presented.clone(),
            })?;
    not_revoked(&presented.serial, presented.revoked_at)?;
    let tenant = get_active(w, &presented.tenant)?;
    if let Some(recovery) = request.recovery
        && w.recoveries(&presented.lineage)? >= u64::from(recovery.max_recoveries)
    {
        return Err(RegistryError::RecoveryLimitReached {
            lineage: presented.lineage,
            limit: recovery.max_recoveries,
        });
    }
    let recovered = request.recovery.is_some();
    let chain = Lineage {
        lineage: Some(presented.lineage.clone()),
        renewed_from: Some(presented.serial.clone()),
        recovered,
    };
    let cert = issue_and_insert(w, &tenant, issue, chain)?;
    let revoke_presented = recovered || request.revoke_presented;
    if revoke_presented {
        w.mark_revoked(
            CertTable::Tenant,
            &presented.serial,
            RevocationReason::Superseded,
        )?;
    }
    let details = renew_details(&cert, &presented.serial, recovered, revoke_presented);
    w.audit(actor, "cert.renew", Some(&tenant.id), details)?;
    Ok(cert)
}

/// [`Store::record_admin_certificate`](crate::Store::record_admin_certificate).
pub fn record_admin_certificate<W: WriteRows + ?Sized>(
    w: &mut W,
    actor: &Actor,
    admin: &AdminName,
    issue: &mut AdminIssueFn<'_>,
) -> Result<AdminCertificateRecord, RegistryError> {
    let new = issue(admin).map_err(|source| RegistryError::AdminIssue {
        admin: admin.clone(),
        source,
    })?;
    let Some((not_before, not_after)) = stored_validity(new.not_before, new.not_after) else {
        return Err(RegistryError::InvalidAdminCertificate {
            admin: admin.clone(),
            serial: new.serial,
            reason: "not_after is not after not_before",
        });
    };
    if w.serial_taken(&new.serial)? {
        return Err(RegistryError::DuplicateSerial { serial: new.serial });
    }
    let record = AdminCertificateRecord {
        serial: new.serial,
        admin: admin.clone(),
        fingerprint: new.fingerprint,
        not_before,
        not_after,
        issued_at: w.now(),
        revoked_at: None,
        revocation_reason: None,
    };
    w.insert_admin_certificate(&record)?;
    w.audit(
        actor,
        "admin.cert.issue",
        None,
        admin_issue_details(&record),
    )?;
    Ok(record)
}

/// [`Store::revoke_admin_certificate`](crate::Store::revoke_admin_certificate).
pub fn revoke_admin_certificate<W: WriteRows + ?Sized>(
    w: &mut W,
    actor: &Actor,
    serial: &Serial,
    reason: RevocationReason,
) -> Result<AdminCertificateRecord, RegistryError> {
    let mut cert = w
        .admin_certificate(serial)?
        .ok_or_else(|| RegistryError::UnknownSerial {
            serial: serial.clone(),
        })?;
    not_revoked(serial, cert.revoked_at)?;
    w.mark_revoked(CertTable::Admin, serial, reason)?;
    let details = admin_revoke_details(&cert.admin, serial, reason);
    w.audit(actor, "admin.cert.revoke", None, details)?;
    cert.revoked_at = Some(w.now());
    cert.revocation_reason = Some(reason);
    Ok(cert)
}

/// [`Store::add_route`](crate::Store::add_route) (`self_service` false) and
/// [`Store::add_tenant_route`](crate::Store::add_tenant_route) (true: under the tenant's
/// route policy, checked against its routes inside the transaction, so concurrent
/// additions cannot overshoot `max_routes`).
pub fn add_route<W: WriteRows + ?Sized>(
    w: &mut W,
    actor: &Actor,
    tenant: &TenantId,
    spec: &RouteSpec,
    self_service: bool,
) -> Result<RouteRecord, RegistryError> {
    let record = get(w, tenant)?;
    let existing = w.routes_of(tenant)?;
    let spec_json = check_new_route(&record, spec, &existing, self_service)?;
    // 64 random bits: a collision is astronomically unlikely, but cheap to rule out.
    let id = loop {
        let id = RouteId::random();
        if !w.route_id_taken(&id)? {
            break id;
        }
    };
    w.insert_route(&id, tenant, &spec_json)?;
    let details = route_add_details(&id, spec, &spec_json, self_service);
    w.audit(actor, "route.add", Some(tenant), details)?;
    Ok(RouteRecord {
        id,
        tenant: tenant.clone(),
        spec: spec.clone().into(),
        created_at: w.now(),
    })
}

/// [`Store::remove_route`](crate::Store::remove_route).
pub fn remove_route<W: WriteRows + ?Sized>(
    w: &mut W,
    actor: &Actor,
    id: &RouteId,
) -> Result<RouteRecord, RegistryError> {
    let route = w
        .route(id)?
        .ok_or_else(|| RegistryError::UnknownRoute { id: id.clone() })?;
    w.delete_route(id)?;
    w.audit(
        actor,
        "route.remove",
        Some(&route.tenant),
        route_remove_details(&route),
    )?;
    Ok(route)
}

/// [`Store::create_enrollment_token`](crate::Store::create_enrollment_token).
pub fn create_enrollment_token<W: WriteRows + ?Sized>(
    w: &mut W,
    actor: &Actor,
    tenant: &TenantId,
    ttl: Duration,
) -> Result<(EnrollmentSecret, TokenRecord), RegistryError> {
    if !(MIN_TOKEN_TTL..=MAX_TOKEN_TTL).contains(&ttl) {
        return Err(RegistryError::InvalidTtl {
            ttl,
            min: MIN_TOKEN_TTL,
            max: MAX_TOKEN_TTL,
        });
    }
    get_active(w, tenant)?;
    let secret = EnrollmentSecret::generate();
    // Whole seconds: the TTL range check above guarantees it fits.
    let expires_at = w.now() + time::Duration::seconds(ttl.as_secs() as i64);
    let record = TokenRecord {
        id: TokenRecord::random_id(),
        tenant: tenant.clone(),
        created_at: w.now(),
        expires_at,
        used_at: None,
    };
    w.insert_token(&record, &EnrollmentSecret::stored_hash(secret.expose()))?;
    w.audit(
        actor,
        "token.create",
        Some(tenant),
        json!({ "token": record.id, "expires_at": audit_time(expires_at) }),
    )?;
    Ok((secret, record))
}

/// [`Store::redeem_enrollment_token`](crate::Store::redeem_enrollment_token). The token is
/// found by the secret's SHA-256 (the secret itself is never stored), and the stored hash
/// is compared with the presented one in constant time before it is accepted.
pub fn redeem_enrollment_token<W: WriteRows + ?Sized>(
    w: &mut W,
    actor: &Actor,
    secret: &str,
    issue: &mut IssueFn<'_>,
) -> Result<CertificateRecord, RegistryError> {
    let Some((token, stored_hash)) = w.token_by_hash(&EnrollmentSecret::stored_hash(secret))?
    else {
        return Err(RegistryError::UnknownToken);
    };
    if !EnrollmentSecret::hash_matches(&stored_hash, secret) {
        return Err(RegistryError::UnknownToken);
    }
    if token.is_used() {
        return Err(RegistryError::TokenAlreadyUsed { id: token.id });
    }
    if token.is_expired_at(w.now()) {
        return Err(RegistryError::TokenExpired {
            id: token.id,
            expired_at: token.expires_at,
        });
    }
    let tenant = get_active(w, &token.tenant)?;
    let cert = issue_and_insert(w, &tenant, issue, FIRST)?;
    if !w.mark_token_used(&token.id)? {
        // Impossible under the write lock (nobody else can write meanwhile), but a double
        // redemption must never commit.
        return Err(RegistryError::TokenAlreadyUsed { id: token.id });
    }
    let mut details = cert_details(&cert);
    details.insert("token".into(), json!(token.id));
    w.audit(
        actor,
        "token.redeem",
        Some(&tenant.id),
        Value::Object(details),
    )?;
    Ok(cert)
}

/// [`Store::append_audit_event`](crate::Store::append_audit_event).
pub fn append_audit_event<W: WriteRows + ?Sized>(
    w: &mut W,
    actor: &Actor,
    action: &str,
    tenant: Option<&TenantId>,
    details: Value,
) -> Result<AuditEvent, RegistryError> {
    crate::validate_audit_action(action)?;
    w.audit_without_change(actor, action, tenant, details)
}

/// The change methods of [`Store`](crate::Store) for a backend whose write transactions
/// implement [`WriteRows`]: expands, inside `impl Store for …`, to every method that
/// changes the registry, each one `self.write(operation, |w| …)` of the function of the
/// same name in [`backend`](crate::backend). The backend provides
/// `fn write<T>(&self, operation: &'static str, f: impl FnMut(&mut Tx) -> Result<T,
/// RegistryError>) -> Result<T, RegistryError>` (an `FnOnce` parameter works too), which
/// runs `f` in one write transaction and commits if it succeeds.
#[macro_export]
macro_rules! store_writes {
    () => {
        fn create_tenant(
            &self,
            actor: &$crate::Actor,
            id: &$crate::__store_writes::TenantId,
            display_name: &str,
            limits: $crate::TenantLimits,
        ) -> Result<$crate::TenantRecord, $crate::RegistryError> {
            self.write("create a tenant", |w| {
                $crate::backend::create_tenant(w, actor, id, display_name, limits)
            })
        }

        fn create_tenant_with(
            &self,
            actor: &$crate::Actor,
            id: &$crate::__store_writes::TenantId,
            display_name: &str,
            limits: $crate::TenantLimits,
            settings: &$crate::TenantUpdate,
        ) -> Result<$crate::TenantRecord, $crate::RegistryError> {
            self.write("create a tenant", |w| {
                $crate::backend::create_tenant_with(w, actor, id, display_name, limits, settings)
            })
        }

        fn set_tenant_status(
            &self,
            actor: &$crate::Actor,
            id: &$crate::__store_writes::TenantId,
            status: $crate::TenantStatus,
        ) -> Result<$crate::TenantRecord, $crate::RegistryError> {
            self.write("change a tenant's status", |w| {
                $crate::backend::set_tenant_status(w, actor, id, status)
            })
        }

        fn set_tenant_limits(
            &self,
            actor: &$crate::Actor,
            id: &$crate::__store_writes::TenantId,
            limits: $crate::TenantLimits,
        ) -> Result<$crate::TenantRecord, $crate::RegistryError> {
            self.write("change a tenant's limits", |w| {
                $crate::backend::set_tenant_limits(w, actor, id, limits)
            })
        }

        fn update_tenant(
            &self,
            actor: &$crate::Actor,
            id: &$crate::__store_writes::TenantId,
            update: &$crate::TenantUpdate,
        ) -> Result<$crate::TenantRecord, $crate::RegistryError> {
            self.write("update a tenant", |w| {
                $crate::backend::update_tenant(w, actor, id, update)
            })
        }

        fn delete_tenant(
            &self,
            actor: &$crate::Actor,
            id: &$crate::__store_writes::TenantId,
        ) -> Result<$crate::DeletedTenant, $crate::RegistryError> {
            self.write("delete a tenant", |w| {
                $crate::backend::delete_tenant(w, actor, id)
            })
        }

        fn record_certificate(
            &self,
            actor: &$crate::Actor,
            tenant: &$crate::__store_writes::TenantId,
            issue: &mut $crate::IssueFn<'_>,
        ) -> Result<$crate::CertificateRecord, $crate::RegistryError> {
            self.write("record a certificate", |w| {
                $crate::backend::record_certificate(w, actor, tenant, issue)
            })
        }

        fn renew_certificate(
            &self,
            actor: &$crate::Actor,
            request: &$crate::RenewalRequest,
            issue: &mut $crate::IssueFn<'_>,
        ) -> Result<$crate::CertificateRecord, $crate::RegistryError> {
            self.write("renew a certificate", |w| {
                $crate::backend::renew_certificate(w, actor, request, issue)
            })
        }

        fn revoke_certificate(
            &self,
            actor: &$crate::Actor,
            serial: &$crate::__store_writes::Serial,
            reason: $crate::__store_writes::RevocationReason,
        ) -> Result<$crate::CertificateRecord, $crate::RegistryError> {
            self.write("revoke a certificate", |w| {
                $crate::backend::revoke_certificate(w, actor, serial, reason)
            })
        }

        fn record_admin_certificate(
            &self,
            actor: &$crate::Actor,
            admin: &$crate::__store_writes::AdminName,
            issue: &mut $crate::AdminIssueFn<'_>,
        ) -> Result<$crate::AdminCertificateRecord, $crate::RegistryError> {
            self.write("record an admin certificate", |w| {
                $crate::backend::record_admin_certificate(w, actor, admin, issue)
            })
        }

        fn revoke_admin_certificate(
            &self,
            actor: &$crate::Actor,
            serial: &$crate::__store_writes::Serial,
            reason: $crate::__store_writes::RevocationReason,
        ) -> Result<$crate::AdminCertificateRecord, $crate::RegistryError> {
            self.write("revoke an admin certificate", |w| {
                $crate::backend::revoke_admin_certificate(w, actor, serial, reason)
            })
        }

        fn add_route(
            &self,
            actor: &$crate::Actor,
            tenant: &$crate::__store_writes::TenantId,
            spec: $crate::__store_writes::RouteSpec,
        ) -> Result<$crate::RouteRecord, $crate::RegistryError> {
            self.write("add a route", |w| {
                $crate::backend::add_route(w, actor, tenant, &spec, false)
            })
        }

        fn add_tenant_route(
            &self,
            actor: &$crate::Actor,
            tenant: &$crate::__store_writes::TenantId,
            spec: $crate::__store_writes::RouteSpec,
        ) -> Result<$crate::RouteRecord, $crate::RegistryError> {
            self.write("add a tenant's own route", |w| {
                $crate::backend::add_route(w, actor, tenant, &spec, true)
            })
        }

        fn remove_route(
            &self,
            actor: &$crate::Actor,
            id: &$crate::RouteId,
        ) -> Result<$crate::RouteRecord, $crate::RegistryError> {
            self.write("remove a route", |w| {
                $crate::backend::remove_route(w, actor, id)
            })
        }

        fn create_enrollment_token(
            &self,
            actor: &$crate::Actor,
            tenant: &$crate::__store_writes::TenantId,
            ttl: std::time::Duration,
        ) -> Result<($crate::EnrollmentSecret, $crate::TokenRecord), $crate::RegistryError> {
            self.write("create an enrollment token", |w| {
                $crate::backend::create_enrollment_token(w, actor, tenant, ttl)
            })
        }

        fn redeem_enrollment_token(
            &self,
            actor: &$crate::Actor,
            secret: &str,
            issue: &mut $crate::IssueFn<'_>,
        ) -> Result<$crate::CertificateRecord, $crate::RegistryError> {
            self.write("redeem an enrollment token", |w| {
                $crate::backend::redeem_enrollment_token(w, actor, secret, issue)
            })
        }

        fn append_audit_event(
            &self,
            actor: &$crate::Actor,
            action: &str,
            tenant: Option<&$crate::__store_writes::TenantId>,
            details: $crate::__store_writes::Value,
        ) -> Result<$crate::AuditEvent, $crate::RegistryError> {
            self.write("append an audit event", |w| {
                $crate::backend::append_audit_event(w, actor, action, tenant, details.clone())
            })
        }
    };
}
