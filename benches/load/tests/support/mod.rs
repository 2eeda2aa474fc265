//! Fixtures for the load tool's tests: a throwaway PKI on disk, the tool's own backend, and
//! a small mTLS terminator in front of it (rustls, client certificate required, session
//! resumption on, ALPN h2 and http/1.1) that splices to the backend: the shape of `mtlsd`'s
//! server mode.

#![allow(dead_code, unreachable_pub)]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Parser;
use mtls_load::cli::BackendProto;
use mtls_load::{Cli, Report};
use mtls_test_support::pki::{test_ca, test_leaf};
use rustls::RootCertStore;
use rustls::crypto::aws_lc_rs;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;

/// PEM files of one CA, a server leaf for `localhost` and a client leaf.
pub struct Pki {
    pub dir: tempfile::TempDir,
}

impl Pki {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let (issuer, ca) = test_ca("mtls-load test CA");
        let (server, server_key) = test_leaf(&issuer, true, false);
        let (client, client_key) = test_leaf(&issuer, false, false);
        for (name, pem) in [
            ("ca.pem", ca),
            ("server.pem", server),
            ("server-key.pem", server_key),
            ("client.pem", client),
            ("client-key.pem", client_key),
        ] {
            std::fs::write(dir.path().join(name), pem).unwrap();
        }
        Self { dir }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// The client's TLS flags.
    pub fn client_flags(&self) -> Vec<String> {
        let p = |n: &str| self.path(n).display().to_string();
        vec![
            "--cert".into(),
            p("client.pem"),
            "--key".into(),
            p("client-key.pem"),
            "--ca".into(),
            p("ca.pem"),
        ]
    }
}

/// Starts the tool's backend on a free loopback port; runs for 60 s at most.
pub async fn backend(proto: BackendProto) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(mtls_load::backend::serve(
        listener,
        proto,
        Instant::now() + Duration::from_secs(60),
    ));
    addr
}

/// Starts an mTLS terminator for `pki` that forwards every connection to `upstream`.
pub async fn terminator(pki: &Pki, upstream: SocketAddr) -> SocketAddr {
    let provider = Arc::new(aws_lc_rs::default_provider());
    let mut roots = RootCertStore::empty();
    for ca in CertificateDer::pem_file_iter(pki.path("ca.pem")).unwrap() {
        roots.add(ca.unwrap()).unwrap();
    }
    let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .build()
        .unwrap();
    let chain = CertificateDer::pem_file_iter(pki.path("server.pem"))
        .unwrap()
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    let key = PrivateKeyDer::from_pem_file(pki.path("server-key.pem")).unwrap();
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain, key)
        .unwrap();
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    let acceptor = TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let Ok(mut up) = TcpStream::connect(upstream).await else {
                    return;
                };
                let _ = tokio::io::copy_bidirectional(&mut tls, &mut up).await;
            });
        }
    });
    addr
}

/// Parses `args` as the command line (after `mtls-load`) and runs the mode.
pub async fn run(args: &[String]) -> Result<Report, mtls_load::LoadError> {
    let cli =
        Cli::try_parse_from(std::iter::once("mtls-load".to_owned()).chain(args.iter().cloned()))
            .unwrap_or_else(|e| panic!("{args:?}: {e}"));
    mtls_load::run(&cli, 2).await
}

/// `words` as owned strings.
pub fn args(words: &[&str]) -> Vec<String> {
    words.iter().map(|w| (*w).to_owned()).collect()
}

/// Asserts the run measured something and nothing failed, and that its JSON line carries
/// `fields`.
pub fn assert_clean(report: &Report, fields: &[&str]) -> serde_json::Value {
    assert!(report.ops > 0, "no operation: {report:?}");
    assert_eq!(report.errors, 0, "errors: {report:?}");
    assert!(report.failure().is_none(), "{report:?}");
    let json: serde_json::Value = serde_json::from_str(&report.to_json_line()).unwrap();
    assert_eq!(json["tool"], "mtls-load");
    for field in fields {
        assert!(json.get(field).is_some(), "no {field} in {json}");
    }
    json
}
