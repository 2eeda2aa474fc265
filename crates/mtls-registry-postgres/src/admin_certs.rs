//! Admin certificate operations: their own table, serials unique across it and the
//! tenants' `certificates`.

use mtls_identity::{AdminName, RevocationReason, Serial};
use postgres::GenericClient;

use crate::certs::{mark_revoked, serial_taken};
use crate::error::db;
use crate::rows::{ADMIN_CERT_COLUMNS, admin_cert, query_all, query_one};
use crate::store::WriteTx;
use mtls_registry::backend::{admin_issue_details, admin_revoke_details, stored_validity};
use mtls_registry::{Actor, AdminCertificateRecord, AdminIssueFn, RegistryError};

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

pub(crate) fn record(
    w: &mut WriteTx<'_>,
    actor: &Actor,
    admin: &AdminName,
    issue: &mut AdminIssueFn<'_>,
) -> Result<AdminCertificateRecord, RegistryError> {
    let new = issue(admin).map_err(|source| RegistryError::AdminIssue {
        admin: admin.clone(),
        source,
    })?;
    let Some((not_before, not_after)) = stored_validity(new.not_before, new.not_after) else {
        return Err(RegistryError::InvalidAdminCertificate {
            admin: admin.clone(),
            serial: new.serial,
            reason: "not_after is not after not_before",
        });
    };
    if serial_taken(&mut w.tx, &new.serial)? {
        return Err(RegistryError::DuplicateSerial { serial: new.serial });
    }
    w.tx.execute(
        "INSERT INTO admin_certificates (serial, admin, fingerprint, not_before, not_after,
                                         issued_at)
         VALUES ($1, $2, $3, $4, $5, $6)",
        &[
            &new.serial.to_string(),
            &admin.as_str(),
            &new.fingerprint.to_string(),
            &not_before.unix_timestamp(),
            &not_after.unix_timestamp(),
            &w.now.unix_timestamp(),
        ],
    )
    .map_err(db("insert an admin certificate"))?;
    let record = AdminCertificateRecord {
        serial: new.serial,
        admin: admin.clone(),
        fingerprint: new.fingerprint,
        not_before,
        not_after,
        issued_at: w.now,
        revoked_at: None,
        revocation_reason: None,
    };
    w.audit(
        actor,
        "admin.cert.issue",
        None,
        admin_issue_details(&record),
    )?;
    Ok(record)
}

pub(crate) fn revoke(
    w: &mut WriteTx<'_>,
    actor: &Actor,
    serial: &Serial,
    reason: RevocationReason,
) -> Result<AdminCertificateRecord, RegistryError> {
    let mut cert = get(&mut w.tx, serial)?;
    if let Some(revoked_at) = cert.revoked_at {
        return Err(RegistryError::AlreadyRevoked {
            serial: serial.clone(),
            revoked_at,
        });
    }
    mark_revoked(w, "admin_certificates", serial, reason)?;
    w.audit(
        actor,
        "admin.cert.revoke",
        None,
        admin_revoke_details(&cert.admin, serial, reason),
    )?;
    cert.revoked_at = Some(w.now);
    cert.revocation_reason = Some(reason);
    Ok(cert)
}
