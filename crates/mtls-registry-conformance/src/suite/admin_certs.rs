//! Admin certificates: recorded, listed and revoked, with serials unique across admin and
//! tenant certificates.

use mtls_identity::{AdminName, RevocationReason, Serial};
use mtls_registry::{AdminCertificateRecord, BoxError, NewCertificate, RegistryError};
use serde_json::json;

use crate::{Fixture, START, actor, events, new_cert, version};

fn alice() -> AdminName {
    "alice".parse().unwrap()
}

fn record(f: &Fixture, admin: &AdminName) -> AdminCertificateRecord {
    f.store
        .record_admin_certificate(&actor(), admin, &mut |_| Ok(new_cert(Serial::random())))
        .unwrap()
}

pub fn admin_certificates_are_recorded_listed_and_revoked() {
    let f = Fixture::new();
    let v0 = version(&*f.store);
    let mut seen = None;
    let first = f
        .store
        .record_admin_certificate(&actor(), &alice(), &mut |admin| {
            seen = Some(admin.clone());
            Ok(new_cert(Serial::random()))
        })
        .unwrap();
    assert_eq!(seen, Some(alice()));
    assert_eq!(first.admin, alice());
    assert_eq!(first.issued_at, START);
    assert_eq!(first.not_before, START);
    assert!(!first.is_revoked());
    assert_eq!(f.store.admin_certificate(&first.serial).unwrap(), first);
    f.clock.advance(time::Duration::seconds(5));
    let second = record(&f, &"bob".parse().unwrap());
    assert_eq!(
        f.reopen().admin_certificates().unwrap(),
        vec![first.clone(), second.clone()]
    );
    assert_eq!(version(&*f.store), v0 + 2);
    // Admin certificates are no tenant's: not in the tenant lists, the CRL or snapshots.
    assert!(f.store.certificates(None).unwrap().is_empty());

    let issued = events(&*f.store, "admin.cert.issue");
    assert_eq!(issued.len(), 2);
    assert_eq!(issued[0].tenant, None);
    assert_eq!(issued[0].details["admin"], json!("alice"));
    assert_eq!(issued[0].details["serial"], json!(first.serial.to_string()));

    f.clock.advance(time::Duration::seconds(5));
    let revoked = f
        .store
        .revoke_admin_certificate(&actor(), &first.serial, RevocationReason::KeyCompromise)
        .unwrap();
    assert_eq!(
        revoked.revoked_at,
        Some(START + time::Duration::seconds(10))
    );
    assert_eq!(
        revoked.revocation_reason,
        Some(RevocationReason::KeyCompromise)
    );
    assert_eq!(f.store.admin_certificate(&first.serial).unwrap(), revoked);
    let revocations = events(&*f.store, "admin.cert.revoke");
    assert_eq!(revocations.len(), 1);
    assert_eq!(revocations[0].tenant, None);
    assert_eq!(revocations[0].details["reason"], json!("key-compromise"));
    assert!(f.store.revoked_certificates().unwrap().is_empty());

    let err = f
        .store
        .revoke_admin_certificate(&actor(), &first.serial, RevocationReason::Superseded)
        .unwrap_err();
    assert!(matches!(err, RegistryError::AlreadyRevoked { .. }), "{err}");
    f.store.verify_audit().unwrap();
}

pub fn serials_are_unique_across_admin_and_tenant_certificates() {
    let f = Fixture::new();
    f.tenant("acme");
    let tenant_cert = f.cert("acme");
    let taken = tenant_cert.serial.clone();
    let err = f
        .store
        .record_admin_certificate(&actor(), &alice(), &mut |_| Ok(new_cert(taken.clone())))
        .unwrap_err();
    assert!(
        matches!(err, RegistryError::DuplicateSerial { ref serial } if *serial == taken),
        "{err}"
    );

    let admin_cert = record(&f, &alice());
    let taken = admin_cert.serial.clone();
    let err = f
        .store
        .record_certificate(&actor(), &crate::tid("acme"), &mut |_| {
            Ok(new_cert(taken.clone()))
        })
        .unwrap_err();
    assert!(
        matches!(err, RegistryError::DuplicateSerial { .. }),
        "{err}"
    );

    // Each lookup stays in its own table.
    let err = f.store.admin_certificate(&tenant_cert.serial).unwrap_err();
    assert!(matches!(err, RegistryError::UnknownSerial { .. }), "{err}");
    let err = f.store.certificate(&admin_cert.serial).unwrap_err();
    assert!(matches!(err, RegistryError::UnknownSerial { .. }), "{err}");
    let err = f
        .store
        .revoke_admin_certificate(&actor(), &tenant_cert.serial, RevocationReason::Superseded)
        .unwrap_err();
    assert!(matches!(err, RegistryError::UnknownSerial { .. }), "{err}");
    assert!(
        !f.store
            .certificate(&tenant_cert.serial)
            .unwrap()
            .is_revoked()
    );
}

pub fn a_failing_or_invalid_admin_issue_records_nothing() {
    let f = Fixture::new();
    let v0 = version(&*f.store);
    let err = f
        .store
        .record_admin_certificate(&actor(), &alice(), &mut |admin| -> Result<
            NewCertificate,
            BoxError,
        > {
            Err(format!("CA key unavailable while signing for {admin}").into())
        })
        .unwrap_err();
    match &err {
        RegistryError::AdminIssue { admin, source } => {
            assert_eq!(admin, &alice());
            assert!(source.to_string().contains("CA key unavailable"));
        }
        other => panic!("expected AdminIssue, got {other:?}"),
    }
    assert!(err.to_string().contains("alice"), "{err}");
    let err = f
        .store
        .record_admin_certificate(&actor(), &alice(), &mut |_| {
            let mut cert = new_cert(Serial::random());
            cert.not_after = cert.not_before;
            Ok(cert)
        })
        .unwrap_err();
    assert!(
        matches!(err, RegistryError::InvalidAdminCertificate { .. }),
        "{err}"
    );
    assert_eq!(version(&*f.store), v0);
    assert!(f.store.admin_certificates().unwrap().is_empty());
    let err = f
        .store
        .revoke_admin_certificate(&actor(), &Serial::random(), RevocationReason::Superseded)
        .unwrap_err();
    assert!(matches!(err, RegistryError::UnknownSerial { .. }), "{err}");
    f.store.verify_audit().unwrap();
}
