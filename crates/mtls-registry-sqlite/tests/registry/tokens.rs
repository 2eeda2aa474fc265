//! Enrollment tokens: one-time, expiring, hashed at rest.

use std::time::Duration;

use mtls_identity::Serial;
use mtls_registry::{
    AuditFilter, ENROLLMENT_SECRET_PREFIX, MAX_TOKEN_TTL, MIN_TOKEN_TTL, RegistryError, Store,
    TenantStatus,
};

use crate::common::{Fixture, START, actor, issue_fail, issue_ok, new_cert, tid};

const TEN_MINUTES: Duration = Duration::from_secs(600);

#[test]
fn token_is_redeemed_once() {
    let f = Fixture::new();
    f.tenant("acme");
    let (secret, token) = f
        .store
        .create_enrollment_token(&actor(), &tid("acme"), TEN_MINUTES)
        .unwrap();
    assert!(secret.expose().starts_with(ENROLLMENT_SECRET_PREFIX));
    assert_eq!(secret.expose().len(), ENROLLMENT_SECRET_PREFIX.len() + 43);
    assert!(token.id.starts_with("t-") && token.id.len() == 18);
    assert_eq!(token.expires_at, START + time::Duration::minutes(10));
    assert_eq!(
        f.store.tokens(Some(&tid("acme"))).unwrap(),
        std::slice::from_ref(&token)
    );

    let mut seen_tenant = None;
    let cert = f
        .store
        .redeem_enrollment_token(&actor(), secret.expose(), &mut |t| {
            seen_tenant = Some(t.id.clone());
            Ok(new_cert(Serial::random()))
        })
        .unwrap();
    assert_eq!(seen_tenant, Some(tid("acme")));
    assert_eq!(cert.tenant, tid("acme"));
    assert_eq!(f.store.certificate(&cert.serial).unwrap(), cert);
    let used = f.store.tokens(None).unwrap().pop().unwrap();
    assert_eq!(used.used_at, Some(START));

    let err = f
        .store
        .redeem_enrollment_token(&actor(), secret.expose(), &mut issue_ok())
        .unwrap_err();
    assert!(
        matches!(&err, RegistryError::TokenAlreadyUsed { id } if *id == token.id),
        "{err:?}"
    );

    let ev = f
        .store
        .audit_events(&AuditFilter::default())
        .unwrap()
        .pop()
        .unwrap();
    assert_eq!(ev.action, "token.redeem");
    assert_eq!(ev.details["token"], token.id);
    assert_eq!(ev.details["serial"], cert.serial.to_string());
    f.store.verify_audit().unwrap();
}

