//! Certificate operations.

use mtls_identity::{Serial, TenantId};
use rusqlite::{Connection, Row};

use crate::paging::{RowCursor, page_params, row_page};
use crate::rows::{CERT_COLUMNS, RawCert, query_all, query_one};
use mtls_registry::backend::page_limit;

use crate::util::to_unix;
use mtls_registry::{CertificateRecord, Page, PageCursor, RegistryError};

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
