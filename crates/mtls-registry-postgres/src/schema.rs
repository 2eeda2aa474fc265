//! Versioned migrations: numbered SQL scripts, recorded in `schema_migrations`, applied in
//! one transaction under an advisory lock so that gateways and `tenantctl`s starting at the
//! same moment do not race (the second waits, then finds nothing left to do).

use std::path::PathBuf;

use postgres::Client;

use crate::error::db;
use mtls_registry::RegistryError;

/// The advisory lock key of migrations and of creating the registry (`"mtlsreg"` in ASCII).
pub(crate) const LOCK_KEY: i64 = 0x006d_746c_7372_6567;

/// The migrations, in order: migration `i` (0-based) brings the schema to version `i + 1`.
/// Never edit a released migration: append a new one.
///
/// Times are unix seconds (BIGINT, UTC) as in the SQLite backend, so both backends keep
/// exactly the same whole-second values. `rowid` (an identity column) orders rows inserted
/// in the same second, the way SQLite's rowid does. Audit details are TEXT, not JSONB:
/// the hash chain is over the canonical JSON text, which JSONB would not keep byte for
/// byte. Keys and tenant ids compare bytewise (`COLLATE "C"`) whatever the database's
/// locale, so listings and page cursors run in the same order as in SQLite.
const MIGRATIONS: &[&str] = &[
    // 1: the registry as of the SQLite schema 3.
    r#"
    CREATE TABLE meta (
        id              INTEGER PRIMARY KEY CHECK (id = 1),
        trust_domain    TEXT    NOT NULL,
        version         BIGINT  NOT NULL,
        audit_head_seq  BIGINT  NOT NULL,
        audit_head_hash TEXT    NOT NULL,
        created_at      BIGINT  NOT NULL
    );

    CREATE TABLE tenants (
        id                  TEXT    COLLATE "C" PRIMARY KEY,
        display_name        TEXT    NOT NULL,
        status              TEXT    NOT NULL CHECK (status IN ('active', 'suspended')),
        max_connections     BIGINT,
        requests_per_second BIGINT,
        created_at          BIGINT  NOT NULL,
        updated_at          BIGINT  NOT NULL,
        route_policy        TEXT    NOT NULL DEFAULT '{}',
        egress_address      TEXT
    );
    CREATE UNIQUE INDEX tenants_by_egress_address ON tenants (egress_address)
        WHERE egress_address IS NOT NULL;

    -- No foreign key to tenants: certificate rows outlive their tenant (CRL, audit).
    CREATE TABLE certificates (
        rowid             BIGINT  GENERATED ALWAYS AS IDENTITY UNIQUE,
        serial            TEXT    COLLATE "C" PRIMARY KEY,
        tenant            TEXT COLLATE "C"    NOT NULL,
        fingerprint       TEXT    NOT NULL,
        kind              TEXT    NOT NULL,
        not_before        BIGINT  NOT NULL,
        not_after         BIGINT  NOT NULL,
        issued_at         BIGINT  NOT NULL,
        revoked_at        BIGINT,
        revocation_reason TEXT,
        lineage           TEXT    NOT NULL,
        renewed_from      TEXT,
        recovered         BOOLEAN NOT NULL DEFAULT FALSE,
        CHECK ((revoked_at IS NULL) = (revocation_reason IS NULL))
    );
    CREATE INDEX certificates_by_tenant ON certificates (tenant, issued_at, rowid);
    CREATE INDEX certificates_by_issue ON certificates (issued_at, rowid);
    CREATE INDEX certificates_revoked ON certificates (revoked_at, rowid)
        WHERE revoked_at IS NOT NULL;
    CREATE INDEX certificates_by_lineage ON certificates (lineage);

    -- A serial is unique across this table and `certificates` (checked on insert, under
    -- the registry's write lock).
    CREATE TABLE admin_certificates (
        rowid             BIGINT  GENERATED ALWAYS AS IDENTITY UNIQUE,
        serial            TEXT    COLLATE "C" PRIMARY KEY,
        admin             TEXT    NOT NULL,
        fingerprint       TEXT    NOT NULL,
        not_before        BIGINT  NOT NULL,
        not_after         BIGINT  NOT NULL,
        issued_at         BIGINT  NOT NULL,
        revoked_at        BIGINT,
        revocation_reason TEXT,
        CHECK ((revoked_at IS NULL) = (revocation_reason IS NULL))
    );
    CREATE INDEX admin_certificates_by_issue ON admin_certificates (issued_at, rowid);

    CREATE TABLE routes (
        rowid      BIGINT  GENERATED ALWAYS AS IDENTITY UNIQUE,
        id         TEXT    COLLATE "C" PRIMARY KEY,
        tenant     TEXT COLLATE "C"    NOT NULL REFERENCES tenants (id),
        spec       TEXT    NOT NULL,
        created_at BIGINT  NOT NULL
    );
    CREATE INDEX routes_by_tenant ON routes (tenant, created_at, rowid);

    CREATE TABLE tokens (
        rowid         BIGINT  GENERATED ALWAYS AS IDENTITY UNIQUE,
        id            TEXT    COLLATE "C" PRIMARY KEY,
        tenant        TEXT COLLATE "C"    NOT NULL REFERENCES tenants (id),
        secret_sha256 TEXT    NOT NULL UNIQUE,
        created_at    BIGINT  NOT NULL,
        expires_at    BIGINT  NOT NULL,
        used_at       BIGINT
    );
    CREATE INDEX tokens_by_tenant ON tokens (tenant, created_at, rowid);

    -- `version`: the registry version the event's change produced (NULL for events that
    -- changed nothing): the change log `changes_since` reads.
    CREATE TABLE audit_events (
        seq       BIGINT PRIMARY KEY,
        at        BIGINT NOT NULL,
        actor     TEXT   NOT NULL,
        action    TEXT   NOT NULL,
        tenant    TEXT COLLATE "C",
        details   TEXT   NOT NULL,
        prev_hash TEXT   NOT NULL,
        hash      TEXT   NOT NULL,
        version   BIGINT
    );
    CREATE INDEX audit_events_by_tenant ON audit_events (tenant, seq);
    CREATE UNIQUE INDEX audit_events_by_version ON audit_events (version)
        WHERE version IS NOT NULL;

    -- Append-only through the API. A role that owns the table can drop the trigger; the
    -- hash chain and the head in `meta` are what catch that.
    CREATE FUNCTION audit_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        RAISE EXCEPTION 'audit events are append-only';
    END
    $$;
    CREATE TRIGGER audit_events_no_update BEFORE UPDATE OR DELETE ON audit_events
        FOR EACH ROW EXECUTE FUNCTION audit_events_append_only();
    CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events
        FOR EACH STATEMENT EXECUTE FUNCTION audit_events_append_only();
    "#,
];

