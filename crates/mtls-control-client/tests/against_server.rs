//! The client against the real control-plane server (`mtls-control`) on 127.0.0.1, over
//! real mTLS: admin calls, enrollment into an empty directory, tenant scope, errors from
//! the server's JSON, renewal in place (the old certificate keeps working, or is revoked
//! with `revoke_previous`), and the renewal loop on short-lived certificates.

use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use mtls_ca::{AdminCertRequest, CaConfig, CertificateAuthority, KeyAlgorithm, ServerCertRequest};
use mtls_control::{ControlPlane, ControlSettings, control_server_config};
use mtls_control_api::{ErrorCode, RevokeRequest, TenantCreate, TokenCreate};
use mtls_control_client::{
    ClientError, ControlClient, LeafFacts, LoopOptions, RenewEvent, RenewOptions, TlsMaterial,
    enroll, read_current, renew_in_place, renew_loop,
};
use mtls_registry::{Actor, CertificateKind, NewCertificate, Store};

struct Server {
    url: String,
    dir: tempfile::TempDir,
    admin_dir: PathBuf,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Server {
    async fn start(settings: ControlSettings) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let domain: mtls_identity::TrustDomain = "example.test".parse().unwrap();
        let actor = Actor::new("test").unwrap();
        let store = mtls_registry_sqlite::SqliteStore::create(
            dir.path().join("registry.db"),
            &domain,
            &actor,
        )
        .unwrap();
        let ca = Arc::new(CertificateAuthority::generate(&CaConfig::default()).unwrap());
        let mut req = ServerCertRequest::new(["localhost"]);
        req.ip_addresses = vec![IpAddr::V4(Ipv4Addr::LOCALHOST)];
        let server_cert = ca.issue_server(&req).unwrap();
        let p = dir.path();
        std::fs::write(p.join("cert.pem"), &server_cert.chain_pem).unwrap();
        std::fs::write(
            p.join("key.pem"),
            server_cert.key_pem.as_deref().unwrap().as_str(),
        )
        .unwrap();
        std::fs::write(p.join("ca.pem"), ca.root_pem()).unwrap();

        // An admin certificate, recorded like `tenantctl admin issue` does.
        let admin_dir = p.join("admin");
        std::fs::create_dir(&admin_dir).unwrap();
        let admin: mtls_identity::AdminName = "alice".parse().unwrap();
        store
            .record_admin_certificate(&actor, &admin, &mut |name| {
                let issued =
                    ca.issue_admin(&AdminCertRequest::new(domain.clone(), name.clone()))?;
                std::fs::write(admin_dir.join("cert.pem"), &issued.chain_pem)?;
                std::fs::write(
                    admin_dir.join("key.pem"),
                    issued.key_pem.as_deref().unwrap().as_str(),
                )?;
                std::fs::write(admin_dir.join("ca.pem"), ca.root_pem())?;
                Ok(NewCertificate {
                    serial: issued.serial.clone(),
                    fingerprint: issued.fingerprint,
                    not_before: issued.not_before,
                    not_after: issued.not_after,
                    kind: CertificateKind::Client,
                })
            })
            .unwrap();

        let tls = control_server_config(
            &p.join("cert.pem"),
            &p.join("key.pem"),
            &p.join("ca.pem"),
            domain,
            settings.recovery_window,
        )
        .unwrap();
        let store: Arc<dyn Store> = Arc::new(store);
        let control = ControlPlane::new(store, ca, settings).unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            control
                .serve(listener, Arc::new(tls), async {
                    stopped.await.ok();
                })
                .await
                .unwrap();
        });
        Self {
            url: format!("https://127.0.0.1:{}", addr.port()),
            dir,
            admin_dir,
            stop: Some(stop),
            task: Some(task),
        }
    }

    fn ca_file(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }

    fn ca_pem(&self) -> Vec<u8> {
        std::fs::read(self.ca_file()).unwrap()
    }

    fn admin(&self) -> ControlClient {
        client_from_dir(&self.url, &self.admin_dir)
    }

    async fn stop(mut self) {
        self.stop.take().unwrap().send(()).ok();
        tokio::time::timeout(Duration::from_secs(10), self.task.take().unwrap())
            .await
            .expect("server stops")
            .unwrap();
    }
}

fn client_from_dir(url: &str, dir: &Path) -> ControlClient {
    let tls = TlsMaterial::from_files(
        &dir.join("ca.pem"),
        Some((&dir.join("cert.pem"), &dir.join("key.pem"))),
    )
    .unwrap();
    ControlClient::new(url, &tls).unwrap()
}

/// A client authenticated with one generation directory (an old pair kept after renewal).
fn client_from_generation(url: &str, dir: &Path, ca: &Path) -> ControlClient {
    let tls =
        TlsMaterial::from_files(ca, Some((&dir.join("cert.pem"), &dir.join("key.pem")))).unwrap();
    ControlClient::new(url, &tls).unwrap()
}

