//! Enrollment token operations.

use std::time::Duration;

use mtls_identity::TenantId;
use rusqlite::{Connection, OptionalExtension, params};
use serde_json::{Value, json};

use crate::error::db;
use crate::rows::{RawToken, TOKEN_COLUMNS, query_all, query_one};
use crate::store::WriteTx;
use crate::{certs, tenants};
use mtls_registry::IssueFn;
use mtls_registry::backend::{audit_time, cert_details};

use crate::util::to_unix;
use mtls_registry::{
    Actor, CertificateRecord, EnrollmentSecret, MAX_TOKEN_TTL, MIN_TOKEN_TTL, RegistryError,
    TokenRecord,
};

pub(crate) fn list(
    conn: &Connection,
    tenant: Option<&TenantId>,
) -> Result<Vec<TokenRecord>, RegistryError> {
    match tenant {
        Some(t) => query_all(
            conn,
            "list enrollment tokens",
            &format!(
                "SELECT {TOKEN_COLUMNS} FROM tokens WHERE tenant = ?1 ORDER BY created_at, rowid"
            ),
            [t.as_str()],
            RawToken::from_row,
            RawToken::into_record,
        ),
        None => query_all(
            conn,
            "list enrollment tokens",
            &format!("SELECT {TOKEN_COLUMNS} FROM tokens ORDER BY created_at, rowid"),
            [],
            RawToken::from_row,
            RawToken::into_record,
        ),
    }
}

pub(crate) fn create(
    w: &mut WriteTx<'_>,
    actor: &Actor,
    tenant: &TenantId,
    ttl: Duration,
) -> Result<(EnrollmentSecret, TokenRecord), RegistryError> {
    if !(MIN_TOKEN_TTL..=MAX_TOKEN_TTL).contains(&ttl) {
        return Err(RegistryError::InvalidTtl {
            ttl,
            min: MIN_TOKEN_TTL,
            max: MAX_TOKEN_TTL,
        });
    }
    tenants::get_active(&w.tx, tenant)?;
    let secret = EnrollmentSecret::generate();
    // Whole seconds: the TTL range check above guarantees it fits.
    let expires_at = w.now + time::Duration::seconds(ttl.as_secs() as i64);
    let record = TokenRecord {
        id: TokenRecord::random_id(),
        tenant: tenant.clone(),
        created_at: w.now,
        expires_at,
        used_at: None,
    };
    w.tx.execute(
        "INSERT INTO tokens (id, tenant, secret_sha256, created_at, expires_at)
         VALUES (?1, ?2, ?3, ?4, ?5)",
        params![
            record.id,
            tenant.as_str(),
            EnrollmentSecret::stored_hash(secret.expose()),
            to_unix(record.created_at),
            to_unix(expires_at),
        ],
    )
    .map_err(db("insert an enrollment token"))?;
    w.audit(
        actor,
        "token.create",
        Some(tenant),
        json!({ "token": record.id, "expires_at": audit_time(expires_at) }),
    )?;
    Ok((secret, record))
}

pub(crate) fn redeem(
    w: &mut WriteTx<'_>,
    actor: &Actor,
    secret: &str,
    issue: &mut IssueFn<'_>,
) -> Result<CertificateRecord, RegistryError> {
    // Looked up by the secret's SHA-256: the secret itself is never stored, and the index
    // lookup reveals nothing useful about other tokens' secrets. The stored hash is then
    // compared with the presented one in constant time before it is accepted.
    let found: Option<(String, String)> =
        w.tx.query_row(
            "SELECT id, secret_sha256 FROM tokens WHERE secret_sha256 = ?1",
            [EnrollmentSecret::stored_hash(secret)],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()
        .map_err(db("look up an enrollment token"))?;
    let Some((id, stored_hash)) = found else {
        return Err(RegistryError::UnknownToken);
    };
    if !EnrollmentSecret::hash_matches(&stored_hash, secret) {
        return Err(RegistryError::UnknownToken);
    }
    let token = query_one(
        &w.tx,
        "read an enrollment token",
        &format!("SELECT {TOKEN_COLUMNS} FROM tokens WHERE id = ?1"),
        [&id],
        RawToken::from_row,
        RawToken::into_record,
    )?
    .ok_or(RegistryError::UnknownToken)?;
    if token.is_used() {
        return Err(RegistryError::TokenAlreadyUsed { id: token.id });
    }
    if token.is_expired_at(w.now) {
        return Err(RegistryError::TokenExpired {
            id: token.id,
            expired_at: token.expires_at,
        });
    }
    let tenant = tenants::get_active(&w.tx, &token.tenant)?;
    let cert = certs::issue_and_insert(w, &tenant, issue, certs::Lineage::FIRST)?;
    let updated =
        w.tx.execute(
            "UPDATE tokens SET used_at = ?2 WHERE id = ?1 AND used_at IS NULL",
            params![token.id, to_unix(w.now)],
        )
        .map_err(db("mark an enrollment token used"))?;
    if updated != 1 {
        // Impossible under BEGIN IMMEDIATE (nobody else can write meanwhile), but a double
        // redemption must never commit.
        return Err(RegistryError::TokenAlreadyUsed { id: token.id });
    }
    let mut details = cert_details(&cert);
    details.insert("token".into(), json!(token.id));
    w.audit(
        actor,
        "token.redeem",
        Some(&tenant.id),
        Value::Object(details),
    )?;
    Ok(cert)
}
