//! The database load of the changes on a PostgreSQL registry: the server's own counters
//! read before and after, with the replicas' idle load (their version polls) measured over
//! a window without changes and taken off.
//!
//! - `pg_stat_statements` (loaded by the run's server): calls, rows, time and buffers per
//!   statement of the registry's database. It is updated as each statement ends, so its
//!   differences are exact; the tool's own statistics queries are left out.
//! - `pg_stat_database` (the registry's database): transactions, tuples returned and
//!   fetched, blocks read and hit. A backend flushes these at most once a second and an idle
//!   one within 10 s, so they are read only after a wait of `--idle-s` (11 s by default) and
//!   are approximate.
//!
//! Per change = (changes window − idle rate × its length) / changes; per change and replica
//! divides that by the replicas (the writer's own statements are in it: one write
//! transaction per change, the rest is the replicas reading what changed).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::ScaleError;
use crate::stats::round2;

/// The `pg_stat_database` columns read, in order.
pub const DATABASE_COLUMNS: [&str; 9] = [
    "xact_commit",
    "xact_rollback",
    "tup_returned",
    "tup_fetched",
    "tup_inserted",
    "tup_updated",
    "tup_deleted",
    "blks_read",
    "blks_hit",
];

/// One statement's counters.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Statement {
    /// Its normalised text.
    pub query: String,
    /// Times run.
    pub calls: i64,
    /// Rows returned or affected.
    pub rows: i64,
    /// Execution time, ms.
    pub exec_ms: f64,
    /// Shared buffers hit and read.
    pub blks: i64,
}

/// The counters at one moment.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Counters {
    /// When they were read.
    pub at: Option<Instant>,
    /// `pg_stat_database`, in [`DATABASE_COLUMNS`] order.
    pub database: Vec<i64>,
    /// `pg_stat_statements` by query id.
    pub statements: HashMap<i64, Statement>,
}

/// Reads the counters of the database at `url`.
pub fn read(url: &str) -> Result<Counters, ScaleError> {
    let fail = |what: &str, e: postgres::Error| ScaleError::Run(format!("{what}: {e}"));
    let mut client = postgres::Client::connect(url, postgres::NoTls)
        .map_err(|e| fail("connect for the statistics", e))?;
    let row = client
        .query_one(
            &format!(
                "SELECT {} FROM pg_stat_database WHERE datname = current_database()",
                DATABASE_COLUMNS.join(", ")
            ),
            &[],
        )
        .map_err(|e| fail("read pg_stat_database", e))?;
    let database = (0..DATABASE_COLUMNS.len())
        .map(|i| row.try_get::<_, i64>(i))
        .collect::<Result<_, _>>()
        .map_err(|e| fail("read pg_stat_database", e))?;
    let rows = client
        .query(
            "SELECT queryid, query, calls, rows, total_exec_time,
                    shared_blks_hit + shared_blks_read
             FROM pg_stat_statements
             WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
               AND queryid IS NOT NULL
               AND query NOT LIKE '%pg_stat_%'",
            &[],
        )
        .map_err(|e| fail("read pg_stat_statements", e))?;
    let mut statements = HashMap::with_capacity(rows.len());
    for row in rows {
        let get = |e| fail("read pg_stat_statements", e);
        statements.insert(
            row.try_get::<_, i64>(0).map_err(get)?,
            Statement {
                query: row.try_get(1).map_err(get)?,
                calls: row.try_get(2).map_err(get)?,
                rows: row.try_get(3).map_err(get)?,
                exec_ms: row.try_get(4).map_err(get)?,
                blks: row.try_get(5).map_err(get)?,
            },
        );
    }
    Ok(Counters {
        at: Some(Instant::now()),
        database,
        statements,
    })
}

/// What moved between two readings.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Window {
    /// Its length.
    pub length: Duration,
    /// `pg_stat_database` differences, in [`DATABASE_COLUMNS`] order.
    pub database: Vec<i64>,
    /// Per statement, the differences (statements that did not run left out).
    pub statements: Vec<Statement>,
}

// === impl Window ===

impl Window {
    /// From `a` to `b`.
    pub fn between(a: &Counters, b: &Counters) -> Self {
        let length = match (a.at, b.at) {
            (Some(a), Some(b)) => b.saturating_duration_since(a),
            _ => Duration::ZERO,
        };
        let database = b
            .database
            .iter()
            .zip(a.database.iter().chain(std::iter::repeat(&0)))
            .map(|(b, a)| b - a)
            .collect();
        let mut statements: Vec<Statement> = b
            .statements
            .iter()
            .filter_map(|(id, s)| {
                let before = a.statements.get(id).cloned().unwrap_or_default();
                let calls = s.calls - before.calls;
                (calls > 0).then(|| Statement {
                    query: s.query.clone(),
                    calls,
                    rows: s.rows - before.rows,
                    exec_ms: s.exec_ms - before.exec_ms,
                    blks: s.blks - before.blks,
                })
            })
            .collect();
        statements.sort_by(|x, y| y.calls.cmp(&x.calls).then(x.query.cmp(&y.query)));
        Self {
            length,
            database,
            statements,
        }
    }

