//! Medians of two registry-shaped operations through each client:
//! - one write transaction as `PostgresStore` runs it: lock the meta row (`FOR UPDATE`),
//!   insert a row, bump the version, append an audit row, commit;
//! - one read of 10,000 rows (three columns) into memory.
//!
//! sqlx runs on a current-thread tokio runtime with one `block_on` per operation: what a
//! blocking `Store` built on it would have to do.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// A fresh item id for every write of the whole run.
fn next_id() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    format!("w-{}", NEXT.fetch_add(1, Ordering::Relaxed))
}

use mtls_test_postgres::PgServer;
use sqlx::{Connection, Row};

const WRITES: usize = 300;
const READS: usize = 40;
const ROWS: i64 = 10_000;

const SCHEMA: &str = "
    CREATE TABLE meta (id INT PRIMARY KEY, version BIGINT NOT NULL, head_seq BIGINT NOT NULL,
                       head_hash TEXT NOT NULL);
    INSERT INTO meta VALUES (1, 0, 0, 'genesis');
    CREATE TABLE items (rowid BIGINT GENERATED ALWAYS AS IDENTITY, id TEXT PRIMARY KEY,
                        tenant TEXT NOT NULL, spec TEXT NOT NULL, created_at BIGINT NOT NULL);
    CREATE TABLE audit (seq BIGINT PRIMARY KEY, actor TEXT NOT NULL, details TEXT NOT NULL,
                        prev_hash TEXT NOT NULL, hash TEXT NOT NULL, version BIGINT);
";

const LOCK: &str = "SELECT version, head_seq, head_hash FROM meta WHERE id = 1 FOR UPDATE";
const INSERT: &str = "INSERT INTO items (id, tenant, spec, created_at) VALUES ($1, $2, $3, $4)";
const BUMP: &str = "UPDATE meta SET version = version + 1, head_seq = $1, head_hash = $2 WHERE id = 1";
const AUDIT: &str =
    "INSERT INTO audit (seq, actor, details, prev_hash, hash, version) VALUES ($1, $2, $3, $4, $5, $6)";
const READ: &str = "SELECT id, tenant, spec FROM items ORDER BY tenant, created_at, rowid LIMIT 10000";
const SPEC: &str = r#"{"kind":"http","host":"h.acme.test","path_prefix":"/","upstreams":["https://10.0.0.5:8443"]}"#;

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn fill(url: &str) {
    let mut c = postgres::Client::connect(url, postgres::NoTls).unwrap();
    c.batch_execute(SCHEMA).unwrap();
    c.batch_execute(&format!(
        "INSERT INTO items (id, tenant, spec, created_at)
         SELECT 'r-' || i, 't-' || (i % 1000), '{SPEC}', i FROM generate_series(1, {ROWS}) AS i"
    ))
    .unwrap();
}

fn postgres_sync(url: &str, prepared: bool) -> (Duration, Duration) {
    let mut c = postgres::Client::connect(url, postgres::NoTls).unwrap();
    let statements = prepared.then(|| {
        [LOCK, INSERT, BUMP, AUDIT, READ].map(|sql| c.prepare(sql).unwrap())
    });
    let mut writes = Vec::new();
    for i in 0..WRITES {
        let start = Instant::now();
        let mut tx = c.transaction().unwrap();
        let id = next_id();
        let (head_seq, head_hash, version): (i64, String, i64) = {
            let row = match &statements {
                Some(s) => tx.query_one(&s[0], &[]).unwrap(),
                None => tx.query_one(LOCK, &[]).unwrap(),
            };
            (row.get(1), row.get(2), row.get(0))
        };
        let seq = head_seq + 1;
        let hash = format!("{head_hash}-{seq}");
        let details = format!("{{\"route\":\"{id}\"}}");
        let insert: [&(dyn postgres::types::ToSql + Sync); 4] = [&id, &"acme", &SPEC, &(i as i64)];
        let bump: [&(dyn postgres::types::ToSql + Sync); 2] = [&seq, &hash];
        let audit: [&(dyn postgres::types::ToSql + Sync); 6] =
            [&seq, &"cli:bench", &details, &head_hash, &hash, &(version + 1)];
        match &statements {
            Some(s) => {
                tx.execute(&s[1], &insert).unwrap();
                tx.execute(&s[2], &bump).unwrap();
                tx.execute(&s[3], &audit).unwrap();
            }
            None => {
                tx.execute(INSERT, &insert).unwrap();
                tx.execute(BUMP, &bump).unwrap();
                tx.execute(AUDIT, &audit).unwrap();
            }
        }
        tx.commit().unwrap();
        writes.push(start.elapsed());
    }
    let mut reads = Vec::new();
    for _ in 0..READS {
        let start = Instant::now();
        let rows = match &statements {
            Some(s) => c.query(&s[4], &[]).unwrap(),
            None => c.query(READ, &[]).unwrap(),
        };
        let items: Vec<(String, String, String)> =
            rows.iter().map(|r| (r.get(0), r.get(1), r.get(2))).collect();
        assert_eq!(items.len(), ROWS as usize);
        reads.push(start.elapsed());
    }
    (median(writes), median(reads))
}

