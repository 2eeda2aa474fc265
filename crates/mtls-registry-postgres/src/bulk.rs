//! Bulk loads: many tenants, each with its certificates and routes, in one transaction
//! ([`PostgresStore::bulk_load`]), sent with `COPY … FROM STDIN`.

use std::collections::HashSet;
use std::fmt::Write as _;
use std::io::Write as _;

use mtls_identity::TenantId;
use mtls_registry::backend::{
    bulk_certificate, bulk_check_tenant, bulk_route, canonical_json, cert_details, chain_hash,
    route_add_details, tenant_create_details,
};
use mtls_registry::{Actor, RegistryError, RouteId};
use mtls_route_spec::RouteSpec;
use postgres::Transaction;
use serde_json::Value;
use time::OffsetDateTime;

pub use mtls_registry::backend::{BulkLoaded, BulkTenant};

use crate::error::{PostgresError, db, registry};
use crate::store::PostgresStore;

/// Tenants per round of checks and `COPY`s: bounds the memory of the rows in flight
/// (about 10 MiB for tenants with ten routes) without many round trips.
const CHUNK: usize = 2_000;

/// The audit head and the registry version as the load moves them.
struct Head {
    seq: u64,
    hash: String,
    version: u64,
}

/// The rows of one chunk in `COPY` text format, one buffer per table.
#[derive(Default)]
struct Rows {
    tenants: CopyText,
    certificates: CopyText,
    routes: CopyText,
    events: CopyText,
}

/// Rows in PostgreSQL's `COPY` text format: tab-separated columns, one row a line, `\N`
/// for NULL, and backslash, tab, newline and carriage return escaped.
#[derive(Default)]
struct CopyText {
    text: String,
    rows: u64,
}

// === impl PostgresStore ===

impl PostgresStore {
    /// Creates every tenant of `tenants` with its certificates and routes, in one
    /// transaction under the registry's write lock, with the checks and audit events (by
    /// `actor`) of the one-at-a-time writes. All or nothing: on any error nothing is
    /// written.
    ///
    /// The semantics are those of the SQLite backend's `bulk_load`: it writes exactly the
    /// rows and audit events that [`Store::create_tenant`], then
    /// [`Store::record_certificate`] for each certificate, then [`Store::add_route`] for each
    /// route (an admin's, not bound by the route policy) would write, tenant after tenant,
    /// with the same checks and errors, one version per change and a hash chain that
    /// [`Store::verify_audit`] passes; only faster. The audit chain is computed here, the
    /// existing ids and serials are read a chunk at a time (`= ANY($1)`), the rows go to
    /// the server with one `COPY … FROM STDIN` per table and chunk, and `meta` is written
    /// once at the end, with one `pg_notify` of the final version (listeners need only the
    /// newest one). The input is collected first (a serialization failure reruns the
    /// transaction); callers loading hundreds of thousands of tenants call this in chunks.
    ///
    /// [`Store::create_tenant`]: mtls_registry::Store::create_tenant
    /// [`Store::record_certificate`]: mtls_registry::Store::record_certificate
    /// [`Store::add_route`]: mtls_registry::Store::add_route
    /// [`Store::verify_audit`]: mtls_registry::Store::verify_audit
    ///
    /// Errors: those of [`create_tenant`](mtls_registry::Store::create_tenant) (a bad
    /// display name or limits, [`DuplicateTenant`](RegistryError::DuplicateTenant), also for
    /// an id given twice), of [`record_certificate`](mtls_registry::Store::record_certificate)
    /// ([`InvalidCertificate`](RegistryError::InvalidCertificate),
    /// [`DuplicateSerial`](RegistryError::DuplicateSerial)) and of
    /// [`add_route`](mtls_registry::Store::add_route)
    /// ([`InvalidRoute`](RegistryError::InvalidRoute),
    /// [`RouteConflict`](RegistryError::RouteConflict)), and the storage kinds.
    pub fn bulk_load(
        &self,
        actor: &Actor,
        tenants: impl IntoIterator<Item = BulkTenant>,
    ) -> Result<BulkLoaded, RegistryError> {
        let tenants: Vec<BulkTenant> = tenants.into_iter().collect();
        self.write("bulk load tenants", |w| {
            let now = w.now;
            let row =
                w.tx.query_one(
                    "SELECT audit_head_seq, audit_head_hash, version FROM meta WHERE id = 1",
                    &[],
                )
                .map_err(db("read the audit head"))?;
            let (seq, hash, version): (i64, String, i64) = (row.get(0), row.get(1), row.get(2));
            let from_version = u64::try_from(version).unwrap_or(0);
            let mut head = Head {
                seq: u64::try_from(seq).unwrap_or(0),
                hash,
                version: from_version,
            };
            let mut loaded = BulkLoaded::at(from_version);
            for chunk in tenants.chunks(CHUNK) {
                load_chunk(&mut w.tx, &mut head, actor, now, chunk, &mut loaded)?;
            }
            // Like every change: the head moves and listeners hear of the new version (once,
            // at commit), never for a load that wrote nothing.
            w.tx.execute(
                "WITH moved AS (
                     UPDATE meta SET version = $1, audit_head_seq = $2, audit_head_hash = $3
                     WHERE id = 1 RETURNING version)
                 SELECT pg_notify($4, version::text) FROM moved WHERE $5",
                &[
                    &(head.version as i64),
                    &(head.seq as i64),
                    &head.hash,
                    &crate::listen::CHANNEL,
                    &(head.version > from_version),
                ],
            )
            .map_err(db("move the audit head"))?;
            w.audited = true;
            loaded.to_version = head.version;
            Ok(loaded)
        })
    }
}

