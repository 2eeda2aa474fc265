//! The hash-chained audit log: event types and the chain rules.
//!
//! Each event's `hash` is
//! `hex(SHA-256(prev_hash || 0x00 || canonical(seq, at, actor, action, tenant, details)))`
//! where `prev_hash` is the previous event's hash (64 zeros for the first event) as its
//! ASCII hex text, and `canonical` is the JSON array
//! `[seq,"<at as RFC 3339 UTC>","<actor>","<action>","<tenant or empty>",<details>]`
//! written without whitespace and with object keys sorted (byte order) at every depth. The
//! canonical form does not depend on serde_json's `preserve_order` feature.

use mtls_identity::TenantId;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::OffsetDateTime;

use crate::{RegistryError, util};

/// The longest audit action name, in characters.
pub const MAX_AUDIT_ACTION_CHARS: usize = 64;

/// Checks an audit action name: 1..=64 characters of `a-z`, `0-9`, `.`, `_`, `-`, else
/// [`InvalidAuditAction`](RegistryError::InvalidAuditAction). Backends check it in
/// [`Store::append_audit_event`](crate::Store::append_audit_event).
pub fn validate_audit_action(action: &str) -> Result<(), RegistryError> {
    let reason = if action.is_empty() {
        Some("it is empty")
    } else if action.len() > MAX_AUDIT_ACTION_CHARS {
        Some("it is longer than 64 characters")
    } else if !action
        .bytes()
        .all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'.' | b'_' | b'-'))
    {
        Some("only a-z, 0-9, '.', '_' and '-' are allowed")
    } else {
        None
    };
    match reason {
        Some(reason) => Err(RegistryError::InvalidAuditAction {
            action: action.to_owned(),
            reason,
        }),
        None => Ok(()),
    }
}

/// The `prev_hash` of the first event: 64 zeros.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// One audit event.
///
/// # The hash chain
///
/// `hash = hex(SHA-256(prev_hash || 0x00 || canonical))`, where `prev_hash` is the previous
/// event's hash as ASCII hex ([`GENESIS_HASH`] for the first event) and `canonical` is the
/// JSON array `[seq,"<at, RFC 3339 UTC>","<actor>","<action>","<tenant or empty>",<details>]`
/// without whitespace and with object keys sorted at every depth. The store also keeps the
/// head (last `seq` and `hash`) next to the version, so deleting the newest events is
/// detected too; publish [`AuditReport::head_hash`] elsewhere to detect a wholesale rewrite.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEvent {
    /// Position in the log, starting at 1, without gaps.
    pub seq: u64,
    /// When the change was committed (whole seconds, UTC).
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// Who made the change.
    pub actor: String,
    /// What was done: `tenant.create`, `cert.revoke`, ... (see the crate docs).
    pub action: String,
    /// The tenant concerned, if any.
    pub tenant: Option<TenantId>,
    /// The facts of the change (never secrets).
    pub details: Value,
    /// The previous event's hash ([`GENESIS_HASH`] for the first).
    pub prev_hash: String,
    /// This event's hash.
    pub hash: String,
}

// === impl AuditEvent ===

impl AuditEvent {
    /// Recomputes what `hash` should be from the other fields.
    pub fn compute_hash(&self) -> String {
        chain_hash(
            &self.prev_hash,
            self.seq,
            self.at,
            &self.actor,
            &self.action,
            self.tenant.as_ref(),
            &self.details,
        )
    }
}

/// Which events [`Store::audit_events`](crate::Store::audit_events) returns.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditFilter {
    /// Only events about this tenant.
    pub tenant: Option<TenantId>,
    /// Only events at or after this time.
    pub since: Option<OffsetDateTime>,
    /// At most this many events: the most recent ones that match, still in ascending order.
    pub limit: Option<u32>,
}

/// The result of a successful [`Store::verify_audit`](crate::Store::verify_audit).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditReport {
    /// How many events were checked.
    pub events: u64,
    /// The hash of the last event (publish it elsewhere to detect a rewritten log).
    pub head_hash: String,
}

/// The hash of an event, given its fields and its predecessor's hash (the rule in the
/// [`AuditEvent`] docs). A backend computes it when it appends an event, with `at` already
/// at the stored precision ([`stored_time`](crate::backend::stored_time)), and stores it
/// with the event; [`ChainVerifier`] recomputes it.
pub fn chain_hash(
    prev_hash: &str,
    seq: u64,
    at: OffsetDateTime,
    actor: &str,
    action: &str,
    tenant: Option<&TenantId>,
    details: &Value,
) -> String {
    let mut canonical = String::with_capacity(128);
    canonical.push('[');
    canonical.push_str(&seq.to_string());
    for field in [
        util::audit_time(at).as_str(),
        actor,
        action,
        tenant.map(TenantId::as_str).unwrap_or(""),
    ] {
        canonical.push(',');
        write_canonical(&Value::String(field.to_owned()), &mut canonical);
    }
    canonical.push(',');
    write_canonical(details, &mut canonical);
    canonical.push(']');

    let mut input = Vec::with_capacity(prev_hash.len() + 1 + canonical.len());
    input.extend_from_slice(prev_hash.as_bytes());
    input.push(0);
    input.extend_from_slice(canonical.as_bytes());
    util::sha256_hex(&input)
}

