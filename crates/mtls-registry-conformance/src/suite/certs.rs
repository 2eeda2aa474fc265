//! Certificates and tenant deletion: behaviour and every error path.

use mtls_identity::{RevocationReason, Serial};
use mtls_registry::{AuditFilter, RegistryError, TenantStatus};

use crate::{Fixture, START, actor, http_route, issue_fail, new_cert, tcp_route, tid};

pub fn certificates_are_recorded_listed_and_revoked() {
    let f = Fixture::new();
    f.tenant("acme");
    f.tenant("beta");
    let a1 = f.cert("acme");
    f.clock.advance(time::Duration::seconds(10));
    let b1 = f.cert("beta");
    f.clock.advance(time::Duration::seconds(10));
    let a2 = f.cert("acme");
    assert_eq!(a1.issued_at, START);
    assert_eq!(f.store.certificate(&a1.serial).unwrap(), a1);
    let all: Vec<Serial> = f
        .store
        .certificates(None)
        .unwrap()
        .into_iter()
        .map(|c| c.serial)
        .collect();
    assert_eq!(
        all,
        [a1.serial.clone(), b1.serial.clone(), a2.serial.clone()]
    );
    let acme: Vec<Serial> = f
        .store
        .certificates(Some(&tid("acme")))
        .unwrap()
        .into_iter()
        .map(|c| c.serial)
        .collect();
    assert_eq!(acme, [a1.serial.clone(), a2.serial.clone()]);

    let revoked = f
        .store
        .revoke_certificate(&actor(), &a1.serial, RevocationReason::KeyCompromise)
        .unwrap();
    assert_eq!(
        revoked.revocation_reason,
        Some(RevocationReason::KeyCompromise)
    );
    assert_eq!(
        revoked.revoked_at,
        Some(START + time::Duration::seconds(20))
    );
    assert_eq!(f.store.certificate(&a1.serial).unwrap(), revoked);
    assert_eq!(
        f.store.revoked_certificates().unwrap(),
        std::slice::from_ref(&revoked)
    );

    let err = f
        .store
        .revoke_certificate(&actor(), &a1.serial, RevocationReason::Superseded)
        .unwrap_err();
    assert!(
        matches!(&err, RegistryError::AlreadyRevoked { serial, revoked_at } if *serial == a1.serial && Some(*revoked_at) == revoked.revoked_at),
        "{err:?}"
    );
    let unknown = Serial::random();
    let err = f.store.certificate(&unknown).unwrap_err();
    assert!(
        matches!(&err, RegistryError::UnknownSerial { serial } if *serial == unknown),
        "{err:?}"
    );
    let err = f
        .store
        .revoke_certificate(&actor(), &unknown, RevocationReason::Unspecified)
        .unwrap_err();
    assert!(
        matches!(err, RegistryError::UnknownSerial { .. }),
        "{err:?}"
    );

    let ev = f
        .store
        .audit_events(&AuditFilter::default())
        .unwrap()
        .pop()
        .unwrap();
    assert_eq!(ev.action, "cert.revoke");
    assert_eq!(ev.details["reason"], "key-compromise");
    assert_eq!(ev.details["reason_code"], 1);
}

