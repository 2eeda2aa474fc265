//! The registry side of gateway listeners against a real SQLite registry.

use std::sync::Arc;

use mtls_identity::{Fingerprint, Serial, TenantId, TrustDomain};
use mtls_metrics::{ListenerLabel, Metrics, ResultLabel};
use mtls_registry::{
    Actor, CertificateKind, NewCertificate, Refusal, RegistryError, SnapshotSource, Store,
    TenantLimits, TenantStatus,
};
use mtls_registry_sqlite::{SqliteSnapshotSource, SqliteStore};
use mtls_route_spec::{HttpRoute, RouteSpec, UpstreamTls};

use crate::error::RegistryStartError;
use crate::tenancy::Tenancy;
use crate::watcher;
use mtls_config::Config;
use mtls_policy::Policy;

struct Fixture {
    _dir: tempfile::TempDir,
    store: SqliteStore,
    tenancy: Arc<Tenancy>,
    actor: Actor,
}

/// An HTTP route to a loopback upstream (so `allow_private`).
fn http(host: &str) -> RouteSpec {
    let mut route = HttpRoute::new(
        host.parse().unwrap(),
        vec!["http://127.0.0.1:9".parse().unwrap()],
    );
    route.allow_private = true;
    route.into()
}

/// A config with one gateway listener, `gw`, whose data dir is `dir`.
fn config(dir: &std::path::Path) -> Config {
    let text = format!(
        "data_dir = \"{}\"\n[[listener]]\nname = \"gw\"\nmode = \"gateway\"\nlisten = \"127.0.0.1:0\"\n",
        dir.display()
    );
    Config::from_toml(&text, dir.join("m.toml")).unwrap()
}

fn open(
    config: &Config,
    source: Option<Arc<dyn SnapshotSource>>,
) -> Result<Tenancy, RegistryStartError> {
    let listener = &config.listeners()[0];
    let mtls_config::ListenerMode::Gateway { gateway, .. } = &listener.mode else {
        panic!("not a gateway")
    };
    Tenancy::open(
        listener,
        *gateway,
        config.registry_path(),
        source,
        Arc::new(Metrics::new()),
        None,
    )
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path());
    let actor = Actor::new("cli:test").unwrap();
    let store = SqliteStore::create(config.registry_path(), &domain(), &actor).unwrap();
    let source = Arc::new(SqliteSnapshotSource::new(config.registry_path()));
    let tenancy = open(&config, Some(source)).unwrap();
    Fixture {
        _dir: dir,
        store,
        tenancy: Arc::new(tenancy),
        actor,
    }
}