/// JSON without whitespace, object keys sorted at every depth: the form `details` take in
/// the hash, and the form a backend should store them in.
pub fn canonical_json(value: &Value) -> String {
    let mut out = String::new();
    write_canonical(value, &mut out);
    out
}

fn write_canonical(value: &Value, out: &mut String) {
    match value {
        Value::Null | Value::Bool(_) | Value::Number(_) | Value::String(_) => {
            // Scalars have one serde_json rendering; serialising them cannot fail.
            out.push_str(&serde_json::to_string(value).unwrap_or_default());
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(item, out);
            }
            out.push(']');
        }
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
            out.push('{');
            for (i, (key, item)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(&Value::String(key.clone()), out);
                out.push(':');
                write_canonical(item, out);
            }
            out.push('}');
        }
    }
}

/// Checks an audit log event by event, as [`Store::verify_audit`](crate::Store::verify_audit)
/// promises: feed it every stored event in `seq` order with [`check`](Self::check), then the
/// head the store recorded with [`finish`](Self::finish). The first problem is
/// [`RegistryError::AuditChainBroken`] naming its `seq`.
///
/// ```
/// use mtls_registry::backend::{ChainVerifier, chain_hash};
/// use mtls_registry::{AuditEvent, GENESIS_HASH};
///
/// let at = time::macros::datetime!(2026-11-02 10:00:00 UTC);
/// let details = serde_json::json!({"trust_domain": "proxy.example.com"});
/// let hash = chain_hash(GENESIS_HASH, 1, at, "cli:alice", "registry.init", None, &details);
/// let event = AuditEvent {
///     seq: 1,
///     at,
///     actor: "cli:alice".into(),
///     action: "registry.init".into(),
///     tenant: None,
///     details,
///     prev_hash: GENESIS_HASH.into(),
///     hash: hash.clone(),
/// };
/// let mut verifier = ChainVerifier::new();
/// verifier.check(&event)?;
/// let report = verifier.finish(1, &hash)?;
/// assert_eq!((report.events, report.head_hash), (1, hash));
/// # Ok::<(), mtls_registry::RegistryError>(())
/// ```
#[derive(Debug)]
pub struct ChainVerifier {
    expected_seq: u64,
    prev_hash: String,
}

// === impl ChainVerifier ===

impl Default for ChainVerifier {
    fn default() -> Self {
        Self::new()
    }
}

impl ChainVerifier {
    /// A verifier expecting event 1, linked to [`GENESIS_HASH`].
    pub fn new() -> Self {
        Self {
            expected_seq: 1,
            prev_hash: GENESIS_HASH.to_owned(),
        }
    }

    /// Checks the next event read from storage: its `seq` follows the previous one, its
    /// `prev_hash` is the previous event's hash, and its `hash` recomputes.
    pub fn check(&mut self, event: &AuditEvent) -> Result<(), RegistryError> {
        let broken = |seq, problem: String| RegistryError::AuditChainBroken { seq, problem };
        if event.seq != self.expected_seq {
            return Err(broken(
                self.expected_seq,
                format!(
                    "event {} is missing (the next stored event is {})",
                    self.expected_seq, event.seq
                ),
            ));
        }
        if event.prev_hash != self.prev_hash {
            return Err(broken(
                event.seq,
                format!(
                    "prev_hash {} does not match the previous event's hash {}",
                    event.prev_hash, self.prev_hash
                ),
            ));
        }
        let computed = event.compute_hash();
        if computed != event.hash {
            return Err(broken(
                event.seq,
                format!(
                    "stored hash {} does not match the recomputed hash {computed}: the event was altered",
                    event.hash
                ),
            ));
        }
        self.expected_seq += 1;
        self.prev_hash.clone_from(&event.hash);
        Ok(())
    }

    /// Checks the head the store recorded (last `seq` and `hash`, kept next to the version)
    /// against the last event seen, so deleted or appended events show too.
    pub fn finish(self, head_seq: u64, head_hash: &str) -> Result<AuditReport, RegistryError> {
        let last_seq = self.expected_seq - 1;
        if head_seq > last_seq {
            return Err(RegistryError::AuditChainBroken {
                seq: last_seq + 1,
                problem: format!(
                    "events {} ..= {head_seq} are missing: the recorded head is event {head_seq}",
                    last_seq + 1
                ),
            });
        }
        if head_seq < last_seq {
            return Err(RegistryError::AuditChainBroken {
                seq: head_seq + 1,
                problem: format!(
                    "events after {head_seq} were appended outside the registry (the last stored event is {last_seq})"
                ),
            });
        }
        if head_hash != self.prev_hash {
            return Err(RegistryError::AuditChainBroken {
                seq: last_seq,
                problem: format!(
                    "the recorded head hash {head_hash} does not match the last event's hash {}",
                    self.prev_hash
                ),
            });
        }
        Ok(AuditReport {
            events: last_seq,
            head_hash: self.prev_hash,
        })
    }
}

#[cfg(test)]
mod tests;
