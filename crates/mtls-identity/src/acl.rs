//! Allow-list rules over a verified peer's certificate ([`AclRules`]).
//!
//! A rule set holds patterns for five certificate fields: subject CN, O and OU, and DNS and
//! URI subject alternative names. A pattern is either an exact string or a prefix ending in
//! one `*` (`spiffe://example.test/tenant/*`). The rules are OR-ed: a peer is allowed if any
//! pattern matches any value of its field. An empty rule set allows every peer (whose
//! certificate has already been verified by the TLS layer).

use std::fmt;
use std::str::FromStr;

use crate::PeerIdentity;

/// Why an ACL pattern was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AclPatternError {
    /// The pattern was empty.
    #[error("ACL pattern is empty")]
    Empty,
    /// A `*` appeared somewhere other than the end.
    #[error("ACL pattern {0:?} has a '*' before its end; only a single trailing '*' is allowed")]
    InnerWildcard(String),
}

/// One ACL pattern: an exact value, or a prefix followed by `*`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AclPattern {
    text: String,
    prefix: bool,
}

// === impl AclPattern ===

impl AclPattern {
    /// Parses a pattern: exact text, or text ending in a single `*` (a prefix match; `*` alone
    /// matches any value).
    pub fn try_new(pattern: &str) -> Result<Self, AclPatternError> {
        if pattern.is_empty() {
            return Err(AclPatternError::Empty);
        }
        let (text, prefix) = match pattern.strip_suffix('*') {
            Some(head) => (head, true),
            None => (pattern, false),
        };
        if text.contains('*') {
            return Err(AclPatternError::InnerWildcard(pattern.to_owned()));
        }
        Ok(Self {
            text: text.to_owned(),
            prefix,
        })
    }

    /// Whether `value` matches this pattern (case-sensitive).
    pub fn matches(&self, value: &str) -> bool {
        if self.prefix {
            value.starts_with(&self.text)
        } else {
            value == self.text
        }
    }
}

impl FromStr for AclPattern {
    type Err = AclPatternError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::try_new(s)
    }
}

impl fmt::Display for AclPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)?;
        if self.prefix {
            f.write_str("*")?;
        }
        Ok(())
    }
}

/// The certificate field a rule looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AclField {
    /// Subject common name.
    CommonName,
    /// Subject organisation.
    Organization,
    /// Subject organisational unit.
    OrganizationalUnit,
    /// DNS subject alternative name.
    DnsName,
    /// URI subject alternative name.
    Uri,
}

// === impl AclField ===

impl AclField {
    /// The config key for this field (`allow_cn`, `allow_org`, ...).
    pub fn config_key(self) -> &'static str {
        match self {
            Self::CommonName => "allow_cn",
            Self::Organization => "allow_org",
            Self::OrganizationalUnit => "allow_ou",
            Self::DnsName => "allow_dns",
            Self::Uri => "allow_uri",
        }
    }
}

impl fmt::Display for AclField {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.config_key())
    }
}

/// The outcome of [`AclRules::evaluate`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum AclDecision {
    /// The rule set is empty: any verified peer is allowed.
    AllowedNoRules,
    /// A rule matched.
    Allowed {
        /// The field that matched.
        field: AclField,
        /// The pattern that matched, as written.
        pattern: String,
    },
    /// No rule matched.
    Denied,
}

// === impl AclDecision ===

impl AclDecision {
    /// Whether the peer may proceed.
    pub fn is_allowed(&self) -> bool {
        !matches!(self, Self::Denied)
    }
}

/// An allow list over certificate fields, OR-ed: patterns for subject CN, O and OU, and DNS
/// and URI subject alternative names, each an exact string or a prefix ending in one `*`
/// (`spiffe://example.test/tenant/*`). A peer is allowed if any pattern matches any value of
/// its field; an empty rule set allows every peer (whose certificate the TLS layer verified).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AclRules {
    rules: Vec<(AclField, AclPattern)>,
}

// === impl AclRules ===

impl AclRules {
    /// An empty rule set (allows every verified peer).
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a rule.
    pub fn allow(&mut self, field: AclField, pattern: AclPattern) -> &mut Self {
        self.rules.push((field, pattern));
        self
    }

    /// Whether the set has no rules.
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// The rules, in insertion order.
    pub fn rules(&self) -> impl Iterator<Item = (AclField, &AclPattern)> {
        self.rules.iter().map(|(f, p)| (*f, p))
    }