    /// Statement totals: calls, rows, execution ms, buffers.
    fn totals(&self) -> (i64, i64, f64, i64) {
        self.statements.iter().fold((0, 0, 0.0, 0), |t, s| {
            (t.0 + s.calls, t.1 + s.rows, t.2 + s.exec_ms, t.3 + s.blks)
        })
    }

    fn json(&self) -> Value {
        let (calls, rows, exec_ms, blks) = self.totals();
        let database: serde_json::Map<String, Value> = DATABASE_COLUMNS
            .iter()
            .zip(&self.database)
            .map(|(name, v)| ((*name).to_owned(), json!(v)))
            .collect();
        json!({
            "seconds": round2(self.length.as_secs_f64()),
            "statements": { "calls": calls, "rows": rows, "exec_ms": round2(exec_ms),
                            "shared_blks": blks },
            "pg_stat_database": database,
        })
    }
}

/// The report's `db_load`: the idle window, the changes window, and per change (and per
/// change and replica) with the idle rate taken off; the changes window's ten most-called
/// statements.
pub fn report(idle: &Window, changes: &Window, n_changes: usize, replicas: usize) -> Value {
    let n = n_changes.max(1) as f64;
    let idle_s = idle.length.as_secs_f64();
    // The idle rate over the changes window's length.
    let scale = if idle_s > 0.0 {
        changes.length.as_secs_f64() / idle_s
    } else {
        0.0
    };
    let per_change = |changed: f64, idle: f64| round2((changed - idle * scale) / n);
    let (c_calls, c_rows, c_ms, c_blks) = changes.totals();
    let (i_calls, i_rows, i_ms, i_blks) = idle.totals();
    let mut per = serde_json::Map::new();
    per.insert(
        "statements".into(),
        json!(per_change(c_calls as f64, i_calls as f64)),
    );
    per.insert(
        "statement_rows".into(),
        json!(per_change(c_rows as f64, i_rows as f64)),
    );
    per.insert("exec_ms".into(), json!(per_change(c_ms, i_ms)));
    per.insert(
        "shared_blks".into(),
        json!(per_change(c_blks as f64, i_blks as f64)),
    );
    for (i, name) in DATABASE_COLUMNS.iter().enumerate() {
        let (c, d) = (
            changes.database.get(i).copied().unwrap_or(0),
            idle.database.get(i).copied().unwrap_or(0),
        );
        per.insert((*name).to_owned(), json!(per_change(c as f64, d as f64)));
    }
    let per_replica: serde_json::Map<String, Value> = per
        .iter()
        .map(|(k, v)| {
            let v = v.as_f64().unwrap_or(0.0) / replicas.max(1) as f64;
            (k.clone(), json!(round2(v)))
        })
        .collect();
    let top: Vec<Value> = changes
        .statements
        .iter()
        .take(10)
        .map(|s| {
            let query: String = s.query.split_whitespace().collect::<Vec<_>>().join(" ");
            let query: String = query.chars().take(160).collect();
            json!({
                "calls": s.calls,
                "rows": s.rows,
                "exec_ms": round2(s.exec_ms),
                "query": query,
            })
        })
        .collect();
    json!({
        "changes": n_changes,
        "replicas": replicas,
        "idle": idle.json(),
        "idle_statements_per_s": if idle_s > 0.0 { round2(i_calls as f64 / idle_s) } else { 0.0 },
        "during_changes": changes.json(),
        "per_change": Value::Object(per),
        "per_change_per_replica": Value::Object(per_replica),
        "top_statements_during_changes": top,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counters(at: Instant, database: i64, calls: &[(i64, i64)]) -> Counters {
        Counters {
            at: Some(at),
            database: vec![database; DATABASE_COLUMNS.len()],
            statements: calls
                .iter()
                .map(|&(id, calls)| {
                    (
                        id,
                        Statement {
                            query: format!("q{id}"),
                            calls,
                            rows: calls * 2,
                            exec_ms: calls as f64,
                            blks: calls,
                        },
                    )
                })
                .collect(),
        }
    }

    #[test]
    fn per_change_takes_the_idle_rate_off_and_divides_by_replicas() {
        let t0 = Instant::now();
        let s = Duration::from_secs;
        // Idle: 10 polls a second for 10 s. Changes: 20 s, 200 polls and 40 other calls.
        let a = counters(t0, 100, &[(1, 1000)]);
        let b = counters(t0 + s(10), 200, &[(1, 1100)]);
        let c = counters(t0 + s(30), 600, &[(1, 1300), (2, 40)]);
        let (idle, changes) = (Window::between(&a, &b), Window::between(&b, &c));
        assert_eq!(idle.statements.len(), 1);
        assert_eq!(changes.statements[0].calls, 200);
        assert_eq!(changes.statements[1].query, "q2");
        let report = report(&idle, &changes, 4, 2);
        assert_eq!(report["per_change"]["statements"], 10.0);
        assert_eq!(report["per_change_per_replica"]["statements"], 5.0);
        // pg_stat_database: 400 in 20 s against 100 in 10 s idle: (400 - 200) / 4.
        assert_eq!(report["per_change"]["xact_commit"], 50.0);
        assert_eq!(report["idle_statements_per_s"], 10.0);
        assert_eq!(report["top_statements_during_changes"][0]["calls"], 200);
    }
}
