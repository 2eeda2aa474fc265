//! Tenant operations.

use mtls_identity::{RevocationReason, Serial, TenantId};

use rusqlite::{Connection, OptionalExtension, params};
use serde_json::json;

use crate::error::db;
use crate::paging::fetch;
use crate::rows::{RawTenant, TENANT_COLUMNS, parse, query_all, query_one};
use crate::store::WriteTx;
use mtls_registry::backend::{
    limits_details, page_limit, plan_tenant_update, policy_text, tenant_create_details,
    tenant_cursor, tenant_cursor_of, tenant_delete_details,
};

use crate::util::to_unix;
use mtls_registry::{
    Actor, DeletedTenant, Page, PageCursor, RegistryError, TenantLimits, TenantRecord,
    TenantStatus, TenantUpdate, validate_display_name,
};

/// Inserts a new, active tenant: id, display name, limits, creation time (also the update
/// time). Shared by `create` and the bulk load.
pub(crate) const INSERT_TENANT: &str =
    "INSERT INTO tenants (id, display_name, status, max_connections, requests_per_second,
                          created_at, updated_at)
     VALUES (?1, ?2, 'active', ?3, ?4, ?5, ?5)";

/// One tenant, or `UnknownTenant`.
pub(crate) fn get(conn: &Connection, id: &TenantId) -> Result<TenantRecord, RegistryError> {
    query_one(
        conn,
        "read a tenant",
        &format!("SELECT {TENANT_COLUMNS} FROM tenants WHERE id = ?1"),
        [id.as_str()],
        RawTenant::from_row,
        RawTenant::into_record,
    )?
    .ok_or_else(|| RegistryError::UnknownTenant { id: id.clone() })
}

/// One tenant that must be active (for issuing certificates and tokens).
pub(crate) fn get_active(conn: &Connection, id: &TenantId) -> Result<TenantRecord, RegistryError> {
    let tenant = get(conn, id)?;
    if tenant.status != TenantStatus::Active {
        return Err(RegistryError::TenantSuspended { id: id.clone() });
    }
    Ok(tenant)
}

pub(crate) fn list(conn: &Connection) -> Result<Vec<TenantRecord>, RegistryError> {
    query_all(
        conn,
        "list tenants",
        &format!("SELECT {TENANT_COLUMNS} FROM tenants ORDER BY id"),
        [],
        RawTenant::from_row,
        RawTenant::into_record,
    )
}

/// The SQL of a page of tenants: `?1` the id to start after (when `after`), then the
/// number of rows.
pub(crate) fn page_sql(after: bool) -> String {
    if after {
        format!("SELECT {TENANT_COLUMNS} FROM tenants WHERE id > ?1 ORDER BY id LIMIT ?2")
    } else {
        format!("SELECT {TENANT_COLUMNS} FROM tenants ORDER BY id LIMIT ?1")
    }
}

/// One page of tenants by id, after the tenant id `after` names.
pub(crate) fn page(
    conn: &Connection,
    after: Option<&PageCursor>,
    limit: usize,
) -> Result<Page<TenantRecord>, RegistryError> {
    let limit = page_limit(limit);
    let rows = match after.map(tenant_cursor).transpose()? {
        Some(after) => query_all(
            conn,
            "list a page of tenants",
            &page_sql(true),
            params![after.as_str(), fetch(limit)],
            RawTenant::from_row,
            RawTenant::into_record,
        )?,
        None => query_all(
            conn,
            "list a page of tenants",
            &page_sql(false),
            [fetch(limit)],
            RawTenant::from_row,
            RawTenant::into_record,
        )?,
    };
    Ok(Page::from_rows(rows, limit, |t| tenant_cursor_of(&t.id)))
}