fn domain() -> TrustDomain {
    "gw.test".parse().unwrap()
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

fn reloads(t: &Tenancy, result: &'static str) -> u64 {
    t.metrics
        .registry_reloads
        .get_or_create(&ResultLabel {
            listener: "gw".into(),
            result,
        })
        .get()
}

#[tokio::test]
async fn changes_are_published_and_unchanged_routes_keep_their_targets() {
    let f = fixture();
    let a: TenantId = "a".parse().unwrap();
    f.store
        .create_tenant(&f.actor, &a, "A", TenantLimits::default())
        .unwrap();
    let first = f.store.add_route(&f.actor, &a, http("a.test")).unwrap();
    let serial = issue(&f.store, &f.actor, &a);
    let mut changes = f.tenancy.view.subscribe();

    assert!(watcher::poll_once(&f.tenancy).await);
    assert!(changes.has_changed().unwrap());
    let v1 = f.tenancy.current();
    assert!(v1.snapshot().admit(&a, &serial).is_ok());
    assert_eq!(
        *v1.policy.route_http(&a, "a.test", "/").unwrap().key,
        first.id
    );
    // Compiled when the change brought the route in.
    let target_v1 = v1
        .compiled_route(&first.id)
        .unwrap()
        .compiled_target()
        .unwrap()
        .as_ref()
        .unwrap()
        .clone();
    changes.mark_unchanged();

    // Nothing changed: nothing is published.
    assert!(watcher::poll_once(&f.tenancy).await);
    assert!(!changes.has_changed().unwrap());

    // A new route: published, and the old route's compiled target is reused.
    let second = f.store.add_route(&f.actor, &a, http("b.test")).unwrap();
    assert!(watcher::poll_once(&f.tenancy).await);
    let v2 = f.tenancy.current();
    assert!(v2.policy.route_http(&a, "b.test", "/x").is_ok());
    let compiled_v2 = v2.compiled_route(&first.id).unwrap();
    let target_v2 = compiled_v2.compiled_target().unwrap().as_ref().unwrap();
    assert!(Arc::ptr_eq(&target_v1, target_v2));
    assert!(v2.compiled_route(&second.id).is_some());

    // Suspension shows in the next view; the version gauge follows.
    f.store
        .set_tenant_status(&f.actor, &a, TenantStatus::Suspended)
        .unwrap();
    assert!(watcher::poll_once(&f.tenancy).await);
    let v3 = f.tenancy.current();
    assert_eq!(
        v3.snapshot().admit(&a, &serial).unwrap_err(),
        Refusal::TenantSuspended
    );
    let gauge = f
        .tenancy
        .metrics
        .registry_version
        .get_or_create(&ListenerLabel {
            listener: "gw".into(),
        })
        .get();
    assert_eq!(gauge as u64, v3.snapshot().version());
    assert_eq!(v3.snapshot(), &Store::snapshot(&f.store).unwrap());
    assert_eq!(reloads(&f.tenancy, "success"), 3);
}

/// A change applied as a delta recompiles only the tenant it touched: every other tenant's
/// snapshot entry, compiled routes and limiter are the very same objects as before, and
/// the view equals one compiled from a fresh snapshot.
#[tokio::test]
async fn a_change_to_one_tenant_shares_every_other_tenant_with_the_view_before() {
    let f = fixture();
    let (a, b): (TenantId, TenantId) = ("a".parse().unwrap(), "b".parse().unwrap());
    for id in [&a, &b] {
        f.store
            .create_tenant(&f.actor, id, "T", TenantLimits::default())
            .unwrap();
    }
    let of_b = f.store.add_route(&f.actor, &b, http("b.test")).unwrap();
    let serial_b = issue(&f.store, &f.actor, &b);
    assert!(watcher::poll_once(&f.tenancy).await);
    let v1 = f.tenancy.current();

    // Route added to `a`, then `a` suspended and its limits changed: each a delta.
    let of_a = f.store.add_route(&f.actor, &a, http("a.test")).unwrap();
    assert!(watcher::poll_once(&f.tenancy).await);
    f.store
        .set_tenant_status(&f.actor, &a, TenantStatus::Suspended)
        .unwrap();
    let limits = TenantLimits {
        max_connections: Some(3),
        ..TenantLimits::default()
    };
    f.store.set_tenant_limits(&f.actor, &a, limits).unwrap();
    assert!(watcher::poll_once(&f.tenancy).await);
    let v2 = f.tenancy.current();

    assert!(v2.snapshot().shares_tenant(v1.snapshot(), &b));
    assert!(!v2.snapshot().shares_tenant(v1.snapshot(), &a));
    assert!(Arc::ptr_eq(
        &v1.compiled_route(&of_b.id).unwrap(),
        &v2.compiled_route(&of_b.id).unwrap()
    ));
    assert!(Arc::ptr_eq(&v1.limiters[&b], &v2.limiters[&b]));
    assert!(!Arc::ptr_eq(&v1.limiters[&a], &v2.limiters[&a]));
    assert_eq!(v2.limiters[&a].limits().max_connections, Some(3));
    assert!(
        v2.compiled_route(&of_a.id)
            .unwrap()
            .compiled_target()
            .is_some()
    );
    assert!(v2.snapshot().admit(&b, &serial_b).is_ok());
    assert_eq!(v2.snapshot(), &Store::snapshot(&f.store).unwrap());
    let rebuilt = Policy::new(Store::snapshot(&f.store).unwrap());
    // A route removed by a delta leaves the listener's table of compiled targets.
    assert!(v2.compiler.compiled(&of_a.id).is_some());
    f.store.remove_route(&f.actor, &of_a.id).unwrap();
    assert!(watcher::poll_once(&f.tenancy).await);
    assert!(f.tenancy.current().compiler.compiled(&of_a.id).is_none());
    assert!(f.tenancy.current().compiler.compiled(&of_b.id).is_some());
    for (tenant, host) in [(&a, "a.test"), (&b, "b.test"), (&a, "b.test")] {
        assert_eq!(
            v2.policy
                .route_http(tenant, host, "/")
                .map(|m| m.key.clone()),
            rebuilt.route_http(tenant, host, "/").map(|m| m.key.clone())
        );
    }
}

#[tokio::test]
async fn routes_that_cannot_be_compiled_are_kept_as_errors() {
    let f = fixture();
    let a: TenantId = "a".parse().unwrap();
    f.store
        .create_tenant(&f.actor, &a, "A", TenantLimits::default())
        .unwrap();
    let mut route = HttpRoute::new(
        "tls.test".parse().unwrap(),
        vec!["https://127.0.0.1:9".parse().unwrap()],
    );
    route.allow_private = true;
    route.upstream_tls = Some(UpstreamTls {
        identity: Some("partner".into()),
        ..UpstreamTls::default()
    });
    let record = f.store.add_route(&f.actor, &a, route.into()).unwrap();
    let mut bad_ca = HttpRoute::new(
        "ca.test".parse().unwrap(),
        vec!["https://127.0.0.1:9".parse().unwrap()],
    );
    bad_ca.allow_private = true;
    bad_ca.upstream_tls = Some(UpstreamTls {
        ca_file: Some("/nonexistent/ca.pem".into()),
        ..UpstreamTls::default()
    });
    let bad = f.store.add_route(&f.actor, &a, bad_ca.into()).unwrap();
    assert!(watcher::poll_once(&f.tenancy).await);
    let view = f.tenancy.current();
    // Compiled (and refused) when the change brought the routes in, not at their first
    // request: the log names the problem at once.
    let compiled = view.compiled_route(&record.id).unwrap();
    let err = compiled.compiled_target().unwrap().as_ref().unwrap_err();
    assert!(err.contains("\"partner\""), "{err}");
    let compiled = view.compiled_route(&bad.id).unwrap();
    let err = compiled.compiled_target().unwrap().as_ref().unwrap_err();
    assert!(err.contains("/nonexistent/ca.pem"), "{err}");
    // The table still routes to them (requests get a 502 naming the problem).
    assert!(view.policy.route_http(&a, "ca.test", "/").is_ok());
}

#[tokio::test]
async fn limiters_survive_unrelated_changes_and_keep_counts_across_limit_changes() {
    let f = fixture();
    let a: TenantId = "a".parse().unwrap();
    let limits = TenantLimits {
        max_connections: Some(1),
        requests_per_second: Some(1),
    };
    f.store.create_tenant(&f.actor, &a, "A", limits).unwrap();
    assert!(watcher::poll_once(&f.tenancy).await);
    let v1 = f.tenancy.current();
    let first = v1.limiters[&a].clone();
    let slot = first.connect(std::num::NonZeroU32::MAX).unwrap();
    assert!(first.allow_request());
    assert!(!first.allow_request(), "one request per second");

    // An unrelated change (a route) keeps the limiter: the spent token stays spent.
    f.store.add_route(&f.actor, &a, http("a.test")).unwrap();
    assert!(watcher::poll_once(&f.tenancy).await);
    let v2 = f.tenancy.current();
    assert!(Arc::ptr_eq(&first, &v2.limiters[&a]));
    assert!(!v2.limiters[&a].allow_request());
    assert!(
        v2.limiters[&a].connect(std::num::NonZeroU32::MAX).is_err(),
        "the slot is still held"
    );

    // New limits: a new limiter (fresh bucket), but the open connection still counts.
    let raised = TenantLimits {
        max_connections: Some(2),
        requests_per_second: Some(5),
    };
    f.store.set_tenant_limits(&f.actor, &a, raised).unwrap();
    assert!(watcher::poll_once(&f.tenancy).await);
    let v3 = f.tenancy.current();
    let third = &v3.limiters[&a];
    assert!(!Arc::ptr_eq(&first, third));
    assert_eq!(third.limits(), raised);
    assert_eq!(third.open_connections(), 1);
    assert!(third.allow_request());
    let _second = third.connect(std::num::NonZeroU32::MAX).unwrap();
    assert!(
        third.connect(std::num::NonZeroU32::MAX).is_err(),
        "two of at most two"
    );
    drop(slot);
    assert_eq!(third.open_connections(), 1);

    // A deleted tenant's limiter leaves the view.
    f.store.delete_tenant(&f.actor, &a).unwrap();
    assert!(watcher::poll_once(&f.tenancy).await);
    assert!(f.tenancy.current().limiters.get(&a).is_none());
}

#[tokio::test]
async fn a_replaced_registry_is_read_again_even_at_the_same_version() {
    let f = fixture();
    let (a, b): (TenantId, TenantId) = ("a".parse().unwrap(), "b".parse().unwrap());
    f.store
        .create_tenant(&f.actor, &a, "A", TenantLimits::default())
        .unwrap();
    assert!(watcher::poll_once(&f.tenancy).await);
    let before = f.tenancy.current();
    assert!(before.snapshot().tenant(&a).is_some());

    // Another registry with as many changes, renamed over the file (a restore, say). The
    // old file's WAL and index go with it: SQLite pairs them with the file by name, so left
    // in place they would be read as the new file's.
    let other = f._dir.path().join("other.db");
    let restored = SqliteStore::create(&other, &domain(), &f.actor).unwrap();
    restored
        .create_tenant(&f.actor, &b, "B", TenantLimits::default())
        .unwrap();
    drop(restored);
    let db = &f.tenancy.registry_path;
    for suffix in ["-wal", "-shm"] {
        let mut side = db.clone().into_os_string();
        side.push(suffix);
        let _ = std::fs::remove_file(side);
    }
    std::fs::rename(&other, db).unwrap();

    assert!(watcher::poll_once(&f.tenancy).await);
    let after = f.tenancy.current();
    assert_eq!(after.snapshot().version(), before.snapshot().version());
    assert!(after.snapshot().tenant(&b).is_some());
    assert!(after.snapshot().tenant(&a).is_none());
    assert_eq!(reloads(&f.tenancy, "success"), 2);
    // Read once: the next poll finds nothing new.
    assert!(watcher::poll_once(&f.tenancy).await);
    assert!(Arc::ptr_eq(&after, &f.tenancy.current()));
}

#[test]
fn a_gateway_listener_needs_a_registry_it_can_open() {
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path());
    let err = open(&config, None).err().unwrap();
    assert!(matches!(err, RegistryStartError::Missing), "{err:?}");
    assert!(err.to_string().contains("needs a tenant registry"), "{err}");

    // No registry file: "cannot open", naming the path, with the registry's reason.
    let source = Arc::new(SqliteSnapshotSource::new(config.registry_path()));
    let err = open(&config, Some(source)).err().unwrap();
    let RegistryStartError::Open { path, source } = &err else {
        panic!("{err:?}")
    };
    assert_eq!(*path, config.registry_path());
    assert!(
        matches!(**source, RegistryError::NotInitialised { .. }),
        "{source:?}"
    );
}

