//! `renew_certificate`: lineage, revocation of the presented certificate, the recovery
//! bound, and rollback.

use mtls_identity::{RevocationReason, Serial};
use mtls_registry::{
    CertificateRecord, Recovery, RegistryError, RenewalRequest, Store, TenantStatus,
};
use serde_json::json;

use crate::{Fixture, actor, events, issue_fail, issue_ok, new_cert, tid, version};

fn renewal(presented: &Serial) -> RenewalRequest {
    RenewalRequest {
        presented: presented.clone(),
        recovery: None,
        revoke_presented: false,
    }
}

fn recovery(presented: &Serial, max_recoveries: u32) -> RenewalRequest {
    RenewalRequest {
        presented: presented.clone(),
        recovery: Some(Recovery { max_recoveries }),
        revoke_presented: false,
    }
}

fn renew(f: &Fixture, request: &RenewalRequest) -> Result<CertificateRecord, RegistryError> {
    f.store
        .renew_certificate(&actor(), request, &mut issue_ok())
}

pub fn a_plain_renewal_keeps_the_lineage_and_the_presented_certificate() {
    let f = Fixture::new();
    f.tenant("acme");
    let first = f.cert("acme");
    assert_eq!(first.lineage, first.serial);
    assert_eq!(first.renewed_from, None);
    assert!(!first.recovered);

    let second = renew(&f, &renewal(&first.serial)).unwrap();
    assert_eq!(second.tenant, tid("acme"));
    assert_eq!(second.lineage, first.serial);
    assert_eq!(second.renewed_from, Some(first.serial.clone()));
    assert!(!second.recovered);
    assert_eq!(f.store.certificate(&second.serial).unwrap(), second);
    assert!(!f.store.certificate(&first.serial).unwrap().is_revoked());
    // Renewing the renewal stays in the first certificate's lineage.
    let third = renew(&f, &renewal(&second.serial)).unwrap();
    assert_eq!(third.lineage, first.serial);
    assert_eq!(third.renewed_from, Some(second.serial.clone()));

    let renew_events = events(&*f.store, "cert.renew");
    assert_eq!(renew_events.len(), 2);
    let d = &renew_events[0].details;
    assert_eq!(d["presented"], json!(first.serial.to_string()));
    assert_eq!(d["serial"], json!(second.serial.to_string()));
    assert_eq!(d["lineage"], json!(first.serial.to_string()));
    assert_eq!(d["recovered"], json!(false));
    assert_eq!(d["revoked_presented"], json!(false));
    assert_eq!(renew_events[0].tenant, Some(tid("acme")));
    let snapshot = Store::snapshot(&*f.store).unwrap();
    for cert in [&first, &second, &third] {
        assert!(snapshot.admit(&tid("acme"), &cert.serial).is_ok());
    }
    f.store.verify_audit().unwrap();
}

pub fn revoke_presented_and_recovery_revoke_the_presented_certificate_as_superseded() {
    let f = Fixture::new();
    f.tenant("acme");
    let first = f.cert("acme");
    let second = renew(
        &f,
        &RenewalRequest {
            revoke_presented: true,
            ..renewal(&first.serial)
        },
    )
    .unwrap();
    let old = f.store.certificate(&first.serial).unwrap();
    assert_eq!(old.revocation_reason, Some(RevocationReason::Superseded));
    assert!(!second.recovered);

    // An expired certificate (recovery is the caller's call: the store does not refuse it
    // for being expired) is recovered and revoked.
    f.clock.advance(time::Duration::days(120));
    assert!(
        f.store.certificate(&second.serial).unwrap().not_after
            < crate::START + time::Duration::days(120)
    );
    let third = renew(&f, &recovery(&second.serial, 2)).unwrap();
    assert!(third.recovered);
    assert_eq!(third.lineage, first.serial);
    let second_now = f.store.certificate(&second.serial).unwrap();
    assert_eq!(
        second_now.revocation_reason,
        Some(RevocationReason::Superseded)
    );
    let d = &events(&*f.store, "cert.renew")[1].details;
    assert_eq!(d["recovered"], json!(true));
    assert_eq!(d["revoked_presented"], json!(true));
    // The CRL lists both.
    let revoked: Vec<Serial> = f
        .store
        .revoked_certificates()
        .unwrap()
        .into_iter()
        .map(|c| c.serial)
        .collect();
    assert_eq!(revoked, vec![first.serial.clone(), second.serial.clone()]);
    // One expired certificate recovers once: it is revoked now.
    let err = renew(&f, &recovery(&second.serial, 2)).unwrap_err();
    assert!(matches!(err, RegistryError::AlreadyRevoked { .. }), "{err}");
}

