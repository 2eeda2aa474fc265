//! Certificate operations.

use mtls_identity::{RevocationReason, Serial, TenantId};
use rusqlite::{Connection, Row, params};
use serde_json::Value;

use crate::error::db;
use crate::paging::{RowCursor, page_params, row_page};
use crate::rows::{CERT_COLUMNS, RawCert, query_all, query_one};
use crate::store::WriteTx;
use crate::tenants;
use mtls_registry::IssueFn;
use mtls_registry::backend::{
    cert_details, page_limit, renew_details, revoke_details, stored_validity,
};

use crate::util::to_unix;
use mtls_registry::{
    Actor, CertificateRecord, Page, PageCursor, RegistryError, RenewalRequest, TenantRecord,
};

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

/// The SQL of a page of certificates: `?1` the tenant (when `of_tenant`), then the issue
/// time and rowid to start after (when `after`), then the number of rows.
pub(crate) fn page_sql(of_tenant: bool, after: bool) -> String {
    let select = format!("SELECT {CERT_COLUMNS}, rowid FROM certificates");
    let order = "ORDER BY issued_at, rowid";
    match (of_tenant, after) {
        (true, true) => {
            format!("{select} WHERE tenant = ?1 AND (issued_at, rowid) > (?2, ?3) {order} LIMIT ?4")
        }
        (true, false) => format!("{select} WHERE tenant = ?1 {order} LIMIT ?2"),
        (false, true) => format!("{select} WHERE (issued_at, rowid) > (?1, ?2) {order} LIMIT ?3"),
        (false, false) => format!("{select} {order} LIMIT ?1"),
    }
}

/// One page of certificates (of one tenant, or all) by issue time, after `after`. One
/// tenant's is a range read on `certificates_by_tenant`; every tenant's scans the table
/// (there is no index on the issue time alone: a listing of everything reads everything).
pub(crate) fn page(
    conn: &Connection,
    tenant: Option<&TenantId>,
    after: Option<&PageCursor>,
    limit: usize,
) -> Result<Page<CertificateRecord>, RegistryError> {
    const OPERATION: &str = "list a page of certificates";
    let limit = page_limit(limit);
    let after = after
        .map(|c| RowCursor::parse(c, "certificates", tenant))
        .transpose()?;
    let with_rowid = |row: &Row<'_>| Ok((RawCert::from_row(row)?, row.get::<_, i64>(12)?));
    let convert = |(raw, rowid): (RawCert, i64)| {
        let cert = raw.into_record()?;
        let cursor = RowCursor {
            tenant: Some(cert.tenant.clone()),
            at: to_unix(cert.issued_at),
            rowid,
        };
        Ok((cert, cursor))
    };
    let sql = page_sql(tenant.is_some(), after.is_some());
    let params = page_params(tenant, after.as_ref(), false, limit);
    let mut rows = query_all(conn, OPERATION, &sql, params, with_rowid, convert)?;
    if tenant.is_none() {
        // A listing of every tenant's certificates is not in tenant order: its cursors
        // name no tenant.
        for (_, cursor) in &mut rows {
            cursor.tenant = None;
        }
    }
    row_page(rows, limit, "certificates.tenant")
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

/// Where a new certificate sits in its renewal chain.
pub(crate) struct Lineage {
    /// The chain's first serial; `None`: the new certificate starts its own chain.
    pub(crate) lineage: Option<Serial>,
    /// The certificate it renews.
    pub(crate) renewed_from: Option<Serial>,
    /// Whether it recovers an expired certificate.
    pub(crate) recovered: bool,
}

// === impl Lineage ===

impl Lineage {
    /// A first issue (direct or by token): a chain of its own.
    pub(crate) const FIRST: Self = Self {
        lineage: None,
        renewed_from: None,
        recovered: false,
    };
}

/// Whether `serial` is recorded already, as a tenant's or an admin's certificate (a serial
/// is unique across both).
pub(crate) fn serial_taken(conn: &Connection, serial: &Serial) -> Result<bool, RegistryError> {
    conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM certificates WHERE serial = ?1)
             OR EXISTS (SELECT 1 FROM admin_certificates WHERE serial = ?1)",
        [serial.to_string()],
        |r| r.get(0),
    )
    .map_err(db("check for a duplicate serial"))
}