#[tokio::test]
async fn a_nudge_makes_the_watcher_poll_before_its_next_tick() {
    let dir = tempfile::tempdir().unwrap();
    let text = format!(
        "data_dir = \"{}\"\n[[listener]]\nname = \"gw\"\nmode = \"gateway\"\nlisten = \"127.0.0.1:0\"\n\
         [listener.gateway]\npoll_interval = \"1s\"\n",
        dir.path().display()
    );
    let config = Config::from_toml(&text, dir.path().join("m.toml")).unwrap();
    let actor = Actor::new("cli:test").unwrap();
    let store = SqliteStore::create(config.registry_path(), &domain(), &actor).unwrap();
    let source = Arc::new(SqliteSnapshotSource::new(config.registry_path()));
    let tenancy = Arc::new(open(&config, Some(source)).unwrap());
    let mut changes = tenancy.view.subscribe();
    let nudge = watcher::RegistryNudge::new();
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);

    // A change before the watcher starts: its first tick (at once) publishes it, which
    // proves that tick is spent; the next one comes only a second after the start.
    let a: TenantId = "a".parse().unwrap();
    let b: TenantId = "b".parse().unwrap();
    store
        .create_tenant(&actor, &a, "A", TenantLimits::default())
        .unwrap();
    let started = tokio::time::Instant::now();
    let task = tokio::spawn(watcher::run(tenancy.clone(), stop_rx, nudge.subscribe()));
    tokio::time::timeout(std::time::Duration::from_secs(5), changes.changed())
        .await
        .expect("the first tick publishes the first change")
        .unwrap();
    changes.mark_unchanged();
    store
        .create_tenant(&actor, &b, "B", TenantLimits::default())
        .unwrap();
    nudge.nudge();
    tokio::time::timeout(std::time::Duration::from_secs(5), changes.changed())
        .await
        .expect("the change is published")
        .unwrap();
    let seen = started.elapsed();
    assert!(tenancy.current().snapshot().tenant(&b).is_some());
    assert!(
        seen < std::time::Duration::from_millis(950),
        "published {seen:?} after start: the nudge, not the 1 s tick, must have polled"
    );
    stop_tx.send(true).unwrap();
    task.await.unwrap();
}

