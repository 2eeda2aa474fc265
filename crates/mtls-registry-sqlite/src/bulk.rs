//! Bulk loads: many tenants, each with its certificates and routes, in one transaction
//! ([`SqliteStore::bulk_load`]).

use mtls_identity::TenantId;
pub use mtls_registry::backend::{BulkLoaded, BulkTenant};
use mtls_registry::backend::{
    bulk_certificate, bulk_check_tenant, bulk_route, canonical_json, cert_details, chain_hash,
    route_add_details, tenant_create_details,
};
use mtls_registry::{Actor, CertificateRecord, NewCertificate, RegistryError, RouteId};
use mtls_route_spec::RouteSpec;
use rusqlite::{CachedStatement, Transaction, params};
use serde_json::Value;
use time::OffsetDateTime;

use crate::error::db;
use crate::store::SqliteStore;
use crate::util::to_unix;

/// The audit head and the registry version as the load moves them.
struct Head {
    seq: u64,
    hash: String,
    version: u64,
}

/// The load's prepared statements, on its one transaction.
struct Statements<'t> {
    tenant_exists: CachedStatement<'t>,
    insert_tenant: CachedStatement<'t>,
    serial_taken: CachedStatement<'t>,
    insert_cert: CachedStatement<'t>,
    route_taken: CachedStatement<'t>,
    insert_route: CachedStatement<'t>,
    insert_event: CachedStatement<'t>,
}

// === impl SqliteStore ===

impl SqliteStore {
    /// Creates every tenant of `tenants` with its certificates and routes, in one
    /// transaction, with the checks and audit events (by `actor`) of the one-at-a-time
    /// writes. All or nothing: on any error nothing is written.
    ///
    /// It writes exactly the rows and audit events that
    /// [`Store::create_tenant`], then [`Store::record_certificate`] for each certificate, then
    /// [`Store::add_route`] for each route (an admin's, not bound by the route policy) would
    /// write, tenant after tenant, with the same checks; only faster: one `BEGIN IMMEDIATE`
    /// transaction for the whole call, prepared statements, and the audit head and registry
    /// version kept in memory and written to `meta` once at the end.
    ///
    /// What stays as with the normal writes:
    /// - every change has its audit event, hash-chained, with the version it produced (one
    ///   version per event, as ever), so [`Store::verify_audit`] passes and the change log
    ///   lists each one;
    /// - a reader following the change log ([`Store::delta_since`]) gets the touched tenants of
    ///   a small load as a delta, and a [`Delta::Gap`](mtls_registry::Delta::Gap) (so it
    ///   rebuilds from a snapshot) when a load touches more than
    ///   [`MAX_DELTA_TENANTS`](mtls_registry::MAX_DELTA_TENANTS) tenants or writes more than
    ///   [`MAX_CHANGES_PER_READ`](mtls_registry::MAX_CHANGES_PER_READ) events;
    /// - any refusal (a duplicate tenant or serial, an invalid or conflicting route, ...) rolls
    ///   the whole call back: nothing of it is written.
    ///
    /// Measured on a 2-core VM (shared with other work): 100,000 tenants with one certificate
    /// and ten HTTP routes each (1.2 million audit events) in 26 s, in calls of 10,000 tenants
    /// (`benches/scale.sh`; 10,000 tenants: 2.0 s and an 81 MiB registry file).
    ///
    /// [`Store::create_tenant`]: mtls_registry::Store::create_tenant
    /// [`Store::record_certificate`]: mtls_registry::Store::record_certificate
    /// [`Store::add_route`]: mtls_registry::Store::add_route
    /// [`Store::verify_audit`]: mtls_registry::Store::verify_audit
    /// [`Store::delta_since`]: mtls_registry::Store::delta_since
    ///
    /// The input is consumed as it is written; callers loading hundreds of thousands of
    /// tenants call this in chunks (10,000 tenants is a few seconds of one write lock).
    ///
    /// Errors: those of [`create_tenant`](mtls_registry::Store::create_tenant) (a bad
    /// display name or limits, [`DuplicateTenant`](RegistryError::DuplicateTenant), also for
    /// an id given twice), of [`record_certificate`](mtls_registry::Store::record_certificate)
    /// ([`InvalidCertificate`](RegistryError::InvalidCertificate),
    /// [`DuplicateSerial`](RegistryError::DuplicateSerial)) and of
    /// [`add_route`](mtls_registry::Store::add_route)
    /// ([`InvalidRoute`](RegistryError::InvalidRoute),
    /// [`RouteConflict`](RegistryError::RouteConflict)), and the storage kinds.
    pub fn bulk_load(
        &self,
        actor: &Actor,
        tenants: impl IntoIterator<Item = BulkTenant>,
    ) -> Result<BulkLoaded, RegistryError> {
        self.write("bulk load tenants", |w| {
            let now = w.now;
            let (seq, hash, version): (i64, String, i64) =
                w.tx.query_row(
                    "SELECT audit_head_seq, audit_head_hash, version FROM meta WHERE id = 1",
                    [],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
                )
                .map_err(db("read the audit head"))?;
            let from_version = u64::try_from(version).unwrap_or(0);
            let mut head = Head {
                seq: u64::try_from(seq).unwrap_or(0),
                hash,
                version: from_version,
            };
            let mut loaded = BulkLoaded::at(from_version);
            {
                let mut st = Statements::prepare(&w.tx)?;
                for tenant in tenants {
                    load_one(&mut st, &mut head, actor, now, tenant, &mut loaded)?;
                }
            }
            w.tx.execute(
                "UPDATE meta SET version = ?1, audit_head_seq = ?2, audit_head_hash = ?3
                 WHERE id = 1",
                params![head.version as i64, head.seq as i64, head.hash],
            )
            .map_err(db("move the audit head"))?;
            w.appended_events_itself();
            loaded.to_version = head.version;
            Ok(loaded)
        })
    }
}

