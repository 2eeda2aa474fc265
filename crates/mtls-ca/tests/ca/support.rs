//! Helpers: CAs for tests, and running `openssl` on files in a temporary directory.

use std::path::{Path, PathBuf};
use std::process::Command;

use mtls_ca::{CaConfig, CertificateAuthority, ClientCertRequest, KeyAlgorithm};
use mtls_identity::TrustDomain;

pub(crate) const OPENSSL: &str = "/usr/bin/openssl";

/// The outcome of one `openssl` run.
pub(crate) struct Run {
    pub(crate) success: bool,
    /// stdout followed by stderr.
    pub(crate) output: String,
}

/// Runs `openssl args...` with `dir` as working directory.
pub(crate) fn openssl(dir: &Path, args: &[&str]) -> Run {
    let out = Command::new(OPENSSL)
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run /usr/bin/openssl");
    let mut output = String::from_utf8_lossy(&out.stdout).into_owned();
    output.push_str(&String::from_utf8_lossy(&out.stderr));
    Run {
        success: out.status.success(),
        output,
    }
}

/// Runs `openssl args...` and panics with its output unless it succeeds.
#[track_caller]
pub(crate) fn openssl_ok(dir: &Path, args: &[&str]) -> String {
    let run = openssl(dir, args);
    assert!(run.success, "openssl {args:?} failed:\n{}", run.output);
    run.output
}

pub(crate) fn write(dir: &Path, name: &str, contents: impl AsRef<[u8]>) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, contents).unwrap();
    path
}

pub(crate) fn domain() -> TrustDomain {
    "example.test".parse().unwrap()
}

pub(crate) fn client_request(tenant: &str) -> ClientCertRequest {
    ClientCertRequest::new(domain(), tenant.parse().unwrap(), "Acme Corp")
}

pub(crate) fn ca(intermediate: bool, algorithm: KeyAlgorithm) -> CertificateAuthority {
    CertificateAuthority::generate(&CaConfig {
        common_name: "multi-mtls-proxy root CA (example.test)".into(),
        organization: Some("Example".into()),
        algorithm,
        intermediate,
        ..CaConfig::default()
    })
    .unwrap()
}

/// Writes `ca.pem` (the root) and `cert.pem` (`chain_pem`), then runs
/// `openssl verify -CAfile ca.pem -untrusted cert.pem [-purpose purpose] [extra...] cert.pem`.
pub(crate) fn verify(
    dir: &Path,
    ca: &CertificateAuthority,
    chain_pem: &str,
    purpose: &str,
    extra: &[&str],
) -> Run {
    write(dir, "ca.pem", ca.root_pem());
    write(dir, "cert.pem", chain_pem);
    let mut args = vec!["verify", "-CAfile", "ca.pem", "-untrusted", "cert.pem"];
    args.extend(["-purpose", purpose]);
    args.extend_from_slice(extra);
    args.push("cert.pem");
    openssl(dir, &args)
}

/// `openssl x509 -noout -text` of a PEM certificate.
pub(crate) fn x509_text(dir: &Path, pem: &str) -> String {
    write(dir, "show.pem", pem);
    openssl_ok(dir, &["x509", "-in", "show.pem", "-noout", "-text"])
}

/// The public key (PEM SubjectPublicKeyInfo) of a certificate, as openssl prints it.
pub(crate) fn cert_pubkey(dir: &Path, pem: &str) -> String {
    write(dir, "pub.pem", pem);
    openssl_ok(dir, &["x509", "-in", "pub.pem", "-noout", "-pubkey"])
}