/// One chunk: reads which of its ids and serials exist, checks and encodes every tenant in
/// order (the checks and errors of the one-at-a-time writes), then sends the rows.
fn load_chunk(
    tx: &mut Transaction<'_>,
    head: &mut Head,
    actor: &Actor,
    now: OffsetDateTime,
    chunk: &[BulkTenant],
    loaded: &mut BulkLoaded,
) -> Result<(), RegistryError> {
    let ids: Vec<&str> = chunk.iter().map(|t| t.id.as_str()).collect();
    let mut taken_ids = existing(
        tx,
        "check for existing tenants",
        "SELECT id FROM tenants WHERE id = ANY($1)",
        &ids,
    )?;
    let serials: Vec<String> = chunk
        .iter()
        .flat_map(|t| t.certificates.iter().map(|c| c.serial.to_string()))
        .collect();
    let serial_refs: Vec<&str> = serials.iter().map(String::as_str).collect();
    let mut taken_serials = existing(
        tx,
        "check for duplicate serials",
        "SELECT serial FROM certificates WHERE serial = ANY($1)
         UNION ALL SELECT serial FROM admin_certificates WHERE serial = ANY($1)",
        &serial_refs,
    )?;
    let route_count = chunk.iter().map(|t| t.routes.len()).sum();
    let mut route_ids = fresh_route_ids(tx, route_count)?.into_iter();

    let mut rows = Rows::default();
    for tenant in chunk {
        let BulkTenant {
            id,
            display_name,
            limits,
            certificates,
            routes,
        } = tenant;
        bulk_check_tenant(display_name, limits)?;
        if !taken_ids.insert(id.as_str().to_owned()) {
            return Err(RegistryError::DuplicateTenant { id: id.clone() });
        }
        let t = &mut rows.tenants;
        t.text(id.as_str());
        t.text(display_name);
        t.text("active");
        t.opt_int(limits.max_connections.map(i64::from));
        t.opt_int(limits.requests_per_second.map(i64::from));
        t.int(now.unix_timestamp());
        t.int(now.unix_timestamp());
        t.end_row();
        let details = tenant_create_details(display_name, limits);
        event(
            &mut rows.events,
            head,
            now,
            actor,
            "tenant.create",
            id,
            &details,
        );
        loaded.tenants += 1;

        for new in certificates {
            let cert = bulk_certificate(id, new.clone(), now)?;
            let serial = cert.serial.to_string();
            if !taken_serials.insert(serial.clone()) {
                return Err(RegistryError::DuplicateSerial {
                    serial: cert.serial,
                });
            }
            let c = &mut rows.certificates;
            c.text(&serial);
            c.text(id.as_str());
            c.text(&cert.fingerprint.to_string());
            c.text(cert.kind.as_str());
            c.int(cert.not_before.unix_timestamp());
            c.int(cert.not_after.unix_timestamp());
            c.int(now.unix_timestamp());
            c.text(&cert.lineage.to_string());
            c.end_row();
            let details = Value::Object(cert_details(&cert));
            event(
                &mut rows.events,
                head,
                now,
                actor,
                "cert.issue",
                id,
                &details,
            );
            loaded.certificates += 1;
        }

        let mut added: Vec<(RouteId, RouteSpec)> = Vec::with_capacity(routes.len());
        for spec in routes {
            let spec_json = bulk_route(id, spec, &added)?;
            let route_id = route_ids.next().ok_or_else(|| RegistryError::Database {
                operation: "bulk load tenants",
                source: "fewer route ids than routes".into(),
            })?;
            let r = &mut rows.routes;
            r.text(route_id.as_str());
            r.text(id.as_str());
            r.text(&spec_json);
            r.int(now.unix_timestamp());
            r.end_row();
            let details = route_add_details(&route_id, spec, &spec_json, false);
            event(
                &mut rows.events,
                head,
                now,
                actor,
                "route.add",
                id,
                &details,
            );
            added.push((route_id, spec.clone()));
            loaded.routes += 1;
        }
    }

    // Parents first: routes refer to their tenant.
    copy(
        tx,
        "COPY tenants (id, display_name, status, max_connections, requests_per_second,
                       created_at, updated_at) FROM STDIN",
        &rows.tenants,
    )?;
    copy(
        tx,
        "COPY certificates (serial, tenant, fingerprint, kind, not_before, not_after,
                            issued_at, lineage) FROM STDIN",
        &rows.certificates,
    )?;
    copy(
        tx,
        "COPY routes (id, tenant, spec, created_at) FROM STDIN",
        &rows.routes,
    )?;
    copy(
        tx,
        "COPY audit_events (seq, at, actor, action, tenant, details, prev_hash, hash, version)
         FROM STDIN",
        &rows.events,
    )
}

