//! The parts of every write that do not depend on the database: what a route addition must
//! pass, what a tenant update changes, the details each audit event carries, how the next
//! event of the chain is made, and when a read of the change log answers. Each SQL backend
//! reads and writes rows its own way and calls these for the rest, so that the backends
//! agree to the byte on what they record.

use std::net::IpAddr;

use mtls_identity::{AdminName, RevocationReason, Serial, TenantId};
use mtls_route_spec::RouteSpec;
use serde_json::{Map, Value, json};
use time::OffsetDateTime;

use crate::audit::chain_hash;
use crate::util::{audit_time, stored_time};
use crate::{
    Actor, AdminCertificateRecord, AuditEvent, CertificateRecord, Change, Changes, DeletedTenant,
    RegistryError, RouteId, RoutePolicy, RouteRecord, Snapshot, SnapshotBuilder, SnapshotTenant,
    TenantLimits, TenantRecord, TenantState, TenantUpdate,
};

/// The event that follows the head `(head_seq, head_hash)`: its `seq`, and its hash over
/// the previous one (the chain's rule, [`AuditEvent`]).
pub fn next_event(
    head_seq: u64,
    head_hash: &str,
    at: OffsetDateTime,
    actor: &Actor,
    action: &str,
    tenant: Option<&TenantId>,
    details: Value,
) -> AuditEvent {
    let seq = head_seq + 1;
    let hash = chain_hash(head_hash, seq, at, actor.as_str(), action, tenant, &details);
    AuditEvent {
        seq,
        at,
        actor: actor.as_str().to_owned(),
        action: action.to_owned(),
        tenant: tenant.cloned(),
        details,
        prev_hash: head_hash.to_owned(),
        hash,
    }
}

/// A certificate's validity as stored (whole seconds), or `None` when `not_after` is not
/// after `not_before`.
pub fn stored_validity(
    not_before: OffsetDateTime,
    not_after: OffsetDateTime,
) -> Option<(OffsetDateTime, OffsetDateTime)> {
    let (not_before, not_after) = (stored_time(not_before), stored_time(not_after));
    (not_after > not_before).then_some((not_before, not_after))
}

/// What the data plane keeps of a tenant record.
pub fn snapshot_tenant(t: TenantRecord) -> SnapshotTenant {
    SnapshotTenant {
        display_name: t.display_name,
        status: t.status,
        limits: t.limits,
        egress_address: t.egress_address,
    }
}

/// `registry.init`'s details.
pub fn init_details(trust_domain: &mtls_identity::TrustDomain, schema_version: u32) -> Value {
    json!({ "trust_domain": trust_domain.as_str(), "schema_version": schema_version })
}

// --- Tenants ---

/// The `limits` of `tenant.create`, `tenant.limits` and `tenant.update` details.
pub fn limits_details(limits: &TenantLimits) -> Value {
    json!({
        "max_connections": limits.max_connections,
        "requests_per_second": limits.requests_per_second,
    })
}

/// `tenant.create`'s details.
pub fn tenant_create_details(display_name: &str, limits: &TenantLimits) -> Value {
    json!({ "display_name": display_name, "limits": limits_details(limits) })
}

/// `tenant.delete`'s details.
pub fn tenant_delete_details(
    deleted: &DeletedTenant,
    reason: RevocationReason,
    at: OffsetDateTime,
) -> Value {
    json!({
        "revoked": deleted.revoked.iter().map(Serial::to_string).collect::<Vec<_>>(),
        "revocation_reason": reason.as_str(),
        "revoked_at": audit_time(at),
        "routes_removed": deleted.routes_removed,
        "tokens_removed": deleted.tokens_removed,
    })
}

/// What a [`TenantUpdate`] changes in a tenant: the tenant after it, and the
/// `tenant.update` details (`None`: nothing changed, write nothing).
#[derive(Debug)]
pub struct PlannedUpdate {
    /// The tenant with the update applied (`updated_at` untouched).
    pub tenant: TenantRecord,
    /// The event's details (`changed`, `from`, `to`), or `None` when nothing changed.
    pub details: Option<Value>,
}

