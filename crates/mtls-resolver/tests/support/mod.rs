//! Test PKIs (rcgen), rustls configs and an in-memory handshake pump shared by the
//! integration tests. Not every test binary uses every helper.
// A module of a test binary: `pub` here means "for the test files", hence the allows.
#![allow(dead_code, unreachable_pub)]

use std::sync::{Arc, Mutex};

use mtls_resolver::{Identity, Reason, Selection, SelectionObserver};
use rcgen::string::PrintableString;
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DistinguishedName, DnType, DnValue,
    ExtendedKeyUsagePurpose, IsCa, KeyPair, KeyUsagePurpose, SignatureAlgorithm,
};
use rustls::client::ResolvesClientCert;
use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::{CryptoProvider, aws_lc_rs};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, UnixTime};
use rustls::server::WebPkiClientVerifier;
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{
    ClientConfig, ClientConnection, DigitallySignedStruct, RootCertStore, ServerConfig,
    ServerConnection, SignatureScheme, SupportedProtocolVersion,
};

/// Both protocol versions, for tests that run in each.
pub const VERSIONS: [&SupportedProtocolVersion; 2] =
    [&rustls::version::TLS12, &rustls::version::TLS13];

pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(aws_lc_rs::default_provider())
}

/// A CA that can issue certificates.
pub struct Ca {
    pub issuer: CertifiedIssuer<'static, KeyPair>,
}

impl Ca {
    /// A self-signed root with subject `CN=<cn>, O=Test PKI` (UTF8String).
    pub fn root(cn: &str) -> Self {
        Self::root_with_dn(dn_utf8(cn))
    }

    /// A self-signed root whose subject is PrintableString-encoded.
    pub fn root_printable(cn: &str) -> Self {
        let mut dn = DistinguishedName::new();
        dn.push(
            DnType::CommonName,
            DnValue::PrintableString(PrintableString::try_from(cn).unwrap()),
        );
        dn.push(
            DnType::OrganizationName,
            DnValue::PrintableString(PrintableString::try_from("Test PKI").unwrap()),
        );
        Self::root_with_dn(dn)
    }

    fn root_with_dn(dn: DistinguishedName) -> Self {
        let issuer = CertifiedIssuer::self_signed(ca_params(dn), KeyPair::generate().unwrap())
            .expect("self-sign CA");
        Self { issuer }
    }

    /// An intermediate CA signed by this one.
    pub fn intermediate(&self, cn: &str) -> Self {
        let issuer = CertifiedIssuer::signed_by(
            ca_params(dn_utf8(cn)),
            KeyPair::generate().unwrap(),
            &self.issuer,
        )
        .expect("sign intermediate");
        Self { issuer }
    }

    pub fn cert(&self) -> CertificateDer<'static> {
        self.issuer.der().clone()
    }

    pub fn pem(&self) -> String {
        self.issuer.pem()
    }

    /// The DER subject Name, as a server sends it in a CertificateRequest.
    pub fn subject_der(&self) -> Vec<u8> {
        let cert = self.cert();
        let (_, parsed) = x509_parser::parse_x509_certificate(&cert).unwrap();
        parsed.subject().as_raw().to_vec()
    }

    /// A client leaf for `cn`, with a fresh key of `alg`.
    pub fn client_leaf(
        &self,
        cn: &str,
        alg: &'static SignatureAlgorithm,
    ) -> (CertificateDer<'static>, KeyPair) {
        let key = KeyPair::generate_for(alg).expect("generate key");
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name = dn_utf8(cn);
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        params.serial_number = Some(random_serial().into());
        let cert = params.signed_by(&key, &self.issuer).expect("sign leaf");
        (cert.der().clone(), key)
    }

    /// A P-256 client identity named `name` issued by this CA; `extra` is appended to the
    /// chain (intermediates).
    pub fn identity(&self, name: &str, extra: &[&Ca]) -> Identity {
        self.identity_with(name, extra, &rcgen::PKCS_ECDSA_P256_SHA256)
    }

    pub fn identity_with(
        &self,
        name: &str,
        extra: &[&Ca],
        alg: &'static SignatureAlgorithm,
    ) -> Identity {
        let (leaf, key) = self.client_leaf(&format!("{name} client"), alg);
        let mut chain = vec![leaf];
        chain.extend(extra.iter().map(|ca| ca.cert()));
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
        Identity::from_der(name, chain, key, &provider()).expect("identity")
    }

    /// A server certificate for `localhost` and its key.
    pub fn server_leaf(&self) -> (CertificateDer<'static>, PrivateKeyDer<'static>) {
        let (cert, key) = self.server_leaf_rcgen();
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
        (cert.der().clone(), key)
    }

    /// A server certificate for `localhost` and its key, in PEM.
    pub fn server_leaf_pem(&self) -> (String, String) {
        let (cert, key) = self.server_leaf_rcgen();
        (cert.pem(), key.serialize_pem())
    }

    fn server_leaf_rcgen(&self) -> (rcgen::Certificate, KeyPair) {
        let key = KeyPair::generate().unwrap();
        let mut params =
            CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()]).unwrap();
        params.distinguished_name = dn_utf8("localhost");
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.serial_number = Some(random_serial().into());
        let cert = params
            .signed_by(&key, &self.issuer)
            .expect("sign server cert");
        (cert, key)
    }
}

fn dn_utf8(cn: &str) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, cn);
    dn.push(DnType::OrganizationName, "Test PKI");
    dn
}

fn ca_params(dn: DistinguishedName) -> CertificateParams {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.distinguished_name = dn;
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    params.serial_number = Some(random_serial().into());
    params
}

