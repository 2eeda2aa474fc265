//! Change notifications: a commit that moves the version is announced with that version to
//! every `ChangeListener`, a refused change is not, and a listener that lost the server
//! reconnects and says so.

use std::sync::mpsc::{self, Receiver};
use std::time::{Duration, Instant};

use mtls_registry::Store;
use mtls_registry_conformance::{actor, domain, tid};
use mtls_registry_postgres::{ChangeListener, ListenEvent, PostgresStore};
use mtls_test_postgres::PgServer;

fn listen(url: &str) -> (ChangeListener, Receiver<ListenEvent>) {
    let (tx, rx) = mpsc::channel();
    let listener = ChangeListener::start(url, move |event| {
        let _ = tx.send(event);
    })
    .unwrap();
    (listener, rx)
}

/// The first event matching `wanted` within `within`, skipping others.
fn wait_for(
    rx: &Receiver<ListenEvent>,
    within: Duration,
    wanted: impl Fn(&ListenEvent) -> bool,
) -> Option<ListenEvent> {
    let deadline = Instant::now() + within;
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        match rx.recv_timeout(left) {
            Ok(event) if wanted(&event) => return Some(event),
            Ok(_) => {}
            Err(_) => return None,
        }
    }
    None
}

#[test]
fn a_commit_is_announced_with_its_version_and_a_refused_change_is_not() {
    let url = PgServer::shared().database();
    let store = PostgresStore::create(&url, &domain(), &actor()).unwrap();
    let (_listener, rx) = listen(&url);
    assert!(
        wait_for(&rx, Duration::from_secs(10), |e| *e
            == ListenEvent::Connected)
        .is_some(),
        "never connected"
    );
    let committed = Instant::now();
    store
        .create_tenant(&actor(), &tid("acme"), "ACME", Default::default())
        .unwrap();
    let version = Store::version(&store).unwrap();
    let heard = wait_for(&rx, Duration::from_secs(1), |e| {
        matches!(e, ListenEvent::Changed(_))
    });
    assert_eq!(heard, Some(ListenEvent::Changed(version)));
    assert!(committed.elapsed() < Duration::from_secs(1));

    // Refused (the tenant exists): rolled back, so nothing is announced.
    store
        .create_tenant(&actor(), &tid("acme"), "ACME", Default::default())
        .unwrap_err();
    assert_eq!(Store::version(&store).unwrap(), version);
    assert_eq!(
        wait_for(&rx, Duration::from_millis(700), |e| matches!(
            e,
            ListenEvent::Changed(_)
        )),
        None
    );

    // Several commits in a row: the newest version is heard.
    for name in ["b1", "b2", "b3"] {
        store
            .create_tenant(&actor(), &tid(name), name, Default::default())
            .unwrap();
    }
    let last = Store::version(&store).unwrap();
    assert!(
        wait_for(&rx, Duration::from_secs(1), |e| *e
            == ListenEvent::Changed(last))
        .is_some(),
        "version {last} not announced"
    );
}

#[test]
fn a_listener_that_lost_the_server_reconnects_when_it_returns() {
    let server = PgServer::start();
    let url = server.database();
    let store = PostgresStore::create(&url, &domain(), &actor()).unwrap();
    let (listener, rx) = listen(&url);
    assert!(
        listener
            .location()
            .starts_with("postgres://postgres@127.0.0.1:")
    );
    assert!(
        wait_for(&rx, Duration::from_secs(10), |e| *e
            == ListenEvent::Connected)
        .is_some()
    );

    server.stop();
    let lost = wait_for(&rx, Duration::from_secs(10), |e| {
        matches!(e, ListenEvent::Lost(_))
    });
    assert!(lost.is_some(), "the stop was not noticed");
    server.resume();
    assert!(
        wait_for(&rx, Duration::from_secs(15), |e| *e
            == ListenEvent::Connected)
        .is_some(),
        "did not reconnect"
    );
    store
        .create_tenant(&actor(), &tid("after"), "After", Default::default())
        .unwrap();
    let version = Store::version(&store).unwrap();
    assert!(
        wait_for(&rx, Duration::from_secs(1), |e| *e
            == ListenEvent::Changed(version))
        .is_some()
    );
    // Dropping the listener stops its thread promptly.
    let dropped = Instant::now();
    drop(listener);
    assert!(dropped.elapsed() < Duration::from_secs(2));
}

#[test]
fn a_bad_url_is_refused_without_repeating_it() {
    let err = ChangeListener::start("postgres://u:hunter2@db:notaport/x", |_| {}).unwrap_err();
    assert!(!format!("{err:?}").contains("hunter2"), "{err:?}");
}
