//! [`WriteRows`] in SQLite's SQL: the rows every change reads and writes, inside the open
//! `BEGIN IMMEDIATE` transaction. The changes themselves are `mtls_registry::backend`'s,
//! shared with the PostgreSQL backend.

use std::net::IpAddr;

use mtls_identity::{RevocationReason, Serial, TenantId};
use rusqlite::{OptionalExtension, params};
use serde_json::Value;
use time::OffsetDateTime;

use crate::error::db;
use crate::rows::{
    ADMIN_CERT_COLUMNS, CERT_COLUMNS, ROUTE_COLUMNS, RawAdminCert, RawCert, RawRoute, RawTenant,
    RawToken, TENANT_COLUMNS, TOKEN_COLUMNS, parse, query_one,
};
use crate::store::WriteTx;
use crate::util::to_unix;
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
        query_one(
            &self.tx,
            "read a tenant",
            &format!("SELECT {TENANT_COLUMNS} FROM tenants WHERE id = ?1"),
            [id.as_str()],
            RawTenant::from_row,
            RawTenant::into_record,
        )
    }

    fn insert_tenant(
        &mut self,
        id: &TenantId,
        display_name: &str,
        limits: TenantLimits,
    ) -> Result<(), RegistryError> {
        self.tx
            .execute(
                tenants::INSERT_TENANT,
                params![
                    id.as_str(),
                    display_name,
                    limits.max_connections,
                    limits.requests_per_second,
                    to_unix(self.now),
                ],
            )
            .map_err(db("insert a tenant"))?;
        Ok(())
    }

    fn set_status(&mut self, id: &TenantId, status: TenantStatus) -> Result<(), RegistryError> {
        self.tx
            .execute(
                "UPDATE tenants SET status = ?2, updated_at = ?3 WHERE id = ?1",
                params![id.as_str(), status.as_str(), to_unix(self.now)],
            )
            .map_err(db("update a tenant's status"))?;
        Ok(())
    }

    fn update_settings(&mut self, tenant: &TenantRecord) -> Result<(), RegistryError> {
        self.tx
            .execute(
                "UPDATE tenants SET max_connections = ?2, requests_per_second = ?3,
                                    route_policy = ?4, egress_address = ?5, updated_at = ?6
                 WHERE id = ?1",
                params![
                    tenant.id.as_str(),
                    tenant.limits.max_connections,
                    tenant.limits.requests_per_second,
                    policy_text(&tenant.route_policy)?,
                    tenant.egress_address.map(|a| a.to_string()),
                    to_unix(self.now),
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
            .query_row(
                "SELECT id FROM tenants WHERE egress_address = ?1 AND id != ?2",
                params![address.to_string(), except.as_str()],
                |r| r.get(0),
            )
            .optional()
            .map_err(db("look up an egress address"))?;
        owner.map(|o| parse("tenants.id", o)).transpose()
    }

    fn delete_tenant_rows(
        &mut self,
        id: &TenantId,
        reason: RevocationReason,
    ) -> Result<DeletedTenant, RegistryError> {
        let serials = {
            let mut stmt = self
                .tx
                .prepare(
                    "UPDATE certificates SET revoked_at = ?2, revocation_reason = ?3
                     WHERE tenant = ?1 AND revoked_at IS NULL
                     RETURNING serial",
                )
                .map_err(db("revoke a deleted tenant's certificates"))?;
            stmt.query_map(
                params![id.as_str(), to_unix(self.now), reason.as_str()],
                |r| r.get::<_, String>(0),
            )
            .and_then(|rows| rows.collect::<rusqlite::Result<Vec<String>>>())
            .map_err(db("revoke a deleted tenant's certificates"))?
        };
        let revoked = serials
            .into_iter()
            .map(|s| parse("certificates.serial", s))
            .collect::<Result<Vec<Serial>, _>>()?;
        let routes_removed = self
            .tx
            .execute("DELETE FROM routes WHERE tenant = ?1", [id.as_str()])
            .map_err(db("delete a tenant's routes"))?;
        let tokens_removed = self
            .tx
            .execute("DELETE FROM tokens WHERE tenant = ?1", [id.as_str()])
            .map_err(db("delete a tenant's tokens"))?;
        self.tx
            .execute("DELETE FROM tenants WHERE id = ?1", [id.as_str()])
            .map_err(db("delete a tenant"))?;
        Ok(DeletedTenant {
            revoked,
            routes_removed: routes_removed as u32,
            tokens_removed: tokens_removed as u32,
        })
    }

    fn certificate(&mut self, serial: &Serial) -> Result<Option<CertificateRecord>, RegistryError> {
        query_one(
            &self.tx,
            "read a certificate",
            &format!("SELECT {CERT_COLUMNS} FROM certificates WHERE serial = ?1"),
            [serial.to_string()],
            RawCert::from_row,
            RawCert::into_record,
        )
    }

    fn serial_taken(&mut self, serial: &Serial) -> Result<bool, RegistryError> {
        self.tx
            .query_row(
                "SELECT EXISTS (SELECT 1 FROM certificates WHERE serial = ?1)
                     OR EXISTS (SELECT 1 FROM admin_certificates WHERE serial = ?1)",
                [serial.to_string()],
                |r| r.get(0),
            )
            .map_err(db("check for a duplicate serial"))
    }

    fn insert_certificate(&mut self, c: &CertificateRecord) -> Result<(), RegistryError> {
        self.tx
            .execute(
                "INSERT INTO certificates (serial, tenant, fingerprint, kind, not_before,
                                           not_after, issued_at, lineage, renewed_from,
                                           recovered)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
                params![
                    c.serial.to_string(),
                    c.tenant.as_str(),
                    c.fingerprint.to_string(),
                    c.kind.as_str(),
                    to_unix(c.not_before),
                    to_unix(c.not_after),
                    to_unix(c.issued_at),
                    c.lineage.to_string(),
                    c.renewed_from.as_ref().map(Serial::to_string),
                    c.recovered,
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
        let (sql, doing) = match table {
            CertTable::Tenant => (
                "UPDATE certificates SET revoked_at = ?2, revocation_reason = ?3 WHERE serial = ?1",
                "revoke a certificate",
            ),
            CertTable::Admin => (
                "UPDATE admin_certificates SET revoked_at = ?2, revocation_reason = ?3
                 WHERE serial = ?1",
                "revoke an admin certificate",
            ),
        };
        self.tx
            .execute(
                sql,
                params![serial.to_string(), to_unix(self.now), reason.as_str()],
            )
            .map_err(db(doing))?;
        Ok(())
    }

    fn recoveries(&mut self, lineage: &Serial) -> Result<u64, RegistryError> {
        self.tx
            .query_row(
                "SELECT count(*) FROM certificates WHERE lineage = ?1 AND recovered = 1",
                [lineage.to_string()],
                |r| r.get::<_, i64>(0),
            )
            .map(|n| n.max(0) as u64)
            .map_err(db("count a lineage's recoveries"))
    }

    fn admin_certificate(
        &mut self,
        serial: &Serial,
    ) -> Result<Option<AdminCertificateRecord>, RegistryError> {
        query_one(
            &self.tx,
            "read an admin certificate",
            &format!("SELECT {ADMIN_CERT_COLUMNS} FROM admin_certificates WHERE serial = ?1"),
            [serial.to_string()],
            RawAdminCert::from_row,
            RawAdminCert::into_record,
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
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![
                    r.serial.to_string(),
                    r.admin.as_str(),
                    r.fingerprint.to_string(),
                    to_unix(r.not_before),
                    to_unix(r.not_after),
                    to_unix(r.issued_at),
                ],
            )
            .map_err(db("insert an admin certificate"))?;
        Ok(())
    }

    fn routes_of(&mut self, tenant: &TenantId) -> Result<Vec<RouteRecord>, RegistryError> {
        routes::list(&self.tx, Some(tenant))
    }

    fn route(&mut self, id: &RouteId) -> Result<Option<RouteRecord>, RegistryError> {
        query_one(
            &self.tx,
            "read a route",
            &format!("SELECT {ROUTE_COLUMNS} FROM routes WHERE id = ?1"),
            [id.as_str()],
            RawRoute::from_row,
            RawRoute::into_record,
        )
    }

    fn route_id_taken(&mut self, id: &RouteId) -> Result<bool, RegistryError> {
        self.tx
            .query_row(
                "SELECT EXISTS (SELECT 1 FROM routes WHERE id = ?1)",
                [id.as_str()],
                |r| r.get(0),
            )
            .map_err(db("check a new route id"))
    }

    fn insert_route(
        &mut self,
        id: &RouteId,
        tenant: &TenantId,
        spec_json: &str,
    ) -> Result<(), RegistryError> {
        self.tx
            .execute(
                routes::INSERT_ROUTE,
                params![id.as_str(), tenant.as_str(), spec_json, to_unix(self.now)],
            )
            .map_err(db("insert a route"))?;
        Ok(())
    }

    fn delete_route(&mut self, id: &RouteId) -> Result<(), RegistryError> {
        self.tx
            .execute("DELETE FROM routes WHERE id = ?1", [id.as_str()])
            .map_err(db("delete a route"))?;
        Ok(())
    }

    fn insert_token(&mut self, t: &TokenRecord, secret_hash: &str) -> Result<(), RegistryError> {
        self.tx
            .execute(
                "INSERT INTO tokens (id, tenant, secret_sha256, created_at, expires_at)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![
                    t.id,
                    t.tenant.as_str(),
                    secret_hash,
                    to_unix(t.created_at),
                    to_unix(t.expires_at),
                ],
            )
            .map_err(db("insert an enrollment token"))?;
        Ok(())
    }

    fn token_by_hash(
        &mut self,
        secret_hash: &str,
    ) -> Result<Option<(TokenRecord, String)>, RegistryError> {
        query_one(
            &self.tx,
            "look up an enrollment token",
            &format!("SELECT {TOKEN_COLUMNS}, secret_sha256 FROM tokens WHERE secret_sha256 = ?1"),
            [secret_hash],
            |row| Ok((RawToken::from_row(row)?, row.get::<_, String>(5)?)),
            |(raw, hash)| Ok((raw.into_record()?, hash)),
        )
    }

    fn mark_token_used(&mut self, id: &str) -> Result<bool, RegistryError> {
        let updated = self
            .tx
            .execute(
                "UPDATE tokens SET used_at = ?2 WHERE id = ?1 AND used_at IS NULL",
                params![id, to_unix(self.now)],
            )
            .map_err(db("mark an enrollment token used"))?;
        Ok(updated == 1)
    }
}