/// Creating enrollment tokens changes nothing the data plane reads: the watcher keeps the
/// view it has (the same `Arc`, no rebuild, no reload counted) and only moves the version it
/// answers for, which the version gauge reports. The next change that does matter, listed
/// behind more tokens, gets a new view at the newest version.
#[tokio::test]
async fn token_only_changes_keep_the_view_and_move_the_version() {
    let f = fixture();
    let a: TenantId = "a".parse().unwrap();
    f.store
        .create_tenant(&f.actor, &a, "A", TenantLimits::default())
        .unwrap();
    assert!(watcher::poll_once(&f.tenancy).await);
    let before = f.tenancy.current();
    let reloads_before = reloads(&f.tenancy, "success");
    let gauge = || {
        f.tenancy
            .metrics
            .registry_version
            .get_or_create(&ListenerLabel {
                listener: "gw".into(),
            })
            .get() as u64
    };
    let ttl = std::time::Duration::from_secs(600);

    for _ in 0..3 {
        f.store.create_enrollment_token(&f.actor, &a, ttl).unwrap();
    }
    let version = Store::version(&f.store).unwrap();
    assert!(watcher::poll_once(&f.tenancy).await);
    let after = f.tenancy.current();
    assert!(
        Arc::ptr_eq(&before, &after),
        "a token-only change rebuilt the view"
    );
    assert_eq!(after.snapshot().version(), before.snapshot().version());
    assert_eq!(f.tenancy.answered(), version);
    assert_eq!(gauge(), version);
    assert_eq!(reloads(&f.tenancy, "success"), reloads_before);

    // Nothing new: still the same view.
    assert!(watcher::poll_once(&f.tenancy).await);
    assert!(Arc::ptr_eq(&before, &f.tenancy.current()));

    // A token, then a route: the route is live at the newest version.
    f.store.create_enrollment_token(&f.actor, &a, ttl).unwrap();
    let route = f.store.add_route(&f.actor, &a, http("a.test")).unwrap();
    let version = Store::version(&f.store).unwrap();
    assert!(watcher::poll_once(&f.tenancy).await);
    let rebuilt = f.tenancy.current();
    assert!(!Arc::ptr_eq(&before, &rebuilt));
    assert_eq!(rebuilt.snapshot().version(), version);
    assert!(rebuilt.compiled_route(&route.id).is_some());
    // Brought up to date by a delta: exactly what a rebuild reads.
    assert_eq!(rebuilt.snapshot(), &Store::snapshot(&f.store).unwrap());
    assert_eq!(gauge(), version);
    assert_eq!(reloads(&f.tenancy, "success"), reloads_before + 1);
}

