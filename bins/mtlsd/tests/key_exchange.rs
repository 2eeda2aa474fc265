//! Key exchange on real listeners: a client offering only the hybrid post-quantum group
//! X25519MLKEM768 connects to a server-mode listener and to a gateway listener (and gets
//! that group), and a client offering only X25519 still connects to both.

mod support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::sync::Arc;

use mtls_registry::Store;
use rustls::crypto::SupportedKxGroup;
use rustls::crypto::aws_lc_rs::kx_group::{X25519, X25519MLKEM768};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{ClientConfig, ClientConnection, NamedGroup, StreamOwned};
use support::tenants::{DataDir, actor, http_route, named_backend, tenant};
use support::{Mtlsd, Pki, WAIT, echo_backend, server_config};

/// A TLS 1.3 client offering only `group`, presenting `cert`/`key`, trusting `ca`.
fn offering(
    group: &'static dyn SupportedKxGroup,
    ca: &Path,
    cert: &Path,
    key: &Path,
) -> Arc<ClientConfig> {
    let mut provider = rustls::crypto::aws_lc_rs::default_provider();
    provider.kx_groups = vec![group];
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_file_iter(ca).unwrap() {
        roots.add(c.unwrap()).unwrap();
    }
    let chain: Vec<_> = CertificateDer::pem_file_iter(cert)
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let key = PrivateKeyDer::from_pem_file(key).unwrap();
    let mut config = ClientConfig::builder_with_provider(Arc::new(provider))
        .with_protocol_versions(&[&rustls::version::TLS13])
        .unwrap()
        .with_root_certificates(roots)
        .with_client_auth_cert(chain, key)
        .unwrap();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Arc::new(config)
}

/// Connects to `addr` with `config`, writes `request`, reads until `expect` has arrived;
/// returns the key exchange group of the handshake and what was read.
fn exchange(
    addr: SocketAddr,
    config: Arc<ClientConfig>,
    request: &[u8],
    expect: &[u8],
) -> (NamedGroup, Vec<u8>) {
    let name = ServerName::try_from("localhost").unwrap();
    let conn = ClientConnection::new(config, name).unwrap();
    let tcp = TcpStream::connect_timeout(&addr, WAIT).unwrap();
    tcp.set_read_timeout(Some(WAIT)).unwrap();
    let mut tls = StreamOwned::new(conn, tcp);
    tls.write_all(request).unwrap();
    tls.flush().unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while !got.windows(expect.len()).any(|w| w == expect) {
        let n = tls.read(&mut buf).unwrap();
        assert!(n > 0, "closed after {:?}", String::from_utf8_lossy(&got));
        got.extend_from_slice(&buf[..n]);
    }
    let group = tls.conn.negotiated_key_exchange_group().unwrap().name();
    (group, got)
}

#[test]
fn server_mode_offers_the_hybrid_group_and_still_takes_x25519() {
    let pki = Pki::new();
    let backend = echo_backend();
    let tmp = tempfile::tempdir().unwrap();
    let mtlsd = Mtlsd::start(tmp.path(), "mtlsd.toml", &server_config(&pki, backend, ""));
    let (ca, cert, key) = (
        pki.path("ca.pem"),
        pki.path("client.pem"),
        pki.path("client-key.pem"),
    );
    for (group, name) in [
        (X25519MLKEM768, NamedGroup::X25519MLKEM768),
        (X25519, NamedGroup::X25519),
    ] {
        let (got, echoed) = exchange(
            mtlsd.addr("api"),
            offering(group, &ca, &cert, &key),
            b"ping\n",
            b"ping\n",
        );
        assert_eq!(got, name);
        assert_eq!(echoed, b"ping\n");
    }
}

#[test]
fn gateway_mode_offers_the_hybrid_group_and_still_takes_x25519() {
    let tmp = tempfile::tempdir().unwrap();
    let data = DataDir::init(tmp.path());
    let a = data.tenant("a");
    data.store()
        .add_route(
            &actor(),
            &tenant("a"),
            http_route("a.localhost", named_backend("upstream-a")),
        )
        .unwrap();
    let gw = Mtlsd::start(tmp.path(), "mtlsd.toml", &data.config(""));
    let request = b"GET / HTTP/1.1\r\nHost: a.localhost\r\n\r\n";
    for (group, name) in [
        (X25519MLKEM768, NamedGroup::X25519MLKEM768),
        (X25519, NamedGroup::X25519),
    ] {
        let config = offering(group, &data.ca(), &a.cert, &a.key);
        let (got, reply) = exchange(gw.addr("gw"), config, request, b"upstream-a for a\n");
        assert_eq!(got, name);
        assert!(
            reply.starts_with(b"HTTP/1.1 200"),
            "{}",
            String::from_utf8_lossy(&reply)
        );
    }
}
