//! Publishing views (a certificate reload's recompile racing the registry watcher) and the
//! registry's read health (staleness).

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mtls_identity::{Fingerprint, RevocationReason, Serial, TenantId};
use mtls_metrics::Metrics;
use mtls_registry::{Actor, CertificateKind, NewCertificate, Refusal, Store, TenantLimits};
use mtls_registry_sqlite::{SqliteSnapshotSource, SqliteStore};
use mtls_resolver::Identity;
use mtls_route_spec::{HttpRoute, UpstreamTls};
use mtls_test_support::pki::{test_ca, test_leaf};

use crate::route_identities::RouteIdentities;
use crate::tenancy::Tenancy;
use crate::watcher;

/// Linux's `O_NONBLOCK`: opening a FIFO for writing with it fails at once (ENXIO) while
/// nobody has it open for reading, instead of blocking.
const O_NONBLOCK: i32 = 0o4000;

/// Opens the FIFO at `path` for writing once a reader has opened it (a route's CA file
/// being read by a compile), within 10 s.
fn writer_once_read(path: &Path) -> std::fs::File {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match std::fs::OpenOptions::new()
            .write(true)
            .custom_flags(O_NONBLOCK)
            .open(path)
        {
            Ok(file) => return file,
            Err(e) if e.raw_os_error() == Some(6) && Instant::now() < deadline => {
                // ENXIO: no reader yet.
                std::thread::yield_now();
            }
            Err(e) => panic!(
                "no compile opened the CA file {} in time: {e}",
                path.display()
            ),
        }
    }
}

fn issue(store: &SqliteStore, actor: &Actor, tenant: &TenantId) -> Serial {
    let now = time::OffsetDateTime::now_utc();
    store
        .record_certificate(actor, tenant, &mut |_| {
            Ok(NewCertificate {
                serial: Serial::random(),
                fingerprint: Fingerprint::of_der(b"der"),
                not_before: now,
                not_after: now + time::Duration::days(1),
                kind: CertificateKind::Client,
            })
        })
        .unwrap()
        .serial
}

/// A recompile (after the route identities were reloaded) that started from version N and
/// finishes after the watcher published version N+1 must not publish N again: a certificate
/// revoked in N+1 would be admitted again until the next registry change.
///
/// Deterministic: the route's CA file is a FIFO, so the recompile blocks inside its compile
/// until the test writes the CA, after the watcher's poll has published the newer view.
#[test]
fn a_recompile_finishing_after_a_newer_snapshot_does_not_republish_the_older_one() {
    let dir = tempfile::tempdir().unwrap();
    let text = format!(
        "data_dir = \"{}\"\n[[listener]]\nname = \"gw\"\nmode = \"gateway\"\nlisten = \"127.0.0.1:0\"\n",
        dir.path().display()
    );
    let config = mtls_config::Config::from_toml(&text, dir.path().join("m.toml")).unwrap();
    let listener = &config.listeners()[0];
    let mtls_config::ListenerMode::Gateway { gateway, .. } = &listener.mode else {
        panic!("not a gateway")
    };
    let actor = Actor::new("cli:test").unwrap();
    let store =
        SqliteStore::create(config.registry_path(), &"gw.test".parse().unwrap(), &actor).unwrap();
    let a: TenantId = "a".parse().unwrap();
    store
        .create_tenant(&actor, &a, "A", TenantLimits::default())
        .unwrap();
    let serial = issue(&store, &actor, &a);

    // The upstream client identity `partner`, and a route presenting it whose CA is a FIFO.
    let (ca, ca_pem) = test_ca("upstream CA");
    let (cert_pem, key_pem) = test_leaf(&ca, false, false);
    let (cert, key) = (
        dir.path().join("partner.pem"),
        dir.path().join("partner.key"),
    );
    std::fs::write(&cert, cert_pem).unwrap();
    std::fs::write(&key, key_pem).unwrap();
    let partner = || Identity::from_pem_files("partner", &cert, &key).unwrap();
    let identities = Arc::new(RouteIdentities::new(vec![partner()], Vec::new(), None).unwrap());
    let fifo = dir.path().join("upstream-ca.pem");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success(), "mkfifo failed");
    let mut route = HttpRoute::new(
        "up.test".parse().unwrap(),
        vec!["https://127.0.0.1:9".parse().unwrap()],
    );
    route.allow_private = true;
    route.upstream_tls = Some(UpstreamTls {
        identity: Some("partner".into()),
        ca_file: Some(fifo.clone()),
        ..UpstreamTls::default()
    });
    let route = store.add_route(&actor, &a, route.into()).unwrap();

    let source = Arc::new(SqliteSnapshotSource::new(config.registry_path()));
    let tenancy = Arc::new(
        Tenancy::open(
            listener,
            *gateway,
            config.registry_path(),
            Some(source),
            Arc::new(Metrics::new()),
            Some(identities.clone()),
        )
        .unwrap(),
    );
    // Start: the route is compiled at its first request (reading the FIFO once).
    assert!(tenancy.current().compiled_route(&route.id).is_none());
    let feeder = {
        let (fifo, ca_pem) = (fifo.clone(), ca_pem.clone());
        std::thread::spawn(move || {
            writer_once_read(&fifo)
                .write_all(ca_pem.as_bytes())
                .unwrap()
        })
    };
    tenancy.current().target_now(&route.id).unwrap();
    feeder.join().unwrap();
    let old = tenancy.current().snapshot().version();
    assert!(tenancy.current().snapshot().admit(&a, &serial).is_ok());

    // The registry moves on: the certificate is revoked, the route removed.
    store
        .revoke_certificate(&actor, &serial, RevocationReason::KeyCompromise)
        .unwrap();
    store.remove_route(&actor, &route.id).unwrap();
    let new = Store::version(&store).unwrap();
    assert!(new > old);

    // A certificate reload replaced the identities: the recompile starts from the view it
    // has (version `old`) and blocks compiling the route (reading its CA FIFO).
    identities.replace(vec![partner()], Vec::new()).unwrap();
    let recompiling = {
        let tenancy = tenancy.clone();
        std::thread::spawn(move || tenancy.recompile())
    };
    let mut writer = writer_once_read(&fifo);

    // Meanwhile the watcher publishes the newer snapshot.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    assert!(runtime.block_on(watcher::poll_once(&tenancy)));
    assert_eq!(tenancy.current().snapshot().version(), new);

    // The recompile finishes last.
    writer.write_all(ca_pem.as_bytes()).unwrap();
    drop(writer);
    recompiling.join().unwrap();

    let view = tenancy.current();
    assert_eq!(
        view.snapshot().version(),
        new,
        "the recompile published the older registry version again"
    );
    assert_eq!(
        view.snapshot().admit(&a, &serial).unwrap_err(),
        Refusal::CertificateRevoked
    );
    assert!(view.compiled_route(&route.id).is_none());
}

