//! `crypto`: the machine's crypto limit for one server-side mTLS handshake, timed on one
//! thread with our provider (rustls' aws-lc-rs `CryptoProvider`, through its own APIs).
//!
//! One iteration is what a TLS 1.3 server must compute for one full mTLS handshake with
//! ECDSA P-256 certificates:
//!
//! 1. one ECDSA P-256 signature: the server's CertificateVerify (`key_provider`'s
//!    `SigningKey`, scheme `ECDSA_NISTP256_SHA256`);
//! 2. one ECDSA P-256 verification: the client's CertificateVerify;
//! 3. one ECDSA P-256 verification: the CA's signature on the client certificate (its real
//!    TBS bytes and signature, from a certificate made at start-up);
//! 4. the server's key exchange for the group: `start_and_complete` with a client share,
//!    which is `start()` + `complete()` for X25519 and, for X25519MLKEM768, X25519 plus the
//!    ML-KEM-768 encapsulation (what rustls' server really runs).
//!
//! The verifications use `signature_verification_algorithms` (the webpki algorithms the
//! provider hands rustls). Iterations alternate between the two groups in short blocks, so
//! noise from other work on the machine hits both alike. Symmetric crypto, hashing of the
//! transcript and certificate parsing are left out: this is the floor of the public-key work.

use std::hint::black_box;
use std::time::Instant;

use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
use rustls::SignatureScheme;
use rustls::crypto::{CryptoProvider, SupportedKxGroup, aws_lc_rs};
use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer, SignatureVerificationAlgorithm};
use rustls::sign::Signer;

use crate::cli::Common;
use crate::run::{Plan, round1, round3};
use crate::{LoadError, Report, procstat};

/// Iterations of one group before switching to the other.
const BLOCK: u64 = 16;
/// The signature scheme of every key here.
const SCHEME: SignatureScheme = SignatureScheme::ECDSA_NISTP256_SHA256;

/// The keys and messages of one handshake's public-key work.
struct Handshake {
    server_signer: Box<dyn Signer>,
    server_message: Vec<u8>,
    verify: &'static dyn SignatureVerificationAlgorithm,
    client_public: Vec<u8>,
    client_message: Vec<u8>,
    client_signature: Vec<u8>,
    ca_public: Vec<u8>,
    cert_tbs: Vec<u8>,
    cert_signature: Vec<u8>,
}

/// One key-exchange group and a client share for it.
struct Group {
    group: &'static dyn SupportedKxGroup,
    client_share: Vec<u8>,
}

/// Nanoseconds spent per component, and iterations, for one group.
#[derive(Debug, Default, Clone, Copy)]
struct Tally {
    iterations: u64,
    sign_ns: u128,
    verify_handshake_ns: u128,
    verify_cert_ns: u128,
    kx_ns: u128,
}

/// Runs `crypto`.
pub fn run(common: &Common) -> Result<Report, LoadError> {
    let plan = Plan::from_common(common)?;
    let provider = aws_lc_rs::default_provider();
    let handshake = Handshake::new(&provider)?;
    let groups = [
        Group::new(aws_lc_rs::kx_group::X25519)?,
        Group::new(aws_lc_rs::kx_group::X25519MLKEM768)?,
    ];
    // Every component works before anything is timed.
    handshake.iteration(&groups[0], &mut Tally::default())?;
    handshake.iteration(&groups[1], &mut Tally::default())?;

    let warm_until = Instant::now() + plan.warmup;
    let mut discard = [Tally::default(); 2];
    alternate(&handshake, &groups, &mut discard, warm_until, None)?;

    let cpu_before = procstat::own_cpu_s()?;
    let started = Instant::now();
    let mut tallies = [Tally::default(); 2];
    alternate(
        &handshake,
        &groups,
        &mut tallies,
        started + plan.duration,
        plan.count,
    )?;
    let wall = started.elapsed().as_secs_f64();
    let cpu = procstat::own_cpu_s()? - cpu_before;

    let [x25519, mlkem] = tallies;
    let ops = x25519.iterations + mlkem.iterations;
    let mut report = Report::new("crypto", 1, common.label.as_deref());
    report.duration_s = round3(wall);
    report.ops = ops;
    report.stopped = if plan.count.is_some_and(|c| ops >= c) {
        "count"
    } else {
        "duration"
    }
    .to_owned();
    report.rate_per_s = Some(round1(ops as f64 / wall));
    report.client_cpu_s = round3(cpu);
    report.client_cpu_util = round3(cpu / wall);
    report.crypto_limit_x25519_per_s = x25519.per_second();
    report.crypto_limit_mlkem_per_s = mlkem.per_second();
    let both = x25519.plus(&mlkem);
    report.sign_us = both.mean_us(both.sign_ns);
    report.verify_handshake_us = both.mean_us(both.verify_handshake_ns);
    report.verify_cert_us = both.mean_us(both.verify_cert_ns);
    report.kx_x25519_us = x25519.mean_us(x25519.kx_ns);
    report.kx_mlkem_us = mlkem.mean_us(mlkem.kx_ns);
    Ok(report)
}

