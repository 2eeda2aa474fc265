//! Reading and verifying the audit log.

use rusqlite::Connection;
use rusqlite::types::Value as SqlValue;

use crate::error::db;
use crate::paging::fetch;
use crate::rows::{EVENT_COLUMNS, RawEvent, query_all};
use crate::util::to_unix;
use mtls_registry::backend::{ChainVerifier, page_limit, seq_cursor, seq_cursor_of};
use mtls_registry::{AuditEvent, AuditFilter, AuditReport, Page, PageCursor, RegistryError};

/// The conditions of a filter on `tenant` and `since`, numbered from `?{first}`.
fn conditions(tenant: bool, since: bool, first: usize) -> Vec<String> {
    let mut n = first;
    let mut out = Vec::new();
    if tenant {
        out.push(format!("tenant = ?{n}"));
        n += 1;
    }
    if since {
        out.push(format!("at >= ?{n}"));
    }
    out
}

/// The parameters of a filter, in the order of [`conditions`].
fn filter_params(filter: &AuditFilter) -> Vec<SqlValue> {
    let mut params = Vec::new();
    if let Some(tenant) = &filter.tenant {
        params.push(SqlValue::Text(tenant.as_str().to_owned()));
    }
    if let Some(since) = filter.since {
        params.push(SqlValue::Integer(to_unix(since)));
    }
    params
}

/// The SQL of [`list`]: the filter's parameters (tenant, since), then the limit.
pub(crate) fn list_sql(tenant: bool, since: bool, limit: bool) -> String {
    let conditions = conditions(tenant, since, 1);
    let mut sql = format!("SELECT {EVENT_COLUMNS} FROM audit_events");
    if !conditions.is_empty() {
        sql.push_str(" WHERE ");
        sql.push_str(&conditions.join(" AND "));
    }
    // With a limit, keep the most recent matching events, then return them oldest first.
    if limit {
        format!(
            "SELECT * FROM ({sql} ORDER BY seq DESC LIMIT ?{}) ORDER BY seq",
            conditions.len() + 1
        )
    } else {
        sql + " ORDER BY seq"
    }
}

pub(crate) fn list(
    conn: &Connection,
    filter: &AuditFilter,
) -> Result<Vec<AuditEvent>, RegistryError> {
    let mut params = filter_params(filter);
    if let Some(limit) = filter.limit {
        params.push(SqlValue::Integer(i64::from(limit)));
    }
    let sql = list_sql(
        filter.tenant.is_some(),
        filter.since.is_some(),
        filter.limit.is_some(),
    );
    query_all(
        conn,
        "list audit events",
        &sql,
        rusqlite::params_from_iter(params),
        RawEvent::from_row,
        RawEvent::into_record,
    )
}

/// The SQL of [`page`]: the `seq` to start after, the filter's parameters (tenant, since),
/// then the number of rows.
pub(crate) fn page_sql(tenant: bool, since: bool) -> String {
    let mut conditions = vec!["seq > ?1".to_owned()];
    conditions.extend(self::conditions(tenant, since, 2));
    format!(
        "SELECT {EVENT_COLUMNS} FROM audit_events WHERE {} ORDER BY seq LIMIT ?{}",
        conditions.join(" AND "),
        conditions.len() + 1
    )
}

/// One page of the audit events matching `filter.tenant` and `filter.since` after the `seq`
/// `after` names, oldest first: a range read on the primary key, or on
/// `audit_events_by_tenant` (`tenant, seq`) for one tenant.
pub(crate) fn page(
    conn: &Connection,
    filter: &AuditFilter,
    after: Option<&PageCursor>,
    limit: usize,
) -> Result<Page<AuditEvent>, RegistryError> {
    let limit = page_limit(limit);
    let after = after.map(seq_cursor).transpose()?.unwrap_or(0);
    let mut params = vec![SqlValue::Integer(i64::try_from(after).unwrap_or(i64::MAX))];
    params.extend(filter_params(filter));
    params.push(SqlValue::Integer(fetch(limit)));
    let rows = query_all(
        conn,
        "list a page of audit events",
        &page_sql(filter.tenant.is_some(), filter.since.is_some()),
        rusqlite::params_from_iter(params),
        RawEvent::from_row,
        RawEvent::into_record,
    )?;
    Ok(Page::from_rows(rows, limit, |e| seq_cursor_of(e.seq)))
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