    /// Decides whether `peer` is allowed.
    pub fn evaluate(&self, peer: &PeerIdentity) -> AclDecision {
        if self.rules.is_empty() {
            return AclDecision::AllowedNoRules;
        }
        for (field, pattern) in &self.rules {
            let hit = match field {
                AclField::CommonName => peer.common_name.iter().any(|v| pattern.matches(v)),
                AclField::Organization => peer.organizations.iter().any(|v| pattern.matches(v)),
                AclField::OrganizationalUnit => {
                    peer.organizational_units.iter().any(|v| pattern.matches(v))
                }
                AclField::DnsName => peer.dns_names.iter().any(|v| pattern.matches(v)),
                AclField::Uri => peer.uris.iter().any(|v| pattern.matches(v)),
            };
            if hit {
                return AclDecision::Allowed {
                    field: *field,
                    pattern: pattern.to_string(),
                };
            }
        }
        AclDecision::Denied
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::{Fingerprint, Serial};

    fn peer(cn: &str, org: &str, uri: &str) -> PeerIdentity {
        PeerIdentity {
            common_name: Some(cn.to_owned()),
            organizations: vec![org.to_owned()],
            organizational_units: vec!["ops".to_owned()],
            dns_names: vec!["svc.example.test".to_owned()],
            uris: vec![uri.to_owned()],
            ip_addresses: vec![],
            issuer: "CN=ca".to_owned(),
            subject: format!("CN={cn}"),
            serial: Serial::random(),
            fingerprint: Fingerprint::of_der(b"x"),
            not_before: time::OffsetDateTime::UNIX_EPOCH,
            not_after: time::OffsetDateTime::UNIX_EPOCH,
            tenant: None,
        }
    }

    fn rules(list: &[(AclField, &str)]) -> AclRules {
        let mut r = AclRules::new();
        for (f, p) in list {
            r.allow(*f, p.parse().unwrap());
        }
        r
    }

    #[test]
    fn patterns_parse_and_match() {
        let exact = AclPattern::try_new("frontend").unwrap();
        assert!(exact.matches("frontend"));
        assert!(!exact.matches("frontend2"));
        assert!(!exact.matches("Frontend"));
        let prefix = AclPattern::try_new("spiffe://example.test/tenant/*").unwrap();
        assert!(prefix.matches("spiffe://example.test/tenant/acme"));
        assert!(!prefix.matches("spiffe://other.test/tenant/acme"));
        assert_eq!(prefix.to_string(), "spiffe://example.test/tenant/*");
        assert!(AclPattern::try_new("*").unwrap().matches("anything"));
        assert_eq!(AclPattern::try_new(""), Err(AclPatternError::Empty));
        assert!(matches!(
            AclPattern::try_new("a*b"),
            Err(AclPatternError::InnerWildcard(p)) if p == "a*b"
        ));
        assert!(AclPattern::try_new("**").is_err());
    }

    #[test]
    fn empty_rules_allow_any_peer() {
        let d = AclRules::new().evaluate(&peer("x", "y", "z"));
        assert_eq!(d, AclDecision::AllowedNoRules);
        assert!(d.is_allowed());
    }

    #[test]
    fn each_field_can_allow_and_rules_are_ored() {
        let p = peer("frontend", "Acme", "spiffe://example.test/tenant/acme");
        for (field, pattern) in [
            (AclField::CommonName, "frontend"),
            (AclField::Organization, "Acme"),
            (AclField::OrganizationalUnit, "ops"),
            (AclField::DnsName, "svc.example.test"),
            (AclField::Uri, "spiffe://example.test/tenant/*"),
        ] {
            let r = rules(&[(AclField::CommonName, "nobody"), (field, pattern)]);
            assert_eq!(
                r.evaluate(&p),
                AclDecision::Allowed {
                    field,
                    pattern: pattern.to_owned()
                }
            );
        }
        let r = rules(&[
            (AclField::CommonName, "backend"),
            (AclField::Organization, "Other"),
        ]);
        assert_eq!(r.evaluate(&p), AclDecision::Denied);
        // A CN pattern never matches an O value.
        let r = rules(&[(AclField::CommonName, "Acme")]);
        assert!(!r.evaluate(&p).is_allowed());
    }

    proptest! {
        #[test]
        fn exact_pattern_matches_only_itself(a in "[a-z0-9.-]{1,12}", b in "[a-z0-9.-]{1,12}") {
            let p = AclPattern::try_new(&a).unwrap();
            prop_assert!(p.matches(&a));
            prop_assert_eq!(p.matches(&b), a == b);
        }

        #[test]
        fn prefix_pattern_matches_extensions(a in "[a-z/:.]{0,12}", tail in "[a-z/]{0,8}") {
            let p = AclPattern::try_new(&format!("{a}*")).unwrap();
            let extended = format!("{a}{tail}");
            prop_assert!(p.matches(&extended));
        }
    }
}