/// Iterations in blocks, alternating groups, until `until` or `count` in total.
fn alternate(
    handshake: &Handshake,
    groups: &[Group; 2],
    tallies: &mut [Tally; 2],
    until: Instant,
    count: Option<u64>,
) -> Result<(), LoadError> {
    let mut done = 0u64;
    'run: loop {
        for (group, tally) in groups.iter().zip(tallies.iter_mut()) {
            for _ in 0..BLOCK {
                if Instant::now() >= until || count.is_some_and(|c| done >= c) {
                    break 'run;
                }
                handshake.iteration(group, tally)?;
                done += 1;
            }
        }
    }
    Ok(())
}

// === impl Handshake ===

impl Handshake {
    /// A throwaway CA, a client certificate it signs, a server key; the client's
    /// CertificateVerify signature made once.
    fn new(provider: &CryptoProvider) -> Result<Self, LoadError> {
        let bad = |what: &str, e: &dyn std::fmt::Display| LoadError::Crypto(format!("{what}: {e}"));
        let ca_key = KeyPair::generate().map_err(|e| bad("CA key", &e))?;
        let mut ca_params =
            CertificateParams::new(Vec::<String>::new()).map_err(|e| bad("CA params", &e))?;
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca_public = ca_key.public_key_raw().to_vec();
        let issuer = Issuer::new(ca_params, ca_key);
        let client_key = KeyPair::generate().map_err(|e| bad("client key", &e))?;
        let client_cert = CertificateParams::new(vec!["client.mtls-load.invalid".to_owned()])
            .map_err(|e| bad("client params", &e))?
            .signed_by(&client_key, &issuer)
            .map_err(|e| bad("client certificate", &e))?;
        let (_, parsed) = x509_parser::parse_x509_certificate(client_cert.der())
            .map_err(|e| bad("client certificate", &e))?;
        let cert_tbs = parsed.tbs_certificate.as_ref().to_vec();
        let cert_signature = parsed.signature_value.data.to_vec();

        let signer = |key: &KeyPair, what: &str| -> Result<Box<dyn Signer>, LoadError> {
            let der = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
            provider
                .key_provider
                .load_private_key(der)
                .map_err(|e| bad(what, &e))?
                .choose_scheme(&[SCHEME])
                .ok_or_else(|| LoadError::Crypto(format!("{what}: no {SCHEME:?} signer")))
        };
        let server_key = KeyPair::generate().map_err(|e| bad("server key", &e))?;
        let server_signer = signer(&server_key, "server key")?;
        let client_message = certificate_verify_message(b"TLS 1.3, client CertificateVerify");
        let client_signature = signer(&client_key, "client key")?
            .sign(&client_message)
            .map_err(|e| bad("client signature", &e))?;
        let verify = provider
            .signature_verification_algorithms
            .mapping
            .iter()
            .find(|(scheme, _)| *scheme == SCHEME)
            .and_then(|(_, algs)| algs.first().copied())
            .ok_or_else(|| LoadError::Crypto(format!("no verifier for {SCHEME:?}")))?;
        Ok(Self {
            server_signer,
            server_message: certificate_verify_message(b"TLS 1.3, server CertificateVerify"),
            verify,
            client_public: client_key.public_key_raw().to_vec(),
            client_message,
            client_signature,
            ca_public,
            cert_tbs,
            cert_signature,
        })
    }

