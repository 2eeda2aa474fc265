//! [`MultiIdentityResolver`]: the rustls [`ResolvesClientCert`] over a hot-swappable
//! [`Table`].

use std::fmt;
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwap;
use rustls::SignatureScheme;
use rustls::client::ResolvesClientCert;
use rustls::sign::CertifiedKey;

use crate::table::Table;
use crate::{
    CertificateRequest, Explanation, Fallback, Identity, Selection, SelectionObserver,
    SelectionPolicy, ServerNamePattern,
};

/// Why a resolver could not be built, or an identity set not swapped in. The resolver keeps
/// its previous identities when a replacement fails.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ResolverError {
    /// Two identities share a name.
    #[error("two identities are named {name:?}")]
    DuplicateIdentity {
        /// The repeated name.
        name: String,
    },
    /// `Fallback::Named` names no identity of the set.
    #[error("fallback identity {name:?} is not among the identities")]
    UnknownFallbackIdentity {
        /// The missing name.
        name: String,
    },
    /// A server-name preference names no identity of the set.
    #[error(
        "server name {pattern} prefers identity {identity:?}, which is not among the identities"
    )]
    UnknownPreferredIdentity {
        /// The pattern of the preference.
        pattern: ServerNamePattern,
        /// The missing identity name.
        identity: String,
    },
}

/// Picks, per handshake, the client identity whose issuer chain matches the CA names the
/// server asks for. See the [crate documentation](crate) for the rules.
///
/// Cheap to clone: clones share the identities, the policy and the observer. The handshake
/// path takes no lock: it reads the current identity set through an [`ArcSwap`].
#[derive(Clone)]
pub struct MultiIdentityResolver {
    shared: Arc<Shared>,
}

/// A view of a [`MultiIdentityResolver`] for connections to one server name, so that
/// server-name preferences apply (rustls does not pass the server name to
/// [`ResolvesClientCert::resolve`]). Shares the resolver's identities, including later
/// replacements. Build one per upstream `ClientConfig`.
#[derive(Clone)]
pub struct ServerNameResolver {
    shared: Arc<Shared>,
    /// Lower-case, without a trailing dot.
    server_name: Box<str>,
}

/// Builds a [`MultiIdentityResolver`].
#[derive(Default)]
#[must_use]
pub struct ResolverBuilder {
    identities: Vec<Identity>,
    policy: SelectionPolicy,
    observer: Option<Arc<dyn SelectionObserver>>,
}

struct Shared {
    table: ArcSwap<Table>,
    observer: Option<Arc<dyn SelectionObserver>>,
    /// Serialises replacements (never taken by handshakes), so that `replace_identities`
    /// cannot resurrect a policy a concurrent `replace` just retired.
    writer: Mutex<()>,
}

// === impl ResolverBuilder ===

impl ResolverBuilder {
    /// Adds an identity. Configuration order is priority order: when several identities
    /// match, the first added wins.
    pub fn identity(mut self, identity: Identity) -> Self {
        self.identities.push(identity);
        self
    }

    /// Adds identities, in order.
    pub fn identities(mut self, identities: impl IntoIterator<Item = Identity>) -> Self {
        self.identities.extend(identities);
        self
    }

    /// Sets the fallback (default [`Fallback::First`]).
    pub fn fallback(mut self, fallback: Fallback) -> Self {
        self.policy = self.policy.with_fallback(fallback);
        self
    }

    /// Prefers the identity named `identity` for server names matching `pattern`
    /// (see [`SelectionPolicy::prefer`]).
    pub fn prefer(mut self, pattern: ServerNamePattern, identity: impl Into<String>) -> Self {
        self.policy = self.policy.prefer(pattern, identity);
        self
    }

    /// Replaces the whole policy (fallback and preferences).
    pub fn policy(mut self, policy: SelectionPolicy) -> Self {
        self.policy = policy;
        self
    }

    /// Sets the observer told about every selection.
    pub fn observer(mut self, observer: Arc<dyn SelectionObserver>) -> Self {
        self.observer = Some(observer);
        self
    }

    /// Indexes the identities and builds the resolver.
    pub fn build(self) -> Result<MultiIdentityResolver, ResolverError> {
        let table = Table::build(self.identities, self.policy)?;
        Ok(MultiIdentityResolver {
            shared: Arc::new(Shared {
                table: ArcSwap::from_pointee(table),
                observer: self.observer,
                writer: Mutex::new(()),
            }),
        })
    }
}

// === impl MultiIdentityResolver ===

impl MultiIdentityResolver {
    /// Starts a builder.
    pub fn builder() -> ResolverBuilder {
        ResolverBuilder::default()
    }

    /// A resolver over `identities` with the default policy and no observer.
    pub fn new(identities: impl IntoIterator<Item = Identity>) -> Result<Self, ResolverError> {
        Self::builder().identities(identities).build()
    }

    /// A view for connections to `server_name`, so that server-name preferences apply.
    pub fn for_server_name(&self, server_name: &str) -> ServerNameResolver {
        ServerNameResolver {
            shared: Arc::clone(&self.shared),
            server_name: server_name
                .trim_end_matches('.')
                .to_ascii_lowercase()
                .into_boxed_str(),
        }
    }

