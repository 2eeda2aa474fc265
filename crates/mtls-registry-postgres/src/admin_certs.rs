//! Admin certificate operations: their own table, serials unique across it and the
//! tenants' `certificates`.

use mtls_identity::Serial;
use postgres::GenericClient;

use crate::rows::{ADMIN_CERT_COLUMNS, admin_cert, query_all, query_one};
use mtls_registry::{AdminCertificateRecord, RegistryError};

pub(crate) fn get(
    client: &mut impl GenericClient,
    serial: &Serial,
) -> Result<AdminCertificateRecord, RegistryError> {
    query_one(
        client,
        "read an admin certificate",
        &format!("SELECT {ADMIN_CERT_COLUMNS} FROM admin_certificates WHERE serial = $1"),
        &[&serial.to_string()],
        admin_cert,
    )?
    .ok_or_else(|| RegistryError::UnknownSerial {
        serial: serial.clone(),
    })
}

pub(crate) fn list(
    client: &mut impl GenericClient,
) -> Result<Vec<AdminCertificateRecord>, RegistryError> {
    query_all(
        client,
        "list admin certificates",
        &format!("SELECT {ADMIN_CERT_COLUMNS} FROM admin_certificates ORDER BY issued_at, rowid"),
        &[],
        admin_cert,
    )
}