/// A source whose integrity check fails (the registry it reads is fine otherwise).
struct FailsIntegrity(SqliteSnapshotSource);

impl SnapshotSource for FailsIntegrity {
    fn version(&self) -> Result<u64, RegistryError> {
        self.0.version()
    }
    fn snapshot(&self) -> Result<mtls_registry::Snapshot, RegistryError> {
        self.0.snapshot()
    }
    fn verify(&self) -> Result<(), RegistryError> {
        Err(RegistryError::Corrupt {
            path: self.0.path().to_owned(),
            detail: "quick_check: page 7 is never used".into(),
            source: None,
        })
    }
}

/// The background integrity check: a failure is reported by `stale_registry` (so `/readyz`
/// answers 503 naming it) and stays reported after reads that succeed; a pass reports
/// nothing.
#[tokio::test]
async fn a_failed_integrity_check_sticks_in_the_readiness_report() {
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path());
    let actor = Actor::new("cli:test").unwrap();
    let store = SqliteStore::create(config.registry_path(), &domain(), &actor).unwrap();

    let good = Arc::new(SqliteSnapshotSource::new(config.registry_path()));
    let intact = Arc::new(open(&config, Some(good)).unwrap());
    watcher::verify(intact.clone()).await;
    assert!(intact.stale_registry(std::time::Instant::now()).is_none());

    let bad = Arc::new(FailsIntegrity(SqliteSnapshotSource::new(
        config.registry_path(),
    )));
    let damaged = Arc::new(open(&config, Some(bad)).unwrap());
    assert!(damaged.stale_registry(std::time::Instant::now()).is_none());
    watcher::verify(damaged.clone()).await;
    let a: TenantId = "a".parse().unwrap();
    store
        .create_tenant(&actor, &a, "A", TenantLimits::default())
        .unwrap();
    assert!(watcher::poll_once(&damaged).await, "reads still succeed");
    let stale = damaged
        .stale_registry(std::time::Instant::now())
        .expect("the failed check is reported");
    assert!(
        stale.error.contains("page 7 is never used"),
        "{}",
        stale.error
    );
    assert_eq!(stale.registry, config.registry_path());
}
