//! The fixture of the control-plane tests: a fresh CA and SQLite registry in a tempdir, the
//! control plane served over real TLS on 127.0.0.1, identities issued by the CA and
//! recorded in the registry, and reqwest clients presenting them.
#![allow(dead_code, unreachable_pub)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use mtls_ca::{
    AdminCertRequest, CaConfig, CertificateAuthority, ClientCertRequest, IssuedCertificate,
    ServerCertRequest,
};
use mtls_control::{ControlPlane, ControlSettings, ControlStats, RateLimit, control_server_config};
use mtls_identity::{AdminName, Serial, TenantId, TrustDomain};
use mtls_registry::{Actor, CertificateKind, ManualClock, NewCertificate, Store, TenantLimits};
use mtls_registry_sqlite::SqliteStore;
use reqwest::StatusCode;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use serde_json::Value;
use time::OffsetDateTime;

pub const DOMAIN: &str = "proxy.example.test";

/// A certificate and its key, as a client holds them.
#[derive(Clone)]
pub struct Identity {
    pub chain_pem: String,
    pub key_pem: String,
    pub serial: Serial,
    pub not_after: OffsetDateTime,
}

pub struct Fixture {
    pub dir: tempfile::TempDir,
    pub store: Arc<SqliteStore>,
    pub ca: Arc<CertificateAuthority>,
    pub domain: TrustDomain,
    pub clock: ManualClock,
    pub addr: SocketAddr,
    pub stats: ControlStats,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<Result<(), mtls_control::ControlError>>>,
}

/// Settings whose rate limits do not get in the way of a test.
pub fn relaxed() -> ControlSettings {
    ControlSettings {
        enroll_per_ip: RateLimit::per_minute(10_000, 1000),
        renew_per_ip: RateLimit::per_minute(10_000, 1000),
        renew_per_tenant: RateLimit::per_minute(10_000, 1000),
        anonymous_audit_per_ip: RateLimit::per_minute(10_000, 1000),
        ..ControlSettings::default()
    }
}

pub fn actor() -> Actor {
    Actor::new("test:setup").unwrap()
}

fn new_certificate(issued: &IssuedCertificate) -> NewCertificate {
    NewCertificate {
        serial: issued.serial.clone(),
        fingerprint: issued.fingerprint,
        not_before: issued.not_before,
        not_after: issued.not_after,
        kind: CertificateKind::Client,
    }
}

fn identity(issued: &IssuedCertificate) -> Identity {
    Identity {
        chain_pem: issued.chain_pem.clone(),
        key_pem: issued.key_pem.as_ref().unwrap().as_str().to_owned(),
        serial: issued.serial.clone(),
        not_after: issued.not_after,
    }
}

// === impl Fixture ===

impl Fixture {
    pub async fn start(settings: ControlSettings) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let domain: TrustDomain = DOMAIN.parse().unwrap();
        let clock = ManualClock::new(OffsetDateTime::now_utc());
        let store = Arc::new(
            SqliteStore::create_with_clock(
                dir.path().join("registry.db"),
                &domain,
                &actor(),
                Arc::new(clock.clone()),
            )
            .unwrap(),
        );
        let ca = Arc::new(CertificateAuthority::generate(&CaConfig::default()).unwrap());
        let mut server_req = ServerCertRequest::new(["localhost"]);
        server_req.ip_addresses = vec!["127.0.0.1".parse().unwrap()];
        let server = ca.issue_server(&server_req).unwrap();
        let path = |name: &str| dir.path().join(name);
        std::fs::write(path("cert.pem"), &server.chain_pem).unwrap();
        std::fs::write(path("key.pem"), server.key_pem.as_deref().unwrap().as_str()).unwrap();
        std::fs::write(path("ca.pem"), ca.root_pem()).unwrap();
        let tls = control_server_config(
            &path("cert.pem"),
            &path("key.pem"),
            &path("ca.pem"),
            domain.clone(),
            settings.recovery_window,
        )
        .unwrap();
        let plane =
            ControlPlane::new(store.clone() as Arc<dyn Store>, ca.clone(), settings).unwrap();
        let stats = plane.stats();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(plane.serve(listener, Arc::new(tls), async {
            stopped.await.ok();
        }));
        Self {
            dir,
            store,
            ca,
            domain,
            clock,
            addr,
            stats,
            stop: Some(stop),
            task: Some(task),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("https://localhost:{}{path}", self.addr.port())
    }

    /// An admin certificate, recorded in the registry.
    pub fn admin(&self, name: &str) -> Identity {
        let admin: AdminName = AdminName::try_new(name).unwrap();
        let mut out = None;
        self.store
            .record_admin_certificate(&actor(), &admin, &mut |admin| {
                let issued = self
                    .ca
                    .issue_admin(&AdminCertRequest::new(self.domain.clone(), admin.clone()))?;
                let facts = new_certificate(&issued);
                out = Some(identity(&issued));
                Ok(facts)
            })
            .unwrap();
        out.unwrap()
    }

    /// Creates an active tenant with default limits.
    pub fn create_tenant(&self, id: &str) -> TenantId {
        let id: TenantId = id.parse().unwrap();
        self.store
            .create_tenant(
                &actor(),
                &id,
                &format!("{id} Corp"),
                TenantLimits::default(),
            )
            .unwrap();
        id
    }

