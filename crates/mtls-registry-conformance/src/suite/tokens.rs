//! Enrollment tokens: one-time, expiring, hashed at rest.

use std::time::Duration;

use mtls_identity::Serial;
use mtls_registry::{
    AuditFilter, ENROLLMENT_SECRET_PREFIX, MAX_TOKEN_TTL, MIN_TOKEN_TTL, RegistryError,
    TenantStatus,
};

use crate::{Fixture, START, actor, issue_fail, issue_ok, new_cert, tid};

const TEN_MINUTES: Duration = Duration::from_secs(600);

pub fn token_is_redeemed_once() {
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

pub fn ttl_bounds() {
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

pub fn expired_token_is_refused() {
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

pub fn unknown_token_says_nothing() {
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

pub fn suspended_tenant_cannot_get_or_redeem_tokens() {
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

pub fn failed_issue_leaves_the_token_unused() {
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
