//! A rustls client-certificate resolver for callers that hold several client identities.
//!
//! A proxy calling many upstream servers often holds one client certificate per customer or
//! partner, each issued by a different CA. A server that wants a client certificate lists, in
//! its CertificateRequest, the distinguished names of the CAs it accepts; sending any other
//! identity fails the handshake. [`MultiIdentityResolver`] implements rustls'
//! [`ResolvesClientCert`](rustls::client::ResolvesClientCert): it reads those names and
//! presents the identity the server will accept. It drops into any rustls `ClientConfig`
//! (tokio-rustls, hyper clients, mtlsd).
//!
//! # Example
//!
//! ```
//! # use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
//! # let dir = tempfile::tempdir()?;
//! # let dir = dir.path();
//! # for (name, ca) in [("acme", "Acme CA"), ("globex", "Globex CA")] {
//! #     let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
//! #     ca_params.distinguished_name.push(rcgen::DnType::CommonName, ca);
//! #     ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
//! #     let issuer = Issuer::new(ca_params, KeyPair::generate()?);
//! #     let key = KeyPair::generate()?;
//! #     let cert = CertificateParams::new(vec![format!("{name}.example")])?.signed_by(&key, &issuer)?;
//! #     std::fs::write(dir.join(format!("{name}.pem")), cert.pem())?;
//! #     std::fs::write(dir.join(format!("{name}-key.pem")), key.serialize_pem())?;
//! # }
//! use std::sync::Arc;
//! use mtls_resolver::{Fallback, Identity, MultiIdentityResolver};
//! use rustls::{ClientConfig, RootCertStore};
//!
//! let resolver = MultiIdentityResolver::builder()
//!     .identity(Identity::from_pem_files("acme", dir.join("acme.pem"), dir.join("acme-key.pem"))?)
//!     .identity(Identity::from_pem_files("globex", dir.join("globex.pem"), dir.join("globex-key.pem"))?)
//!     .fallback(Fallback::Named("acme".into()))
//!     .build()?;
//! let config = ClientConfig::builder_with_provider(mtls_tls::provider())
//!     .with_safe_default_protocol_versions()?
//!     .with_root_certificates(RootCertStore::empty()) // the upstream's trust roots
//!     .with_client_cert_resolver(Arc::new(resolver.clone()));
//! # let _ = config;
//! # // A server naming "Globex CA" gets globex; one naming no CA gets the fallback.
//! # let globex_ca = resolver.identities()[1].chain()[0].clone();
//! # let globex_ca = x509_parser::parse_x509_certificate(&globex_ca).unwrap().1.issuer().as_raw().to_vec();
//! # let schemes = [rustls::SignatureScheme::ECDSA_NISTP256_SHA256];
//! # assert_eq!(resolver.explain(&[&globex_ca], &schemes, None).identity.as_deref(), Some("globex"));
//! # assert_eq!(resolver.explain(&[], &schemes, None).identity.as_deref(), Some("acme"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Selection rules
//!
//! On each CertificateRequest, in order:
//!
//! 1. **Server-name preference.** When the resolver was built for a server name
//!    ([`MultiIdentityResolver::for_server_name`]) and the [`SelectionPolicy`] prefers an
//!    identity for it (exact name or `*.parent` wildcard), that identity is sent.
//! 2. **CA-name match.** An identity matches a name the server sent when that name is the
//!    issuer of any certificate in its chain (leaf, intermediates) or the subject of a CA
//!    certificate in its chain. So a chain *leaf + intermediate* matches a server naming
//!    only the root. Names compare by DER and, failing that, by a normalised form (string
//!    types unified, case folded, white space collapsed: X.500 `caseIgnoreMatch`), so a CA
//!    written with `PrintableString` matches a server that re-encoded it as `UTF8String`.
//!    When several identities match, the first in configuration order wins.
//! 3. **Signature schemes.** At every step, an identity counts only if its key can sign
//!    with one of the schemes the server offers ([`rustls::sign::SigningKey::choose_scheme`]):
//!    an ECDSA identity is skipped for a server that verifies only RSA signatures.
//! 4. **Fallback.** With no preference and no match, or when the server names no CAs at
//!    all (allowed in TLS 1.3), [`Fallback`] decides: a named identity, the first usable
//!    identity (default) or no certificate.
//!
//! All CA names are indexed when an identity set is built, so one selection costs a hash
//! lookup per name the server sends, whatever the number of identities (see *Performance*).
//!
//! # Server names
//!
//! rustls does not tell `resolve()` which server the connection is for. A `ClientConfig`
//! is cheap to build, and a caller with per-upstream settings (trust roots, SNI, ALPN)
//! builds one per upstream anyway: give each one
//! `Arc::new(resolver.for_server_name("api.acme.example"))`. These views share the
//! resolver's identities, policy and observer, including later replacements. The plain
//! resolver, used directly, applies every rule except the server-name preference.
//!
//! # Replacing identities at run time
//!
//! The identity set and policy live in an immutable, indexed table behind an
//! [`arc_swap::ArcSwap`]. [`MultiIdentityResolver::replace_identities`] and
//! [`MultiIdentityResolver::replace`] build a new table and swap it in; handshakes never take
//! a lock. A replacement that fails validation (duplicate names, a fallback or preference
//! naming a missing identity) leaves the current set in place.
//!
//! # Observability
//!
//! A [`SelectionObserver`] (any `Fn(&Selection<'_>)` works) hears every decision: the
//! identity chosen, if any, and the [`Reason`], whose [`Reason::as_str`] is meant as a metric
//! label. [`MultiIdentityResolver::explain`] runs the same rules for given CA names and
//! schemes without side effects and returns an [`Explanation`] whose `Display` is a report
//! for humans (what `mtlsd probe` prints). To learn what a live server asks for, handshake
//! with a [`RequestCapture`] and pass its [`CertificateRequest`] to
//! [`MultiIdentityResolver::explain_request`].
//!
//! # Loading
//!
//! [`Identity::from_pem_files`] reads a chain and a key, checks that the key belongs to the
//! leaf, and reports the file at fault on error ([`LoadError`]). An expired certificate still
//! loads, with an [`IdentityWarning`] to log.
//!
//! # Performance
//!
//! Measured once with `cargo bench -p mtls-benches --bench resolver_select -- --warm-up-time 1
//! --measurement-time 3` (criterion medians; release build on a 2-core VM; ECDSA P-256 keys;
//! the server names one CA, that of the identity in the middle of the set; an `Arc` clone
//! and rustls' `choose_scheme` included):
//!
//! | identities | CA name byte-equal | same name re-encoded | unknown CA name |
//! |-----------:|-------------------:|---------------------:|----------------:|
//! | 1          | 108 ns             | 839 ns               | 677 ns          |
//! | 100        | 100 ns             | 855 ns               | 657 ns          |
//! | 10,000     |  90 ns             | 836 ns               | 862 ns          |
//!
//! A CA name that misses the DER index is parsed and normalised (≈ 0.6–0.8 µs) before the
//! second lookup; a handshake costs hundreds of microseconds, so neither path matters.

mod capture;
mod dn;
mod explain;
mod identity;
mod loader;
mod observe;
mod policy;
mod resolver;
mod table;

pub use capture::{CertificateRequest, RequestCapture};
pub use explain::{CaNameMatch, Explanation};
pub use identity::{Identity, IdentityError, IdentityWarning, MAX_NAME_LEN};
pub use loader::LoadError;
pub use observe::{Reason, Selection, SelectionObserver};
pub use policy::{Fallback, SelectionPolicy, ServerNamePattern, ServerNamePatternError};
pub use resolver::{MultiIdentityResolver, ResolverBuilder, ResolverError, ServerNameResolver};
