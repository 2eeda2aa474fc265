//! Schema migrations and the integrity check run on open.

use std::path::Path;

use rusqlite::{Connection, OptionalExtension};

use crate::error::{corrupt, db};
use mtls_registry::RegistryError;

/// The migrations, in order. Migration `i` (0-based) brings the schema to version `i + 1`.
/// Never edit a released migration: append a new one.
const MIGRATIONS: &[&str] = &[
    // 1: the initial schema. Times are unix seconds (INTEGER), UTC.
    r#"
    CREATE TABLE meta (
        id              INTEGER PRIMARY KEY CHECK (id = 1),
        trust_domain    TEXT    NOT NULL,
        version         INTEGER NOT NULL,
        audit_head_seq  INTEGER NOT NULL,
        audit_head_hash TEXT    NOT NULL,
        created_at      INTEGER NOT NULL
    );

    CREATE TABLE tenants (
        id                  TEXT    PRIMARY KEY,
        display_name        TEXT    NOT NULL,
        status              TEXT    NOT NULL CHECK (status IN ('active', 'suspended')),
        max_connections     INTEGER,
        requests_per_second INTEGER,
        created_at          INTEGER NOT NULL,
        updated_at          INTEGER NOT NULL
    );

    -- No foreign key to tenants: certificate rows outlive their tenant (CRL, audit).
    CREATE TABLE certificates (
        serial            TEXT    PRIMARY KEY,
        tenant            TEXT    NOT NULL,
        fingerprint       TEXT    NOT NULL,
        kind              TEXT    NOT NULL,
        not_before        INTEGER NOT NULL,
        not_after         INTEGER NOT NULL,
        issued_at         INTEGER NOT NULL,
        revoked_at        INTEGER,
        revocation_reason TEXT,
        CHECK ((revoked_at IS NULL) = (revocation_reason IS NULL))
    );
    CREATE INDEX certificates_by_tenant ON certificates (tenant, issued_at);
    CREATE INDEX certificates_revoked ON certificates (revoked_at) WHERE revoked_at IS NOT NULL;

    CREATE TABLE routes (
        id         TEXT    PRIMARY KEY,
        tenant     TEXT    NOT NULL REFERENCES tenants (id),
        spec       TEXT    NOT NULL,
        created_at INTEGER NOT NULL
    );
    CREATE INDEX routes_by_tenant ON routes (tenant, created_at);

    CREATE TABLE tokens (
        id            TEXT    PRIMARY KEY,
        tenant        TEXT    NOT NULL REFERENCES tenants (id),
        secret_sha256 TEXT    NOT NULL UNIQUE,
        created_at    INTEGER NOT NULL,
        expires_at    INTEGER NOT NULL,
        used_at       INTEGER
    );
    CREATE INDEX tokens_by_tenant ON tokens (tenant, created_at);

    CREATE TABLE audit_events (
        seq       INTEGER PRIMARY KEY,
        at        INTEGER NOT NULL,
        actor     TEXT    NOT NULL,
        action    TEXT    NOT NULL,
        tenant    TEXT,
        details   TEXT    NOT NULL,
        prev_hash TEXT    NOT NULL,
        hash      TEXT    NOT NULL
    );
    CREATE INDEX audit_events_by_tenant ON audit_events (tenant, seq);

    -- Append-only through the API. Someone with write access to the file can drop these;
    -- the hash chain and the head in `meta` are what catch that.
    CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events
    BEGIN SELECT RAISE(ABORT, 'audit events are append-only'); END;
    CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events
    BEGIN SELECT RAISE(ABORT, 'audit events are append-only'); END;
    "#,
    // 2: the control plane. Tenants get a self-service route policy (JSON of `RoutePolicy`;
    // '{}' reads back as the defaults) and an egress address (canonical IP text, one tenant
    // per address); certificates get their renewal lineage (NULL in rows written before
    // this migration means "its own serial": those were all first issues); admin
    // certificates get a table of their own.
    r#"
    ALTER TABLE tenants ADD COLUMN route_policy TEXT NOT NULL DEFAULT '{}';
    ALTER TABLE tenants ADD COLUMN egress_address TEXT;
    CREATE UNIQUE INDEX tenants_by_egress_address ON tenants (egress_address)
        WHERE egress_address IS NOT NULL;

    ALTER TABLE certificates ADD COLUMN lineage TEXT;
    ALTER TABLE certificates ADD COLUMN renewed_from TEXT;
    ALTER TABLE certificates ADD COLUMN recovered INTEGER NOT NULL DEFAULT 0
        CHECK (recovered IN (0, 1));
    CREATE INDEX certificates_by_lineage ON certificates (lineage);

    -- A serial is unique across this table and `certificates` (checked on insert).
    CREATE TABLE admin_certificates (
        serial            TEXT    PRIMARY KEY,
        admin             TEXT    NOT NULL,
        fingerprint       TEXT    NOT NULL,
        not_before        INTEGER NOT NULL,
        not_after         INTEGER NOT NULL,
        issued_at         INTEGER NOT NULL,
        revoked_at        INTEGER,
        revocation_reason TEXT,
        CHECK ((revoked_at IS NULL) = (revocation_reason IS NULL))
    );
    CREATE INDEX admin_certificates_by_issue ON admin_certificates (issued_at);
    "#,
    // 3: the change log. An audit event that bumped the registry version records the
    // version it produced (NULL for events that changed nothing, and for every event
    // written before this migration), so the data plane can read what changed since the
    // version it serves.
    r#"
    ALTER TABLE audit_events ADD COLUMN version INTEGER;
    CREATE UNIQUE INDEX audit_events_by_version ON audit_events (version)
        WHERE version IS NOT NULL;
    "#,
];

