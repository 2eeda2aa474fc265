//! Embedding `mtls-resolver` in a plain tokio-rustls client and in a hyper client.
//!
//! Self-contained: the example makes a throw-away PKI, starts an HTTPS server on loopback
//! that requires a client certificate issued by "Globex Partner CA", then calls it twice
//! (raw HTTP/1.1 over tokio-rustls, then hyper's HTTP/1 client over the same kind of TLS
//! stream) with a resolver holding two identities: `acme` (issued by "Acme Partner CA",
//! configured first, and the fallback) and `globex`. The server's CertificateRequest names
//! Globex's CA, so the resolver sends `globex`; the example prints what each side saw.
//!
//! ```text
//! cargo run -p mtls-examples --example resolver_tokio_client
//! ```

use std::error::Error;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http_body_util::{BodyExt, Empty, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use mtls_resolver::{Fallback, Identity, MultiIdentityResolver, Selection};
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};
use rustls::crypto::{CryptoProvider, aws_lc_rs};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
use rustls::server::WebPkiClientVerifier;
use rustls::{ClientConfig, RootCertStore, ServerConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::{TlsAcceptor, TlsConnector};

type BoxError = Box<dyn Error + Send + Sync>;

/// How long the whole example may take before it gives up.
const DEADLINE: Duration = Duration::from_secs(30);

/// What one client call saw.
#[derive(Debug)]
pub(crate) struct Call {
    /// Identity chosen by the resolver, and why.
    pub(crate) chosen: String,
    /// The server's response body (it echoes the client certificate's subject).
    pub(crate) server_said: String,
}

/// Both calls.
#[derive(Debug)]
pub(crate) struct Report {
    pub(crate) tokio_rustls: Call,
    pub(crate) hyper: Call,
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let report = run().await?;
    println!(
        "tokio-rustls: resolver chose {}; server said: {}",
        report.tokio_rustls.chosen, report.tokio_rustls.server_said
    );
    println!(
        "hyper:        resolver chose {}; server said: {}",
        report.hyper.chosen, report.hyper.server_said
    );
    Ok(())
}

/// Runs the whole example; errors if either call did not present `globex`.
pub(crate) async fn run() -> Result<Report, BoxError> {
    tokio::time::timeout(DEADLINE, run_inner())
        .await
        .map_err(|_| format!("example did not finish within {DEADLINE:?}"))?
}

async fn run_inner() -> Result<Report, BoxError> {
    let provider = Arc::new(aws_lc_rs::default_provider());

    // A throw-away PKI: one CA for the server, one per partner.
    let server_ca = new_ca("Example Server CA")?;
    let acme_ca = new_ca("Acme Partner CA")?;
    let globex_ca = new_ca("Globex Partner CA")?;

    // The upstream: an HTTPS server that only accepts clients certified by Globex's CA.
    let addr = start_server(&provider, &server_ca, &globex_ca).await?;

    // The client side: two identities in one resolver; log every selection.
    let seen: Arc<Mutex<Vec<String>>> = Arc::default();
    let log = Arc::clone(&seen);
    let observer = move |s: &Selection<'_>| {
        let who = s.identity.unwrap_or("<none>");
        if let Ok(mut log) = log.lock() {
            log.push(format!("{who} ({})", s.reason));
        }
    };
    let resolver = MultiIdentityResolver::builder()
        .identity(client_identity("acme", &acme_ca, &provider)?)
        .identity(client_identity("globex", &globex_ca, &provider)?)
        .fallback(Fallback::Named("acme".into()))
        .observer(Arc::new(observer))
        .build()?;

    let mut roots = RootCertStore::empty();
    roots.add(server_ca.der().clone())?;
    let config = ClientConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        // One ClientConfig per upstream: the view carries the server name, so per-SNI
        // preferences (none configured here) would apply.
        .with_client_cert_resolver(Arc::new(resolver.for_server_name("localhost")));
    let connector = TlsConnector::from(Arc::new(config));

    let server_said = plain_get(&connector, addr).await?;
    let tokio_rustls = Call {
        chosen: last(&seen)?,
        server_said,
    };
    let server_said = hyper_get(&connector, addr).await?;
    let hyper = Call {
        chosen: last(&seen)?,
        server_said,
    };
    for call in [&tokio_rustls, &hyper] {
        if !call.chosen.starts_with("globex ") || !call.server_said.contains("globex client") {
            return Err(format!("expected the globex identity, got {call:?}").into());
        }
    }
    Ok(Report {
        tokio_rustls,
        hyper,
    })
}

