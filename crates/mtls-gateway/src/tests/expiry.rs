//! The validity check after every inbound handshake of a server-mode listener: a session
//! resumed after its client certificate expired is refused by `accept_tls` (rustls does not
//! verify a resumed session again). Real sockets on loopback, tokio-rustls on both sides.

use std::sync::Arc;
use std::time::Duration;

use mtls_metrics::Metrics;
use rcgen::{CertificateParams, ExtendedKeyUsagePurpose, KeyPair};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{ClientConfig, HandshakeKind};
use time::OffsetDateTime;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsConnector;

use super::{ca, files};
use crate::conn::accept_tls;
use crate::state::{self, ListenerState, Loaded};

/// A server-mode listener state for `api` requiring certificates of `ca.pem`, whose session
/// cache is rustls' plain one (no bound per certificate): what is left to stop an expired
/// certificate is the check after the handshake.
fn server_state(f: &super::Files) -> ListenerState {
    let toml = format!(
        r#"
[[listener]]
name = "api"
mode = "server"
listen = "127.0.0.1:0"
target = "127.0.0.1:9"

[listener.tls]
cert = "{dir}/server.pem"
key = "{dir}/server-key.pem"
ca = "{dir}/ca.pem"
min_version = "1.3"
"#,
        dir = f.dir.path().display()
    );
    let config = mtls_config::Config::from_toml(&toml, f.path("mtlsd.toml")).unwrap();
    let listener = config.listeners()[0].clone();
    let metrics = Arc::new(Metrics::new());
    let built = state::build(&listener, Some(&metrics))
        .map_err(|(_, e)| e)
        .unwrap();
    let state = ListenerState::new(listener, built, metrics);
    let inbound = state.inbound.as_ref().unwrap();
    let loaded = inbound.load_full();
    let mut unbounded = (*loaded.config).clone();
    unbounded.session_storage = rustls::server::ServerSessionMemoryCache::new(16);
    inbound.store(Arc::new(Loaded {
        config: Arc::new(unbounded),
        certs: loaded.certs.clone(),
        verified_chains: loaded.verified_chains.clone(),
    }));
    state
}

/// `short.pem`/`short-key.pem`, valid until `not_after`, from a CA added to ca.pem.
fn short_lived_client(f: &super::Files, not_after: OffsetDateTime) {
    let (issuer, pem) = ca("short-lived CA");
    let mut bundle = std::fs::read_to_string(f.path("ca.pem")).unwrap();
    bundle.push_str(&pem);
    std::fs::write(f.path("ca.pem"), bundle).unwrap();
    let mut params = CertificateParams::new(vec!["localhost".to_owned()]).unwrap();
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    params.not_before = OffsetDateTime::now_utc() - time::Duration::hours(1);
    params.not_after = not_after;
    params.serial_number = Some(vec![0x42, 9].into());
    let key = KeyPair::generate().unwrap();
    std::fs::write(
        f.path("short.pem"),
        params.signed_by(&key, &issuer).unwrap().pem(),
    )
    .unwrap();
    std::fs::write(f.path("short-key.pem"), key.serialize_pem()).unwrap();
}

fn client_config(f: &super::Files) -> Arc<ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(f.path("ca.pem")).unwrap() {
        roots.add(cert.unwrap()).unwrap();
    }
    let chain = vec![CertificateDer::from_pem_file(f.path("short.pem")).unwrap()];
    let key = PrivateKeyDer::from_pem_file(f.path("short-key.pem")).unwrap();
    let config = ClientConfig::builder_with_provider(mtls_tls::provider())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .unwrap()
        .with_root_certificates(roots)
        .with_client_auth_cert(chain, key)
        .unwrap();
    Arc::new(config)
}

/// One connection: the client's handshake kind and what it read (until EOF or error).
async fn connect(
    addr: std::net::SocketAddr,
    client: &Arc<ClientConfig>,
) -> (Option<HandshakeKind>, Vec<u8>) {
    let tcp = TcpStream::connect(addr).await.unwrap();
    let name = ServerName::try_from("localhost").unwrap();
    let mut tls = TlsConnector::from(client.clone())
        .connect(name, tcp)
        .await
        .unwrap();
    let kind = tls.get_ref().1.handshake_kind();
    let mut read = Vec::new();
    // Reading also takes in the session tickets sent after the handshake.
    let _ = tokio::time::timeout(Duration::from_secs(10), tls.read_to_end(&mut read)).await;
    (kind, read)
}

#[tokio::test]
async fn a_session_resumed_after_the_certificate_expired_is_refused_after_the_handshake() {
    let f = files();
    let not_after = (OffsetDateTime::now_utc() + time::Duration::seconds(2))
        .replace_nanosecond(0)
        .unwrap();
    short_lived_client(&f, not_after);
    let state = Arc::new(server_state(&f));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn({
        let state = state.clone();
        async move {
            let mut admitted = Vec::new();
            for _ in 0..3 {
                let (tcp, peer) = listener.accept().await.unwrap();
                match accept_tls(&state, tcp, peer).await {
                    Some((mut tls, _)) => {
                        admitted.push(true);
                        tls.write_all(b"admitted").await.unwrap();
                        tls.shutdown().await.unwrap();
                    }
                    None => admitted.push(false),
                }
            }
            admitted
        }
    });
    let client = client_config(&f);

    assert_eq!(
        connect(addr, &client).await,
        (Some(HandshakeKind::Full), b"admitted".to_vec())
    );
    assert_eq!(
        connect(addr, &client).await,
        (Some(HandshakeKind::Resumed), b"admitted".to_vec())
    );
    // The wait for the clock: past notAfter.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while OffsetDateTime::now_utc() <= not_after {
        assert!(tokio::time::Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // rustls resumes the session without looking at the certificate; accept_tls refuses it.
    let (kind, read) = connect(addr, &client).await;
    assert_eq!(kind, Some(HandshakeKind::Resumed));
    assert!(read.is_empty(), "{read:?}");
    assert_eq!(server.await.unwrap(), [true, true, false]);
    let metrics = state.metrics.encode();
    assert!(
        metrics.contains(
            r#"mtlsd_tls_handshake_failures_total{listener="api",reason="cert_expired"} 1"#
        ),
        "{metrics}"
    );
}
