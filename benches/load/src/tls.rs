//! The client's TLS side: our one crypto provider (aws-lc-rs) with the key-exchange groups
//! `--kx` allows, the client certificate, the CA roots, ALPN and the resumption policy.

use std::path::Path;
use std::sync::Arc;

use rustls::client::Resumption;
use rustls::crypto::{CryptoProvider, SupportedKxGroup, aws_lc_rs};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::{ClientConfig, RootCertStore};

use crate::LoadError;
use crate::cli::{Common, Kx};

/// Sessions the shared store of `--resume` keeps (per server name rustls keeps up to 8
/// TLS 1.3 tickets; this bounds the number of names and TLS 1.2 sessions).
const RESUME_STORE_SESSIONS: usize = 1024;

/// The aws-lc-rs provider offering only the groups `kx` allows.
pub fn provider(kx: Kx) -> CryptoProvider {
    let base = aws_lc_rs::default_provider();
    let only = |group: &'static dyn SupportedKxGroup| vec![group];
    let kx_groups = match kx {
        Kx::Default => base.kx_groups.clone(),
        Kx::X25519 => only(aws_lc_rs::kx_group::X25519),
        Kx::Mlkem => only(aws_lc_rs::kx_group::X25519MLKEM768),
    };
    CryptoProvider { kx_groups, ..base }
}

/// The client config for a TLS run: `--ca` roots, the `--cert`/`--key` client certificate,
/// `alpn`, and either one shared session store (`resume`) or none at all, so that every
/// connection makes a full handshake (what a fresh store per connection would give, without
/// building one per connection).
pub fn client_config(
    common: &Common,
    alpn: &[&[u8]],
    resume: bool,
) -> Result<Arc<ClientConfig>, LoadError> {
    let usage = |what: &str| LoadError::Usage(format!("{what} is required unless --plain"));
    let ca = common.ca.as_deref().ok_or_else(|| usage("--ca"))?;
    let cert = common.cert.as_deref().ok_or_else(|| usage("--cert"))?;
    let key = common.key.as_deref().ok_or_else(|| usage("--key"))?;

    let mut roots = RootCertStore::empty();
    for root in load_certs(ca)? {
        roots.add(root).map_err(|e| LoadError::Pem {
            path: ca.to_owned(),
            reason: format!("not a usable CA certificate: {e}"),
        })?;
    }
    let chain = load_certs(cert)?;
    let key_der = PrivateKeyDer::from_pem_file(key).map_err(|e| LoadError::Pem {
        path: key.to_owned(),
        reason: format!("no private key: {e}"),
    })?;

    let mut config = ClientConfig::builder_with_provider(Arc::new(provider(common.kx)))
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_client_auth_cert(chain, key_der)?;
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    config.resumption = if resume {
        Resumption::in_memory_sessions(RESUME_STORE_SESSIONS)
    } else {
        Resumption::disabled()
    };
    Ok(Arc::new(config))
}

/// Every certificate in a PEM file; at least one.
fn load_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, LoadError> {
    let bad = |reason: String| LoadError::Pem {
        path: path.to_owned(),
        reason,
    };
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| bad(format!("cannot read it: {e}")))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| bad(format!("bad PEM: {e}")))?;
    if certs.is_empty() {
        return Err(bad("no certificate in it".to_owned()));
    }
    Ok(certs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kx_restricts_the_offered_groups() {
        let names = |kx| {
            provider(kx)
                .kx_groups
                .iter()
                .map(|g| format!("{:?}", g.name()))
                .collect::<Vec<_>>()
        };
        assert_eq!(names(Kx::X25519), ["X25519"]);
        assert_eq!(names(Kx::Mlkem), ["X25519MLKEM768"]);
        let default = names(Kx::Default);
        assert!(default.len() > 2, "{default:?}");
        assert!(
            default.contains(&"X25519MLKEM768".to_owned()),
            "{default:?}"
        );
    }
}
