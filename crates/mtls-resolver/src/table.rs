//! The immutable, indexed identity set that handshakes read (one [`Table`] per
//! [`MultiIdentityResolver`](crate::MultiIdentityResolver) generation).
//!
//! Every CA name of every identity is indexed up front, twice: by raw DER and by normalised
//! key (see [`crate::dn`]). Both point to a *bucket*: the sorted list of identities whose
//! names normalise to the same key. A hint costs one hash lookup when its DER is known, and
//! one normalisation plus one lookup when it is not; neither grows with the number of
//! identities.

use std::collections::HashMap;
use std::collections::hash_map::Entry;

use rustls::SignatureScheme;

use crate::explain::{CaNameMatch, Explanation};
use crate::policy::parent_domain;
use crate::{Fallback, Identity, Reason, ResolverError, SelectionPolicy, dn};

/// One decision: the index of the identity to send (if any) and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Decision {
    pub(crate) index: Option<usize>,
    pub(crate) reason: Reason,
}

#[derive(Debug, Clone, Copy)]
enum CompiledFallback {
    None,
    First,
    Index(usize),
}

/// See the module documentation.
#[derive(Debug)]
pub(crate) struct Table {
    identities: Vec<Identity>,
    by_raw: HashMap<Box<[u8]>, usize>,
    by_normalized: HashMap<Box<[u8]>, usize>,
    /// Identity indexes, ascending, per bucket.
    buckets: Vec<Vec<usize>>,
    exact: HashMap<String, usize>,
    wildcard: HashMap<String, usize>,
    fallback: CompiledFallback,
    policy: SelectionPolicy,
}

// === impl Table ===

impl Table {
    /// Indexes `identities` under `policy`; fails on duplicate names or a policy naming an
    /// identity that is not there.
    pub(crate) fn build(
        identities: Vec<Identity>,
        policy: SelectionPolicy,
    ) -> Result<Self, ResolverError> {
        let mut by_name: HashMap<&str, usize> = HashMap::with_capacity(identities.len());
        for (index, identity) in identities.iter().enumerate() {
            if by_name.insert(identity.name(), index).is_some() {
                return Err(ResolverError::DuplicateIdentity {
                    name: identity.name().to_owned(),
                });
            }
        }

        let fallback = match policy.fallback() {
            Fallback::None => CompiledFallback::None,
            Fallback::First => CompiledFallback::First,
            Fallback::Named(name) => match by_name.get(name.as_str()) {
                Some(&index) => CompiledFallback::Index(index),
                None => {
                    return Err(ResolverError::UnknownFallbackIdentity { name: name.clone() });
                }
            },
        };

        let (mut exact, mut wildcard) = (HashMap::new(), HashMap::new());
        for (pattern, name) in policy.preferences() {
            let Some(&index) = by_name.get(name) else {
                return Err(ResolverError::UnknownPreferredIdentity {
                    pattern: pattern.clone(),
                    identity: name.to_owned(),
                });
            };
            match (pattern.exact(), pattern.wildcard_suffix()) {
                (Some(name), _) => exact.insert(name.to_owned(), index),
                (None, Some(suffix)) => wildcard.insert(suffix.to_owned(), index),
                (None, None) => None,
            };
        }
        drop(by_name);

        let mut by_raw: HashMap<Box<[u8]>, usize> = HashMap::new();
        let mut by_normalized: HashMap<Box<[u8]>, usize> = HashMap::new();
        let mut buckets: Vec<Vec<usize>> = Vec::new();
        for (index, identity) in identities.iter().enumerate() {
            for ca in identity.ca_name_entries() {
                let bucket = match &ca.normalized {
                    Some(key) => match by_normalized.entry(key.clone()) {
                        Entry::Occupied(e) => *e.get(),
                        Entry::Vacant(e) => *e.insert(new_bucket(&mut buckets)),
                    },
                    // Not expected for a name taken from a parsed certificate; index it by
                    // its DER alone.
                    None => match by_raw.get(&ca.raw) {
                        Some(&bucket) => bucket,
                        None => new_bucket(&mut buckets),
                    },
                };
                by_raw.insert(ca.raw.clone(), bucket);
                let members = &mut buckets[bucket];
                if members.last() != Some(&index) {
                    members.push(index);
                }
            }
        }

        Ok(Self {
            identities,
            by_raw,
            by_normalized,
            buckets,
            exact,
            wildcard,
            fallback,
            policy,
        })
    }

