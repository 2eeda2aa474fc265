//! Admin certificate operations. Admin certificates have their own table; their serials
//! are unique across it and the tenants' `certificates`.

use mtls_identity::Serial;
use rusqlite::Connection;

use crate::rows::{ADMIN_CERT_COLUMNS, RawAdminCert, query_all, query_one};
use mtls_registry::{AdminCertificateRecord, RegistryError};

pub(crate) fn get(
    conn: &Connection,
    serial: &Serial,
) -> Result<AdminCertificateRecord, RegistryError> {
    query_one(
        conn,
        "read an admin certificate",
        &format!("SELECT {ADMIN_CERT_COLUMNS} FROM admin_certificates WHERE serial = ?1"),
        [serial.to_string()],
        RawAdminCert::from_row,
        RawAdminCert::into_record,
    )?
    .ok_or_else(|| RegistryError::UnknownSerial {
        serial: serial.clone(),
    })
}

pub(crate) fn list(conn: &Connection) -> Result<Vec<AdminCertificateRecord>, RegistryError> {
    query_all(
        conn,
        "list admin certificates",
        &format!("SELECT {ADMIN_CERT_COLUMNS} FROM admin_certificates ORDER BY issued_at, rowid"),
        [],
        RawAdminCert::from_row,
        RawAdminCert::into_record,
    )
}
