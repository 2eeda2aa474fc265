//! Tenant operations.

use mtls_identity::{RevocationReason, Serial, TenantId};
use postgres::GenericClient;
use serde_json::json;

use crate::error::db;
use crate::rows::{TENANT_COLUMNS, limit_param, parse, query_all, query_one, scalar, tenant};
use crate::store::WriteTx;
use mtls_registry::backend::{
    limits_details, page_fetch, page_limit, plan_tenant_update, policy_text, tenant_create_details,
    tenant_cursor, tenant_cursor_of, tenant_delete_details,
};
use mtls_registry::{
    Actor, DeletedTenant, Page, PageCursor, RegistryError, TenantLimits, TenantRecord,
    TenantStatus, TenantUpdate, validate_display_name,
};

/// One tenant, or `UnknownTenant`.
pub(crate) fn get(
    client: &mut impl GenericClient,
    id: &TenantId,
) -> Result<TenantRecord, RegistryError> {
    query_one(
        client,
        "read a tenant",
        &format!("SELECT {TENANT_COLUMNS} FROM tenants WHERE id = $1"),
        &[&id.as_str()],
        tenant,
    )?
    .ok_or_else(|| RegistryError::UnknownTenant { id: id.clone() })
}

/// One tenant that must be active (for issuing certificates and tokens).
pub(crate) fn get_active(
    client: &mut impl GenericClient,
    id: &TenantId,
) -> Result<TenantRecord, RegistryError> {
    let tenant = get(client, id)?;
    if tenant.status != TenantStatus::Active {
        return Err(RegistryError::TenantSuspended { id: id.clone() });
    }
    Ok(tenant)
}

pub(crate) fn list(client: &mut impl GenericClient) -> Result<Vec<TenantRecord>, RegistryError> {
    query_all(
        client,
        "list tenants",
        &format!("SELECT {TENANT_COLUMNS} FROM tenants ORDER BY id"),
        &[],
        tenant,
    )
}

/// One page of tenants by id (a range read on the primary key), after the tenant id
/// `after` names.
pub(crate) fn page(
    client: &mut impl GenericClient,
    after: Option<&PageCursor>,
    limit: usize,
) -> Result<Page<TenantRecord>, RegistryError> {
    let limit = page_limit(limit);
    let after = after.map(tenant_cursor).transpose()?;
    let rows = query_all(
        client,
        "list a page of tenants",
        &format!(
            "SELECT {TENANT_COLUMNS} FROM tenants WHERE $1::TEXT IS NULL OR id > $1
             ORDER BY id LIMIT $2"
        ),
        &[&after.as_ref().map(TenantId::as_str), &page_fetch(limit)],
        tenant,
    )?;
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
    let exists: bool = scalar(
        &mut w.tx,
        "check for an existing tenant",
        "SELECT EXISTS (SELECT 1 FROM tenants WHERE id = $1)",
        &[&id.as_str()],
    )?;
    if exists {
        return Err(RegistryError::DuplicateTenant { id: id.clone() });
    }
    let now = w.now;
    w.tx.execute(
        "INSERT INTO tenants (id, display_name, status, max_connections, requests_per_second,
                              created_at, updated_at)
         VALUES ($1, $2, 'active', $3, $4, $5, $5)",
        &[
            &id.as_str(),
            &display_name,
            &limit_param(limits.max_connections),
            &limit_param(limits.requests_per_second),
            &now.unix_timestamp(),
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
    let mut tenant = get(&mut w.tx, id)?;
    if tenant.status == status {
        return Err(RegistryError::TenantAlreadyInStatus {
            id: id.clone(),
            status,
        });
    }
    w.tx.execute(
        "UPDATE tenants SET status = $2, updated_at = $3 WHERE id = $1",
        &[&id.as_str(), &status.as_str(), &w.now.unix_timestamp()],
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
    let mut tenant = get(&mut w.tx, id)?;
    w.tx.execute(
        "UPDATE tenants SET max_connections = $2, requests_per_second = $3, updated_at = $4
         WHERE id = $1",
        &[
            &id.as_str(),
            &limit_param(limits.max_connections),
            &limit_param(limits.requests_per_second),
            &w.now.unix_timestamp(),
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
    get(&mut w.tx, id)?;
    let reason = RevocationReason::CessationOfOperation;
    let rows =
        w.tx.query(
            "UPDATE certificates SET revoked_at = $2, revocation_reason = $3
             WHERE tenant = $1 AND revoked_at IS NULL
             RETURNING serial",
            &[&id.as_str(), &w.now.unix_timestamp(), &reason.as_str()],
        )
        .map_err(db("revoke a deleted tenant's certificates"))?;
    let mut revoked = rows
        .iter()
        .map(|r| parse("certificates.serial", r.get::<_, &str>(0)))
        .collect::<Result<Vec<Serial>, _>>()?;
    revoked.sort();
    let routes_removed =
        w.tx.execute("DELETE FROM routes WHERE tenant = $1", &[&id.as_str()])
            .map_err(db("delete a tenant's routes"))?;
    let tokens_removed =
        w.tx.execute("DELETE FROM tokens WHERE tenant = $1", &[&id.as_str()])
            .map_err(db("delete a tenant's tokens"))?;
    w.tx.execute("DELETE FROM tenants WHERE id = $1", &[&id.as_str()])
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
    let tenant = get(&mut w.tx, id)?;
    let tx = &mut w.tx;
    let planned = plan_tenant_update(tenant, update, |address| {
        let owner: Option<String> = tx
            .query_opt(
                "SELECT id FROM tenants WHERE egress_address = $1 AND id <> $2",
                &[&address.to_string(), &id.as_str()],
            )
            .map_err(db("look up an egress address"))?
            .map(|r| r.get(0));
        owner.map(|o| parse("tenants.id", &o)).transpose()
    })?;
    let mut tenant = planned.tenant;
    let Some(details) = planned.details else {
        w.nothing_changed();
        return Ok(tenant);
    };
    w.tx.execute(
        "UPDATE tenants SET max_connections = $2, requests_per_second = $3, route_policy = $4,
                            egress_address = $5, updated_at = $6
         WHERE id = $1",
        &[
            &id.as_str(),
            &limit_param(tenant.limits.max_connections),
            &limit_param(tenant.limits.requests_per_second),
            &policy_text(&tenant.route_policy)?,
            &tenant.egress_address.map(|a| a.to_string()),
            &w.now.unix_timestamp(),
        ],
    )
    .map_err(db("update a tenant"))?;
    w.audit(actor, "tenant.update", Some(id), details)?;
    tenant.updated_at = w.now;
    Ok(tenant)
}