pub(crate) fn create(
    w: &mut WriteTx<'_>,
    actor: &Actor,
    id: &TenantId,
    display_name: &str,
    limits: TenantLimits,
) -> Result<TenantRecord, RegistryError> {
    validate_display_name(display_name)?;
    limits.validate()?;
    let exists: bool =
        w.tx.query_row(
            "SELECT EXISTS (SELECT 1 FROM tenants WHERE id = ?1)",
            [id.as_str()],
            |r| r.get(0),
        )
        .map_err(db("check for an existing tenant"))?;
    if exists {
        return Err(RegistryError::DuplicateTenant { id: id.clone() });
    }
    let now = w.now;
    w.tx.execute(
        INSERT_TENANT,
        params![
            id.as_str(),
            display_name,
            limits.max_connections,
            limits.requests_per_second,
            to_unix(now),
        ],
    )
    .map_err(db("insert a tenant"))?;
    w.audit(
        actor,
        "tenant.create",
        Some(id),
        tenant_create_details(display_name, &limits),
    )?;
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

pub(crate) fn set_status(
    w: &mut WriteTx<'_>,
    actor: &Actor,
    id: &TenantId,
    status: TenantStatus,
) -> Result<TenantRecord, RegistryError> {
    let mut tenant = get(&w.tx, id)?;
    if tenant.status == status {
        return Err(RegistryError::TenantAlreadyInStatus {
            id: id.clone(),
            status,
        });
    }
    w.tx.execute(
        "UPDATE tenants SET status = ?2, updated_at = ?3 WHERE id = ?1",
        params![id.as_str(), status.as_str(), to_unix(w.now)],
    )
    .map_err(db("update a tenant's status"))?;
    w.audit(
        actor,
        status.audit_action(),
        Some(id),
        json!({ "from": tenant.status.as_str(), "to": status.as_str() }),
    )?;
    tenant.status = status;
    tenant.updated_at = w.now;
    Ok(tenant)
}

pub(crate) fn set_limits(
    w: &mut WriteTx<'_>,
    actor: &Actor,
    id: &TenantId,
    limits: TenantLimits,
) -> Result<TenantRecord, RegistryError> {
    limits.validate()?;
    let mut tenant = get(&w.tx, id)?;
    w.tx.execute(
        "UPDATE tenants SET max_connections = ?2, requests_per_second = ?3, updated_at = ?4
         WHERE id = ?1",
        params![
            id.as_str(),
            limits.max_connections,
            limits.requests_per_second,
            to_unix(w.now),
        ],
    )
    .map_err(db("update a tenant's limits"))?;
    w.audit(
        actor,
        "tenant.limits",
        Some(id),
        json!({ "from": limits_details(&tenant.limits), "to": limits_details(&limits) }),
    )?;
    tenant.limits = limits;
    tenant.updated_at = w.now;
    Ok(tenant)
}

pub(crate) fn delete(
    w: &mut WriteTx<'_>,
    actor: &Actor,
    id: &TenantId,
) -> Result<DeletedTenant, RegistryError> {
    get(&w.tx, id)?;
    let reason = RevocationReason::CessationOfOperation;
    let revoked: Vec<Serial> = {
        let mut stmt =
            w.tx.prepare(
                "UPDATE certificates SET revoked_at = ?2, revocation_reason = ?3
                 WHERE tenant = ?1 AND revoked_at IS NULL
                 RETURNING serial",
            )
            .map_err(db("revoke a deleted tenant's certificates"))?;
        let serials = stmt
            .query_map(params![id.as_str(), to_unix(w.now), reason.as_str()], |r| {
                r.get::<_, String>(0)
            })
            .and_then(|rows| rows.collect::<rusqlite::Result<Vec<String>>>())
            .map_err(db("revoke a deleted tenant's certificates"))?;
        let mut serials = serials
            .into_iter()
            .map(|s| parse("certificates.serial", s))
            .collect::<Result<Vec<Serial>, _>>()?;
        serials.sort();
        serials
    };
    let routes_removed =
        w.tx.execute("DELETE FROM routes WHERE tenant = ?1", [id.as_str()])
            .map_err(db("delete a tenant's routes"))?;
    let tokens_removed =
        w.tx.execute("DELETE FROM tokens WHERE tenant = ?1", [id.as_str()])
            .map_err(db("delete a tenant's tokens"))?;
    w.tx.execute("DELETE FROM tenants WHERE id = ?1", [id.as_str()])
        .map_err(db("delete a tenant"))?;
    let deleted = DeletedTenant {
        revoked,
        routes_removed: routes_removed as u32,
        tokens_removed: tokens_removed as u32,
    };
    w.audit(
        actor,
        "tenant.delete",
        Some(id),
        tenant_delete_details(&deleted, reason, w.now),
    )?;
    Ok(deleted)
}

pub(crate) fn update(
    w: &mut WriteTx<'_>,
    actor: &Actor,
    id: &TenantId,
    update: &TenantUpdate,
) -> Result<TenantRecord, RegistryError> {
    let tenant = get(&w.tx, id)?;
    let tx = &w.tx;
    let planned = plan_tenant_update(tenant, update, |address| {
        let owner: Option<String> = tx
            .query_row(
                "SELECT id FROM tenants WHERE egress_address = ?1 AND id != ?2",
                params![address.to_string(), id.as_str()],
                |r| r.get(0),
            )
            .optional()
            .map_err(db("look up an egress address"))?;
        owner.map(|o| parse("tenants.id", o)).transpose()
    })?;
    let mut tenant = planned.tenant;
    let Some(details) = planned.details else {
        w.nothing_changed();
        return Ok(tenant);
    };
    w.tx.execute(
        "UPDATE tenants SET max_connections = ?2, requests_per_second = ?3, route_policy = ?4,
                            egress_address = ?5, updated_at = ?6
         WHERE id = ?1",
        params![
            id.as_str(),
            tenant.limits.max_connections,
            tenant.limits.requests_per_second,
            policy_text(&tenant.route_policy)?,
            tenant.egress_address.map(|a| a.to_string()),
            to_unix(w.now),
        ],
    )
    .map_err(db("update a tenant"))?;
    w.audit(actor, "tenant.update", Some(id), details)?;
    tenant.updated_at = w.now;
    Ok(tenant)
}
