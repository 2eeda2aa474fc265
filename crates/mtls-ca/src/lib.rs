//! The certificate authority of multi-mtls-proxy.
//!
//! This crate owns everything that makes or signs certificates:
//!
//! - a root CA and, optionally, an issuing intermediate ([`CertificateAuthority::generate`]),
//!   saved to and loaded from a directory with strict file permissions
//!   ([`CertificateAuthority::save`], [`CertificateAuthority::load`]);
//! - tenant client certificates carrying the SPIFFE-style URI SAN
//!   `spiffe://<trust-domain>/tenant/<tenant-id>` ([`CertificateAuthority::issue_client`]),
//!   either with a key generated here or for the key of a tenant's CSR
//!   ([`CertificateAuthority::sign_csr`], which takes nothing but the public key from it);
//! - server certificates for the proxy's listeners ([`CertificateAuthority::issue_server`]);
//! - CRLs for third parties ([`CertificateAuthority::crl`]);
//! - the files handed to a tenant: PEM files and a PKCS#12 bundle ([`bundle`]).
//!
//! It is sync (no tokio) and uses aws-lc-rs, through rcgen, for keys and signatures.
//! Private keys never appear in `Debug` output, errors or logs, and are wiped from memory
//! when dropped.
//!
//! # Example
//!
//! ```
//! use mtls_ca::{CaConfig, CertificateAuthority, ClientCertRequest};
//! use mtls_identity::PeerIdentity;
//!
//! let ca = CertificateAuthority::generate(&CaConfig {
//!     common_name: "multi-mtls-proxy root CA (example.test)".into(),
//!     intermediate: true,
//!     ..CaConfig::default()
//! })?;
//!
//! let domain = "example.test".parse()?;
//! let req = ClientCertRequest::new(domain, "acme".parse()?, "Acme Corp");
//! let issued = ca.issue_client(&req)?;
//!
//! let peer = PeerIdentity::from_der(&issued.cert_der, Some(&req.trust_domain))?;
//! assert_eq!(peer.tenant, Some(req.tenant.clone()));
//! assert_eq!(peer.uris, ["spiffe://example.test/tenant/acme"]);
//! assert!(issued.key_pem.is_some());
//! // cert.pem holds the leaf followed by the intermediate.
//! assert_eq!(issued.chain_pem, format!("{}{}", issued.cert_pem, ca.chain_pem()));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod algorithm;
mod authority;
pub mod bundle;
mod config;
mod crl;
mod csr;
mod error;
mod files;
mod issue;
mod pem;
mod storage;

pub use algorithm::{KeyAlgorithm, UnknownKeyAlgorithm};
pub use authority::CertificateAuthority;
pub use bundle::{BundlePaths, P12Options, write_bundle, write_private_file, write_public_file};
pub use config::{CaConfig, Overwrite};
pub use crl::{Crl, CrlRequest, RevokedCertificate};
pub use csr::{KeyAndCsr, MAX_RSA_BITS, MIN_RSA_BITS};
pub use error::{CaError, CsrError};
pub use issue::{
    AdminCertRequest, ClientCertRequest, DEFAULT_CLIENT_VALIDITY, DEFAULT_SERVER_VALIDITY,
    IssuedCertificate, MAX_LEAF_VALIDITY, ServerCertRequest,
};
