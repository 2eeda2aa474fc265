//! Issue 14's end-to-end story with real processes: one `mtlsd` serving a gateway listener
//! and the control-plane API, the real `tenantctl` (admin issue, `enroll --server`), curl
//! through the gateway, and the `mtls-control-client` library as the tenants' app.
//!
//! - An admin creates tenants a and b and a token for a; a enrolls from an empty directory,
//!   its route to a private upstream is refused until the admin allows private routes, then
//!   the route it adds reaches the running gateway within 1 s; a cannot read or change b.
//! - 100 concurrent route additions by two tenants all land, each appears once in the
//!   audit log under its tenant's identity and source address, and the chain verifies.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use mtls_control_api::{ErrorCode, Limits, TenantCreate, TokenCreate};
use mtls_control_client::{AuditQuery, ClientError, ControlClient, TlsMaterial};
use mtls_registry::Store;
use serde_json::json;
use support::Mtlsd;
use support::tenants::{Bundle, DataDir, get, named_backend, tenant, tenantctl};

/// A data dir with an admin certificate for `ops`, and `mtlsd` serving a gateway listener
/// (`gw`) and the control API (`control`).
struct Proxy {
    data: DataDir,
    admin: PathBuf,
    mtlsd: Mtlsd,
}

impl Proxy {
    fn start(tmp: &Path) -> Self {
        let data = DataDir::init(tmp);
        let admin = tmp.join("admin");
        data.ctl(&["admin", "issue", "ops", "--out", admin.to_str().unwrap()]);
        let config = format!("{}\n[control]\nlisten = \"127.0.0.1:0\"\n", data.config(""));
        let mtlsd = Mtlsd::start(tmp, "mtlsd.toml", &config);
        Self { data, admin, mtlsd }
    }

    fn url(&self) -> String {
        format!("https://localhost:{}", self.mtlsd.addr("control").port())
    }

    /// A client authenticated by the certificate directory `dir` (cert.pem, key.pem).
    fn client(&self, dir: &Path) -> ControlClient {
        let tls = TlsMaterial::from_files(
            &self.data.ca(),
            Some((&dir.join("cert.pem"), &dir.join("key.pem"))),
        )
        .unwrap();
        ControlClient::new(&self.url(), &tls).unwrap()
    }

    fn admin(&self) -> ControlClient {
        self.client(&self.admin)
    }
}