    /// Swaps in a new identity set under the current policy. Handshakes in flight finish
    /// with the set they started resolving with; later ones see the new set. On error the
    /// current set stays.
    pub fn replace_identities(
        &self,
        identities: impl IntoIterator<Item = Identity>,
    ) -> Result<(), ResolverError> {
        let _writer = self.shared.lock_writer();
        let policy = self.shared.table.load().policy().clone();
        let table = Table::build(identities.into_iter().collect(), policy)?;
        self.shared.table.store(Arc::new(table));
        Ok(())
    }

    /// Swaps in a new identity set and policy together (a configuration reload).
    pub fn replace(
        &self,
        identities: impl IntoIterator<Item = Identity>,
        policy: SelectionPolicy,
    ) -> Result<(), ResolverError> {
        let _writer = self.shared.lock_writer();
        let table = Table::build(identities.into_iter().collect(), policy)?;
        self.shared.table.store(Arc::new(table));
        Ok(())
    }

    /// The current identities, in configuration order.
    pub fn identities(&self) -> Vec<Identity> {
        self.shared.table.load().identities().to_vec()
    }

    /// The current policy.
    pub fn policy(&self) -> SelectionPolicy {
        self.shared.table.load().policy().clone()
    }

    /// Which identity would be sent to a server asking for `ca_names` (DER `Name`s, as in a
    /// CertificateRequest) and offering `schemes`, and why. Pure: the observer is not told.
    /// This is what `mtlsd probe` prints.
    pub fn explain(
        &self,
        ca_names: &[&[u8]],
        schemes: &[SignatureScheme],
        server_name: Option<&str>,
    ) -> Explanation {
        let server_name = server_name.map(|n| n.trim_end_matches('.').to_ascii_lowercase());
        self.shared
            .table
            .load()
            .explain(ca_names, schemes, server_name.as_deref())
    }

    /// [`MultiIdentityResolver::explain`] for a request recorded by a
    /// [`RequestCapture`](crate::RequestCapture).
    pub fn explain_request(
        &self,
        request: &CertificateRequest,
        server_name: Option<&str>,
    ) -> Explanation {
        self.explain(&request.ca_name_refs(), &request.schemes, server_name)
    }
}

impl ResolvesClientCert for MultiIdentityResolver {
    fn resolve(
        &self,
        root_hint_subjects: &[&[u8]],
        sigschemes: &[SignatureScheme],
    ) -> Option<Arc<CertifiedKey>> {
        self.shared.resolve(root_hint_subjects, sigschemes, None)
    }

    fn has_certs(&self) -> bool {
        Shared::HAS_CERTS
    }
}

impl fmt::Debug for MultiIdentityResolver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.shared
            .fmt_fields(f.debug_struct("MultiIdentityResolver"))
    }
}

// === impl ServerNameResolver ===

impl ServerNameResolver {
    /// The server name this view resolves for (lower-case).
    pub fn server_name(&self) -> &str {
        &self.server_name
    }
}

impl ResolvesClientCert for ServerNameResolver {
    fn resolve(
        &self,
        root_hint_subjects: &[&[u8]],
        sigschemes: &[SignatureScheme],
    ) -> Option<Arc<CertifiedKey>> {
        self.shared
            .resolve(root_hint_subjects, sigschemes, Some(&self.server_name))
    }

    fn has_certs(&self) -> bool {
        Shared::HAS_CERTS
    }
}

impl fmt::Debug for ServerNameResolver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = f.debug_struct("ServerNameResolver");
        s.field("server_name", &self.server_name);
        self.shared.fmt_fields(s)
    }
}

// === impl Shared ===

impl Shared {
    /// `has_certs()` answer. Always `true`: rustls asks it once at the start of a handshake
    /// and, on `false`, drops the TLS 1.2 transcript that a later CertificateVerify needs.
    /// Identities can be swapped in mid-handshake, and an empty set merely makes `resolve`
    /// return `None` (an empty Certificate message), which is what `false` would achieve.
    const HAS_CERTS: bool = true;

    fn resolve(
        &self,
        hints: &[&[u8]],
        schemes: &[SignatureScheme],
        server_name: Option<&str>,
    ) -> Option<Arc<CertifiedKey>> {
        let table = self.table.load();
        let decision = table.select(hints, schemes, server_name);
        let identity = decision.index.map(|i| &table.identities()[i]);
        if let Some(observer) = &self.observer {
            observer.on_selection(&Selection {
                identity: identity.map(Identity::name),
                reason: decision.reason,
                server_name,
                ca_names_offered: hints.len(),
            });
        }
        identity.map(|identity| Arc::clone(identity.certified_key()))
    }

    fn lock_writer(&self) -> std::sync::MutexGuard<'_, ()> {
        // The mutex guards no data, so a panic while holding it leaves nothing inconsistent.
        self.writer
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn fmt_fields(&self, mut s: fmt::DebugStruct<'_, '_>) -> fmt::Result {
        let table = self.table.load();
        let names: Vec<&str> = table.identities().iter().map(Identity::name).collect();
        s.field("identities", &names)
            .field("policy", table.policy())
            .field("observer", &self.observer.is_some())
            .finish()
    }
}
