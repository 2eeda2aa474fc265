//! Enrollment tokens: one-time, expiring secrets a tenant trades for a certificate.

use std::fmt;
use std::time::Duration;

use base64::Engine as _;
use mtls_identity::TenantId;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use zeroize::Zeroizing;

use crate::util;

/// The shortest enrollment token lifetime.
pub const MIN_TOKEN_TTL: Duration = Duration::from_secs(60);
/// The longest enrollment token lifetime.
pub const MAX_TOKEN_TTL: Duration = Duration::from_secs(30 * 24 * 60 * 60);

/// The prefix of every enrollment secret (so secret scanners can find leaked ones).
pub const ENROLLMENT_SECRET_PREFIX: &str = "mtls-enroll-";

/// An enrollment secret: `mtls-enroll-` + base64url (no padding) of 32 random bytes.
///
/// It is shown to the operator once; the registry only keeps its SHA-256. The memory is
/// wiped on drop, and [`Debug`](fmt::Debug) never prints it. There is deliberately no
/// `Display`: call [`expose`](Self::expose) where the secret must be shown.
pub struct EnrollmentSecret(Zeroizing<String>);

// === impl EnrollmentSecret ===

impl EnrollmentSecret {
    /// A fresh random secret (a backend's `create_enrollment_token` makes one and keeps only
    /// its [`stored_hash`](Self::stored_hash)).
    pub fn generate() -> Self {
        let bytes = Zeroizing::new(util::random_bytes::<32>());
        let mut s = Zeroizing::new(String::with_capacity(ENROLLMENT_SECRET_PREFIX.len() + 43));
        s.push_str(ENROLLMENT_SECRET_PREFIX);
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode_string(bytes.as_ref(), &mut s);
        Self(s)
    }

    /// The secret text, to hand to the tenant.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The form a store keeps of a secret: the hex SHA-256 of its text. Redeeming looks the
    /// token up by the stored hash of the secret presented, so the secret itself is never
    /// stored or compared.
    pub fn stored_hash(secret: &str) -> String {
        util::sha256_hex(secret.as_bytes())
    }

    /// Whether `stored_hash` (as a store keeps it) is the [`stored_hash`](Self::stored_hash)
    /// of `secret`, compared in constant time (aws-lc-rs), so the time taken says nothing
    /// about how much of the hash matched.
    pub fn hash_matches(stored_hash: &str, secret: &str) -> bool {
        let presented = Self::stored_hash(secret);
        aws_lc_rs::constant_time::verify_slices_are_equal(
            stored_hash.as_bytes(),
            presented.as_bytes(),
        )
        .is_ok()
    }
}

impl fmt::Debug for EnrollmentSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("EnrollmentSecret(<redacted>)")
    }
}

/// An enrollment token as stored (without its secret).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenRecord {
    /// `t-` followed by 16 lowercase hex characters; safe to show and log.
    pub id: String,
    /// The tenant the certificate will be issued to.
    pub tenant: TenantId,
    /// When it was created.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// When it stops working.
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
    /// When it was redeemed, if it was.
    #[serde(with = "time::serde::rfc3339::option")]
    pub used_at: Option<OffsetDateTime>,
}

// === impl TokenRecord ===

impl TokenRecord {
    /// A fresh random token id: `t-` followed by 16 lowercase hex characters.
    pub fn random_id() -> String {
        util::random_id("t-")
    }

    /// True if the token was redeemed.
    pub fn is_used(&self) -> bool {
        self.used_at.is_some()
    }

    /// True if the token can no longer be redeemed at `now` because it expired.
    pub fn is_expired_at(&self, now: OffsetDateTime) -> bool {
        now >= self.expires_at
    }
}

#[cfg(test)]
mod tests {
    use super::EnrollmentSecret;

    #[test]
    fn hash_matches_accepts_only_the_secrets_own_hash() {
        let secret = EnrollmentSecret::generate();
        let stored = EnrollmentSecret::stored_hash(secret.expose());
        assert!(EnrollmentSecret::hash_matches(&stored, secret.expose()));
        let other = EnrollmentSecret::generate();
        assert!(!EnrollmentSecret::hash_matches(&stored, other.expose()));
        // A prefix, a different length or a different case of the hash never matches.
        assert!(!EnrollmentSecret::hash_matches(
            &stored[..63],
            secret.expose()
        ));
        assert!(!EnrollmentSecret::hash_matches(
            &stored.to_uppercase(),
            secret.expose()
        ));
        assert!(!EnrollmentSecret::hash_matches("", secret.expose()));
    }
}
