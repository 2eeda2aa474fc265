//! Certificate operations.

use mtls_identity::{Serial, TenantId};
use postgres::GenericClient;

use crate::error::db;
use crate::paging::{page_clause, refs};
use crate::rows::{CERT_COLUMNS, cert, col, query_all, query_one};
use mtls_registry::backend::{RowCursor, page_limit, row_page};
use mtls_registry::{CertificateRecord, Page, PageCursor, RegistryError};

pub(crate) fn get(
    client: &mut impl GenericClient,
    serial: &Serial,
) -> Result<CertificateRecord, RegistryError> {
    query_one(
        client,
        "read a certificate",
        &format!("SELECT {CERT_COLUMNS} FROM certificates WHERE serial = $1"),
        &[&serial.to_string()],
        cert,
    )?
    .ok_or_else(|| RegistryError::UnknownSerial {
        serial: serial.clone(),
    })
}

pub(crate) fn list(
    client: &mut impl GenericClient,
    tenant: Option<&TenantId>,
) -> Result<Vec<CertificateRecord>, RegistryError> {
    query_all(
        client,
        "list certificates",
        &format!(
            "SELECT {CERT_COLUMNS} FROM certificates WHERE $1::TEXT IS NULL OR tenant = $1
             ORDER BY issued_at, rowid"
        ),
        &[&tenant.map(TenantId::as_str)],
        cert,
    )
}

/// One page of certificates (of one tenant, or all) by issue time, after `after`.
pub(crate) fn page(
    client: &mut impl GenericClient,
    tenant: Option<&TenantId>,
    after: Option<&PageCursor>,
    limit: usize,
) -> Result<Page<CertificateRecord>, RegistryError> {
    let limit = page_limit(limit);
    let after = after
        .map(|c| RowCursor::parse(c, "certificates", tenant))
        .transpose()?;
    let (clause, params) = page_clause("issued_at", tenant, after.as_ref(), false, limit);
    let rows = client
        .query(
            &format!("SELECT {CERT_COLUMNS}, rowid FROM certificates{clause}"),
            &refs(&params),
        )
        .map_err(db("list a page of certificates"))?;
    let rows = rows
        .iter()
        .map(|row| {
            let cert = cert(row)?;
            // A listing of every tenant's certificates is not in tenant order: its cursors
            // name no tenant.
            let cursor = RowCursor {
                tenant: tenant.map(|_| cert.tenant.clone()),
                at: cert.issued_at.unix_timestamp(),
                rowid: col(row, 12)?,
            };
            Ok((cert, cursor))
        })
        .collect::<Result<Vec<_>, RegistryError>>()?;
    row_page(rows, limit, "certificates.tenant")
}

pub(crate) fn revoked(
    client: &mut impl GenericClient,
) -> Result<Vec<CertificateRecord>, RegistryError> {
    query_all(
        client,
        "list revoked certificates",
        &format!(
            "SELECT {CERT_COLUMNS} FROM certificates WHERE revoked_at IS NOT NULL
             ORDER BY revoked_at, rowid"
        ),
        &[],
        cert,
    )
}
