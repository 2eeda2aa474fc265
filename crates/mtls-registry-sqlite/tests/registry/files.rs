//! What only an SQLite file shows: the bytes on disk, and `PRAGMA data_version`.

use std::time::Duration;

use mtls_registry::Store;
use serde_json::json;

use crate::common::{Fixture, actor, tid};

const TEN_MINUTES: Duration = Duration::from_secs(600);

#[test]
fn secret_is_never_stored_or_printed() {
    let f = Fixture::new();
    f.tenant("acme");
    let (secret, _) = f
        .store
        .create_enrollment_token(&actor(), &tid("acme"), TEN_MINUTES)
        .unwrap();
    let debug = format!("{secret:?}");
    assert!(
        !debug.contains(secret.expose()) && debug.contains("redacted"),
        "{debug}"
    );
    drop(f.store);
    // Not in the database file, its WAL, or any audit event.
    let raw = rusqlite::Connection::open(&f.path).unwrap();
    let dump: String = raw
        .query_row(
            "SELECT group_concat(id || secret_sha256, ' ') FROM tokens",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert!(!dump.contains(secret.expose()));
    drop(raw);
    for file in [f.path.clone(), f.path.with_extension("db-wal")] {
        if let Ok(bytes) = std::fs::read(&file) {
            let needle = secret.expose().as_bytes();
            assert!(
                !bytes.windows(needle.len()).any(|w| w == needle),
                "{}",
                file.display()
            );
        }
    }
}

/// `data_version` moves when another connection commits (a change, or an audit event that
/// changes nothing), never for this connection's own reads.
#[test]
fn data_version_moves_on_another_connections_commits() {
    let f = Fixture::new();
    let reader = f.reopen();
    let dv = reader.data_version().unwrap();
    assert_eq!(
        reader.data_version().unwrap(),
        dv,
        "no change, no new data_version"
    );
    f.tenant("acme");
    assert_ne!(reader.data_version().unwrap(), dv);

    let before = reader.data_version().unwrap();
    let v = Store::version(&f.store).unwrap();
    f.store
        .append_audit_event(&actor(), "api.tenant.read", Some(&tid("acme")), json!({}))
        .unwrap();
    // Another process's connection still sees a commit (the head moved).
    assert_ne!(reader.data_version().unwrap(), before);
    assert_eq!(Store::version(&reader).unwrap(), v);
}