    /// A recorded certificate of `tenant`, valid for `validity`.
    pub fn tenant_cert(&self, tenant: &TenantId, validity: Duration) -> Identity {
        let mut out = None;
        self.store
            .record_certificate(&actor(), tenant, &mut |t| {
                let mut req = ClientCertRequest::new(
                    self.domain.clone(),
                    t.id.clone(),
                    t.display_name.clone(),
                );
                req.validity = validity;
                let issued = self.ca.issue_client(&req)?;
                out = Some(identity(&issued));
                Ok(new_certificate(&issued))
            })
            .unwrap();
        out.unwrap()
    }

    /// A tenant and a certificate of it valid for a day.
    pub fn tenant(&self, id: &str) -> (TenantId, Identity) {
        let id = self.create_tenant(id);
        let cert = self.tenant_cert(&id, Duration::from_secs(86400));
        (id, cert)
    }

    /// A client trusting the CA, presenting `identity` if given.
    pub fn client(&self, identity: Option<&Identity>) -> reqwest::Client {
        let mut roots = rustls::RootCertStore::empty();
        roots
            .add(CertificateDer::from_pem_slice(self.ca.root_pem().as_bytes()).unwrap())
            .unwrap();
        let builder = rustls::ClientConfig::builder_with_provider(mtls_tls::provider())
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots);
        let mut config = match identity {
            None => builder.with_no_client_auth(),
            Some(id) => {
                let chain: Vec<CertificateDer<'static>> =
                    CertificateDer::pem_slice_iter(id.chain_pem.as_bytes())
                        .collect::<Result<_, _>>()
                        .unwrap();
                let key = PrivateKeyDer::from_pem_slice(id.key_pem.as_bytes()).unwrap();
                builder.with_client_auth_cert(chain, key).unwrap()
            }
        };
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        reqwest::Client::builder()
            .use_preconfigured_tls(config)
            .resolve("localhost", self.addr)
            .timeout(Duration::from_secs(20))
            .build()
            .unwrap()
    }

    /// Events recorded since `seq` (exclusive).
    pub fn events_after(&self, seq: u64) -> Vec<mtls_registry::AuditEvent> {
        self.store
            .audit_events(&mtls_registry::AuditFilter::default())
            .unwrap()
            .into_iter()
            .filter(|e| e.seq > seq)
            .collect()
    }

    pub fn last_seq(&self) -> u64 {
        self.events_after(0).last().map_or(0, |e| e.seq)
    }

    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            tokio::time::timeout(Duration::from_secs(10), task)
                .await
                .expect("the control plane stops within 10 s")
                .unwrap()
                .unwrap();
        }
    }
}

/// Sends a request; returns the status, the headers and the JSON body (Null when empty or
/// not JSON).
pub async fn call(
    client: &reqwest::Client,
    method: reqwest::Method,
    url: &str,
    body: Option<Value>,
) -> (StatusCode, reqwest::header::HeaderMap, Value) {
    let mut req = client.request(method, url);
    if let Some(body) = body {
        req = req.json(&body);
    }
    let response = req.send().await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = response.bytes().await.unwrap();
    let value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    (status, headers, value)
}

pub async fn get(client: &reqwest::Client, url: &str) -> (StatusCode, Value) {
    let (s, _, v) = call(client, reqwest::Method::GET, url, None).await;
    (s, v)
}

pub async fn post(client: &reqwest::Client, url: &str, body: Value) -> (StatusCode, Value) {
    let (s, _, v) = call(client, reqwest::Method::POST, url, Some(body)).await;
    (s, v)
}

/// The error code of an error body.
pub fn code(body: &Value) -> &str {
    body["error"]["code"].as_str().unwrap_or("<no error code>")
}

pub fn message(body: &Value) -> &str {
    body["error"]["message"]
        .as_str()
        .unwrap_or("<no error message>")
}

/// A fresh key and a PEM CSR over it; `uri` adds a URI SAN to the request (which the CA
/// must ignore).
pub fn csr(uri: Option<&str>) -> (String, String) {
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    if let Some(uri) = uri {
        params.subject_alt_names = vec![rcgen::SanType::URI(uri.try_into().unwrap())];
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "someone-else");
    }
    let csr = params.serialize_request(&key).unwrap();
    (csr.pem().unwrap(), key.serialize_pem())
}

/// The identity made of an issued certificate (the response's `cert`) and the CSR's key.
pub fn issued_identity(body: &Value, key_pem: &str) -> Identity {
    let chain_pem = body["cert"].as_str().unwrap().to_owned();
    let leaf = CertificateDer::pem_slice_iter(chain_pem.as_bytes())
        .next()
        .unwrap()
        .unwrap();
    let peer = mtls_identity::PeerIdentity::from_der(&leaf, None).unwrap();
    Identity {
        chain_pem,
        key_pem: key_pem.to_owned(),
        serial: peer.serial,
        not_after: peer.not_after,
    }
}

/// Waits (bounded) until the wall clock is past `not_after` by a second, so that a
/// handshake sees the certificate expired.
pub async fn wait_until_expired(not_after: OffsetDateTime) {
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    while OffsetDateTime::now_utc() <= not_after + time::Duration::seconds(1) {
        assert!(
            std::time::Instant::now() < deadline,
            "the certificate did not expire in time"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