// === impl Statements ===

impl<'t> Statements<'t> {
    fn prepare(tx: &'t Transaction<'_>) -> Result<Self, RegistryError> {
        let prepare = |sql: &str| tx.prepare_cached(sql).map_err(db("prepare a bulk load"));
        Ok(Self {
            tenant_exists: prepare("SELECT EXISTS (SELECT 1 FROM tenants WHERE id = ?1)")?,
            insert_tenant: prepare(crate::tenants::INSERT_TENANT)?,
            serial_taken: prepare(
                "SELECT EXISTS (SELECT 1 FROM certificates WHERE serial = ?1)
                     OR EXISTS (SELECT 1 FROM admin_certificates WHERE serial = ?1)",
            )?,
            insert_cert: prepare(
                "INSERT INTO certificates (serial, tenant, fingerprint, kind, not_before,
                                           not_after, issued_at, lineage, renewed_from,
                                           recovered)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?1, NULL, 0)",
            )?,
            route_taken: prepare("SELECT EXISTS (SELECT 1 FROM routes WHERE id = ?1)")?,
            insert_route: prepare(crate::routes::INSERT_ROUTE)?,
            insert_event: prepare(crate::store::INSERT_AUDIT_EVENT)?,
        })
    }

    /// Appends one audit event that bumps the version, as `WriteTx::audit` does.
    fn audit(
        &mut self,
        head: &mut Head,
        now: OffsetDateTime,
        actor: &Actor,
        action: &str,
        tenant: &TenantId,
        details: &Value,
    ) -> Result<(), RegistryError> {
        let seq = head.seq + 1;
        let version = head.version + 1;
        let hash = chain_hash(
            &head.hash,
            seq,
            now,
            actor.as_str(),
            action,
            Some(tenant),
            details,
        );
        self.insert_event
            .execute(params![
                seq as i64,
                to_unix(now),
                actor.as_str(),
                action,
                tenant.as_str(),
                canonical_json(details),
                head.hash,
                hash,
                version as i64,
            ])
            .map_err(db("append an audit event"))?;
        head.seq = seq;
        head.version = version;
        head.hash = hash;
        Ok(())
    }

    fn exists(stmt: &mut CachedStatement<'t>, key: &str) -> Result<bool, RegistryError> {
        stmt.query_row([key], |r| r.get(0))
            .map_err(db("check for an existing row"))
    }
}

