//! Reading and verifying the audit log.

use postgres::GenericClient;

use crate::error::db;
use crate::paging::{Param, refs};
use crate::rows::{EVENT_COLUMNS, event, query_all};
use mtls_registry::backend::{ChainVerifier, page_fetch, page_limit, seq_cursor, seq_cursor_of};
use mtls_registry::{AuditEvent, AuditFilter, AuditReport, Page, PageCursor, RegistryError};

/// The `tenant` and `since` conditions of `filter`, numbered after `params`.
fn conditions(filter: &AuditFilter, params: &mut Vec<Param>) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(tenant) = &filter.tenant {
        params.push(Box::new(tenant.as_str().to_owned()));
        out.push(format!("tenant = ${}", params.len()));
    }
    if let Some(since) = filter.since {
        params.push(Box::new(since.unix_timestamp()));
        out.push(format!("at >= ${}", params.len()));
    }
    out
}

fn where_clause(conditions: &[String]) -> String {
    if conditions.is_empty() {
        String::new()
    } else {
        format!(" WHERE {}", conditions.join(" AND "))
    }
}

/// The events matching `filter`, oldest first; with a limit, the most recent ones.
pub(crate) fn list(
    client: &mut impl GenericClient,
    filter: &AuditFilter,
) -> Result<Vec<AuditEvent>, RegistryError> {
    let mut params = Vec::new();
    let conditions = conditions(filter, &mut params);
    let mut sql = format!(
        "SELECT {EVENT_COLUMNS} FROM audit_events{}",
        where_clause(&conditions)
    );
    sql = match filter.limit {
        Some(limit) => {
            params.push(Box::new(i64::from(limit)));
            format!(
                "SELECT * FROM ({sql} ORDER BY seq DESC LIMIT ${}) AS recent ORDER BY seq",
                params.len()
            )
        }
        None => sql + " ORDER BY seq",
    };
    query_all(client, "list audit events", &sql, &refs(&params), event)
}

/// One page of the events matching `filter.tenant` and `filter.since` after the `seq`
/// `after` names, oldest first.
pub(crate) fn page(
    client: &mut impl GenericClient,
    filter: &AuditFilter,
    after: Option<&PageCursor>,
    limit: usize,
) -> Result<Page<AuditEvent>, RegistryError> {
    let limit = page_limit(limit);
    let after = after.map(seq_cursor).transpose()?.unwrap_or(0);
    let mut params: Vec<Param> = vec![Box::new(i64::try_from(after).unwrap_or(i64::MAX))];
    let mut conditions = vec!["seq > $1".to_owned()];
    conditions.extend(self::conditions(filter, &mut params));
    params.push(Box::new(page_fetch(limit)));
    let sql = format!(
        "SELECT {EVENT_COLUMNS} FROM audit_events{} ORDER BY seq LIMIT ${}",
        where_clause(&conditions),
        params.len()
    );
    let rows = query_all(
        client,
        "list a page of audit events",
        &sql,
        &refs(&params),
        event,
    )?;
    Ok(Page::from_rows(rows, limit, |e| seq_cursor_of(e.seq)))
}

/// Walks the whole log in `seq` order (the caller runs this in one read transaction, so the
/// head and the events are of the same moment).
pub(crate) fn verify(client: &mut impl GenericClient) -> Result<AuditReport, RegistryError> {
    const OPERATION: &str = "verify the audit log";
    let head = client
        .query_one(
            "SELECT audit_head_seq, audit_head_hash FROM meta WHERE id = 1",
            &[],
        )
        .map_err(db(OPERATION))?;
    let (head_seq, head_hash): (i64, String) = (head.get(0), head.get(1));
    let mut verifier = ChainVerifier::new();
    let rows = client
        .query(
            &format!("SELECT {EVENT_COLUMNS} FROM audit_events ORDER BY seq"),
            &[],
        )
        .map_err(db(OPERATION))?;
    for (row, position) in rows.iter().zip(1u64..) {
        // A row that no longer parses was tampered with as much as one whose hash is off.
        let event = event(row).map_err(|e| RegistryError::AuditChainBroken {
            seq: position,
            problem: format!("the stored event does not parse: {e}"),
        })?;
        verifier.check(&event)?;
    }
    verifier.finish(head_seq.max(0) as u64, &head_hash)
}