/// Raw HTTP/1.1 over a tokio-rustls stream.
async fn plain_get(connector: &TlsConnector, addr: SocketAddr) -> Result<String, BoxError> {
    let tcp = TcpStream::connect(addr).await?;
    let mut tls = connector
        .connect(ServerName::try_from("localhost")?, tcp)
        .await?;
    tls.write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .await?;
    let mut response = String::new();
    tls.read_to_string(&mut response).await?;
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, body)| body)
        .ok_or("no HTTP body in the response")?;
    Ok(body.trim().to_owned())
}

/// hyper's HTTP/1 client over a tokio-rustls stream.
async fn hyper_get(connector: &TlsConnector, addr: SocketAddr) -> Result<String, BoxError> {
    let tcp = TcpStream::connect(addr).await?;
    let tls = connector
        .connect(ServerName::try_from("localhost")?, tcp)
        .await?;
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(tls)).await?;
    let driver = tokio::spawn(connection);
    let request = Request::get("/")
        .header(hyper::header::HOST, "localhost")
        .body(Empty::<Bytes>::new())?;
    let response = sender.send_request(request).await?;
    if !response.status().is_success() {
        return Err(format!("server answered {}", response.status()).into());
    }
    let body = response.into_body().collect().await?.to_bytes();
    drop(sender);
    driver.await??;
    Ok(String::from_utf8_lossy(&body).trim().to_owned())
}

/// Starts the upstream on an ephemeral loopback port; returns its address.
async fn start_server(
    provider: &Arc<CryptoProvider>,
    server_ca: &CertifiedIssuer<'static, KeyPair>,
    accepted_ca: &CertifiedIssuer<'static, KeyPair>,
) -> Result<SocketAddr, BoxError> {
    let mut client_roots = RootCertStore::empty();
    client_roots.add(accepted_ca.der().clone())?;
    // Sends the accepted CA's name in every CertificateRequest.
    let verifier =
        WebPkiClientVerifier::builder_with_provider(Arc::new(client_roots), Arc::clone(provider))
            .build()?;
    let (cert, key) = leaf(server_ca, "localhost", ExtendedKeyUsagePurpose::ServerAuth)?;
    let config = ServerConfig::builder_with_provider(Arc::clone(provider))
        .with_safe_default_protocol_versions()?
        .with_client_cert_verifier(verifier)
        .with_single_cert(vec![cert], key)?;
    let acceptor = TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
                // Who is calling: the verified client certificate's subject.
                let subject = tls
                    .get_ref()
                    .1
                    .peer_certificates()
                    .and_then(|certs| certs.first())
                    .and_then(|der| mtls_identity::PeerIdentity::from_der(der, None).ok())
                    .map_or_else(|| "<no certificate>".to_owned(), |peer| peer.subject);
                let service = hyper::service::service_fn(move |_req: Request<Incoming>| {
                    let body = format!("hello, {subject}\n");
                    async move { Ok::<_, hyper::Error>(Response::new(Full::new(Bytes::from(body)))) }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(tls), service)
                    .await;
            });
        }
    });
    Ok(addr)
}

fn new_ca(cn: &str) -> Result<CertifiedIssuer<'static, KeyPair>, BoxError> {
    let mut params = CertificateParams::new(Vec::<String>::new())?;
    params.distinguished_name.push(DnType::CommonName, cn);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    Ok(CertifiedIssuer::self_signed(params, KeyPair::generate()?)?)
}

fn leaf(
    ca: &CertifiedIssuer<'static, KeyPair>,
    name: &str,
    usage: ExtendedKeyUsagePurpose,
) -> Result<(CertificateDer<'static>, PrivateKeyDer<'static>), BoxError> {
    let key = KeyPair::generate()?;
    let mut params = CertificateParams::new(vec![name.to_owned()])?;
    params.distinguished_name.push(DnType::CommonName, name);
    params.extended_key_usages = vec![usage];
    let cert = params.signed_by(&key, ca)?;
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
    Ok((cert.der().clone(), key))
}

fn client_identity(
    name: &str,
    ca: &CertifiedIssuer<'static, KeyPair>,
    provider: &CryptoProvider,
) -> Result<Identity, BoxError> {
    let (cert, key) = leaf(
        ca,
        &format!("{name} client"),
        ExtendedKeyUsagePurpose::ClientAuth,
    )?;
    Ok(Identity::from_der(name, vec![cert], key, provider)?)
}

fn last(seen: &Mutex<Vec<String>>) -> Result<String, BoxError> {
    let seen = seen.lock().map_err(|_| "selection log poisoned")?;
    seen.last()
        .cloned()
        .ok_or_else(|| "the resolver was never asked".into())
}
