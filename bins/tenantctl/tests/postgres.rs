//! tenantctl on a PostgreSQL registry (`--registry URL`, `MTLS_REGISTRY`): the real binary,
//! a real server (mtls-test-postgres), several processes writing at once.

mod support;

use std::thread;

use mtls_test_postgres::PgServer;
use support::tenantctl;

const PROCESSES: usize = 4;
const WRITES: usize = 250;

/// 4 concurrent streams of tenantctl processes, 250 writes each (every process one write:
/// create a tenant, then suspend it): 1,000 audit events after `init`'s one, a verifying
/// chain, and every tenant there, each suspended.
#[test]
fn four_concurrent_tenantctls_of_250_writes_leave_1000_events_and_a_verifying_chain() {
    let url = PgServer::shared().database();
    let t = tenantctl();
    let init = t.json(&["--registry", &url, "init", "--trust-domain", "example.test"]);
    assert_eq!(init["trust_domain"], "example.test", "{init}");
    // The registry is in the database, not in the data directory.
    assert!(!t.data_dir().join("registry.db").exists());

    thread::scope(|s| {
        for p in 0..PROCESSES {
            let (t, url) = (&t, &url);
            s.spawn(move || {
                for i in 0..WRITES / 2 {
                    let id = format!("p{p}-t{i}");
                    t.ok(&[
                        "--registry",
                        url,
                        "tenant",
                        "create",
                        &id,
                        "--name",
                        "Written",
                    ]);
                    t.ok(&["--registry", url, "tenant", "suspend", &id]);
                }
            });
        }
    });

    let verified = t.json(&["--registry", &url, "audit", "verify"]);
    assert_eq!(verified["ok"], true);
    assert_eq!(verified["events"], 1 + PROCESSES * WRITES, "{verified}");
    let tenants = t.json(&["--registry", &url, "tenant", "list", "--limit", "1000"]);
    let items = tenants["items"].as_array().unwrap();
    assert_eq!(items.len(), PROCESSES * WRITES / 2);
    assert!(
        items.iter().all(|t| t["status"] == "suspended"),
        "{tenants}"
    );
}

#[test]
fn init_refuses_an_existing_registry_and_force_keeps_its_trust_domain() {
    let url = PgServer::shared().database();
    let t = tenantctl();
    t.ok(&["--registry", &url, "init", "--trust-domain", "example.test"]);
    t.ok(&[
        "--registry",
        &url,
        "tenant",
        "create",
        "acme",
        "--name",
        "Acme",
    ]);
    // A second data directory on the same registry.
    let other = tenantctl();
    other.fails(
        &["--registry", &url, "init", "--trust-domain", "example.test"],
        "already",
    );
    other.fails(
        &[
            "--registry",
            &url,
            "init",
            "--trust-domain",
            "other.test",
            "--force",
        ],
        "trust domain",
    );
    other.ok(&[
        "--registry",
        &url,
        "init",
        "--trust-domain",
        "example.test",
        "--force",
    ]);
    // It sees the same registry; the password of a URL never shows in an error.
    let listed = other.json(&["--registry", &url, "tenant", "list"]);
    assert_eq!(listed["items"][0]["id"], "acme");
    let with_password = url.replacen("postgres@", "postgres:s3cret-pw@", 1);
    let bad_db = with_password.replace("/test_", "/missing_");
    let err = other.fails(&["--registry", &bad_db, "tenant", "list"], "registry");
    assert!(!err.contains("s3cret-pw"), "{err}");
}
