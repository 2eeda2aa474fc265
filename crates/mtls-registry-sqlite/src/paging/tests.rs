//! Cursor codec tests, and the query plans of every per-tenant read: an index range, never
//! a scan of the table.

use mtls_registry::Actor;
use rusqlite::Connection;
use rusqlite::types::Value as SqlValue;

use super::*;

fn cursor(text: &str) -> PageCursor {
    text.parse().unwrap()
}

#[test]
fn row_cursors_round_trip_and_stay_in_their_listing() {
    let acme: TenantId = "acme".parse().unwrap();
    let of_acme = RowCursor {
        tenant: Some(acme.clone()),
        at: 1_793_620_800,
        rowid: 42,
    };
    let text = of_acme.to_cursor("routes.tenant").unwrap();
    assert_eq!(text.as_str(), "acme.1793620800.42");
    assert_eq!(
        RowCursor::parse(&text, "routes", Some(&acme)).unwrap(),
        of_acme
    );

    let other: TenantId = "other".parse().unwrap();
    let err = RowCursor::parse(&text, "routes", Some(&other)).unwrap_err();
    assert!(err.is_invalid_cursor(), "{err}");
    assert!(
        err.to_string().contains("another tenant's listing"),
        "{err}"
    );
    // A per-tenant cursor is not one of the every-tenant listing, nor the reverse.
    assert!(RowCursor::parse(&text, "certificates", None).is_err());
    assert!(RowCursor::parse(&cursor("1793620800.42"), "routes", Some(&acme)).is_err());
    assert_eq!(
        RowCursor::parse(&cursor("1793620800.42"), "certificates", None).unwrap(),
        RowCursor {
            tenant: None,
            at: 1_793_620_800,
            rowid: 42
        }
    );
    for bad in ["acme", "acme.x.1", "acme.1.y", "Acme.1.2", "a.b.c.d"] {
        assert!(
            RowCursor::parse(&cursor(bad), "routes", Some(&acme)).is_err(),
            "{bad}"
        );
    }
}

/// A fresh registry's connection (the schema every migration built).
fn registry() -> (tempfile::TempDir, crate::SqliteStore) {
    let dir = tempfile::tempdir().unwrap();
    let store = crate::SqliteStore::create(
        dir.path().join("registry.db"),
        &"proxy.example.com".parse().unwrap(),
        &Actor::new("cli:test").unwrap(),
    )
    .unwrap();
    (dir, store)
}

/// `EXPLAIN QUERY PLAN` of `sql`, every parameter NULL: its detail lines, joined.
fn plan(conn: &Connection, sql: &str) -> String {
    let mut stmt = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
    let nulls = std::iter::repeat_n(SqlValue::Null, stmt.parameter_count());
    let details: Vec<String> = stmt
        .query_map(rusqlite::params_from_iter(nulls), |r| r.get::<_, String>(3))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    details.join("\n")
}

/// The plan reads `table` through `index` with a range on its leading columns, and sorts
/// nothing (the index gives the order).
#[track_caller]
fn assert_range(conn: &Connection, sql: &str, table: &str, index: &str) {
    let plan = plan(conn, sql);
    assert!(
        plan.contains(&format!("SEARCH {table} USING {index}")),
        "expected a range read on {index}:\n{plan}\nfor {sql}"
    );
    assert!(
        !plan.contains(&format!("SCAN {table}")),
        "scans {table}:\n{plan}"
    );
    assert!(!plan.contains("TEMP B-TREE"), "sorts:\n{plan}");
}

#[test]
fn every_per_tenant_read_is_an_index_range_without_a_sort() {
    let (_dir, store) = registry();
    let conn = store.lock();
    let routes = "INDEX routes_by_tenant";
    let certs = "INDEX certificates_by_tenant";
    assert_range(
        &conn,
        &crate::routes::page_sql(true, false),
        "routes",
        routes,
    );
    assert_range(
        &conn,
        &crate::routes::page_sql(true, true),
        "routes",
        routes,
    );
    // Every tenant's routes after a cursor: a range on the same index.
    assert_range(
        &conn,
        &crate::routes::page_sql(false, true),
        "routes",
        routes,
    );
    assert_range(
        &conn,
        &crate::certs::page_sql(true, false),
        "certificates",
        certs,
    );
    assert_range(
        &conn,
        &crate::certs::page_sql(true, true),
        "certificates",
        certs,
    );
    let by_tenant = "INDEX audit_events_by_tenant";
    assert_range(
        &conn,
        &crate::audit::page_sql(true, false),
        "audit_events",
        by_tenant,
    );
    assert_range(
        &conn,
        &crate::audit::page_sql(true, true),
        "audit_events",
        by_tenant,
    );
    // Every tenant's events, and tenants after a cursor: a range on the primary key.
    let seq = "INTEGER PRIMARY KEY";
    assert_range(
        &conn,
        &crate::audit::page_sql(false, false),
        "audit_events",
        seq,
    );
    assert_range(
        &conn,
        &crate::audit::page_sql(false, true),
        "audit_events",
        seq,
    );
    let ids = "INDEX sqlite_autoindex_tenants_1";
    assert_range(&conn, &crate::tenants::page_sql(true), "tenants", ids);
    // The first page of tenants walks the id index and stops after the limit.
    let first = plan(&conn, &crate::tenants::page_sql(false));
    assert!(
        first.contains(&format!("SCAN tenants USING {ids}")),
        "{first}"
    );
    assert!(!first.contains("TEMP B-TREE"), "{first}");
}

#[test]
fn the_unpaged_per_tenant_reads_use_the_tenant_indexes_too() {
    let (_dir, store) = registry();
    let conn = store.lock();
    // `tenantctl audit --tenant T --limit N`: the tenant's newest N, then sorted back.
    let tail = plan(&conn, &crate::audit::list_sql(true, false, true));
    assert!(
        tail.contains("SEARCH audit_events USING INDEX audit_events_by_tenant (tenant=?)"),
        "{tail}"
    );
    assert!(!tail.contains("SCAN audit_events"), "{tail}");
    // What `explain` reads of one tenant (the delta's per-tenant read).
    for (sql, table) in [
        (
            format!(
                "SELECT {} FROM routes WHERE tenant = ?1 ORDER BY created_at, rowid",
                crate::rows::ROUTE_COLUMNS
            ),
            "routes",
        ),
        (
            format!(
                "SELECT {} FROM certificates WHERE tenant = ?1 ORDER BY serial",
                crate::snapshot::CERT_STATE_COLUMNS
            ),
            "certificates",
        ),
    ] {
        let plan = plan(&conn, &sql);
        assert!(
            plan.contains(&format!("SEARCH {table} USING INDEX")),
            "{plan}"
        );
        assert!(!plan.contains(&format!("SCAN {table}")), "{plan}");
    }
}