#[test]
fn secret_is_never_stored_or_printed() {
    let f = Fixture::new();
    f.tenant("acme");
    let (secret, _) = f
        .store
        .create_enrollment_token(&actor(), &tid("acme"), TEN_MINUTES)
        .unwrap();
    let debug = format!("{secret:?}");
    assert!(
        !debug.contains(secret.expose()) && debug.contains("redacted"),
        "{debug}"
    );
    drop(f.store);
    // Not in the database file, its WAL, or any audit event.
    let raw = rusqlite::Connection::open(&f.path).unwrap();
    let dump: String = raw
        .query_row(
            "SELECT group_concat(id || secret_sha256, ' ') FROM tokens",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert!(!dump.contains(secret.expose()));
    drop(raw);
    for file in [f.path.clone(), f.path.with_extension("db-wal")] {
        if let Ok(bytes) = std::fs::read(&file) {
            let needle = secret.expose().as_bytes();
            assert!(
                !bytes.windows(needle.len()).any(|w| w == needle),
                "{}",
                file.display()
            );
        }
    }
}

#[test]
fn ttl_bounds() {
    let f = Fixture::new();
    f.tenant("acme");
    for ttl in [
        MIN_TOKEN_TTL - Duration::from_secs(1),
        MAX_TOKEN_TTL + Duration::from_secs(1),
        Duration::ZERO,
    ] {
        let err = f
            .store
            .create_enrollment_token(&actor(), &tid("acme"), ttl)
            .unwrap_err();
        assert!(
            matches!(err, RegistryError::InvalidTtl { ttl: t, .. } if t == ttl),
            "{err:?}"
        );
    }
    f.store
        .create_enrollment_token(&actor(), &tid("acme"), MIN_TOKEN_TTL)
        .unwrap();
    f.store
        .create_enrollment_token(&actor(), &tid("acme"), MAX_TOKEN_TTL)
        .unwrap();
}

#[test]
fn expired_token_is_refused() {
    let f = Fixture::new();
    f.tenant("acme");
    let (secret, token) = f
        .store
        .create_enrollment_token(&actor(), &tid("acme"), MIN_TOKEN_TTL)
        .unwrap();
    f.clock.advance(time::Duration::seconds(59));
    // Still valid one second before the end; redeem a second token to keep this one.
    let (other, _) = f
        .store
        .create_enrollment_token(&actor(), &tid("acme"), MIN_TOKEN_TTL)
        .unwrap();
    f.store
        .redeem_enrollment_token(&actor(), other.expose(), &mut issue_ok())
        .unwrap();
    f.clock.advance(time::Duration::seconds(1));
    let err = f
        .store
        .redeem_enrollment_token(&actor(), secret.expose(), &mut issue_ok())
        .unwrap_err();
    assert!(
        matches!(&err, RegistryError::TokenExpired { id, expired_at } if *id == token.id && *expired_at == token.expires_at),
        "{err:?}"
    );
    assert!(
        f.store
            .tokens(None)
            .unwrap()
            .iter()
            .any(|t| t.id == token.id && !t.is_used())
    );
}

#[test]
fn unknown_token_says_nothing() {
    let f = Fixture::new();
    f.tenant("acme");
    for guess in [
        "",
        "mtls-enroll-",
        "mtls-enroll-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        "garbage",
    ] {
        let err = f
            .store
            .redeem_enrollment_token(&actor(), guess, &mut issue_ok())
            .unwrap_err();
        assert!(matches!(err, RegistryError::UnknownToken), "{err:?}");
        assert_eq!(err.to_string(), "unknown enrollment token");
    }
    // A deleted tenant's token is just as unknown.
    let (secret, _) = f
        .store
        .create_enrollment_token(&actor(), &tid("acme"), TEN_MINUTES)
        .unwrap();
    f.store.delete_tenant(&actor(), &tid("acme")).unwrap();
    let err = f
        .store
        .redeem_enrollment_token(&actor(), secret.expose(), &mut issue_ok())
        .unwrap_err();
    assert!(matches!(err, RegistryError::UnknownToken), "{err:?}");
}

#[test]
fn suspended_tenant_cannot_get_or_redeem_tokens() {
    let f = Fixture::new();
    f.tenant("acme");
    let (secret, token) = f
        .store
        .create_enrollment_token(&actor(), &tid("acme"), TEN_MINUTES)
        .unwrap();
    f.store
        .set_tenant_status(&actor(), &tid("acme"), TenantStatus::Suspended)
        .unwrap();
    let err = f
        .store
        .create_enrollment_token(&actor(), &tid("acme"), TEN_MINUTES)
        .unwrap_err();
    assert!(
        matches!(&err, RegistryError::TenantSuspended { id } if id.as_str() == "acme"),
        "{err:?}"
    );
    let err = f
        .store
        .redeem_enrollment_token(&actor(), secret.expose(), &mut issue_ok())
        .unwrap_err();
    assert!(
        matches!(err, RegistryError::TenantSuspended { .. }),
        "{err:?}"
    );
    // Resumed: the same token still works.
    f.store
        .set_tenant_status(&actor(), &tid("acme"), TenantStatus::Active)
        .unwrap();
    f.store
        .redeem_enrollment_token(&actor(), secret.expose(), &mut issue_ok())
        .unwrap();
    assert!(
        f.store
            .tokens(None)
            .unwrap()
            .iter()
            .all(|t| t.id != token.id || t.is_used())
    );
}

#[test]
fn failed_issue_leaves_the_token_unused() {
    let f = Fixture::new();
    f.tenant("acme");
    let (secret, token) = f
        .store
        .create_enrollment_token(&actor(), &tid("acme"), TEN_MINUTES)
        .unwrap();
    let version = f.store.version().unwrap();
    let events = f.store.verify_audit().unwrap().events;
    let err = f
        .store
        .redeem_enrollment_token(&actor(), secret.expose(), &mut issue_fail())
        .unwrap_err();
    assert!(matches!(err, RegistryError::Issue { .. }), "{err:?}");
    assert_eq!(f.store.tokens(None).unwrap(), [token]);
    assert!(f.store.certificates(None).unwrap().is_empty());
    assert_eq!(f.store.version().unwrap(), version);
    assert_eq!(f.store.verify_audit().unwrap().events, events);
    // And it can still be redeemed.
    f.store
        .redeem_enrollment_token(&actor(), secret.expose(), &mut issue_ok())
        .unwrap();
}