    pub(crate) fn identities(&self) -> &[Identity] {
        &self.identities
    }

    pub(crate) fn policy(&self) -> &SelectionPolicy {
        &self.policy
    }

    /// The identity preferred for a (lower-case) server name.
    fn preferred(&self, server_name: &str) -> Option<usize> {
        self.exact.get(server_name).copied().or_else(|| {
            parent_domain(server_name).and_then(|parent| self.wildcard.get(parent).copied())
        })
    }

    /// The identities (ascending) that answer to the CA name `hint`.
    fn matching(&self, hint: &[u8]) -> &[usize] {
        let bucket = match self.by_raw.get(hint) {
            Some(&bucket) => Some(bucket),
            None => dn::normalized_key(hint).and_then(|key| self.by_normalized.get(&key).copied()),
        };
        bucket.map_or(&[], |b| self.buckets[b].as_slice())
    }

    fn can_sign(&self, index: usize, schemes: &[SignatureScheme]) -> bool {
        self.identities[index].can_sign(schemes)
    }

    /// The selection algorithm (see the crate documentation for the order of the rules).
    pub(crate) fn select(
        &self,
        hints: &[&[u8]],
        schemes: &[SignatureScheme],
        server_name: Option<&str>,
    ) -> Decision {
        let chosen = |index, reason| Decision {
            index: Some(index),
            reason,
        };
        let nothing = |reason| Decision {
            index: None,
            reason,
        };
        if self.identities.is_empty() {
            return nothing(Reason::NoneAvailable);
        }
        let mut unable_to_sign = false;

        if let Some(index) = server_name.and_then(|name| self.preferred(name)) {
            if self.can_sign(index, schemes) {
                return chosen(index, Reason::ServerNamePreference);
            }
            unable_to_sign = true;
        }

        // The lowest (earliest configured) identity matching any hint wins.
        let mut best: Option<usize> = None;
        for hint in hints {
            for &index in self.matching(hint) {
                if best.is_some_and(|b| index >= b) {
                    break;
                }
                if self.can_sign(index, schemes) {
                    best = Some(index);
                    break;
                }
                unable_to_sign = true;
            }
        }
        if let Some(index) = best {
            return chosen(index, Reason::MatchedCaName);
        }

        let fallback = match self.fallback {
            CompiledFallback::None => None,
            CompiledFallback::Index(index) => Some(self.can_sign(index, schemes).then_some(index)),
            CompiledFallback::First => {
                Some((0..self.identities.len()).find(|&i| self.can_sign(i, schemes)))
            }
        };
        match fallback {
            Some(Some(index)) => chosen(index, Reason::Fallback),
            Some(None) => nothing(Reason::NoSigningScheme),
            None if unable_to_sign => nothing(Reason::NoSigningScheme),
            None => nothing(Reason::NoneAvailable),
        }
    }

    /// [`Table::select`], with the working shown.
    pub(crate) fn explain(
        &self,
        hints: &[&[u8]],
        schemes: &[SignatureScheme],
        server_name: Option<&str>,
    ) -> Explanation {
        let decision = self.select(hints, schemes, server_name);
        let name_of = |index: usize| self.identities[index].name().to_owned();
        let ca_names = hints
            .iter()
            .map(|hint| CaNameMatch {
                name: dn::display_name(hint),
                identities: self.matching(hint).iter().map(|&i| name_of(i)).collect(),
            })
            .collect();
        let unable_to_sign = self
            .identities
            .iter()
            .filter(|identity| !identity.can_sign(schemes))
            .map(|identity| identity.name().to_owned())
            .collect();
        Explanation {
            identity: decision.index.map(name_of),
            reason: decision.reason,
            server_name: server_name.map(str::to_owned),
            preferred: server_name
                .and_then(|name| self.preferred(name))
                .map(name_of),
            ca_names,
            unable_to_sign,
            schemes: schemes.to_vec(),
            fallback: self.policy.fallback().clone(),
        }
    }
}

fn new_bucket(buckets: &mut Vec<Vec<usize>>) -> usize {
    buckets.push(Vec::new());
    buckets.len() - 1
}