fn api_code(result: Result<impl std::fmt::Debug, ClientError>) -> (ErrorCode, String) {
    match result {
        Err(ClientError::Api { code, message, .. }) => (code, message),
        other => panic!("expected an API error, got {other:?}"),
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn a_tenant_onboards_over_the_api_and_its_route_is_live_within_a_second() {
    let tmp = tempfile::tempdir().unwrap();
    let proxy = Proxy::start(tmp.path());
    let gw_port = proxy.mtlsd.addr("gw").port();
    let upstream = named_backend("a-upstream");
    let rt = runtime();
    let admin = proxy.admin();

    // The admin: tenants a and b, a one-time token for a.
    let token = rt.block_on(async {
        for id in ["a", "b"] {
            admin
                .create_tenant(&TenantCreate {
                    id: id.into(),
                    display_name: format!("Tenant {id}"),
                    limits: None,
                })
                .await
                .unwrap();
        }
        admin
            .create_token("a", &TokenCreate { ttl_seconds: 600 })
            .await
            .unwrap()
            .token
    });

    // a's app enrolls from a directory that does not exist yet: the key is made here.
    let app = tmp.path().join("a-app");
    let out = Command::new(tenantctl())
        .args([
            "enroll",
            "--server",
            &proxy.url(),
            "--token",
            &token,
            "--ca",
        ])
        .arg(proxy.data.ca())
        .arg("--out")
        .arg(&app)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "enroll --server: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let a = proxy.client(&app);
    let private_route = json!({
        "kind": "http", "host": "app.a.test",
        "upstreams": [format!("http://{upstream}")], "allow_private": true,
    });

    rt.block_on(async {
        assert_eq!(a.whoami().await.unwrap().name, "a");

        // a may not read or change b, and nothing of b changes.
        let (code, _) = api_code(a.tenant("b").await);
        assert_eq!(code, ErrorCode::Forbidden);
        let b_route =
            json!({"kind": "http", "host": "x.b.test", "upstreams": ["https://b.example.com"]});
        let (code, _) = api_code(a.add_route("b", &b_route).await);
        assert_eq!(code, ErrorCode::Forbidden);
        let (code, _) = api_code(a.create_token("a", &TokenCreate { ttl_seconds: 600 }).await);
        assert_eq!(code, ErrorCode::Forbidden, "tokens are admin-only");

        // A route to a private (loopback) upstream: refused, naming the rule, until the admin
        // allows private routes for a.
        let (code, message) = api_code(a.add_route("a", &private_route).await);
        assert_eq!(code, ErrorCode::PolicyViolation);
        assert!(message.contains("allow_private"), "{message}");
        admin
            .set_limits(
                "a",
                &Limits {
                    allow_private: true,
                    ..Limits::default()
                },
            )
            .await
            .unwrap();
    });
    let store = proxy.data.store();
    assert!(store.routes(Some(&tenant("b"))).unwrap().is_empty());
    assert!(store.routes(Some(&tenant("a"))).unwrap().is_empty());

    // The route lands and the running gateway serves it within 1 s of the API's answer.
    let bundle = Bundle {
        cert: app.join("cert.pem"),
        key: app.join("key.pem"),
    };
    rt.block_on(a.add_route("a", &private_route)).unwrap();
    let added = Instant::now();
    let live = loop {
        let (status, body) = get(&bundle, &proxy.data.ca(), gw_port, "app.a.test", "/");
        if status == 200 {
            assert_eq!(body, "a-upstream for a\n");
            break added.elapsed();
        }
        assert!(
            added.elapsed() < Duration::from_secs(10),
            "the route never went live: {status} {body}\n{}",
            proxy.mtlsd.stderr()
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(
        live <= Duration::from_secs(1),
        "the API's route took {live:?} to reach the gateway"
    );
    eprintln!("route live at the gateway {live:?} after the API answered");
}

#[test]
fn a_hundred_concurrent_route_additions_by_two_tenants_all_land_and_are_audited() {
    let tmp = tempfile::tempdir().unwrap();
    let proxy = Proxy::start(tmp.path());
    let per_tenant = 50;
    for id in ["a", "b"] {
        proxy.data.ctl(&["tenant", "create", id, "--name", id]);
        proxy.data.ctl(&[
            "cert",
            "issue",
            id,
            "--out",
            tmp.path().join(id).to_str().unwrap(),
        ]);
    }
    let rt = runtime();
    let clients = [
        proxy.client(&tmp.path().join("a")),
        proxy.client(&tmp.path().join("b")),
    ];
    let added: Vec<String> = rt.block_on(async {
        let mut tasks = tokio::task::JoinSet::new();
        for (tenant, client) in ["a", "b"].into_iter().zip(&clients) {
            for i in 0..per_tenant {
                let client = client.clone();
                tasks.spawn(async move {
                    let spec = json!({
                        "kind": "http", "host": format!("r{i}.{tenant}.test"),
                        "upstreams": [format!("https://svc{i}.{tenant}.example.com")],
                    });
                    client.add_route(tenant, &spec).await.map(|r| r.id)
                });
            }
        }
        let mut ids = Vec::new();
        while let Some(done) = tasks.join_next().await {
            ids.push(done.unwrap().expect("every concurrent addition lands"));
        }
        ids
    });
    assert_eq!(added.len(), 2 * per_tenant);

    // No lost update: every route is stored, under its own tenant.
    let store = proxy.data.store();
    for id in ["a", "b"] {
        assert_eq!(
            store.routes(Some(&tenant(id))).unwrap().len(),
            per_tenant,
            "{id}"
        );
    }
    // Each addition is one route.add event naming the tenant's identity and source address.
    let events = rt
        .block_on(proxy.admin().audit(&AuditQuery {
            since: None,
            limit: Some(1000),
            tenant: None,
        }))
        .unwrap();
    let adds: Vec<_> = events.iter().filter(|e| e.action == "route.add").collect();
    assert_eq!(adds.len(), 2 * per_tenant);
    for id in &added {
        let matching: Vec<_> = adds
            .iter()
            .filter(|e| e.details.to_string().contains(id.as_str()))
            .collect();
        assert_eq!(matching.len(), 1, "route {id} is audited once");
        let event = matching[0];
        let tenant = event.tenant.as_deref().unwrap();
        assert!(
            event
                .actor
                .starts_with(&format!("api:tenant/{tenant} from 127.0.0.1:")),
            "{}",
            event.actor
        );
    }
    // The chain verifies (with tenantctl, on the file the API wrote).
    let verify = proxy.data.ctl(&["audit", "verify"]);
    assert!(verify.starts_with("Audit log intact: "), "{verify}");
    store.verify_audit().unwrap();
}