/// The newest schema version this build knows.
pub const SUPPORTED_VERSION: u32 = MIGRATIONS.len() as u32;

/// Runs `PRAGMA quick_check`; any answer but `ok` (or an SQLite error such as "file is not
/// a database") is [`RegistryError::Corrupt`].
pub(crate) fn check_integrity(conn: &Connection, path: &Path) -> Result<(), RegistryError> {
    let mut stmt = conn
        .prepare("PRAGMA quick_check")
        .map_err(|e| corrupt(path, e.to_string(), Some(e)))?;
    let lines: Vec<String> = stmt
        .query_map([], |row| row.get::<_, String>(0))
        .and_then(|rows| rows.collect())
        .map_err(|e| corrupt(path, e.to_string(), Some(e)))?;
    match lines.as_slice() {
        [ok] if ok == "ok" => Ok(()),
        [] => Err(corrupt(
            path,
            "quick_check returned nothing".to_owned(),
            None,
        )),
        [first, ..] => Err(corrupt(
            path,
            format!("quick_check: {first} ({} problem(s))", lines.len()),
            None,
        )),
    }
}

/// The schema version stored in the file; `None` if the file has no registry tables.
pub(crate) fn stored_version(conn: &Connection) -> Result<Option<u32>, RegistryError> {
    let has_table: bool = conn
        .query_row(
            "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_version')",
            [],
            |row| row.get(0),
        )
        .map_err(db("read the schema version"))?;
    if !has_table {
        return Ok(None);
    }
    let version: Option<u32> = conn
        .query_row("SELECT version FROM schema_version", [], |row| row.get(0))
        .optional()
        .map_err(db("read the schema version"))?;
    Ok(Some(version.unwrap_or(0)))
}

/// Applies pending migrations in one transaction. `conn` must not be inside a transaction.
pub(crate) fn migrate(conn: &mut Connection, path: &Path) -> Result<(), RegistryError> {
    let tx = conn
        .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
        .map_err(db("start the schema migration"))?;
    tx.execute_batch("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
        .map_err(db("create the schema_version table"))?;
    let found = stored_version(&tx)?.unwrap_or(0);
    if found > SUPPORTED_VERSION {
        return Err(RegistryError::SchemaTooNew {
            path: path.to_owned(),
            found,
            supported: SUPPORTED_VERSION,
        });
    }
    for sql in &MIGRATIONS[found as usize..] {
        tx.execute_batch(sql)
            .map_err(db("apply a schema migration"))?;
    }
    if found < SUPPORTED_VERSION {
        tx.execute("DELETE FROM schema_version", [])
            .map_err(db("record the schema version"))?;
        tx.execute(
            "INSERT INTO schema_version (version) VALUES (?1)",
            [SUPPORTED_VERSION],
        )
        .map_err(db("record the schema version"))?;
    }
    tx.commit().map_err(db("commit the schema migration"))
}

#[cfg(test)]
mod tests;