    /// One handshake's public-key work with `group`, timed per component into `tally`.
    fn iteration(&self, group: &Group, tally: &mut Tally) -> Result<(), LoadError> {
        let bad = |what: &str| LoadError::Crypto(format!("{what} failed"));
        let t0 = Instant::now();
        let signature = self
            .server_signer
            .sign(black_box(&self.server_message))
            .map_err(|_| bad("signing"))?;
        black_box(signature);
        let t1 = Instant::now();
        self.verify
            .verify_signature(
                &self.client_public,
                black_box(&self.client_message),
                &self.client_signature,
            )
            .map_err(|_| bad("verifying the CertificateVerify"))?;
        let t2 = Instant::now();
        self.verify
            .verify_signature(
                &self.ca_public,
                black_box(&self.cert_tbs),
                &self.cert_signature,
            )
            .map_err(|_| bad("verifying the certificate"))?;
        let t3 = Instant::now();
        let completed = group
            .group
            .start_and_complete(black_box(&group.client_share))
            .map_err(|_| bad("the key exchange"))?;
        black_box(completed.secret.secret_bytes());
        let t4 = Instant::now();
        tally.iterations += 1;
        tally.sign_ns += (t1 - t0).as_nanos();
        tally.verify_handshake_ns += (t2 - t1).as_nanos();
        tally.verify_cert_ns += (t3 - t2).as_nanos();
        tally.kx_ns += (t4 - t3).as_nanos();
        Ok(())
    }
}

/// The TLS 1.3 CertificateVerify content: 64 spaces, the context string, a zero byte and a
/// transcript hash (SHA-256 sized; its value does not change the cost).
fn certificate_verify_message(context: &[u8]) -> Vec<u8> {
    let mut message = vec![0x20; 64];
    message.extend_from_slice(context);
    message.push(0);
    message.extend((0u8..32).map(|i| i.wrapping_mul(37)));
    message
}

// === impl Group ===

impl Group {
    /// `group` with a client share made once (a client's key generation is not server work).
    fn new(group: &'static dyn SupportedKxGroup) -> Result<Self, LoadError> {
        let client = group
            .start()
            .map_err(|e| LoadError::Crypto(format!("{:?} client share: {e}", group.name())))?;
        Ok(Self {
            group,
            client_share: client.pub_key().to_vec(),
        })
    }
}

// === impl Tally ===

impl Tally {
    /// Whole iterations per second of the time they took (the one-core limit).
    fn per_second(&self) -> Option<f64> {
        let ns = self.sign_ns + self.verify_handshake_ns + self.verify_cert_ns + self.kx_ns;
        (ns > 0).then(|| round1(self.iterations as f64 * 1e9 / ns as f64))
    }

    /// The mean of `ns` over the iterations, µs.
    fn mean_us(&self, ns: u128) -> Option<f64> {
        (self.iterations > 0).then(|| round3(ns as f64 / self.iterations as f64 / 1000.0))
    }

    /// Both tallies' sums.
    fn plus(&self, other: &Self) -> Self {
        Self {
            iterations: self.iterations + other.iterations,
            sign_ns: self.sign_ns + other.sign_ns,
            verify_handshake_ns: self.verify_handshake_ns + other.verify_handshake_ns,
            verify_cert_ns: self.verify_cert_ns + other.verify_cert_ns,
            kx_ns: self.kx_ns + other.kx_ns,
        }
    }
}