/// Runs `issue` for `tenant` and inserts what it returns. Shared by direct issuance, token
/// redemption and renewal; the caller writes the audit event (whose details start with
/// [`cert_details`]).
pub(crate) fn issue_and_insert(
    w: &mut WriteTx<'_>,
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
    if serial_taken(&w.tx, &new.serial)? {
        return Err(RegistryError::DuplicateSerial { serial: new.serial });
    }
    let lineage = chain.lineage.unwrap_or_else(|| new.serial.clone());
    w.tx.execute(
        "INSERT INTO certificates (serial, tenant, fingerprint, kind, not_before, not_after,
                                   issued_at, lineage, renewed_from, recovered)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
        params![
            new.serial.to_string(),
            tenant.id.as_str(),
            new.fingerprint.to_string(),
            new.kind.as_str(),
            to_unix(not_before),
            to_unix(not_after),
            to_unix(w.now),
            lineage.to_string(),
            chain.renewed_from.as_ref().map(Serial::to_string),
            chain.recovered,
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
        lineage,
        renewed_from: chain.renewed_from,
        recovered: chain.recovered,
    })
}

pub(crate) fn record(
    w: &mut WriteTx<'_>,
    actor: &Actor,
    tenant: &TenantId,
    issue: &mut IssueFn<'_>,
) -> Result<CertificateRecord, RegistryError> {
    let tenant = tenants::get_active(&w.tx, tenant)?;
    let cert = issue_and_insert(w, &tenant, issue, Lineage::FIRST)?;
    w.audit(
        actor,
        "cert.issue",
        Some(&tenant.id),
        Value::Object(cert_details(&cert)),
    )?;
    Ok(cert)
}

/// The certificate tables a serial can be revoked in.
#[derive(Debug, Clone, Copy)]
pub(crate) enum CertTable {
    /// Tenant certificates.
    Tenant,
    /// Admin certificates.
    Admin,
}

/// Marks one certificate of `table` revoked now for `reason` (the caller checked it exists
/// and is not revoked yet, and writes the audit event).
pub(crate) fn mark_revoked(
    w: &mut WriteTx<'_>,
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
            "UPDATE admin_certificates SET revoked_at = ?2, revocation_reason = ?3 WHERE serial = ?1",
            "revoke an admin certificate",
        ),
    };
    w.tx.execute(
        sql,
        params![serial.to_string(), to_unix(w.now), reason.as_str()],
    )
    .map_err(db(doing))?;
    Ok(())
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
    mark_revoked(w, CertTable::Tenant, serial, reason)?;
    w.audit(
        actor,
        "cert.revoke",
        Some(&cert.tenant),
        revoke_details(serial, reason),
    )?;
    cert.revoked_at = Some(w.now);
    cert.revocation_reason = Some(reason);
    Ok(cert)
}

/// How many certificates of `lineage` were issued by a recovery.
fn recoveries_in(conn: &Connection, lineage: &Serial) -> Result<u64, RegistryError> {
    conn.query_row(
        "SELECT count(*) FROM certificates WHERE lineage = ?1 AND recovered = 1",
        [lineage.to_string()],
        |r| r.get::<_, i64>(0),
    )
    .map(|n| n.max(0) as u64)
    .map_err(db("count a lineage's recoveries"))
}

pub(crate) fn renew(
    w: &mut WriteTx<'_>,
    actor: &Actor,
    request: &RenewalRequest,
    issue: &mut IssueFn<'_>,
) -> Result<CertificateRecord, RegistryError> {
    // Expiry is not checked here: whether an expired certificate may be recovered is the
    // caller's decision (it sets `request.recovery`).
    let presented = get(&w.tx, &request.presented)?;
    if let Some(revoked_at) = presented.revoked_at {
        return Err(RegistryError::AlreadyRevoked {
            serial: presented.serial,
            revoked_at,
        });
    }
    let tenant = tenants::get_active(&w.tx, &presented.tenant)?;
    if let Some(recovery) = request.recovery
        && recoveries_in(&w.tx, &presented.lineage)? >= u64::from(recovery.max_recoveries)
    {
        return Err(RegistryError::RecoveryLimitReached {
            lineage: presented.lineage,
            limit: recovery.max_recoveries,
        });
    }
    let recovered = request.recovery.is_some();
    let cert = issue_and_insert(
        w,
        &tenant,
        issue,
        Lineage {
            lineage: Some(presented.lineage.clone()),
            renewed_from: Some(presented.serial.clone()),
            recovered,
        },
    )?;
    let revoke_presented = recovered || request.revoke_presented;
    if revoke_presented {
        mark_revoked(
            w,
            CertTable::Tenant,
            &presented.serial,
            RevocationReason::Superseded,
        )?;
    }
    let details = renew_details(&cert, &presented.serial, recovered, revoke_presented);
    w.audit(actor, "cert.renew", Some(&tenant.id), details)?;
    Ok(cert)
}