/// The newest schema version this build knows.
pub const SUPPORTED_VERSION: u32 = MIGRATIONS.len() as u32;

/// Checks, without writing anything, that the schema is the one this build knows:
/// [`NotInitialised`](RegistryError::NotInitialised) without migrations,
/// [`SchemaNeedsMigration`](RegistryError::SchemaNeedsMigration) when older,
/// [`SchemaTooNew`](RegistryError::SchemaTooNew) when newer.
pub(crate) fn check(client: &mut Client, location: &str) -> Result<(), RegistryError> {
    let path = || PathBuf::from(location);
    let has_table: bool = client
        .query_one("SELECT to_regclass('schema_migrations') IS NOT NULL", &[])
        .map_err(db("look for the schema_migrations table"))?
        .get(0);
    let found = if has_table {
        let v: i32 = client
            .query_one(
                "SELECT coalesce(max(version), 0) FROM schema_migrations",
                &[],
            )
            .map_err(db("read the schema version"))?
            .get(0);
        Some(v.max(0) as u32)
    } else {
        None
    };
    let Some(found) = found else {
        return Err(RegistryError::NotInitialised {
            path: path(),
            reason: "the database has no registry schema",
        });
    };
    match found.cmp(&SUPPORTED_VERSION) {
        std::cmp::Ordering::Less => Err(RegistryError::SchemaNeedsMigration {
            path: path(),
            found,
            supported: SUPPORTED_VERSION,
        }),
        std::cmp::Ordering::Greater => Err(RegistryError::SchemaTooNew {
            path: path(),
            found,
            supported: SUPPORTED_VERSION,
        }),
        std::cmp::Ordering::Equal => Ok(()),
    }
}

/// Applies the pending migrations in one transaction, under the advisory lock. `location`
/// (redacted) names the database in errors.
pub(crate) fn migrate(client: &mut Client, location: &str) -> Result<(), RegistryError> {
    let mut tx = client
        .transaction()
        .map_err(db("start the schema migration"))?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&LOCK_KEY])
        .map_err(db("lock the schema for migration"))?;
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations (
             version    INTEGER PRIMARY KEY,
             applied_at BIGINT  NOT NULL DEFAULT extract(epoch FROM now())::BIGINT
         )",
    )
    .map_err(db("create the schema_migrations table"))?;
    let found: i32 = tx
        .query_one(
            "SELECT coalesce(max(version), 0) FROM schema_migrations",
            &[],
        )
        .map_err(db("read the schema version"))?
        .get(0);
    let found = found.max(0) as u32;
    if found > SUPPORTED_VERSION {
        return Err(RegistryError::SchemaTooNew {
            path: PathBuf::from(location),
            found,
            supported: SUPPORTED_VERSION,
        });
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(found as usize) {
        tx.batch_execute(sql)
            .map_err(db("apply a schema migration"))?;
        let version = i as i32 + 1;
        tx.execute(
            "INSERT INTO schema_migrations (version) VALUES ($1)",
            &[&version],
        )
        .map_err(db("record the schema version"))?;
    }
    tx.commit().map_err(db("commit the schema migration"))
}
