//! The upstream client identities of a gateway listener (`[[listener.gateway.identities]]`),
//! which HTTP routes name in `upstream_tls.identity`.
//!
//! Each identity gets its own single-identity [`MultiIdentityResolver`] (fallback `first`),
//! so a route naming identity X presents X, and only when the upstream asks for a client
//! certificate. The set of names is fixed by the config; a certificate reload swaps the
//! material inside every resolver and bumps a generation, and the listener's routes that
//! name an identity are compiled again (fresh client configs: no TLS session resumed with
//! the old certificate).
//!
//! A route naming an identity the listener does not hold is not a start-up error: routes
//! live in the registry and change at run time. Its requests get a 502 whose JSON body
//! names the identity, and the route is logged as unusable when the view is compiled.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use arc_swap::ArcSwap;
use mtls_resolver::{Fallback, Identity, MultiIdentityResolver, ResolverError, SelectionObserver};
use mtls_tls::CertInfo;
use rustls::client::ResolvesClientCert;

/// The client identities HTTP routes of one gateway listener may present.
pub struct RouteIdentities {
    /// One resolver per identity name (configuration names, fixed for the process).
    resolvers: HashMap<String, MultiIdentityResolver>,
    /// Configuration order of the names, for messages.
    order: Vec<String>,
    /// The loaded certificates (expiry metrics, `/certs`).
    certs: ArcSwap<Vec<CertInfo>>,
    /// Bumped by every reload. Routes compiled under an older generation are compiled
    /// again: their client configs hold TLS sessions resumable with the old certificate,
    /// and a resumed session does not present the new one.
    generation: AtomicU64,
}

// === impl RouteIdentities ===

impl RouteIdentities {
    /// Builds one resolver per identity; `observer` hears every selection. Fails when the
    /// set does not fit together (the resolver builder's error, e.g. duplicate names).
    pub fn new(
        identities: Vec<Identity>,
        certs: Vec<CertInfo>,
        observer: Option<Arc<dyn SelectionObserver>>,
    ) -> Result<Self, ResolverError> {
        let mut resolvers = HashMap::with_capacity(identities.len());
        let mut order = Vec::with_capacity(identities.len());
        for identity in identities {
            let name = identity.name().to_owned();
            let mut builder = MultiIdentityResolver::builder()
                .identity(identity)
                .fallback(Fallback::First);
            if let Some(observer) = &observer {
                builder = builder.observer(observer.clone());
            }
            let resolver = builder.build()?;
            order.push(name.clone());
            resolvers.insert(name, resolver);
        }
        Ok(Self {
            resolvers,
            order,
            certs: ArcSwap::from_pointee(certs),
            generation: AtomicU64::new(0),
        })
    }

    /// Swaps freshly loaded material into the resolvers (names must be those of the config;
    /// unknown names are ignored). In-flight handshakes finish with what they started with.
    pub fn replace(
        &self,
        identities: Vec<Identity>,
        certs: Vec<CertInfo>,
    ) -> Result<(), ResolverError> {
        for identity in identities {
            if let Some(resolver) = self.resolvers.get(identity.name()) {
                resolver.replace_identities([identity])?;
            }
        }
        self.certs.store(Arc::new(certs));
        self.generation.fetch_add(1, Ordering::AcqRel);
        Ok(())
    }

    /// How many reloads the identities went through.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// The resolver presenting identity `name`, if the listener holds it.
    pub fn resolver(&self, name: &str) -> Option<Arc<dyn ResolvesClientCert>> {
        self.resolvers
            .get(name)
            .map(|r| Arc::new(r.clone()) as Arc<dyn ResolvesClientCert>)
    }

    /// The identity names, in configuration order, for messages (`"there are none"` when
    /// the listener holds none).
    pub fn names(&self) -> String {
        if self.order.is_empty() {
            "there are none".to_owned()
        } else {
            self.order.join(", ")
        }
    }

    /// The loaded certificates, in configuration order.
    pub fn certs(&self) -> Arc<Vec<CertInfo>> {
        self.certs.load_full()
    }
}

impl fmt::Debug for RouteIdentities {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RouteIdentities")
            .field("identities", &self.order)
            .finish_non_exhaustive()
    }
}
