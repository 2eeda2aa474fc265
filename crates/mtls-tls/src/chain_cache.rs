//! The verified-chain cache: client certificate chains a listener's verifier has already
//! accepted, so that a returning client skips the CA signature check (and the path building)
//! on its next full handshake. Why this is safe: `docs/verified-chain-cache.md`.
//!
//! What is cached is exactly one fact: "the verifier this cache belongs to accepted these
//! exact certificate bytes, and they were valid then". An entry is keyed by every byte of
//! the presented chain (leaf and intermediates, compared in full on every hit: a hash only
//! picks the slot), is usable only while every certificate of that chain is inside its
//! validity period (checked at each hit against the handshake's clock), and lives no longer
//! than the verifier: a CA change builds a new verifier with an empty cache, and the gateway
//! empties it on every registry change ([`VerifiedChainCache::clear`]). The CertificateVerify
//! signature, which proves the client holds the key, is never cached: rustls asks the
//! verifier for it on every handshake and [`CachingVerifier`] passes it to the inner
//! verifier.

use std::collections::HashMap;
use std::hash::{BuildHasher, Hasher, RandomState};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use rustls::pki_types::{CertificateDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{DigitallySignedStruct, DistinguishedName, SignatureScheme};

/// The default [`VerifiedChainCache`] capacity of a listener: chains of 1024 distinct
/// clients (each entry holds its chain's bytes, about 0.5–2 KiB).
pub const DEFAULT_VERIFIED_CHAIN_CACHE: usize = 1024;

/// How many independently locked shards a cache is split into (a handshake locks one).
const SHARDS: usize = 8;

/// A bounded set of client certificate chains that one verifier accepted, with the period
/// in which every certificate of each is valid. Shared by a listener's verifier (which
/// fills and reads it) and the runtime (which empties it on trust changes).
pub struct VerifiedChainCache {
    shards: Box<[Mutex<HashMap<u64, Entry>>]>,
    /// Entries per shard at most.
    per_shard: usize,
    hasher: RandomState,
    hits: AtomicU64,
    misses: AtomicU64,
}

/// One accepted chain.
struct Entry {
    /// The chain as presented: for each certificate, its length (u32, big endian) and DER.
    chain: Box<[u8]>,
    /// Latest notBefore of the chain's certificates (seconds since the epoch).
    not_before: u64,
    /// Earliest notAfter of the chain's certificates (seconds since the epoch).
    not_after: u64,
}

// === impl VerifiedChainCache ===

impl VerifiedChainCache {
    /// A cache of at most `capacity` chains (rounded up to a multiple of the shard count);
    /// `None` for a capacity of 0 (no cache).
    pub fn new(capacity: usize) -> Option<Arc<Self>> {
        if capacity == 0 {
            return None;
        }
        let per_shard = capacity.div_ceil(SHARDS);
        Some(Arc::new(Self {
            shards: (0..SHARDS).map(|_| Mutex::default()).collect(),
            per_shard,
            hasher: RandomState::new(),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        }))
    }

    /// Forgets every chain: the next handshake of each client is verified in full again.
    /// Called whenever what a verification depends on may have changed (a registry change
    /// in gateway mode; a CA reload builds a new verifier and cache anyway).
    pub fn clear(&self) {
        for shard in &self.shards {
            lock(shard).clear();
        }
    }

    /// How many chains are cached now.
    pub fn len(&self) -> usize {
        self.shards.iter().map(|s| lock(s).len()).sum()
    }

    /// Whether no chain is cached.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The most chains it holds.
    pub fn capacity(&self) -> usize {
        self.per_shard * SHARDS
    }

    /// Handshakes whose chain was found (and still valid) since the cache was made.
    pub fn hits(&self) -> u64 {
        self.hits.load(Ordering::Relaxed)
    }

    /// Handshakes whose chain was verified in full since the cache was made.
    pub fn misses(&self) -> u64 {
        self.misses.load(Ordering::Relaxed)
    }

    fn key(&self, end_entity: &[u8], intermediates: &[CertificateDer<'_>]) -> u64 {
        let mut h = self.hasher.build_hasher();
        for der in std::iter::once(end_entity).chain(intermediates.iter().map(|c| c.as_ref())) {
            h.write_usize(der.len());
            h.write(der);
        }
        h.finish()
    }

    fn shard(&self, key: u64) -> &Mutex<HashMap<u64, Entry>> {
        // The low bits pick the slot inside the map; the high bits pick the shard.
        &self.shards[(key >> 58) as usize % SHARDS]
    }

    /// Whether exactly this chain was accepted before and every certificate of it is valid
    /// at `now`.
    fn contains_valid(
        &self,
        end_entity: &[u8],
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> bool {
        let key = self.key(end_entity, intermediates);
        let now = now.as_secs();
        let mut shard = lock(self.shard(key));
        let Some(entry) = shard.get(&key) else {
            return false;
        };
        if !same_chain(&entry.chain, end_entity, intermediates) {
            return false;
        }
        if entry.not_before <= now && now <= entry.not_after {
            return true;
        }
        if now > entry.not_after {
            // Expired: it can never be used again.
            shard.remove(&key);
        }
        false
    }

    /// Records that the verifier accepted this chain. A chain whose validity cannot be read
    /// is not recorded (it is verified in full every time).
    fn insert(&self, end_entity: &[u8], intermediates: &[CertificateDer<'_>]) {
        let Some((not_before, not_after)) = chain_validity(end_entity, intermediates) else {
            return;
        };
        let mut chain = Vec::with_capacity(
            4 * (1 + intermediates.len())
                + end_entity.len()
                + intermediates.iter().map(|c| c.len()).sum::<usize>(),
        );
        for der in std::iter::once(end_entity).chain(intermediates.iter().map(|c| c.as_ref())) {
            let Ok(len) = u32::try_from(der.len()) else {
                return;
            };
            chain.extend_from_slice(&len.to_be_bytes());
            chain.extend_from_slice(der);
        }
        let key = self.key(end_entity, intermediates);
        let mut shard = lock(self.shard(key));
        if shard.len() >= self.per_shard && !shard.contains_key(&key) {
            // Full: make room. Expired entries go first; otherwise one arbitrary entry
            // (the map's iteration order is keyed by a per-process random hasher).
            let now = UnixTime::now().as_secs();
            shard.retain(|_, e| e.not_after >= now);
            if shard.len() >= self.per_shard
                && let Some(victim) = shard.keys().next().copied()
            {
                shard.remove(&victim);
            }
        }
        shard.insert(
            key,
            Entry {
                chain: chain.into_boxed_slice(),
                not_before,
                not_after,
            },
        );
    }
}

impl std::fmt::Debug for VerifiedChainCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerifiedChainCache")
            .field("capacity", &self.capacity())
            .field("hits", &self.hits())
            .field("misses", &self.misses())
            .finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Whether `stored` (the encoding of [`Entry::chain`]) holds exactly `end_entity` then
/// `intermediates`.
fn same_chain(stored: &[u8], end_entity: &[u8], intermediates: &[CertificateDer<'_>]) -> bool {
    let mut rest = stored;
    for der in std::iter::once(end_entity).chain(intermediates.iter().map(|c| c.as_ref())) {
        let Some((len, after)) = rest.split_first_chunk::<4>() else {
            return false;
        };
        let len = u32::from_be_bytes(*len) as usize;
        if len != der.len() || after.len() < len || &after[..len] != der {
            return false;
        }
        rest = &after[len..];
    }
    rest.is_empty()
}

/// The period in which every certificate of the chain is valid (latest notBefore, earliest
/// notAfter, in seconds since the epoch); `None` if a validity cannot be read or the
/// period is empty.
fn chain_validity(end_entity: &[u8], intermediates: &[CertificateDer<'_>]) -> Option<(u64, u64)> {
    let mut period: Option<(i64, i64)> = None;
    for der in std::iter::once(end_entity).chain(intermediates.iter().map(|c| c.as_ref())) {
        let (nb, na) = mtls_identity::validity_of_der(der).ok()?;
        let (nb, na) = (nb.unix_timestamp(), na.unix_timestamp());
        period = Some(match period {
            None => (nb, na),
            Some((b, a)) => (b.max(nb), a.min(na)),
        });
    }
    let (nb, na) = period?;
    (nb <= na).then_some((u64::try_from(nb).unwrap_or(0), u64::try_from(na).ok()?))
}

/// A client-certificate verifier that answers `verify_client_cert` from a
/// [`VerifiedChainCache`] for chains `inner` accepted before, and asks `inner` for
/// everything else (the CertificateVerify signature on every handshake included).
pub(crate) struct CachingVerifier {
    inner: Arc<dyn ClientCertVerifier>,
    cache: Arc<VerifiedChainCache>,
}

// === impl CachingVerifier ===

impl CachingVerifier {
    pub(crate) fn new(inner: Arc<dyn ClientCertVerifier>, cache: Arc<VerifiedChainCache>) -> Self {
        Self { inner, cache }
    }
}

impl std::fmt::Debug for CachingVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CachingVerifier")
            .field("inner", &self.inner)
            .field("cache", &self.cache)
            .finish()
    }
}

impl ClientCertVerifier for CachingVerifier {
    fn offer_client_auth(&self) -> bool {
        self.inner.offer_client_auth()
    }

    fn client_auth_mandatory(&self) -> bool {
        self.inner.client_auth_mandatory()
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        self.inner.root_hint_subjects()
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        if self.cache.contains_valid(end_entity, intermediates, now) {
            self.cache.hits.fetch_add(1, Ordering::Relaxed);
            return Ok(ClientCertVerified::assertion());
        }
        self.cache.misses.fetch_add(1, Ordering::Relaxed);
        let verified = self
            .inner
            .verify_client_cert(end_entity, intermediates, now)?;
        self.cache.insert(end_entity, intermediates);
        Ok(verified)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }

    fn requires_raw_public_keys(&self) -> bool {
        self.inner.requires_raw_public_keys()
    }
}
