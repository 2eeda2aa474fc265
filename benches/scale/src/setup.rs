//! The data dir: `tenantctl init` (CA, server certificate, registry), the probe tenants
//! with real certificates (`tenantctl cert issue`, the normal flow) and routes to the
//! tool's own loopback backend, then the bulk tenants through the backend's `bulk_load`
//! ([`SqliteStore::bulk_load`], [`PostgresStore::bulk_load`]). With a PostgreSQL registry
//! every `tenantctl` run gets its URL (`MTLS_REGISTRY`); the data dir still holds the CA.
//!
//! [`PostgresStore::bulk_load`]: mtls_registry_postgres::PostgresStore::bulk_load
//!
//! Probes are made before the bulk load, while the registry is small (every `tenantctl`
//! run opens it and checks its integrity).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use mtls_identity::{Fingerprint, Serial, TenantId};
use mtls_registry::backend::BulkTenant;
use mtls_registry::{Actor, CertificateKind, NewCertificate, RouteId, Store, TenantLimits};
use mtls_registry_postgres::PostgresStore;
use mtls_registry_sqlite::SqliteStore;
use mtls_route_spec::{HttpRoute, RouteSpec, UpstreamUrl};

use crate::ScaleError;
use crate::registry::ScaleStore;

/// Routes per bulk tenant: nine exact hosts and one wildcard, all HTTP.
pub const ROUTES_PER_TENANT: usize = 10;
/// The trust domain of the scale registry.
pub const TRUST_DOMAIN: &str = "scale.mtls.local";
/// The actor of every registry write the tool makes.
pub const ACTOR: &str = "cli:scale";

/// One probe certificate, issued by the registry's CA.
#[derive(Debug, Clone)]
pub struct Bundle {
    /// Its tenant.
    pub tenant: TenantId,
    /// The directory holding `cert.pem` and `key.pem`.
    pub dir: PathBuf,
    /// Its serial.
    pub serial: Serial,
}

/// The probe tenants and what each change will touch.
#[derive(Debug, Clone)]
pub struct Probes {
    /// The background prober's tenant (untouched by every change); host [`BACKGROUND_HOST`].
    pub background: Bundle,
    /// The tenant whose routes are added and removed.
    pub routes: Bundle,
    /// Hosts the route-add changes add, one each (404 until added).
    pub add_hosts: Vec<String>,
    /// Routes the route-remove changes remove, with their hosts.
    pub remove: Vec<(RouteId, String)>,
    /// One tenant per suspend change, each with its certificate; host [`suspend_host`].
    pub suspend: Vec<Bundle>,
    /// One certificate per revoke change, all of one tenant; host [`REVOKE_HOST`].
    pub revoke: Vec<Bundle>,
}

/// The background tenant's host.
pub const BACKGROUND_HOST: &str = "bg.probe.localhost";
/// The revoke tenant's host.
pub const REVOKE_HOST: &str = "rv.probe.localhost";

/// The host of the `i`-th suspend tenant.
pub fn suspend_host(i: usize) -> String {
    format!("s{i}.probe.localhost")
}

