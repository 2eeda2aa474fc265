//! Unit tests: every PEM error names its file and kind; the config builders' policies hold
//! in handshakes run in memory (no sockets).

use std::path::PathBuf;

use mtls_test_support::pki::{test_ca as ca, test_leaf as leaf};
use time::OffsetDateTime;

use crate::{ClientAuth, ServerTlsParams, TlsVersion};

mod builders;
mod chain_cache;
mod kx;
mod pem;
mod sessions;

struct Files {
    dir: tempfile::TempDir,
}

// === impl Files ===

impl Files {
    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn write(&self, name: &str, contents: impl AsRef<[u8]>) -> PathBuf {
        let path = self.path(name);
        std::fs::write(&path, contents).unwrap();
        path
    }
}

/// ca.pem, crl.pem (an empty CRL of ca.pem), server.pem/server-key.pem,
/// client.pem/client-key.pem, expired.pem/expired-key.pem, stranger.pem/stranger-key.pem
/// (issued by other-ca.pem).
fn files() -> Files {
    let f = Files {
        dir: tempfile::tempdir().unwrap(),
    };
    let (issuer, pem) = ca("test CA");
    f.write("ca.pem", pem);
    let now = OffsetDateTime::now_utc();
    let crl = rcgen::CertificateRevocationListParams {
        this_update: now,
        next_update: now + time::Duration::days(1),
        crl_number: vec![1].into(),
        issuing_distribution_point: None,
        revoked_certs: Vec::new(),
        key_identifier_method: rcgen::KeyIdMethod::Sha256,
    };
    f.write("crl.pem", crl.signed_by(&issuer).unwrap().pem().unwrap());
    for (name, server, expired) in [
        ("server", true, false),
        ("client", false, false),
        ("expired", false, true),
    ] {
        let (c, k) = leaf(&issuer, server, expired);
        f.write(&format!("{name}.pem"), c);
        f.write(&format!("{name}-key.pem"), k);
    }
    let (other, pem) = ca("other CA");
    f.write("other-ca.pem", pem);
    let (c, k) = leaf(&other, false, false);
    f.write("stranger.pem", c);
    f.write("stranger-key.pem", k);
    f
}

fn server_params(f: &Files, client_auth: ClientAuth) -> ServerTlsParams {
    ServerTlsParams {
        cert: f.path("server.pem"),
        key: f.path("server-key.pem"),
        client_auth,
        min_version: TlsVersion::Tls12,
        session_lifetime: crate::DEFAULT_SESSION_LIFETIME,
        verified_chain_cache: crate::DEFAULT_VERIFIED_CHAIN_CACHE,
    }
}

fn required(f: &Files) -> ClientAuth {
    ClientAuth::Required {
        ca: f.path("ca.pem"),
    }
}