async fn onboard(server: &Server, tenant: &str, out: &Path) -> mtls_control_client::EnrolledBundle {
    let admin = server.admin();
    admin
        .create_tenant(&TenantCreate {
            id: tenant.to_owned(),
            display_name: format!("Tenant {tenant}"),
            limits: None,
        })
        .await
        .unwrap();
    let token = admin
        .create_token(tenant, &TokenCreate::default())
        .await
        .unwrap();
    enroll(
        &server.url,
        &server.ca_pem(),
        &token.token,
        out,
        KeyAlgorithm::EcdsaP256,
    )
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_tenant_enroll_scope_renew_and_revoke_previous() {
    let server = Server::start(ControlSettings::default()).await;
    let work = tempfile::tempdir().unwrap();

    let admin = server.admin();
    let me = admin.whoami().await.unwrap();
    assert_eq!((me.kind.as_str(), me.name.as_str()), ("admin", "alice"));

    // Enrollment into a directory that does not exist yet.
    let a_dir = work.path().join("a");
    let bundle = onboard(&server, "a", &a_dir).await;
    assert_eq!(bundle.issued.tenant, "a");
    let b_dir = work.path().join("b");
    onboard(&server, "b", &b_dir).await;
    for f in ["cert.pem", "key.pem", "ca.pem"] {
        assert!(a_dir.join(f).exists(), "{f}");
    }
    use std::os::unix::fs::PermissionsExt;
    let key_mode = std::fs::metadata(a_dir.join("key.pem"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(key_mode & 0o777, 0o600);
    // No staging directory is left behind.
    let leftovers: Vec<_> = std::fs::read_dir(work.path())
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().contains("partial"))
        .collect();
    assert!(leftovers.is_empty());
    // An output that is not empty is refused before any network call.
    let err = enroll(
        &server.url,
        &server.ca_pem(),
        "mtls-enroll-x",
        &a_dir,
        KeyAlgorithm::EcdsaP256,
    )
    .await
    .unwrap_err();
    assert!(matches!(err, ClientError::OutputExists { .. }), "{err}");

    // A reused token: the server's code comes through.
    let token = admin
        .create_token("a", &TokenCreate::default())
        .await
        .unwrap();
    enroll(
        &server.url,
        &server.ca_pem(),
        &token.token,
        &work.path().join("a2"),
        KeyAlgorithm::EcdsaP256,
    )
    .await
    .unwrap();
    let err = enroll(
        &server.url,
        &server.ca_pem(),
        &token.token,
        &work.path().join("a3"),
        KeyAlgorithm::EcdsaP256,
    )
    .await
    .unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::TokenGone), "{err}");
    assert!(!work.path().join("a3").exists());

    // Tenant a: its own tenant and routes, not b's, not admin endpoints.
    let a = client_from_dir(&server.url, &a_dir);
    let who = a.whoami().await.unwrap();
    assert_eq!((who.kind.as_str(), who.name.as_str()), ("tenant", "a"));
    assert_eq!(who.serial, bundle.issued.serial);
    let spec = serde_json::json!({
        "kind": "http",
        "host": "api.a.example",
        "path_prefix": "/",
        "upstreams": ["https://backend.a.example"],
    });
    let route = a.add_route("a", &spec).await.unwrap();
    assert_eq!(route.tenant, "a");
    let routes = a.routes("a").await.unwrap();
    assert_eq!(
        routes.iter().map(|r| &r.id).collect::<Vec<_>>(),
        [&route.id]
    );
    let err = a.routes("b").await.unwrap_err();
    assert_eq!(
        (err.status(), err.code()),
        (Some(403), Some(ErrorCode::Forbidden)),
        "{err}"
    );
    assert!(err.to_string().contains("/v1/tenants/b/routes"), "{err}");
    let err = a.tenants().await.unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::Forbidden), "{err}");
    let private = serde_json::json!({
        "kind": "http", "host": "p.a.example", "path_prefix": "/",
        "upstreams": ["http://10.0.0.1:8080"], "allow_private": true,
    });
    let err = a.add_route("a", &private).await.unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::PolicyViolation), "{err}");

    // Renew in place: new serial, same lineage, new key; the old pair keeps working.
    let before = read_current(&a_dir).unwrap();
    let outcome = renew_in_place(&server.url, &a_dir, &RenewOptions::default())
        .await
        .unwrap();
    assert_eq!(outcome.previous_serial, bundle.issued.serial);
    assert_ne!(outcome.issued.serial, bundle.issued.serial);
    assert_eq!(outcome.issued.lineage, bundle.issued.lineage);
    let after = read_current(&a_dir).unwrap();
    assert_ne!(*after.key_pem, *before.key_pem, "a new key was generated");
    assert_eq!(
        LeafFacts::from_pem("cert", after.cert_pem.as_bytes())
            .unwrap()
            .serial,
        outcome.issued.serial
    );
    let renewed = client_from_dir(&server.url, &a_dir);
    assert_eq!(
        renewed.whoami().await.unwrap().serial,
        outcome.issued.serial
    );
    let old = client_from_generation(&server.url, &before.source, &server.ca_file());
    assert_eq!(old.whoami().await.unwrap().serial, bundle.issued.serial);

    // Renew with revoke_previous: the pair it replaced stops working.
    let second_source = read_current(&a_dir).unwrap().source;
    let outcome2 = renew_in_place(
        &server.url,
        &a_dir,
        &RenewOptions {
            revoke_previous: true,
            ..RenewOptions::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(outcome2.previous_serial, outcome.issued.serial);
    assert!(outcome2.previous_revoked && !outcome.previous_revoked);
    let revoked = client_from_generation(&server.url, &second_source, &server.ca_file());
    let err = revoked.whoami().await.unwrap_err();
    assert!(
        matches!(err.status(), Some(401) | Some(403))
            || matches!(err, ClientError::Transport { .. }),
        "the revoked certificate still works: {err}"
    );
    let certs = admin.certs("a").await.unwrap();
    let second = certs
        .iter()
        .find(|c| c.serial == outcome.issued.serial)
        .unwrap();
    assert!(second.revoked_at.is_some());
    let third = certs
        .iter()
        .find(|c| c.serial == outcome2.issued.serial)
        .unwrap();
    assert_eq!(
        third.renewed_from.as_deref(),
        Some(outcome.issued.serial.as_str())
    );
    assert!(client_from_dir(&server.url, &a_dir).whoami().await.is_ok());

    // A tenant may revoke its own older certificate, not b's.
    let first = certs
        .iter()
        .find(|c| c.serial == bundle.issued.serial)
        .unwrap();
    let revoked = a
        .revoke_cert(&first.serial, &RevokeRequest::default())
        .await;
    // `a` authenticated with the first certificate: revoking it may end its own access,
    // but the call itself succeeds.
    assert!(revoked.is_ok(), "{revoked:?}");

    // The CRL needs no client certificate and lists the revoked serials.
    let anonymous = ControlClient::new(
        &server.url,
        &TlsMaterial::from_files(&server.ca_file(), None).unwrap(),
    )
    .unwrap();
    let crl = anonymous
        .crl(mtls_control_client::CrlFormat::Pem)
        .await
        .unwrap();
    assert!(String::from_utf8_lossy(&crl).contains("BEGIN X509 CRL"));

    // Audit: the admin sees a's route addition.
    let events = admin.audit(&Default::default()).await.unwrap();
    assert!(
        events
            .iter()
            .any(|e| e.action == "route.add" && e.tenant.as_deref() == Some("a"))
    );

    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_loop_renews_at_two_thirds_of_the_lifetime_until_shutdown() {
    // The CA backdates notBefore by 5 minutes (clock skew): with 153 s of validity from
    // now, 2/3 of notBefore..notAfter falls 2 s after issuance.
    let settings = ControlSettings {
        cert_validity: Duration::from_secs(153),
        ..ControlSettings::default()
    };
    let server = Server::start(settings).await;
    let work = tempfile::tempdir().unwrap();
    let dir = work.path().join("bundle");
    let enrolled_at = time::OffsetDateTime::now_utc();
    let bundle = onboard(&server, "loop", &dir).await;
    let first = LeafFacts::from_pem("cert", bundle.issued.cert.as_bytes()).unwrap();
    assert!(
        first.renewal_time() > enrolled_at + time::Duration::seconds(1),
        "the test needs a renewal time in the future: {:?}",
        first.renewal_time()
    );

    let (done, stopped) = tokio::sync::oneshot::channel::<()>();
    let mut done = Some(done);
    let mut renewals: Vec<(String, time::OffsetDateTime)> = Vec::new();
    let mut scheduled = Vec::new();
    let options = LoopOptions::default();
    let run = renew_loop(
        &server.url,
        &dir,
        &options,
        async {
            stopped.await.ok();
        },
        |event| match event {
            RenewEvent::Scheduled { at, .. } => scheduled.push(at),
            RenewEvent::Renewed(outcome) => {
                renewals.push((
                    outcome.issued.serial.clone(),
                    time::OffsetDateTime::now_utc(),
                ));
                if renewals.len() == 2
                    && let Some(d) = done.take()
                {
                    d.send(()).ok();
                }
            }
            RenewEvent::Failed { error, .. } => panic!("renewal failed: {error}"),
        },
    );
    tokio::time::timeout(Duration::from_secs(40), run)
        .await
        .expect("two renewals within 40 s")
        .unwrap();
    assert_eq!(renewals.len(), 2);
    // The first renewal happened no earlier than 2/3 of the first certificate's lifetime.
    assert!(
        renewals[0].1 >= first.renewal_time(),
        "{:?} < {:?}",
        renewals[0].1,
        first.renewal_time()
    );
    assert!(renewals[0].1 < first.not_after, "renewed only after expiry");
    assert_eq!(scheduled[0], first.renewal_time());
    let now = read_current(&dir).unwrap();
    let current = LeafFacts::from_pem("cert", now.cert_pem.as_bytes()).unwrap();
    assert_eq!(current.serial, renewals[1].0);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_certificate_renews_in_place_by_recovery() {
    // One second of validity past issuance (the CA backdates notBefore by 5 minutes).
    let settings = ControlSettings {
        cert_validity: Duration::from_secs(1),
        ..ControlSettings::default()
    };
    let server = Server::start(settings).await;
    let work = tempfile::tempdir().unwrap();
    let dir = work.path().join("sleeper");
    let bundle = onboard(&server, "sleeper", &dir).await;
    let facts = LeafFacts::from_pem("cert", bundle.issued.cert.as_bytes()).unwrap();
    // Wait (bounded) until the certificate has expired by the wall clock.
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    while time::OffsetDateTime::now_utc() <= facts.not_after + time::Duration::seconds(1) {
        assert!(
            std::time::Instant::now() < deadline,
            "the certificate never expired"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let outcome = renew_in_place(&server.url, &dir, &RenewOptions::default())
        .await
        .unwrap();
    assert!(outcome.recovered);
    assert!(outcome.previous_revoked);
    assert_eq!(outcome.previous_serial, bundle.issued.serial);
    assert_eq!(outcome.issued.lineage, bundle.issued.lineage);
    let certs = server.admin().certs("sleeper").await.unwrap();
    let new = certs
        .iter()
        .find(|c| c.serial == outcome.issued.serial)
        .unwrap();
    assert!(new.recovered);
    let old = certs
        .iter()
        .find(|c| c.serial == bundle.issued.serial)
        .unwrap();
    assert!(old.revoked_at.is_some());
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_loop_backs_off_on_failures_and_stops_on_shutdown() {
    // A certificate directory whose server is not there: every attempt fails.
    let ca = CertificateAuthority::generate(&CaConfig::default()).unwrap();
    let issued = ca
        .issue_client(&mtls_ca::ClientCertRequest::new(
            "example.test".parse().unwrap(),
            "acme".parse().unwrap(),
            "Acme".to_owned(),
        ))
        .unwrap();
    let work = tempfile::tempdir().unwrap();
    let dir = work.path().join("bundle");
    std::fs::create_dir(&dir).unwrap();
    std::fs::write(dir.join("cert.pem"), &issued.chain_pem).unwrap();
    std::fs::write(
        dir.join("key.pem"),
        issued.key_pem.as_deref().unwrap().as_str(),
    )
    .unwrap();
    std::fs::write(dir.join("ca.pem"), ca.root_pem()).unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("https://127.0.0.1:{port}");

    // The certificate is due in ~20 days: the loop runs on a clock 25 days ahead, so it
    // tries at once (and its first Scheduled event is still the 2/3 point).
    let options = LoopOptions {
        backoff: mtls_control_client::Backoff {
            initial: Duration::from_millis(20),
            max: Duration::from_millis(80),
        },
        ..LoopOptions::default()
    };
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let mut stop = Some(stop);
    let mut waits = Vec::new();
    let mut scheduled = None;
    let run = mtls_control_client::renew_loop_with_clock(
        &url,
        &dir,
        &options,
        async {
            stopped.await.ok();
        },
        // A clock 25 days ahead: the certificate is due (its 2/3 point has passed).
        || time::OffsetDateTime::now_utc() + time::Duration::days(25),
        |event| match event {
            RenewEvent::Scheduled { at, .. } => scheduled = Some(at),
            RenewEvent::Failed {
                error,
                failures,
                retry_in,
            } => {
                assert!(error.to_string().contains(&url), "{error}");
                waits.push((failures, retry_in));
                if failures == 5
                    && let Some(s) = stop.take()
                {
                    s.send(()).ok();
                }
            }
            RenewEvent::Renewed(_) => panic!("nothing to renew with"),
        },
    );
    tokio::time::timeout(Duration::from_secs(20), run)
        .await
        .expect("the loop stops on shutdown")
        .unwrap();
    let ms: Vec<(u32, u128)> = waits.iter().map(|(n, d)| (*n, d.as_millis())).collect();
    assert_eq!(ms, [(1, 20), (2, 40), (3, 80), (4, 80), (5, 80)]);
    let facts = LeafFacts::from_pem("cert", issued.chain_pem.as_bytes()).unwrap();
    assert_eq!(scheduled, Some(facts.renewal_time()));
}
