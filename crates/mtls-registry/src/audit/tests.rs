//! Unit tests of the chain rules.
use serde_json::json;

use super::*;

#[test]
fn canonical_json_sorts_keys_at_every_depth() {
    let v = json!({"b": 1, "a": {"z": [true, null], "y": "x\"y"}});
    assert_eq!(
        canonical_json(&v),
        r#"{"a":{"y":"x\"y","z":[true,null]},"b":1}"#
    );
}

#[test]
fn hash_depends_on_every_field() {
    let at = time::macros::datetime!(2026-11-02 10:00:00 UTC);
    let tenant: TenantId = "acme".parse().unwrap();
    let details = json!({"k": "v"});
    let base = chain_hash(
        GENESIS_HASH,
        1,
        at,
        "cli:a",
        "tenant.create",
        Some(&tenant),
        &details,
    );
    assert_eq!(base.len(), 64);
    let variants = [
        chain_hash(
            &"1".repeat(64),
            1,
            at,
            "cli:a",
            "tenant.create",
            Some(&tenant),
            &details,
        ),
        chain_hash(
            GENESIS_HASH,
            2,
            at,
            "cli:a",
            "tenant.create",
            Some(&tenant),
            &details,
        ),
        chain_hash(
            GENESIS_HASH,
            1,
            at + time::Duration::SECOND,
            "cli:a",
            "tenant.create",
            Some(&tenant),
            &details,
        ),
        chain_hash(
            GENESIS_HASH,
            1,
            at,
            "cli:b",
            "tenant.create",
            Some(&tenant),
            &details,
        ),
        chain_hash(
            GENESIS_HASH,
            1,
            at,
            "cli:a",
            "tenant.delete",
            Some(&tenant),
            &details,
        ),
        chain_hash(
            GENESIS_HASH,
            1,
            at,
            "cli:a",
            "tenant.create",
            None,
            &details,
        ),
        chain_hash(
            GENESIS_HASH,
            1,
            at,
            "cli:a",
            "tenant.create",
            Some(&tenant),
            &json!({"k": "w"}),
        ),
    ];
    for v in variants {
        assert_ne!(v, base);
    }
    // Field boundaries are unambiguous: moving a character between fields changes the hash.
    assert_ne!(
        chain_hash(GENESIS_HASH, 1, at, "ab", "c", None, &Value::Null),
        chain_hash(GENESIS_HASH, 1, at, "a", "bc", None, &Value::Null)
    );
}

#[test]
fn verifier_reports_the_first_bad_event() {
    let at = time::macros::datetime!(2026-11-02 10:00:00 UTC);
    let mut events = Vec::new();
    let mut prev = GENESIS_HASH.to_owned();
    for seq in 1..=3 {
        let mut e = AuditEvent {
            seq,
            at,
            actor: "cli:a".into(),
            action: "tenant.create".into(),
            tenant: None,
            details: json!({ "n": seq }),
            prev_hash: prev.clone(),
            hash: String::new(),
        };
        e.hash = e.compute_hash();
        prev.clone_from(&e.hash);
        events.push(e);
    }
    let run = |events: &[AuditEvent], head: u64, head_hash: &str| {
        let mut v = ChainVerifier::new();
        for e in events {
            v.check(e)?;
        }
        v.finish(head, head_hash)
    };
    let report = run(&events, 3, &prev).unwrap();
    assert_eq!(report.events, 3);
    assert_eq!(report.head_hash, prev);

    let mut tampered = events.clone();
    tampered[1].details = json!({"n": 99});
    assert!(matches!(
        run(&tampered, 3, &prev),
        Err(RegistryError::AuditChainBroken { seq: 2, .. })
    ));

    let gap = [events[0].clone(), events[2].clone()];
    assert!(matches!(
        run(&gap, 3, &prev),
        Err(RegistryError::AuditChainBroken { seq: 2, .. })
    ));

    assert!(matches!(
        run(&events[..2], 3, &prev),
        Err(RegistryError::AuditChainBroken { seq: 3, .. })
    ));
    assert!(matches!(
        run(&events, 3, GENESIS_HASH),
        Err(RegistryError::AuditChainBroken { seq: 3, .. })
    ));
}

#[test]
fn audit_action_names_follow_the_documented_alphabet_and_length() {
    for ok in [
        "a",
        "api.tenant.read",
        "admin.cert-issue_2",
        &"x".repeat(64),
    ] {
        assert!(crate::validate_audit_action(ok).is_ok(), "{ok:?}");
    }
    for (bad, reason) in [
        ("", "empty"),
        ("A", "only a-z"),
        ("a b", "only a-z"),
        ("a/b", "only a-z"),
        ("é", "only a-z"),
        ("a\n", "only a-z"),
    ] {
        match crate::validate_audit_action(bad) {
            Err(RegistryError::InvalidAuditAction { action, reason: r }) => {
                assert_eq!(action, bad);
                assert!(r.contains(reason), "{bad:?}: {r}");
            }
            other => panic!("{bad:?}: {other:?}"),
        }
    }
    let long = "x".repeat(65);
    let err = crate::validate_audit_action(&long).unwrap_err();
    assert!(err.to_string().contains("longer than 64"), "{err}");
}

proptest::proptest! {
    #[test]
    fn an_action_is_valid_iff_it_is_1_to_64_allowed_bytes(action in "[a-z0-9._A-Z /-]{0,70}") {
        let reference = (1..=64).contains(&action.len())
            && action.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b));
        proptest::prop_assert_eq!(crate::validate_audit_action(&action).is_ok(), reference);
    }
}