fn sqlx_postgres(url: &str) -> (Duration, Duration) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut c = rt.block_on(sqlx::PgConnection::connect(url)).unwrap();
    let mut writes = Vec::new();
    for i in 0..WRITES {
        let start = Instant::now();
        rt.block_on(async {
            let mut tx = c.begin().await.unwrap();
            let row = sqlx::query(LOCK).fetch_one(&mut *tx).await.unwrap();
            let (version, head_seq, head_hash): (i64, i64, String) =
                (row.get(0), row.get(1), row.get(2));
            let id = next_id();
            let seq = head_seq + 1;
            let hash = format!("{head_hash}-{seq}");
            sqlx::query(INSERT)
                .bind(&id)
                .bind("acme")
                .bind(SPEC)
                .bind(i as i64)
                .execute(&mut *tx)
                .await
                .unwrap();
            sqlx::query(BUMP).bind(seq).bind(&hash).execute(&mut *tx).await.unwrap();
            sqlx::query(AUDIT)
                .bind(seq)
                .bind("cli:bench")
                .bind(format!("{{\"route\":\"{id}\"}}"))
                .bind(&head_hash)
                .bind(&hash)
                .bind(version + 1)
                .execute(&mut *tx)
                .await
                .unwrap();
            tx.commit().await.unwrap();
        });
        writes.push(start.elapsed());
    }
    let mut reads = Vec::new();
    for _ in 0..READS {
        let start = Instant::now();
        let items: Vec<(String, String, String)> = rt.block_on(async {
            sqlx::query(READ)
                .fetch_all(&mut c)
                .await
                .unwrap()
                .iter()
                .map(|r| (r.get(0), r.get(1), r.get(2)))
                .collect()
        });
        assert_eq!(items.len(), ROWS as usize);
        reads.push(start.elapsed());
    }
    (median(writes), median(reads))
}

fn main() {
    let server = PgServer::start();
    let url = server.database();
    fill(&url);
    // Warm the server's caches once, then alternate so that neither client gets a warmer
    // server than the other.
    postgres_sync(&url, false);
    let mut results: Vec<(&str, (Duration, Duration))> = Vec::new();
    for round in 0..2 {
        results.push(("postgres 0.19 (text statements, as PostgresStore)", postgres_sync(&url, false)));
        results.push(("postgres 0.19 (prepared once)", postgres_sync(&url, true)));
        results.push(("sqlx 0.9 postgres (statement cache, block_on)", sqlx_postgres(&url)));
        let _ = round;
    }
    println!("| client | write transaction (median of {WRITES}) | read {ROWS} rows (median of {READS}) |");
    println!("|---|---|---|");
    for (name, (write, read)) in results {
        println!("| {name} | {:.0} µs | {:.2} ms |", write.as_secs_f64() * 1e6, read.as_secs_f64() * 1e3);
    }
}