/// Runs `tenantctl` on the data dir (and the PostgreSQL `registry`, if given); its stdout.
pub fn tenantctl(
    tenantctl: &Path,
    data_dir: &Path,
    registry: Option<&str>,
    args: &[&str],
) -> Result<String, ScaleError> {
    let mut cmd = Command::new(tenantctl);
    if let Some(url) = registry {
        cmd.env("MTLS_REGISTRY", url);
    }
    let out = cmd
        .args(args)
        .env("MTLS_DATA_DIR", data_dir)
        .env("MTLS_ACTOR", ACTOR)
        .output()
        .map_err(|e| ScaleError::io(format!("run {}", tenantctl.display()), e))?;
    if !out.status.success() {
        return Err(ScaleError::Program {
            program: tenantctl.to_owned(),
            problem: format!(
                "{} ({}): {}",
                args.join(" "),
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            ),
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// `tenantctl init` in `data_dir` (the registry in the PostgreSQL database `registry`, if
/// given), then the registry opened for the tool's writes.
pub fn init(
    tenantctl_bin: &Path,
    data_dir: &Path,
    registry: Option<&str>,
) -> Result<ScaleStore, ScaleError> {
    tenantctl(
        tenantctl_bin,
        data_dir,
        registry,
        &["init", "--trust-domain", TRUST_DOMAIN],
    )?;
    match registry {
        None => SqliteStore::open(data_dir.join("registry.db"))
            .map(ScaleStore::Sqlite)
            .map_err(ScaleError::registry("open")),
        Some(url) => PostgresStore::open(url)
            .map(ScaleStore::Postgres)
            .map_err(ScaleError::registry("open")),
    }
}

/// An HTTP route for `host` (path `/`) to the loopback `backend`, private upstream allowed
/// (an admin's route: the route policy does not apply, the route says it).
pub fn probe_route(host: &str, backend: SocketAddr) -> Result<RouteSpec, ScaleError> {
    let bad = |what: String| ScaleError::Run(format!("probe route {host}: {what}"));
    let mut route = HttpRoute::new(
        host.parse().map_err(|e| bad(format!("host: {e}")))?,
        vec![
            format!("http://{backend}")
                .parse()
                .map_err(|e| bad(format!("upstream: {e}")))?,
        ],
    );
    route.allow_private = true;
    Ok(route.into())
}

/// The probe tenants for `changes` changes (a quarter of each kind, rounded up), with
/// their certificates in `work/bundles/` and routes to `backend`.
#[allow(clippy::too_many_arguments)]
pub fn probes(
    store: &dyn Store,
    tenantctl_bin: &Path,
    data_dir: &Path,
    registry: Option<&str>,
    work: &Path,
    changes: usize,
    backend: SocketAddr,
) -> Result<Probes, ScaleError> {
    let actor = actor();
    let per_kind = changes.div_ceil(4);
    let tenant = |id: &str| -> Result<TenantId, ScaleError> {
        let id: TenantId = id
            .parse()
            .map_err(|e| ScaleError::Run(format!("tenant id {id}: {e}")))?;
        store
            .create_tenant(&actor, &id, &format!("Probe {id}"), TenantLimits::default())
            .map_err(ScaleError::registry(format!("create probe tenant {id}")))?;
        Ok(id)
    };
    let route = |id: &TenantId, host: &str| -> Result<RouteId, ScaleError> {
        let record = store
            .add_route(&actor, id, probe_route(host, backend)?)
            .map_err(ScaleError::registry(format!("add probe route {host}")))?;
        Ok(record.id)
    };
    let issue =
        |id: &TenantId, name: &str| issue(tenantctl_bin, data_dir, registry, work, id, name);

    let bg = tenant("probe-bg")?;
    route(&bg, BACKGROUND_HOST)?;
    let background = issue(&bg, "bg")?;

    let rt = tenant("probe-routes")?;
    let routes = issue(&rt, "routes")?;
    let add_hosts = (0..per_kind)
        .map(|i| format!("add{i}.probe.localhost"))
        .collect();
    let remove = (0..per_kind)
        .map(|i| {
            let host = format!("rm{i}.probe.localhost");
            route(&rt, &host).map(|id| (id, host))
        })
        .collect::<Result<_, _>>()?;

    let suspend = (0..per_kind)
        .map(|i| {
            let id = tenant(&format!("probe-s{i}"))?;
            route(&id, &suspend_host(i))?;
            issue(&id, &format!("s{i}"))
        })
        .collect::<Result<_, _>>()?;

    let rv = tenant("probe-revoke")?;
    route(&rv, REVOKE_HOST)?;
    let revoke = (0..per_kind)
        .map(|i| issue(&rv, &format!("rv{i}")))
        .collect::<Result<_, _>>()?;

    Ok(Probes {
        background,
        routes,
        add_hosts,
        remove,
        suspend,
        revoke,
    })
}

/// `tenantctl cert issue` for `tenant` into `work/bundles/name`.
fn issue(
    tenantctl_bin: &Path,
    data_dir: &Path,
    registry: Option<&str>,
    work: &Path,
    tenant: &TenantId,
    name: &str,
) -> Result<Bundle, ScaleError> {
    let dir = work.join("bundles").join(name);
    let dir_arg = dir.to_string_lossy().into_owned();
    let out = tenantctl(
        tenantctl_bin,
        data_dir,
        registry,
        &[
            "--json",
            "cert",
            "issue",
            tenant.as_str(),
            "--out",
            &dir_arg,
        ],
    )?;
    let bad = |problem: String| ScaleError::Program {
        program: tenantctl_bin.to_owned(),
        problem,
    };
    let json: serde_json::Value = serde_json::from_str(&out)
        .map_err(|e| bad(format!("cert issue printed no JSON ({e}): {out}")))?;
    let serial = json["serial"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| bad(format!("cert issue printed no serial: {out}")))?;
    Ok(Bundle {
        tenant: tenant.clone(),
        dir,
        serial,
    })
}

/// The tool's actor.
pub fn actor() -> Actor {
    Actor::new(ACTOR).expect("a valid actor name")
}

/// The upstream of every bulk route unless `--bulk-upstream` says otherwise: private (the
/// routes allow it), never dialled.
pub const BULK_UPSTREAM: &str = "https://10.0.0.5:8443";

/// Bulk tenant `i`: id `t` + six or more digits, one certificate record (its serial random,
/// its fingerprint that of a made-up DER: nobody presents it), nine exact-host routes
/// `svc{k}.t{i}.scale.test` under `/v1` and the wildcard `*.t{i}.scale.test`, all to
/// `upstream` (private allowed; no probe ever asks for these hosts, so it is never dialled).
pub fn bulk_tenant(i: usize, now: time::OffsetDateTime, upstream: &UpstreamUrl) -> BulkTenant {
    let id = format!("t{i:06}");
    let http = |host: String, prefix: &str| -> RouteSpec {
        let mut route = HttpRoute::new(host.parse().expect("a valid host"), vec![upstream.clone()]);
        route.path_prefix = prefix.parse().expect("a valid prefix");
        route.allow_private = true;
        route.into()
    };
    let mut routes: Vec<RouteSpec> = (0..ROUTES_PER_TENANT - 1)
        .map(|k| http(format!("svc{k}.{id}.scale.test"), "/v1"))
        .collect();
    routes.push(http(format!("*.{id}.scale.test"), "/"));
    BulkTenant {
        display_name: format!("Tenant {i}"),
        limits: TenantLimits::default(),
        certificates: vec![NewCertificate {
            serial: Serial::random(),
            fingerprint: Fingerprint::of_der(format!("bulk certificate of {id}").as_bytes()),
            not_before: now,
            not_after: now + time::Duration::days(365),
            kind: CertificateKind::Client,
        }],
        routes,
        id: id.parse().expect("a valid tenant id"),
    }
}

/// Loads `tenants` bulk tenants (routes to `upstream`) in transactions of `chunk`, then
/// what an operator does after a load ([`ScaleStore::after_load`]: SQLite's checkpoint,
/// PostgreSQL's `VACUUM (ANALYZE)` at `url`); how long it all took.
pub fn bulk_load(
    store: &ScaleStore,
    url: Option<&str>,
    tenants: usize,
    chunk: usize,
    upstream: &str,
) -> Result<Duration, ScaleError> {
    let upstream: UpstreamUrl = upstream
        .parse()
        .map_err(|e| ScaleError::Run(format!("--bulk-upstream {upstream}: {e}")))?;
    let actor = actor();
    let now = time::OffsetDateTime::now_utc();
    let started = Instant::now();
    let chunk = chunk.max(1);
    for start in (0..tenants).step_by(chunk) {
        let end = (start + chunk).min(tenants);
        store
            .bulk_load(&actor, (start..end).map(|i| bulk_tenant(i, now, &upstream)))
            .map_err(ScaleError::registry(format!(
                "bulk load tenants {start}..{end}"
            )))?;
    }
    // What an operator does after a load this size: the log into the file and the file to
    // disk, so that the gateway's start-up measures reading the registry, not the load's
    // write-back (PostgreSQL: vacuumed, with fresh planner statistics).
    store.after_load(url)?;
    Ok(started.elapsed())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bulk_tenants_have_ten_valid_routes_and_one_certificate() {
        let now = time::OffsetDateTime::now_utc();
        let upstream = BULK_UPSTREAM.parse().unwrap();
        let t = bulk_tenant(42, now, &upstream);
        assert_eq!(t.id.as_str(), "t000042");
        assert_eq!(t.routes.len(), ROUTES_PER_TENANT);
        assert_eq!(t.certificates.len(), 1);
        for (i, a) in t.routes.iter().enumerate() {
            a.validate_new().unwrap();
            for b in &t.routes[i + 1..] {
                assert!(!a.conflicts_with(b), "{a:?} / {b:?}");
            }
        }
        assert_ne!(
            bulk_tenant(1, now, &upstream).certificates[0].serial,
            bulk_tenant(1, now, &upstream).certificates[0].serial
        );
        probe_route("x.probe.localhost", "127.0.0.1:9".parse().unwrap())
            .unwrap()
            .validate_new()
            .unwrap();
    }

    #[test]
    fn a_bulk_load_in_chunks_passes_the_audit() {
        let dir = tempfile::tempdir().unwrap();
        let store = ScaleStore::Sqlite(
            SqliteStore::create(
                dir.path().join("registry.db"),
                &TRUST_DOMAIN.parse().unwrap(),
                &actor(),
            )
            .unwrap(),
        );
        bulk_load(&store, None, 25, 10, "http://10.0.0.5:8080").unwrap();
        assert!(bulk_load(&store, None, 1, 10, "ftp://x").is_err());
        let store = store.as_store();
        let snapshot = store.snapshot().unwrap();
        assert_eq!(snapshot.tenant_count(), 25);
        let t24: TenantId = "t000024".parse().unwrap();
        assert_eq!(snapshot.routes(&t24).len(), ROUTES_PER_TENANT);
        assert_eq!(
            store.verify_audit().unwrap().events,
            1 + 25 * (2 + ROUTES_PER_TENANT as u64)
        );
    }

    #[test]
    fn a_bulk_load_into_postgres_passes_the_audit_and_counts_like_sqlite() {
        let server = mtls_test_postgres::PgServer::shared();
        let url = server.database();
        let store = ScaleStore::Postgres(
            PostgresStore::create(&url, &TRUST_DOMAIN.parse().unwrap(), &actor()).unwrap(),
        );
        bulk_load(&store, Some(&url), 25, 10, "http://10.0.0.5:8080").unwrap();
        let store = store.as_store();
        let snapshot = store.snapshot().unwrap();
        assert_eq!(snapshot.tenant_count(), 25);
        let t24: TenantId = "t000024".parse().unwrap();
        assert_eq!(snapshot.routes(&t24).len(), ROUTES_PER_TENANT);
        assert_eq!(
            store.verify_audit().unwrap().events,
            1 + 25 * (2 + ROUTES_PER_TENANT as u64)
        );
    }
}
