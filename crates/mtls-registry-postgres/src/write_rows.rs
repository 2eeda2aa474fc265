//! [`WriteRows`] in PostgreSQL's SQL: the rows every change reads and writes, inside the
//! open write transaction (under the registry's write lock). The changes themselves are
//! `mtls_registry::backend`'s, shared with the SQLite backend.

use std::net::IpAddr;

use mtls_identity::{RevocationReason, Serial, TenantId};
use serde_json::Value;
use time::OffsetDateTime;

use crate::error::db;
use crate::rows::{
    ADMIN_CERT_COLUMNS, CERT_COLUMNS, ROUTE_COLUMNS, TOKEN_COLUMNS, admin_cert, cert, limit_param,
    parse, query_one, route, scalar, token,
};
use crate::store::WriteTx;
use crate::{routes, tenants};
use mtls_registry::backend::{CertTable, WriteRows, policy_text};
use mtls_registry::{
    Actor, AdminCertificateRecord, AuditEvent, CertificateRecord, DeletedTenant, RegistryError,
    RouteId, RouteRecord, TenantLimits, TenantRecord, TenantStatus, TokenRecord,
};

// === impl WriteTx ===

impl WriteRows for WriteTx<'_> {
    fn now(&self) -> OffsetDateTime {
        self.now
    }

    fn append(
        &mut self,
        actor: &Actor,
        action: &str,
        tenant: Option<&TenantId>,
        details: Value,
        bump_version: bool,
    ) -> Result<AuditEvent, RegistryError> {
        self.append_event(actor, action, tenant, details, bump_version)
    }

    fn nothing_changed(&mut self) {
        self.audited = true;
    }

    fn tenant(&mut self, id: &TenantId) -> Result<Option<TenantRecord>, RegistryError> {
        tenants::find(&mut self.tx, id)
    }

    fn insert_tenant(
        &mut self,
        id: &TenantId,
        display_name: &str,
        limits: TenantLimits,
    ) -> Result<(), RegistryError> {
        self.tx
            .execute(
                "INSERT INTO tenants (id, display_name, status, max_connections,
                                      requests_per_second, created_at, updated_at)
                 VALUES ($1, $2, 'active', $3, $4, $5, $5)",
                &[
                    &id.as_str(),
                    &display_name,
                    &limit_param(limits.max_connections),
                    &limit_param(limits.requests_per_second),
                    &self.now.unix_timestamp(),
                ],
            )
            .map_err(db("insert a tenant"))?;
        Ok(())
    }

    fn set_status(&mut self, id: &TenantId, status: TenantStatus) -> Result<(), RegistryError> {
        self.tx
            .execute(
                "UPDATE tenants SET status = $2, updated_at = $3 WHERE id = $1",
                &[&id.as_str(), &status.as_str(), &self.now.unix_timestamp()],
            )
            .map_err(db("update a tenant's status"))?;
        Ok(())
    }

    fn update_settings(&mut self, tenant: &TenantRecord) -> Result<(), RegistryError> {
        self.tx
            .execute(
                "UPDATE tenants SET max_connections = $2, requests_per_second = $3,
                                    route_policy = $4, egress_address = $5, updated_at = $6
                 WHERE id = $1",
                &[
                    &tenant.id.as_str(),
                    &limit_param(tenant.limits.max_connections),
                    &limit_param(tenant.limits.requests_per_second),
                    &policy_text(&tenant.route_policy)?,
                    &tenant.egress_address.map(|a| a.to_string()),
                    &self.now.unix_timestamp(),
                ],
            )
            .map_err(db("update a tenant"))?;
        Ok(())
    }

    fn egress_owner(
        &mut self,
        address: IpAddr,
        except: &TenantId,
    ) -> Result<Option<TenantId>, RegistryError> {
        let owner: Option<String> = self
            .tx
            .query_opt(
                "SELECT id FROM tenants WHERE egress_address = $1 AND id <> $2",
                &[&address.to_string(), &except.as_str()],
            )
            .map_err(db("look up an egress address"))?
            .map(|r| r.get(0));
        owner.map(|o| parse("tenants.id", &o)).transpose()
    }

    fn delete_tenant_rows(
        &mut self,
        id: &TenantId,
        reason: RevocationReason,
    ) -> Result<DeletedTenant, RegistryError> {
        let rows = self
            .tx
            .query(
                "UPDATE certificates SET revoked_at = $2, revocation_reason = $3
                 WHERE tenant = $1 AND revoked_at IS NULL
                 RETURNING serial",
                &[&id.as_str(), &self.now.unix_timestamp(), &reason.as_str()],
            )
            .map_err(db("revoke a deleted tenant's certificates"))?;
        let revoked = rows
            .iter()
            .map(|r| parse("certificates.serial", r.get::<_, &str>(0)))
            .collect::<Result<Vec<Serial>, _>>()?;
        let routes_removed = self
            .tx
            .execute("DELETE FROM routes WHERE tenant = $1", &[&id.as_str()])
            .map_err(db("delete a tenant's routes"))?;
        let tokens_removed = self
            .tx
            .execute("DELETE FROM tokens WHERE tenant = $1", &[&id.as_str()])
            .map_err(db("delete a tenant's tokens"))?;
        self.tx
            .execute("DELETE FROM tenants WHERE id = $1", &[&id.as_str()])
            .map_err(db("delete a tenant"))?;
        Ok(DeletedTenant {
            revoked,
            routes_removed: routes_removed as u32,
            tokens_removed: tokens_removed as u32,
        })
    }

    fn certificate(&mut self, serial: &Serial) -> Result<Option<CertificateRecord>, RegistryError> {
        query_one(
            &mut self.tx,
            "read a certificate",
            &format!("SELECT {CERT_COLUMNS} FROM certificates WHERE serial = $1"),
            &[&serial.to_string()],
            cert,
        )
    }

    fn serial_taken(&mut self, serial: &Serial) -> Result<bool, RegistryError> {
        scalar(
            &mut self.tx,
            "check for a duplicate serial",
            "SELECT EXISTS (SELECT 1 FROM certificates WHERE serial = $1)
                 OR EXISTS (SELECT 1 FROM admin_certificates WHERE serial = $1)",
            &[&serial.to_string()],
        )
    }

    fn insert_certificate(&mut self, c: &CertificateRecord) -> Result<(), RegistryError> {
        self.tx
            .execute(
                "INSERT INTO certificates (serial, tenant, fingerprint, kind, not_before,
                                           not_after, issued_at, lineage, renewed_from,
                                           recovered)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
                &[
                    &c.serial.to_string(),
                    &c.tenant.as_str(),
                    &c.fingerprint.to_string(),
                    &c.kind.as_str(),
                    &c.not_before.unix_timestamp(),
                    &c.not_after.unix_timestamp(),
                    &c.issued_at.unix_timestamp(),
                    &c.lineage.to_string(),
                    &c.renewed_from.as_ref().map(Serial::to_string),
                    &c.recovered,
                ],
            )
            .map_err(db("insert a certificate"))?;
        Ok(())
    }

    fn mark_revoked(
        &mut self,
        table: CertTable,
        serial: &Serial,
        reason: RevocationReason,
    ) -> Result<(), RegistryError> {
        let table = match table {
            CertTable::Tenant => "certificates",
            CertTable::Admin => "admin_certificates",
        };
        self.tx
            .execute(
                &format!(
                    "UPDATE {table} SET revoked_at = $2, revocation_reason = $3 WHERE serial = $1"
                ),
                &[
                    &serial.to_string(),
                    &self.now.unix_timestamp(),
                    &reason.as_str(),
                ],
            )
            .map_err(db("revoke a certificate"))?;
        Ok(())
    }

    fn recoveries(&mut self, lineage: &Serial) -> Result<u64, RegistryError> {
        let n: i64 = scalar(
            &mut self.tx,
            "count a lineage's recoveries",
            "SELECT count(*) FROM certificates WHERE lineage = $1 AND recovered",
            &[&lineage.to_string()],
        )?;
        Ok(n.max(0) as u64)
    }

    fn admin_certificate(
        &mut self,
        serial: &Serial,
    ) -> Result<Option<AdminCertificateRecord>, RegistryError> {
        query_one(
            &mut self.tx,
            "read an admin certificate",
            &format!("SELECT {ADMIN_CERT_COLUMNS} FROM admin_certificates WHERE serial = $1"),
            &[&serial.to_string()],
            admin_cert,
        )
    }

    fn insert_admin_certificate(
        &mut self,
        r: &AdminCertificateRecord,
    ) -> Result<(), RegistryError> {
        self.tx
            .execute(
                "INSERT INTO admin_certificates (serial, admin, fingerprint, not_before,
                                                 not_after, issued_at)
                 VALUES ($1, $2, $3, $4, $5, $6)",
                &[
                    &r.serial.to_string(),
                    &r.admin.as_str(),
                    &r.fingerprint.to_string(),
                    &r.not_before.unix_timestamp(),
                    &r.not_after.unix_timestamp(),
                    &r.issued_at.unix_timestamp(),
                ],
            )
            .map_err(db("insert an admin certificate"))?;
        Ok(())
    }

    fn routes_of(&mut self, tenant: &TenantId) -> Result<Vec<RouteRecord>, RegistryError> {
        routes::list(&mut self.tx, Some(tenant))
    }

    fn route(&mut self, id: &RouteId) -> Result<Option<RouteRecord>, RegistryError> {
        query_one(
            &mut self.tx,
            "read a route",
            &format!("SELECT {ROUTE_COLUMNS} FROM routes WHERE id = $1"),
            &[&id.as_str()],
            route,
        )
    }

    fn route_id_taken(&mut self, id: &RouteId) -> Result<bool, RegistryError> {
        scalar(
            &mut self.tx,
            "check a new route id",
            "SELECT EXISTS (SELECT 1 FROM routes WHERE id = $1)",
            &[&id.as_str()],
        )
    }

    fn insert_route(
        &mut self,
        id: &RouteId,
        tenant: &TenantId,
        spec_json: &str,
    ) -> Result<(), RegistryError> {
        self.tx
            .execute(
                "INSERT INTO routes (id, tenant, spec, created_at) VALUES ($1, $2, $3, $4)",
                &[
                    &id.as_str(),
                    &tenant.as_str(),
                    &spec_json,
                    &self.now.unix_timestamp(),
                ],
            )
            .map_err(db("insert a route"))?;
        Ok(())
    }

    fn delete_route(&mut self, id: &RouteId) -> Result<(), RegistryError> {
        self.tx
            .execute("DELETE FROM routes WHERE id = $1", &[&id.as_str()])
            .map_err(db("delete a route"))?;
        Ok(())
    }

    fn insert_token(&mut self, t: &TokenRecord, secret_hash: &str) -> Result<(), RegistryError> {
        self.tx
            .execute(
                "INSERT INTO tokens (id, tenant, secret_sha256, created_at, expires_at)
                 VALUES ($1, $2, $3, $4, $5)",
                &[
                    &t.id,
                    &t.tenant.as_str(),
                    &secret_hash,
                    &t.created_at.unix_timestamp(),
                    &t.expires_at.unix_timestamp(),
                ],
            )
            .map_err(db("insert an enrollment token"))?;
        Ok(())
    }

    fn token_by_hash(
        &mut self,
        secret_hash: &str,
    ) -> Result<Option<(TokenRecord, String)>, RegistryError> {
        let row = self
            .tx
            .query_opt(
                &format!(
                    "SELECT {TOKEN_COLUMNS}, secret_sha256 FROM tokens WHERE secret_sha256 = $1"
                ),
                &[&secret_hash],
            )
            .map_err(db("look up an enrollment token"))?;
        row.map(|r| Ok((token(&r)?, r.get::<_, String>(5))))
            .transpose()
    }

    fn mark_token_used(&mut self, id: &str) -> Result<bool, RegistryError> {
        let updated = self
            .tx
            .execute(
                "UPDATE tokens SET used_at = $2 WHERE id = $1 AND used_at IS NULL",
                &[&id, &self.now.unix_timestamp()],
            )
            .map_err(db("mark an enrollment token used"))?;
        Ok(updated == 1)
    }
}
