//! Reading and verifying the audit log.

use rusqlite::Connection;
use rusqlite::types::Value as SqlValue;

use crate::error::db;
use crate::rows::{EVENT_COLUMNS, RawEvent, query_all};
use crate::util::to_unix;
use mtls_registry::backend::ChainVerifier;
use mtls_registry::{AuditEvent, AuditFilter, AuditReport, RegistryError};

pub(crate) fn list(
    conn: &Connection,
    filter: &AuditFilter,
) -> Result<Vec<AuditEvent>, RegistryError> {
    let mut conditions = Vec::new();
    let mut params: Vec<SqlValue> = Vec::new();
    if let Some(tenant) = &filter.tenant {
        params.push(SqlValue::Text(tenant.as_str().to_owned()));
        conditions.push(format!("tenant = ?{}", params.len()));
    }
    if let Some(since) = filter.since {
        params.push(SqlValue::Integer(to_unix(since)));
        conditions.push(format!("at >= ?{}", params.len()));
    }
    let mut sql = format!("SELECT {EVENT_COLUMNS} FROM audit_events");
    if !conditions.is_empty() {
        sql.push_str(" WHERE ");
        sql.push_str(&conditions.join(" AND "));
    }
    // With a limit, keep the most recent matching events, then return them oldest first.
    match filter.limit {
        Some(limit) => {
            params.push(SqlValue::Integer(i64::from(limit)));
            sql = format!(
                "SELECT * FROM ({sql} ORDER BY seq DESC LIMIT ?{}) ORDER BY seq",
                params.len()
            );
        }
        None => sql.push_str(" ORDER BY seq"),
    }
    query_all(
        conn,
        "list audit events",
        &sql,
        rusqlite::params_from_iter(params),
        RawEvent::from_row,
        RawEvent::into_record,
    )
}

pub(crate) fn verify(conn: &Connection) -> Result<AuditReport, RegistryError> {
    let operation = "verify the audit log";
    let (head_seq, head_hash): (i64, String) = conn
        .query_row(
            "SELECT audit_head_seq, audit_head_hash FROM meta WHERE id = 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .map_err(db(operation))?;
    let mut verifier = ChainVerifier::new();
    let mut stmt = conn
        .prepare(&format!(
            "SELECT {EVENT_COLUMNS} FROM audit_events ORDER BY seq"
        ))
        .map_err(db(operation))?;
    let mut rows = stmt.query([]).map_err(db(operation))?;
    let mut position = 1u64;
    while let Some(row) = rows.next().map_err(db(operation))? {
        // A row that no longer even parses was tampered with just as much as one whose
        // hash is off: report it as a broken chain at its position.
        let event = RawEvent::from_row(row)
            .map_err(db(operation))?
            .into_record()
            .map_err(|e| RegistryError::AuditChainBroken {
                seq: position,
                problem: format!("the stored event does not parse: {e}"),
            })?;
        verifier.check(&event)?;
        position += 1;
    }
    verifier.finish(head_seq.max(0) as u64, &head_hash)
}