pub fn certificate_errors_record_nothing() {
    let f = Fixture::new();
    f.tenant("acme");
    let existing = f.cert("acme");
    let version = f.store.version().unwrap();

    let err = f
        .store
        .record_certificate(&actor(), &tid("acme"), &mut issue_fail())
        .unwrap_err();
    assert!(
        matches!(&err, RegistryError::Issue { tenant, .. } if tenant.as_str() == "acme"),
        "{err:?}"
    );
    let source = std::error::Error::source(&err).unwrap().to_string();
    assert!(source.contains("CA key unavailable"), "{source}");

    let dup = existing.serial.clone();
    let err = f
        .store
        .record_certificate(&actor(), &tid("acme"), &mut |_| Ok(new_cert(dup.clone())))
        .unwrap_err();
    assert!(
        matches!(&err, RegistryError::DuplicateSerial { serial } if *serial == existing.serial),
        "{err:?}"
    );

    let err = f
        .store
        .record_certificate(&actor(), &tid("acme"), &mut |_| {
            let mut c = new_cert(Serial::random());
            c.not_after = c.not_before;
            Ok(c)
        })
        .unwrap_err();
    assert!(
        matches!(err, RegistryError::InvalidCertificate { .. }),
        "{err:?}"
    );

    f.store
        .set_tenant_status(&actor(), &tid("acme"), TenantStatus::Suspended)
        .unwrap();
    let version_suspended = f.store.version().unwrap();
    let mut called = false;
    let err = f
        .store
        .record_certificate(&actor(), &tid("acme"), &mut |_| {
            called = true;
            Ok(new_cert(Serial::random()))
        })
        .unwrap_err();
    assert!(
        matches!(&err, RegistryError::TenantSuspended { id } if id.as_str() == "acme"),
        "{err:?}"
    );
    assert!(!called, "issue must not run for a suspended tenant");

    assert_eq!(version + 1, version_suspended);
    assert_eq!(f.store.version().unwrap(), version_suspended);
    assert_eq!(f.store.certificates(None).unwrap(), [existing]);
    f.store.verify_audit().unwrap();
}

pub fn delete_tenant_revokes_and_removes() {
    let f = Fixture::new();
    f.tenant("acme");
    f.tenant("beta");
    let c1 = f.cert("acme");
    let c2 = f.cert("acme");
    let other = f.cert("beta");
    f.store
        .revoke_certificate(&actor(), &c1.serial, RevocationReason::Superseded)
        .unwrap();
    f.store
        .add_route(&actor(), &tid("acme"), tcp_route("db.acme.test"))
        .unwrap();
    f.store
        .add_route(&actor(), &tid("acme"), http_route("api.acme.test", "/"))
        .unwrap();
    let beta_route = f
        .store
        .add_route(&actor(), &tid("beta"), tcp_route("db.acme.test"))
        .unwrap();
    f.store
        .create_enrollment_token(&actor(), &tid("acme"), std::time::Duration::from_secs(600))
        .unwrap();

    let deleted = f.store.delete_tenant(&actor(), &tid("acme")).unwrap();
    assert_eq!(deleted.revoked, std::slice::from_ref(&c2.serial));
    assert_eq!(deleted.routes_removed, 2);
    assert_eq!(deleted.tokens_removed, 1);

    assert!(matches!(
        f.store.tenant(&tid("acme")),
        Err(RegistryError::UnknownTenant { .. })
    ));
    // Certificate rows stay, all revoked; the earlier revocation keeps its reason.
    let c1 = f.store.certificate(&c1.serial).unwrap();
    assert_eq!(c1.revocation_reason, Some(RevocationReason::Superseded));
    let c2 = f.store.certificate(&c2.serial).unwrap();
    assert_eq!(
        c2.revocation_reason,
        Some(RevocationReason::CessationOfOperation)
    );
    assert_eq!(f.store.revoked_certificates().unwrap().len(), 2);
    // The other tenant is untouched.
    assert!(!f.store.certificate(&other.serial).unwrap().is_revoked());
    assert_eq!(f.store.routes(None).unwrap(), [beta_route]);
    assert!(f.store.tokens(None).unwrap().is_empty());

    let ev = f
        .store
        .audit_events(&AuditFilter::default())
        .unwrap()
        .pop()
        .unwrap();
    assert_eq!(ev.action, "tenant.delete");
    assert_eq!(ev.details["routes_removed"], 2);
    assert_eq!(ev.details["revoked"][0], c2.serial.to_string());

    // The id can be reused; the old certificates stay revoked.
    f.tenant("acme");
    assert!(f.store.certificate(&c2.serial).unwrap().is_revoked());
}
