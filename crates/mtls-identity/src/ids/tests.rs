use proptest::prelude::*;

use super::*;

#[test]
fn accepts_plain_ids() {
    for id in ["a", "acme", "team-42", "0", &"x".repeat(63)] {
        TenantId::try_new(id).unwrap();
    }
}

#[test]
fn rejects_bad_ids_with_reason() {
    let cases = [
        ("", "empty"),
        ("-acme", "start or end"),
        ("acme-", "start or end"),
        ("Acme", "uppercase"),
        ("ac me", "' '"),
        ("ac.me", "'.'"),
        ("ac_me", "'_'"),
        ("ümlaut", "'ü'"),
    ];
    for (id, needle) in cases {
        let err = TenantId::try_new(id).unwrap_err().to_string();
        assert!(err.contains(needle), "{id:?}: {err}");
    }
    let long = "a".repeat(64);
    assert!(matches!(
        TenantId::try_new(long),
        Err(IdError::TooLong { len: 64, .. })
    ));
}

#[test]
fn trust_domain_rules() {
    TrustDomain::try_new("example.test").unwrap();
    TrustDomain::try_new("localhost").unwrap();
    assert!(TrustDomain::try_new("example..test").is_err());
    assert!(TrustDomain::try_new(".example").is_err());
    assert!(TrustDomain::try_new("Example.test").is_err());
    assert!(TrustDomain::try_new("exa mple").is_err());
}

#[test]
fn uri_round_trip_and_foreign_uris() {
    let d = TrustDomain::try_new("example.test").unwrap();
    let t = TenantId::try_new("acme").unwrap();
    assert_eq!(tenant_from_uri(&d, &tenant_uri(&d, &t)), Some(t.clone()));
    assert_eq!(
        tenant_from_uri(&d, "spiffe://example.test/tenant/acme/billing-worker"),
        Some(t)
    );
    for foreign in [
        "spiffe://other.test/tenant/acme",
        "spiffe://example.test.evil/tenant/acme",
        "spiffe://example.testx/tenant/acme",
        "https://example.test/tenant/acme",
        "spiffe://example.test/tenants/acme",
        "spiffe://example.test/tenant/",
        "spiffe://example.test/tenant/Acme",
        "spiffe://example.test/tenant/acme/",
        "spiffe://example.test/tenant/acme//x",
        "spiffe://example.test/tenant/acme?x=1",
        "spiffe://example.test/tenant/acme#frag",
    ] {
        assert_eq!(tenant_from_uri(&d, foreign), None, "{foreign}");
    }
}

/// A naive reference for the tenant id rules, written independently of the validator.
fn reference_is_valid(s: &str) -> bool {
    let bytes = s.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= 63
        && bytes
            .iter()
            .all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'-'))
        && bytes[0] != b'-'
        && bytes[bytes.len() - 1] != b'-'
}

proptest! {
    #[test]
    fn validator_agrees_with_reference(s in "\\PC{0,70}") {
        prop_assert_eq!(TenantId::try_new(s.clone()).is_ok(), reference_is_valid(&s));
    }

    #[test]
    fn validator_agrees_on_near_valid(s in "[a-z0-9-]{0,66}") {
        prop_assert_eq!(TenantId::try_new(s.clone()).is_ok(), reference_is_valid(&s));
    }

    #[test]
    fn valid_ids_round_trip_through_uri(s in "[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?") {
        let d = TrustDomain::try_new("example.test").unwrap();
        let t = TenantId::try_new(s).unwrap();
        prop_assert_eq!(tenant_from_uri(&d, &tenant_uri(&d, &t)), Some(t));
    }
}