/// Applies `update` to `tenant`: validates the limits, and asks `egress_owner` which other
/// tenant holds a new egress address (an IPv4-mapped IPv6 address counts as its IPv4
/// address, so one address has one spelling). Errors:
/// [`InvalidLimits`](RegistryError::InvalidLimits),
/// [`EgressAddressTaken`](RegistryError::EgressAddressTaken), those of `egress_owner`.
pub fn plan_tenant_update(
    mut tenant: TenantRecord,
    update: &TenantUpdate,
    mut egress_owner: impl FnMut(IpAddr) -> Result<Option<TenantId>, RegistryError>,
) -> Result<PlannedUpdate, RegistryError> {
    let mut changed = Vec::new();
    let mut from = Map::new();
    let mut to = Map::new();
    if let Some(limits) = update.limits {
        limits.validate()?;
        if limits != tenant.limits {
            changed.push("limits");
            from.insert("limits".into(), limits_details(&tenant.limits));
            to.insert("limits".into(), limits_details(&limits));
            tenant.limits = limits;
        }
    }
    if let Some(policy) = &update.route_policy
        && *policy != tenant.route_policy
    {
        changed.push("route_policy");
        from.insert("route_policy".into(), policy_value(&tenant.route_policy)?);
        to.insert("route_policy".into(), policy_value(policy)?);
        tenant.route_policy = policy.clone();
    }
    if let Some(address) = update.egress_address.map(|a| a.map(|a| a.to_canonical()))
        && address != tenant.egress_address
    {
        if let Some(address) = address
            && let Some(owner) = egress_owner(address)?
        {
            return Err(RegistryError::EgressAddressTaken { address, owner });
        }
        changed.push("egress_address");
        let text = |a: Option<IpAddr>| json!(a.map(|a| a.to_string()));
        from.insert("egress_address".into(), text(tenant.egress_address));
        to.insert("egress_address".into(), text(address));
        tenant.egress_address = address;
    }
    let details =
        (!changed.is_empty()).then(|| json!({ "changed": changed, "from": from, "to": to }));
    Ok(PlannedUpdate { tenant, details })
}

fn policy_value(policy: &RoutePolicy) -> Result<Value, RegistryError> {
    serde_json::to_value(policy).map_err(|source| RegistryError::Encode {
        what: "route policy",
        source,
    })
}

/// A route policy as stored (JSON text).
pub fn policy_text(policy: &RoutePolicy) -> Result<String, RegistryError> {
    serde_json::to_string(policy).map_err(|source| RegistryError::Encode {
        what: "route policy",
        source,
    })
}

// --- Certificates ---

/// The details every certificate-issuing event starts with.
pub fn cert_details(cert: &CertificateRecord) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("serial".into(), json!(cert.serial.to_string()));
    m.insert("fingerprint".into(), json!(cert.fingerprint.to_string()));
    m.insert("kind".into(), json!(cert.kind.as_str()));
    m.insert("not_before".into(), json!(audit_time(cert.not_before)));
    m.insert("not_after".into(), json!(audit_time(cert.not_after)));
    m
}

/// `cert.renew`'s details.
pub fn renew_details(
    cert: &CertificateRecord,
    presented: &Serial,
    recovered: bool,
    revoked_presented: bool,
) -> Value {
    let mut details = cert_details(cert);
    details.insert("presented".into(), json!(presented.to_string()));
    details.insert("lineage".into(), json!(cert.lineage.to_string()));
    details.insert("recovered".into(), json!(recovered));
    details.insert("revoked_presented".into(), json!(revoked_presented));
    Value::Object(details)
}

/// `cert.revoke`'s details.
pub fn revoke_details(serial: &Serial, reason: RevocationReason) -> Value {
    json!({
        "serial": serial.to_string(),
        "reason": reason.as_str(),
        "reason_code": reason.code(),
    })
}

/// `admin.cert.issue`'s details.
pub fn admin_issue_details(record: &AdminCertificateRecord) -> Value {
    json!({
        "admin": record.admin.as_str(),
        "serial": record.serial.to_string(),
        "fingerprint": record.fingerprint.to_string(),
        "not_before": audit_time(record.not_before),
        "not_after": audit_time(record.not_after),
    })
}

/// `admin.cert.revoke`'s details.
pub fn admin_revoke_details(admin: &AdminName, serial: &Serial, reason: RevocationReason) -> Value {
    let mut details = revoke_details(serial, reason);
    details["admin"] = json!(admin.as_str());
    details
}

// --- Routes and tokens ---

/// Checks a route `spec` being added to `tenant`, whose routes are `existing`: a valid new
/// route ([`RouteSpec::validate_new`]), within the tenant's route policy when the tenant
/// adds it itself (`self_service`), in conflict with none of that tenant's routes (tenants
/// never see each other's). The caller holds the write lock, so `existing` cannot change
/// before its commit. Returns the spec as stored (JSON text).
pub fn check_new_route(
    tenant: &TenantRecord,
    spec: &RouteSpec,
    existing: &[RouteRecord],
    self_service: bool,
) -> Result<String, RegistryError> {
    spec.validate_new()
        .map_err(|source| RegistryError::InvalidRoute {
            tenant: tenant.id.clone(),
            source,
        })?;
    if self_service {
        tenant
            .route_policy
            .check(spec, existing.len(), tenant.egress_address)
            .map_err(|violation| RegistryError::PolicyViolation {
                tenant: tenant.id.clone(),
                violation,
            })?;
    }
    if let Some(existing) = existing.iter().find(|r| spec.conflicts_with(&r.spec)) {
        return Err(RegistryError::RouteConflict {
            tenant: tenant.id.clone(),
            existing: existing.id.clone(),
        });
    }
    serde_json::to_string(spec).map_err(|source| RegistryError::Encode {
        what: "route spec",
        source,
    })
}

