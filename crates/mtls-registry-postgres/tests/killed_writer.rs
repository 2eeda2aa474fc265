//! A writer process killed with `kill -9` in the middle of its transaction leaves no part of
//! its change: the registry shows none of it, the version did not move, the chain verifies,
//! and the next writer gets the lock.
//!
//! The test runs this binary again as the writer (`MTLS_KILLED_WRITER_URL` set): it deletes
//! a tenant through `PostgresStore::delete_tenant`, whose statements (revoke the tenant's
//! certificates, delete its routes, its tokens, the tenant) all run before the audit event
//! is inserted, and a trigger installed for the test holds that insert (`pg_sleep`) for
//! the doomed actor only. The parent waits until the writer's backend is sleeping there,
//! so every other statement of the transaction has run, then kills the writer.

use std::process::{Child, Command};
use std::time::{Duration, Instant};

use mtls_registry::{Actor, Store};
use mtls_registry_conformance::{actor, domain, issue_ok, tcp_route, tid};
use mtls_registry_postgres::PostgresStore;
use mtls_test_postgres::PgServer;

const URL_VAR: &str = "MTLS_KILLED_WRITER_URL";
const DOOMED: &str = "cli:doomed";

fn main() {
    if let Ok(url) = std::env::var(URL_VAR) {
        writer(&url);
        return;
    }
    let name = "killed_writer_leaves_no_partial_change";
    println!("\nrunning 1 test");
    killed_writer_leaves_no_partial_change();
    println!(
        "test {name} ... ok\n\ntest result: ok. 1 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out"
    );
}

/// The writer: one `delete_tenant` that never finishes.
fn writer(url: &str) {
    let store = PostgresStore::open(url).unwrap();
    let doomed = Actor::new(DOOMED).unwrap();
    let _ = store.delete_tenant(&doomed, &tid("acme"));
    unreachable!("the audit insert of the doomed writer never returns");
}

/// Kills the writer on drop, so a failing test leaves no process behind.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn wait_for(what: &str, timeout: Duration, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < timeout, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn killed_writer_leaves_no_partial_change() {
    let url = PgServer::shared().database();
    let store = PostgresStore::create(&url, &domain(), &actor()).unwrap();
    store
        .create_tenant(&actor(), &tid("acme"), "ACME", Default::default())
        .unwrap();
    let cert = store
        .record_certificate(&actor(), &tid("acme"), &mut issue_ok())
        .unwrap();
    store
        .add_route(&actor(), &tid("acme"), tcp_route("db.acme.test"))
        .unwrap();
    store
        .create_enrollment_token(&actor(), &tid("acme"), Duration::from_secs(600))
        .unwrap();
    let before = store.snapshot().unwrap();
    let events = store.verify_audit().unwrap().events;

    let mut raw = PgServer::client(&url);
    raw.batch_execute(&format!(
        "CREATE FUNCTION stall() RETURNS trigger LANGUAGE plpgsql AS $$
         BEGIN
             IF NEW.actor = '{DOOMED}' THEN PERFORM pg_sleep(600); END IF;
             RETURN NEW;
         END $$;
         CREATE TRIGGER stall BEFORE INSERT ON audit_events
             FOR EACH ROW EXECUTE FUNCTION stall();"
    ))
    .unwrap();

    let child = Command::new(std::env::current_exe().unwrap())
        .env(URL_VAR, &url)
        .spawn()
        .unwrap();
    let mut child = Killed(child);
    let database: String = raw
        .query_one("SELECT current_database()", &[])
        .unwrap()
        .get(0);
    let stalled = |raw: &mut postgres::Client| -> i64 {
        raw.query_one(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = $1 AND wait_event = 'PgSleep'",
            &[&database],
        )
        .unwrap()
        .get(0)
    };
    wait_for(
        "the writer to stall in its audit insert",
        Duration::from_secs(60),
        || stalled(&mut raw) == 1,
    );
    // Mid-transaction: its deletes are done but invisible to everyone else.
    assert_eq!(store.tenant(&tid("acme")).unwrap().display_name, "ACME");

    child.0.kill().unwrap(); // SIGKILL
    let status = child.0.wait().unwrap();
    assert!(!status.success());
    // The server notices the dead client (client_connection_check_interval) and rolls back.
    wait_for(
        "the server to end the killed writer's transaction",
        Duration::from_secs(30),
        || stalled(&mut raw) == 0,
    );

    assert_eq!(Store::version(&store).unwrap(), before.version());
    assert_eq!(store.snapshot().unwrap(), before);
    let acme = store.tenant(&tid("acme")).unwrap();
    assert_eq!(acme.display_name, "ACME");
    assert!(
        store
            .certificate(&cert.serial)
            .unwrap()
            .revoked_at
            .is_none()
    );
    assert_eq!(store.routes(Some(&tid("acme"))).unwrap().len(), 1);
    assert_eq!(store.tokens(Some(&tid("acme"))).unwrap().len(), 1);
    let report = store.verify_audit().unwrap();
    assert_eq!(report.events, events);
    assert!(
        store
            .audit_events(&Default::default())
            .unwrap()
            .iter()
            .all(|e| e.actor != DOOMED)
    );
    // The lock died with the transaction: the next writer goes through at once.
    store
        .create_tenant(&actor(), &tid("after"), "After", Default::default())
        .unwrap();
    assert_eq!(Store::version(&store).unwrap(), before.version() + 1);
    store.verify_audit().unwrap();
}
