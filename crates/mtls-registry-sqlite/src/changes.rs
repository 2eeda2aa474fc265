//! The change log: every audit event that bumped the registry version carries that version
//! (schema 3), written in the change's own transaction, so "what changed since V" is one
//! range read on the `audit_events_by_version` index.

use rusqlite::{Connection, Row};

use crate::error::{db, stored};
use crate::rows::{event_details, event_tenant, query_all};
use mtls_registry::{Change, ChangeKind, Changes, MAX_CHANGES_PER_READ, RegistryError};

const OPERATION: &str = "list the changes since a version";

/// The changes after `version`; the caller runs this in one read transaction.
pub(crate) fn since(
    conn: &Connection,
    version: u64,
    limit: usize,
) -> Result<Changes, RegistryError> {
    let current: i64 = conn
        .prepare_cached("SELECT version FROM meta WHERE id = 1")
        .and_then(|mut stmt| stmt.query_row([], |r| r.get(0)))
        .map_err(db(OPERATION))?;
    let current = u64::try_from(current).unwrap_or(0);
    if version > current {
        // A version this copy of the registry never had (a restored file, another
        // registry): nothing after it can be listed.
        return Ok(Changes::Gap { version: current });
    }
    if version == current {
        return Ok(Changes::Listed(Vec::new()));
    }
    let limit = limit.clamp(1, MAX_CHANGES_PER_READ);
    let changes = query_all(
        conn,
        OPERATION,
        "SELECT version, action, tenant, details FROM audit_events
         WHERE version > ?1 ORDER BY version LIMIT ?2",
        rusqlite::params![
            i64::try_from(version).unwrap_or(i64::MAX),
            i64::try_from(limit).unwrap_or(i64::MAX)
        ],
        RawChange::from_row,
        RawChange::into_change,
    )?;
    // Complete and without holes from version + 1, or the log cannot answer (events
    // written before schema 3 carry no version).
    let contiguous = changes
        .iter()
        .zip(version + 1..)
        .all(|(change, expected)| change.version == expected);
    let reaches = changes.len() == limit || changes.last().map(|c| c.version) == Some(current);
    if changes.is_empty() || !contiguous || !reaches {
        return Ok(Changes::Gap { version: current });
    }
    Ok(Changes::Listed(changes))
}

/// One change as stored.
struct RawChange {
    version: i64,
    action: String,
    tenant: Option<String>,
    details: String,
}

impl RawChange {
    fn from_row(row: &Row<'_>) -> rusqlite::Result<Self> {
        Ok(Self {
            version: row.get(0)?,
            action: row.get(1)?,
            tenant: row.get(2)?,
            details: row.get(3)?,
        })
    }

    fn into_change(self) -> Result<Change, RegistryError> {
        Ok(Change {
            version: u64::try_from(self.version)
                .map_err(|e| stored("audit_events.version", self.version.to_string())(e.into()))?,
            kind: ChangeKind::from_action(&self.action),
            tenant: event_tenant(self.tenant)?,
            details: event_details(&self.details)?,
        })
    }
}