/// `route.add`'s details (`spec_json`: the spec as stored).
pub fn route_add_details(
    id: &RouteId,
    spec: &RouteSpec,
    spec_json: &str,
    self_service: bool,
) -> Value {
    let mut details = json!({
        "route": id.as_str(),
        "kind": spec.kind().as_str(),
        "summary": spec.summary(),
        "spec": serde_json::from_str::<Value>(spec_json).unwrap_or_default(),
    });
    if self_service {
        details["self_service"] = json!(true);
    }
    details
}

/// `route.remove`'s details.
pub fn route_remove_details(route: &RouteRecord) -> Value {
    json!({
        "route": route.id.as_str(),
        "kind": route.spec.kind().as_str(),
        "summary": route.spec.summary(),
    })
}

// --- The change log ---

/// A [`Delta`](crate::Delta) from the change list `changes` read after `version`:
/// [`Delta::Gap`](crate::Delta::Gap) when the list is a gap, stops short of the current
/// version (`current`, read in the same transaction), or holds a change that cannot be
/// applied tenant by tenant; else the changes with the state of every tenant they touched
/// (`state`).
pub fn delta_from(
    version: u64,
    changes: Changes,
    current: u64,
    state: impl FnMut(TenantId) -> Result<TenantState, RegistryError>,
) -> Result<crate::Delta, RegistryError> {
    let changes = match changes {
        Changes::Listed(changes) => changes,
        Changes::Gap { version } => return Ok(crate::Delta::Gap { version }),
    };
    let last = changes.last().map_or(version, |c| c.version);
    let now = current;
    let Some(touched) = crate::touched_tenants(&changes).filter(|_| now == last) else {
        return Ok(crate::Delta::Gap { version: now });
    };
    let tenants = touched.into_iter().map(state).collect::<Result<_, _>>()?;
    Ok(crate::Delta::Tenants {
        version: last,
        changes,
        tenants,
    })
}

/// The answer to "what changed after `version`" ([`Store::changes_since`]) when the
/// registry is at `current`: `read(limit)` reads the log's rows after `version` in version
/// order, at most `limit` (clamped to 1..=[`MAX_CHANGES_PER_READ`](crate::MAX_CHANGES_PER_READ)). A version the registry
/// never had (another copy, a restore) is a [`Changes::Gap`], the current one an empty
/// list; otherwise the rows are the answer when they start right after `version`, have no
/// hole and reach `current` (or fill `limit`), and a gap when not (events written before
/// the change log carry no version).
///
/// [`Store::changes_since`]: crate::Store::changes_since
pub fn changes_after(
    version: u64,
    current: u64,
    limit: usize,
    read: impl FnOnce(usize) -> Result<Vec<Change>, RegistryError>,
) -> Result<Changes, RegistryError> {
    if version > current {
        return Ok(Changes::Gap { version: current });
    }
    if version == current {
        return Ok(Changes::Listed(Vec::new()));
    }
    let limit = limit.clamp(1, crate::MAX_CHANGES_PER_READ);
    let changes = read(limit)?;
    let contiguous = changes
        .iter()
        .zip(version + 1..)
        .all(|(change, expected)| change.version == expected);
    let reaches = changes.len() == limit || changes.last().map(|c| c.version) == Some(current);
    if changes.is_empty() || !contiguous || !reaches {
        return Ok(Changes::Gap { version: current });
    }
    Ok(Changes::Listed(changes))
}

// --- One tenant's snapshot ---

/// Finishes a snapshot of one tenant ([`Store::tenant_snapshot`](crate::Store::tenant_snapshot)):
/// `builder` (at the registry's version) gets the tenant's `state` and, when `serial` is
/// not among its certificates, that certificate as `other_certificate` reads it (serial,
/// owner, revoked; `None` when unknown).
pub fn tenant_snapshot(
    mut builder: SnapshotBuilder,
    state: TenantState,
    serial: Option<&Serial>,
    other_certificate: impl FnOnce(&Serial) -> Result<Option<(Serial, TenantId, bool)>, RegistryError>,
) -> Result<Snapshot, RegistryError> {
    let tenant = state.id;
    if let Some(record) = state.tenant {
        builder.tenant(tenant.clone(), record)?;
        for route in state.routes {
            builder.route(route)?;
        }
    }
    let mut has_serial = false;
    for (cert, revoked) in state.certificates {
        has_serial |= Some(&cert) == serial;
        builder.certificate(cert, tenant.clone(), revoked)?;
    }
    if let Some(serial) = serial.filter(|_| !has_serial)
        && let Some((serial, owner, revoked)) = other_certificate(serial)?
    {
        builder.certificate(serial, owner, revoked)?;
    }
    Ok(builder.build())
}

/// A [`RegistryError::InvalidStoredValue`] for `column` holding `value`, from the parse
/// error it gets.
pub fn invalid_stored(
    column: &'static str,
    value: impl Into<String>,
) -> impl FnOnce(crate::BoxError) -> RegistryError {
    let value = value.into();
    move |source| RegistryError::InvalidStoredValue {
        column,
        value,
        source,
    }
}
