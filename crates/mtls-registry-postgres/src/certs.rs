//! Certificate operations.

use mtls_identity::{RevocationReason, Serial, TenantId};
use postgres::GenericClient;
use serde_json::Value;

use crate::error::db;
use crate::paging::{page_clause, refs};
use crate::rows::{CERT_COLUMNS, cert, col, query_all, query_one, scalar};
use crate::store::WriteTx;
use crate::tenants;
use mtls_registry::backend::{
    RowCursor, cert_details, page_limit, renew_details, revoke_details, row_page, stored_validity,
};
use mtls_registry::{
    Actor, CertificateRecord, IssueFn, Page, PageCursor, RegistryError, RenewalRequest,
    TenantRecord,
};

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

/// Where a new certificate sits in its renewal chain.
pub(crate) struct Lineage {
    /// The chain's first serial; `None`: the new certificate starts its own chain.
    pub(crate) lineage: Option<Serial>,
    /// The certificate it renews.
    pub(crate) renewed_from: Option<Serial>,
    /// Whether it recovers an expired certificate.
    pub(crate) recovered: bool,
}

impl Lineage {
    /// A first issue (direct or by token): a chain of its own.
    pub(crate) const FIRST: Self = Self {
        lineage: None,
        renewed_from: None,
        recovered: false,
    };
}

/// Whether `serial` is recorded already, as a tenant's or an admin's certificate.
pub(crate) fn serial_taken(
    client: &mut impl GenericClient,
    serial: &Serial,
) -> Result<bool, RegistryError> {
    scalar(
        client,
        "check for a duplicate serial",
        "SELECT EXISTS (SELECT 1 FROM certificates WHERE serial = $1)
             OR EXISTS (SELECT 1 FROM admin_certificates WHERE serial = $1)",
        &[&serial.to_string()],
    )
}

/// Runs `issue` for `tenant` and inserts what it returns (direct issuance, token redemption
/// and renewal); the caller writes the audit event.
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
    if serial_taken(&mut w.tx, &new.serial)? {
        return Err(RegistryError::DuplicateSerial { serial: new.serial });
    }
    let lineage = chain.lineage.unwrap_or_else(|| new.serial.clone());
    w.tx.execute(
        "INSERT INTO certificates (serial, tenant, fingerprint, kind, not_before, not_after,
                                   issued_at, lineage, renewed_from, recovered)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        &[
            &new.serial.to_string(),
            &tenant.id.as_str(),
            &new.fingerprint.to_string(),
            &new.kind.as_str(),
            &not_before.unix_timestamp(),
            &not_after.unix_timestamp(),
            &w.now.unix_timestamp(),
            &lineage.to_string(),
            &chain.renewed_from.as_ref().map(Serial::to_string),
            &chain.recovered,
        ],
    )
    .map_err(db("insert a certificate"))?;
    Ok(CertificateRecord {
        serial: new.serial,
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
    let tenant = tenants::get_active(&mut w.tx, tenant)?;
    let cert = issue_and_insert(w, &tenant, issue, Lineage::FIRST)?;
    w.audit(
        actor,
        "cert.issue",
        Some(&tenant.id),
        Value::Object(cert_details(&cert)),
    )?;
    Ok(cert)
}

/// Marks one certificate of `table` (`certificates` or `admin_certificates`) revoked now.
pub(crate) fn mark_revoked(
    w: &mut WriteTx<'_>,
    table: &'static str,
    serial: &Serial,
    reason: RevocationReason,
) -> Result<(), RegistryError> {
    w.tx.execute(
        &format!("UPDATE {table} SET revoked_at = $2, revocation_reason = $3 WHERE serial = $1"),
        &[
            &serial.to_string(),
            &w.now.unix_timestamp(),
            &reason.as_str(),
        ],
    )
    .map_err(db("revoke a certificate"))?;
    Ok(())
}

pub(crate) fn revoke(
    w: &mut WriteTx<'_>,
    actor: &Actor,
    serial: &Serial,
    reason: RevocationReason,
) -> Result<CertificateRecord, RegistryError> {
    let mut cert = get(&mut w.tx, serial)?;
    if let Some(revoked_at) = cert.revoked_at {
        return Err(RegistryError::AlreadyRevoked {
            serial: serial.clone(),
            revoked_at,
        });
    }
    mark_revoked(w, "certificates", serial, reason)?;
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

pub(crate) fn renew(
    w: &mut WriteTx<'_>,
    actor: &Actor,
    request: &RenewalRequest,
    issue: &mut IssueFn<'_>,
) -> Result<CertificateRecord, RegistryError> {
    // Expiry is the caller's business (it sets `request.recovery` for an expired one).
    let presented = get(&mut w.tx, &request.presented)?;
    if let Some(revoked_at) = presented.revoked_at {
        return Err(RegistryError::AlreadyRevoked {
            serial: presented.serial,
            revoked_at,
        });
    }
    let tenant = tenants::get_active(&mut w.tx, &presented.tenant)?;
    if let Some(recovery) = request.recovery {
        let recoveries: i64 = scalar(
            &mut w.tx,
            "count a lineage's recoveries",
            "SELECT count(*) FROM certificates WHERE lineage = $1 AND recovered",
            &[&presented.lineage.to_string()],
        )?;
        if recoveries.max(0) as u64 >= u64::from(recovery.max_recoveries) {
            return Err(RegistryError::RecoveryLimitReached {
                lineage: presented.lineage,
                limit: recovery.max_recoveries,
            });
        }
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
            "certificates",
            &presented.serial,
            RevocationReason::Superseded,
        )?;
    }
    let details = renew_details(&cert, &presented.serial, recovered, revoke_presented);
    w.audit(actor, "cert.renew", Some(&tenant.id), details)?;
    Ok(cert)
}