fn random_serial() -> Vec<u8> {
    let mut serial = [0u8; 16];
    aws_lc_rs::default_provider()
        .secure_random
        .fill(&mut serial)
        .unwrap();
    serial[0] &= 0x7f;
    serial[0] |= 0x01;
    serial.to_vec()
}

/// Server-side test knobs.
#[derive(Default)]
pub struct ServerOptions {
    /// Replace the CA names sent in the CertificateRequest (`Some(vec![])`: send none).
    pub hints: Option<Vec<Vec<u8>>>,
    /// Replace the signature schemes offered for the client's CertificateVerify.
    pub schemes: Option<Vec<SignatureScheme>>,
    /// Accept clients without a certificate.
    pub allow_unauthenticated: bool,
}

/// A rustls server for `localhost` requiring client certificates from `trusted` CAs.
pub fn server_config(
    server_ca: &Ca,
    trusted: &[&Ca],
    version: &'static SupportedProtocolVersion,
    options: ServerOptions,
) -> Arc<ServerConfig> {
    let mut roots = RootCertStore::empty();
    for ca in trusted {
        roots.add(ca.cert()).unwrap();
    }
    let mut builder = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider());
    if options.allow_unauthenticated {
        builder = builder.allow_unauthenticated();
    }
    let inner = builder.build().unwrap();
    let verifier: Arc<dyn ClientCertVerifier> =
        if options.hints.is_some() || options.schemes.is_some() {
            Arc::new(TweakedVerifier {
                inner,
                hints: options
                    .hints
                    .map(|h| h.into_iter().map(rustls::DistinguishedName::from).collect()),
                schemes: options.schemes,
            })
        } else {
            inner
        };
    let (cert, key) = server_ca.server_leaf();
    let config = ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(&[version])
        .unwrap()
        .with_client_cert_verifier(verifier)
        .with_single_cert(vec![cert], key)
        .unwrap();
    Arc::new(config)
}

/// A rustls client trusting `server_ca`, resolving client certs with `resolver`.
pub fn client_config(
    server_ca: &Ca,
    version: &'static SupportedProtocolVersion,
    resolver: Arc<dyn ResolvesClientCert>,
) -> Arc<ClientConfig> {
    let mut roots = RootCertStore::empty();
    roots.add(server_ca.cert()).unwrap();
    let config = ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(&[version])
        .unwrap()
        .with_root_certificates(roots)
        .with_client_cert_resolver(resolver);
    Arc::new(config)
}

/// Runs one handshake in memory; returns the certificates the server received.
pub fn handshake(
    client: &Arc<ClientConfig>,
    server: &Arc<ServerConfig>,
) -> Result<Option<Vec<CertificateDer<'static>>>, String> {
    let mut client =
        ClientConnection::new(Arc::clone(client), "localhost".try_into().unwrap()).unwrap();
    let mut server = ServerConnection::new(Arc::clone(server)).unwrap();
    for _ in 0..32 {
        transfer(&mut client, &mut server).map_err(|e| format!("server: {e}"))?;
        transfer(&mut server, &mut client).map_err(|e| format!("client: {e}"))?;
        let done = !client.is_handshaking()
            && !server.is_handshaking()
            && !client.wants_write()
            && !server.wants_write();
        if done {
            return Ok(server.peer_certificates().map(|certs| certs.to_vec()));
        }
    }
    Err("handshake did not finish in 32 flights".to_owned())
}

fn transfer<A, B, DA, DB>(from: &mut A, to: &mut B) -> Result<(), rustls::Error>
where
    A: std::ops::DerefMut<Target = rustls::ConnectionCommon<DA>>,
    B: std::ops::DerefMut<Target = rustls::ConnectionCommon<DB>>,
{
    let mut buf = Vec::new();
    while from.wants_write() {
        from.write_tls(&mut buf).unwrap();
    }
    let mut rd = &buf[..];
    while !rd.is_empty() {
        to.read_tls(&mut rd).unwrap();
        to.process_new_packets()?;
    }
    Ok(())
}

/// Records every selection, as (identity, reason).
#[derive(Default)]
pub struct Recorder(pub Mutex<Vec<(Option<String>, Reason)>>);

impl SelectionObserver for Recorder {
    fn on_selection(&self, selection: &Selection<'_>) {
        self.0
            .lock()
            .unwrap()
            .push((selection.identity.map(str::to_owned), selection.reason));
    }
}

impl Recorder {
    pub fn take(&self) -> Vec<(Option<String>, Reason)> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }
}

/// A verifier that delegates to webpki but can change the CA names and schemes it sends.
#[derive(Debug)]
struct TweakedVerifier {
    inner: Arc<dyn ClientCertVerifier>,
    hints: Option<Vec<rustls::DistinguishedName>>,
    schemes: Option<Vec<SignatureScheme>>,
}

impl ClientCertVerifier for TweakedVerifier {
    fn offer_client_auth(&self) -> bool {
        self.inner.offer_client_auth()
    }

    fn client_auth_mandatory(&self) -> bool {
        self.inner.client_auth_mandatory()
    }

    fn root_hint_subjects(&self) -> &[rustls::DistinguishedName] {
        match &self.hints {
            Some(hints) => hints,
            None => self.inner.root_hint_subjects(),
        }
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        self.inner
            .verify_client_cert(end_entity, intermediates, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        match &self.schemes {
            Some(schemes) => schemes.clone(),
            None => self.inner.supported_verify_schemes(),
        }
    }
}

/// The leaf certificate of an identity.
pub fn leaf(identity: &Identity) -> CertificateDer<'static> {
    identity.chain()[0].clone()
}
