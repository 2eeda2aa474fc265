//! Certificate operations.

use mtls_identity::{RevocationReason, Serial, TenantId};
use rusqlite::{Connection, params};
use serde_json::{Value, json};

use crate::error::db;
use crate::rows::{CERT_COLUMNS, RawCert, query_all, query_one};
use crate::store::WriteTx;
use crate::tenants;
use mtls_registry::IssueFn;
use mtls_registry::backend::{audit_time, stored_time};

use crate::util::to_unix;
use mtls_registry::{Actor, CertificateRecord, RegistryError, TenantRecord};

pub(crate) fn get(conn: &Connection, serial: &Serial) -> Result<CertificateRecord, RegistryError> {
    query_one(
        conn,
        "read a certificate",
        &format!("SELECT {CERT_COLUMNS} FROM certificates WHERE serial = ?1"),
        [serial.to_string()],
        RawCert::from_row,
        RawCert::into_record,
    )?
    .ok_or_else(|| RegistryError::UnknownSerial {
        serial: serial.clone(),
    })
}

pub(crate) fn list(
    conn: &Connection,
    tenant: Option<&TenantId>,
) -> Result<Vec<CertificateRecord>, RegistryError> {
    match tenant {
        Some(t) => query_all(
            conn,
            "list certificates",
            &format!(
                "SELECT {CERT_COLUMNS} FROM certificates WHERE tenant = ?1 ORDER BY issued_at, rowid"
            ),
            [t.as_str()],
            RawCert::from_row,
            RawCert::into_record,
        ),
        None => query_all(
            conn,
            "list certificates",
            &format!("SELECT {CERT_COLUMNS} FROM certificates ORDER BY issued_at, rowid"),
            [],
            RawCert::from_row,
            RawCert::into_record,
        ),
    }
}

pub(crate) fn revoked(conn: &Connection) -> Result<Vec<CertificateRecord>, RegistryError> {
    query_all(
        conn,
        "list revoked certificates",
        &format!(
            "SELECT {CERT_COLUMNS} FROM certificates WHERE revoked_at IS NOT NULL
             ORDER BY revoked_at, rowid"
        ),
        [],
        RawCert::from_row,
        RawCert::into_record,
    )
}

/// Runs `issue` for `tenant` and inserts what it returns. Shared by direct issuance and
/// token redemption; the caller writes the audit event (whose details start with
/// [`cert_details`]).
pub(crate) fn issue_and_insert(
    w: &mut WriteTx<'_>,
    tenant: &TenantRecord,
    issue: &mut IssueFn<'_>,
) -> Result<CertificateRecord, RegistryError> {
    let new = issue(tenant).map_err(|source| RegistryError::Issue {
        tenant: tenant.id.clone(),
        source,
    })?;
    let invalid = |reason| RegistryError::InvalidCertificate {
        tenant: tenant.id.clone(),
        serial: new.serial.clone(),
        reason,
    };
    let not_before = stored_time(new.not_before);
    let not_after = stored_time(new.not_after);
    if not_after <= not_before {
        return Err(invalid("not_after is not after not_before"));
    }
    let serial_text = new.serial.to_string();
    let exists: bool =
        w.tx.query_row(
            "SELECT EXISTS (SELECT 1 FROM certificates WHERE serial = ?1)",
            [&serial_text],
            |r| r.get(0),
        )
        .map_err(db("check for a duplicate serial"))?;
    if exists {
        return Err(RegistryError::DuplicateSerial { serial: new.serial });
    }
    w.tx.execute(
        "INSERT INTO certificates (serial, tenant, fingerprint, kind, not_before, not_after, issued_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![
            serial_text,
            tenant.id.as_str(),
            new.fingerprint.to_string(),
            new.kind.as_str(),
            to_unix(not_before),
            to_unix(not_after),
            to_unix(w.now),
        ],
    )
    .map_err(db("insert a certificate"))?;
    Ok(CertificateRecord {
        serial: new.serial.clone(),
        tenant: tenant.id.clone(),
        fingerprint: new.fingerprint,
        kind: new.kind,
        not_before,
        not_after,
        issued_at: w.now,
        revoked_at: None,
        revocation_reason: None,
        // TEMPORARY (interface stage): lineage columns come with the registry helper's
        // migration.
        lineage: new.serial.clone(),
        renewed_from: None,
        recovered: false,
    })
}

/// The audit details of an issued certificate.
pub(crate) fn cert_details(cert: &CertificateRecord) -> serde_json::Map<String, Value> {
    let mut m = serde_json::Map::new();
    m.insert("serial".into(), json!(cert.serial.to_string()));
    m.insert("fingerprint".into(), json!(cert.fingerprint.to_string()));
    m.insert("kind".into(), json!(cert.kind.as_str()));
    m.insert("not_before".into(), json!(audit_time(cert.not_before)));
    m.insert("not_after".into(), json!(audit_time(cert.not_after)));
    m
}

pub(crate) fn record(
    w: &mut WriteTx<'_>,
    actor: &Actor,
    tenant: &TenantId,
    issue: &mut IssueFn<'_>,
) -> Result<CertificateRecord, RegistryError> {
    let tenant = tenants::get_active(&w.tx, tenant)?;
    let cert = issue_and_insert(w, &tenant, issue)?;
    w.audit(
        actor,
        "cert.issue",
        Some(&tenant.id),
        Value::Object(cert_details(&cert)),
    )?;
    Ok(cert)
}

pub(crate) fn revoke(
    w: &mut WriteTx<'_>,
    actor: &Actor,
    serial: &Serial,
    reason: RevocationReason,
) -> Result<CertificateRecord, RegistryError> {
    let mut cert = get(&w.tx, serial)?;
    if let Some(revoked_at) = cert.revoked_at {
        return Err(RegistryError::AlreadyRevoked {
            serial: serial.clone(),
            revoked_at,
        });
    }
    w.tx.execute(
        "UPDATE certificates SET revoked_at = ?2, revocation_reason = ?3 WHERE serial = ?1",
        params![serial.to_string(), to_unix(w.now), reason.as_str()],
    )
    .map_err(db("revoke a certificate"))?;
    w.audit(
        actor,
        "cert.revoke",
        Some(&cert.tenant),
        json!({
            "serial": serial.to_string(),
            "reason": reason.as_str(),
            "reason_code": reason.code(),
        }),
    )?;
    cert.revoked_at = Some(w.now);
    cert.revocation_reason = Some(reason);
    Ok(cert)
}