/// One tenant: its row and `tenant.create`, each certificate and its `cert.issue`, each
/// route and its `route.add`, with the checks of the one-at-a-time writes.
fn load_one(
    st: &mut Statements<'_>,
    head: &mut Head,
    actor: &Actor,
    now: OffsetDateTime,
    tenant: BulkTenant,
    loaded: &mut BulkLoaded,
) -> Result<(), RegistryError> {
    let BulkTenant {
        id,
        display_name,
        limits,
        certificates,
        routes,
    } = tenant;
    bulk_check_tenant(&display_name, &limits)?;
    if Statements::exists(&mut st.tenant_exists, id.as_str())? {
        return Err(RegistryError::DuplicateTenant { id });
    }
    st.insert_tenant
        .execute(params![
            id.as_str(),
            display_name,
            limits.max_connections,
            limits.requests_per_second,
            to_unix(now),
        ])
        .map_err(db("insert a tenant"))?;
    let details = tenant_create_details(&display_name, &limits);
    st.audit(head, now, actor, "tenant.create", &id, &details)?;
    loaded.tenants += 1;

    for new in certificates {
        let cert = certificate(st, &id, new, now)?;
        let details = Value::Object(cert_details(&cert));
        st.audit(head, now, actor, "cert.issue", &id, &details)?;
        loaded.certificates += 1;
    }

    let mut added: Vec<(RouteId, RouteSpec)> = Vec::with_capacity(routes.len());
    for spec in routes {
        let (route_id, spec_json) = route(st, &id, &spec, &added, now)?;
        let details = route_add_details(&route_id, &spec, &spec_json, false);
        st.audit(head, now, actor, "route.add", &id, &details)?;
        added.push((route_id, spec));
        loaded.routes += 1;
    }
    Ok(())
}

/// Checks and inserts one certificate (a first issue: its own lineage).
fn certificate(
    st: &mut Statements<'_>,
    tenant: &TenantId,
    new: NewCertificate,
    now: OffsetDateTime,
) -> Result<CertificateRecord, RegistryError> {
    let cert = bulk_certificate(tenant, new, now)?;
    let serial = cert.serial.to_string();
    if Statements::exists(&mut st.serial_taken, &serial)? {
        return Err(RegistryError::DuplicateSerial {
            serial: cert.serial,
        });
    }
    st.insert_cert
        .execute(params![
            serial,
            tenant.as_str(),
            cert.fingerprint.to_string(),
            cert.kind.as_str(),
            to_unix(cert.not_before),
            to_unix(cert.not_after),
            to_unix(now),
        ])
        .map_err(db("insert a certificate"))?;
    Ok(cert)
}

/// Checks one route against the tenant's routes added before it and inserts it under a
/// fresh random id; returns the id and the stored JSON.
fn route(
    st: &mut Statements<'_>,
    tenant: &TenantId,
    spec: &RouteSpec,
    earlier: &[(RouteId, RouteSpec)],
    now: OffsetDateTime,
) -> Result<(RouteId, String), RegistryError> {
    let spec_json = bulk_route(tenant, spec, earlier)?;
    let id = loop {
        let id = RouteId::random();
        if !Statements::exists(&mut st.route_taken, id.as_str())? {
            break id;
        }
    };
    st.insert_route
        .execute(params![
            id.as_str(),
            tenant.as_str(),
            spec_json,
            to_unix(now)
        ])
        .map_err(db("insert a route"))?;
    Ok((id, spec_json))
}

#[cfg(test)]
mod tests;