/// A registry that stays unreadable is reported stale once `registry_staleness` (30 s by
/// default) has passed since the last good read, naming the registry, the version still
/// served and the error; a good read clears it. Time is passed in, so nothing sleeps.
#[test]
fn a_registry_unreadable_for_longer_than_the_bound_is_reported_stale() {
    let dir = tempfile::tempdir().unwrap();
    let text = format!(
        "data_dir = \"{}\"\n[[listener]]\nname = \"gw\"\nmode = \"gateway\"\nlisten = \"127.0.0.1:0\"\n",
        dir.path().display()
    );
    let config = mtls_config::Config::from_toml(&text, dir.path().join("m.toml")).unwrap();
    let listener = &config.listeners()[0];
    let mtls_config::ListenerMode::Gateway { gateway, .. } = &listener.mode else {
        panic!("not a gateway")
    };
    assert_eq!(gateway.registry_staleness, Duration::from_secs(30));
    let actor = Actor::new("cli:test").unwrap();
    let db = config.registry_path();
    drop(SqliteStore::create(&db, &"gw.test".parse().unwrap(), &actor).unwrap());
    let source = Arc::new(SqliteSnapshotSource::new(&db));
    let tenancy = Arc::new(
        Tenancy::open(
            listener,
            *gateway,
            db.clone(),
            Some(source),
            Arc::new(Metrics::new()),
            None,
        )
        .unwrap(),
    );
    let version = tenancy.current().snapshot().version();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let past_the_bound = || Instant::now() + Duration::from_secs(31);
    assert_eq!(
        tenancy.stale_registry(past_the_bound()),
        None,
        "never failed"
    );

    // A corrupt file renamed over the registry: every poll fails.
    let kept = dir.path().join("kept.db");
    std::fs::hard_link(&db, &kept).unwrap();
    let corrupt = dir.path().join("corrupt.db");
    std::fs::write(&corrupt, b"not a database").unwrap();
    std::fs::rename(&corrupt, &db).unwrap();
    assert!(!runtime.block_on(watcher::poll_once(&tenancy)));
    assert_eq!(
        tenancy.stale_registry(Instant::now()),
        None,
        "failing, but not for long"
    );
    let stale = tenancy.stale_registry(past_the_bound()).expect("stale");
    assert_eq!(stale.registry, db);
    assert_eq!(stale.version, version);
    assert!(stale.error.contains("corrupt"), "{}", stale.error);
    assert!(stale.failing_for >= Duration::from_secs(30));
    // The view is still the last good one.
    assert_eq!(tenancy.current().snapshot().version(), version);

    // Readable again: no longer stale.
    std::fs::rename(&kept, &db).unwrap();
    assert!(runtime.block_on(watcher::poll_once(&tenancy)));
    assert_eq!(tenancy.stale_registry(past_the_bound()), None);
}