/// Encodes one audit event that bumps the version, as `WriteTx::append_event` writes it.
fn event(
    events: &mut CopyText,
    head: &mut Head,
    now: OffsetDateTime,
    actor: &Actor,
    action: &str,
    tenant: &TenantId,
    details: &Value,
) {
    let seq = head.seq + 1;
    let version = head.version + 1;
    let hash = chain_hash(
        &head.hash,
        seq,
        now,
        actor.as_str(),
        action,
        Some(tenant),
        details,
    );
    events.int(seq as i64);
    events.int(now.unix_timestamp());
    events.text(actor.as_str());
    events.text(action);
    events.text(tenant.as_str());
    events.text(&canonical_json(details));
    events.text(&head.hash);
    events.text(&hash);
    events.int(version as i64);
    events.end_row();
    head.seq = seq;
    head.version = version;
    head.hash = hash;
}

/// Which of `keys` the query (`… = ANY($1)`) finds.
fn existing(
    tx: &mut Transaction<'_>,
    operation: &'static str,
    sql: &str,
    keys: &[&str],
) -> Result<HashSet<String>, RegistryError> {
    if keys.is_empty() {
        return Ok(HashSet::new());
    }
    let rows = tx.query(sql, &[&keys]).map_err(db(operation))?;
    rows.iter()
        .map(|r| r.try_get::<_, String>(0).map_err(db(operation)))
        .collect()
}

/// `n` fresh random route ids, none of them taken (as `add_route` draws them).
fn fresh_route_ids(tx: &mut Transaction<'_>, n: usize) -> Result<Vec<RouteId>, RegistryError> {
    let mut ids: Vec<RouteId> = (0..n).map(|_| RouteId::random()).collect();
    loop {
        let mut seen = HashSet::with_capacity(ids.len());
        let keys: Vec<&str> = ids.iter().map(RouteId::as_str).collect();
        let taken = existing(
            tx,
            "check for taken route ids",
            "SELECT id FROM routes WHERE id = ANY($1)",
            &keys,
        )?;
        let mut redraw = false;
        for id in &mut ids {
            if taken.contains(id.as_str()) || !seen.insert(id.as_str().to_owned()) {
                *id = RouteId::random();
                redraw = true;
            }
        }
        if !redraw {
            return Ok(ids);
        }
    }
}

/// Sends `rows` with one `COPY … FROM STDIN` (nothing for no rows).
fn copy(tx: &mut Transaction<'_>, sql: &str, rows: &CopyText) -> Result<(), RegistryError> {
    const OPERATION: &str = "bulk load tenants (COPY)";
    if rows.rows == 0 {
        return Ok(());
    }
    let mut writer = tx.copy_in(sql).map_err(db(OPERATION))?;
    writer
        .write_all(rows.text.as_bytes())
        .map_err(|source| registry(OPERATION, PostgresError::Copy { source }))?;
    let written = writer.finish().map_err(db(OPERATION))?;
    if written != rows.rows {
        return Err(RegistryError::Database {
            operation: OPERATION,
            source: format!("COPY wrote {written} rows of {}", rows.rows).into(),
        });
    }
    Ok(())
}

// === impl CopyText ===

impl CopyText {
    /// A text column.
    fn text(&mut self, value: &str) {
        if value
            .bytes()
            .any(|b| matches!(b, b'\\' | b'\t' | b'\n' | b'\r'))
        {
            for c in value.chars() {
                match c {
                    '\\' => self.text.push_str("\\\\"),
                    '\t' => self.text.push_str("\\t"),
                    '\n' => self.text.push_str("\\n"),
                    '\r' => self.text.push_str("\\r"),
                    c => self.text.push(c),
                }
            }
        } else {
            self.text.push_str(value);
        }
        self.text.push('\t');
    }

    /// An integer column.
    fn int(&mut self, value: i64) {
        // Writing to a String cannot fail.
        let _ = write!(self.text, "{value}\t");
    }

    /// An integer column that may be NULL.
    fn opt_int(&mut self, value: Option<i64>) {
        match value {
            Some(v) => self.int(v),
            None => self.text.push_str("\\N\t"),
        }
    }

    /// Ends the row (replacing the last column's tab).
    fn end_row(&mut self) {
        if self.text.ends_with('\t') {
            self.text.pop();
        }
        self.text.push('\n');
        self.rows += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::CopyText;

    #[test]
    fn copy_text_escapes_what_the_format_gives_meaning_to() {
        let mut rows = CopyText::default();
        rows.text("plain");
        rows.text("tab\there, a\\b, new\nline, cr\r, \\N");
        rows.opt_int(None);
        rows.opt_int(Some(-7));
        rows.end_row();
        rows.text("ünïcode");
        rows.end_row();
        assert_eq!(
            rows.text,
            "plain\ttab\\there, a\\\\b, new\\nline, cr\\r, \\\\N\t\\N\t-7\nünïcode\n"
        );
        assert_eq!(rows.rows, 2);
    }
}
