//! Enrollment token operations.

use mtls_identity::TenantId;
use rusqlite::Connection;

use crate::rows::{RawToken, TOKEN_COLUMNS, query_all};

use mtls_registry::{RegistryError, TokenRecord};

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