pub fn a_lineage_recovers_at_most_max_recoveries_times() {
    let f = Fixture::new();
    f.tenant("acme");
    let first = f.cert("acme");
    // Three renewals in one lineage: plain, recovery, recovery; the fourth (a third
    // recovery) is refused with max_recoveries = 2.
    let a = renew(&f, &renewal(&first.serial)).unwrap();
    let b = renew(&f, &recovery(&a.serial, 2)).unwrap();
    let c = renew(&f, &recovery(&b.serial, 2)).unwrap();
    assert!(b.recovered && c.recovered && !a.recovered);
    let v = version(&*f.store);
    let certs_before = f.store.certificates(None).unwrap().len();
    let err = renew(&f, &recovery(&c.serial, 2)).unwrap_err();
    match &err {
        RegistryError::RecoveryLimitReached { lineage, limit } => {
            assert_eq!(lineage, &first.serial);
            assert_eq!(*limit, 2);
        }
        other => panic!("expected RecoveryLimitReached, got {other:?}"),
    }
    assert!(err.to_string().contains("enroll again"), "{err}");
    assert_eq!(version(&*f.store), v);
    assert_eq!(f.store.certificates(None).unwrap().len(), certs_before);
    assert!(!f.store.certificate(&c.serial).unwrap().is_revoked());
    // A plain renewal of the same certificate is not bounded.
    let d = renew(&f, &renewal(&c.serial)).unwrap();
    assert_eq!(d.lineage, first.serial);
    // A higher bound admits one more; another lineage has its own count.
    renew(&f, &recovery(&d.serial, 3)).unwrap();
    let other = f.cert("acme");
    renew(&f, &recovery(&other.serial, 1)).unwrap();
    // max_recoveries = 0: no recovery at all.
    let fresh = f.cert("acme");
    let err = renew(&f, &recovery(&fresh.serial, 0)).unwrap_err();
    assert!(
        matches!(err, RegistryError::RecoveryLimitReached { limit: 0, .. }),
        "{err}"
    );
    f.store.verify_audit().unwrap();
}

pub fn renewal_refuses_unknown_revoked_and_unadmitted_certificates() {
    let f = Fixture::new();
    f.tenant("acme");
    let err = renew(&f, &renewal(&Serial::random())).unwrap_err();
    assert!(matches!(err, RegistryError::UnknownSerial { .. }), "{err}");

    let revoked = f.cert("acme");
    f.store
        .revoke_certificate(&actor(), &revoked.serial, RevocationReason::KeyCompromise)
        .unwrap();
    let err = renew(&f, &renewal(&revoked.serial)).unwrap_err();
    assert!(matches!(err, RegistryError::AlreadyRevoked { .. }), "{err}");

    let held = f.cert("acme");
    f.store
        .set_tenant_status(&actor(), &tid("acme"), TenantStatus::Suspended)
        .unwrap();
    let err = renew(&f, &renewal(&held.serial)).unwrap_err();
    assert!(
        matches!(err, RegistryError::TenantSuspended { .. }),
        "{err}"
    );

    // A deleted tenant's certificates are revoked; even a row left unrevoked by hand finds
    // no tenant.
    f.store
        .set_tenant_status(&actor(), &tid("acme"), TenantStatus::Active)
        .unwrap();
    f.store.delete_tenant(&actor(), &tid("acme")).unwrap();
    f.sql(&format!(
        "UPDATE certificates SET revoked_at = NULL, revocation_reason = NULL WHERE serial = '{}'",
        held.serial
    ));
    let err = renew(&f, &renewal(&held.serial)).unwrap_err();
    assert!(matches!(err, RegistryError::UnknownTenant { .. }), "{err}");
}

pub fn a_failing_issue_callback_records_nothing_and_revokes_nothing() {
    let f = Fixture::new();
    f.tenant("acme");
    let first = f.cert("acme");
    let v = version(&*f.store);
    let request = RenewalRequest {
        revoke_presented: true,
        ..recovery(&first.serial, 2)
    };
    let err = f
        .store
        .renew_certificate(&actor(), &request, &mut issue_fail())
        .unwrap_err();
    assert!(matches!(err, RegistryError::Issue { .. }), "{err}");
    assert_eq!(version(&*f.store), v);
    assert_eq!(f.store.certificates(None).unwrap(), vec![first.clone()]);
    assert!(events(&*f.store, "cert.renew").is_empty());
    f.store.verify_audit().unwrap();

    // A serial already used (here: the presented one) is refused the same way.
    let reused = first.serial.clone();
    let err = f
        .store
        .renew_certificate(&actor(), &request, &mut |_| Ok(new_cert(reused.clone())))
        .unwrap_err();
    assert!(
        matches!(err, RegistryError::DuplicateSerial { .. }),
        "{err}"
    );
    assert!(!f.store.certificate(&first.serial).unwrap().is_revoked());
    assert_eq!(version(&*f.store), v);
    // The issue callback is handed the presented certificate's tenant.
    let mut seen = None;
    f.store
        .renew_certificate(&actor(), &renewal(&first.serial), &mut |tenant| {
            seen = Some(tenant.id.clone());
            Ok(new_cert(Serial::random()))
        })
        .unwrap();
    assert_eq!(seen, Some(tid("acme")));
}
