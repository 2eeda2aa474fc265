//! Decisions against snapshots built in memory, with certificates from a real CA.

use std::time::Duration;

use mtls_ca::{CaConfig, CertificateAuthority, ClientCertRequest, IssuedCertificate};
use mtls_identity::{TenantId, TrustDomain};
use mtls_registry::{
    Refusal, RouteId, RouteRecord, Snapshot, SnapshotBuilder, SnapshotTenant, TenantLimits,
    TenantStatus,
};
use mtls_route_spec::RouteSpec;
use proptest::prelude::*;
use time::OffsetDateTime;

use crate::*;

mod decide;
mod egress;
mod incremental;

pub(crate) struct World {
    pub(crate) ca: CertificateAuthority,
    pub(crate) domain: TrustDomain,
}

// === impl World ===

impl World {
    pub(crate) fn new() -> Self {
        Self {
            ca: CertificateAuthority::generate(&CaConfig::default()).unwrap(),
            domain: "example.test".parse().unwrap(),
        }
    }

    pub(crate) fn issue(&self, tenant: &str) -> IssuedCertificate {
        let req = ClientCertRequest::new(self.domain.clone(), tid(tenant), "Tenant");
        self.ca.issue_client(&req).unwrap()
    }

    pub(crate) fn issue_for(&self, tenant: &str, validity: Duration) -> IssuedCertificate {
        let mut req = ClientCertRequest::new(self.domain.clone(), tid(tenant), "Tenant");
        req.validity = validity;
        self.ca.issue_client(&req).unwrap()
    }
}

pub(crate) fn tid(id: &str) -> TenantId {
    id.parse().unwrap()
}

pub(crate) fn spec(json: &str) -> RouteSpec {
    serde_json::from_str(json).unwrap()
}

/// A snapshot: `(tenant, status)`s, `(tenant, spec)` routes in order, `(cert, tenant, revoked)`.
pub(crate) fn snapshot(
    world: &World,
    tenants: &[(&str, TenantStatus)],
    routes: &[(&str, RouteSpec)],
    certs: &[(&IssuedCertificate, &str, bool)],
) -> Snapshot {
    let mut b = SnapshotBuilder::new(3, world.domain.clone());
    for (id, status) in tenants {
        b.tenant(
            tid(id),
            SnapshotTenant {
                display_name: (*id).to_owned(),
                status: *status,
                limits: TenantLimits::default(),
                egress_address: None,
            },
        )
        .unwrap();
    }
    for (tenant, spec) in routes {
        b.route(RouteRecord {
            id: RouteId::random(),
            tenant: tid(tenant),
            spec: spec.clone().into(),
            created_at: OffsetDateTime::now_utc(),
        })
        .unwrap();
    }
    for (cert, tenant, revoked) in certs {
        b.certificate(cert.serial.clone(), tid(tenant), *revoked)
            .unwrap();
    }
    b.build()
}

fn now() -> OffsetDateTime {
    OffsetDateTime::now_utc()
}

#[test]
fn an_active_tenants_known_certificate_is_admitted() {
    let w = World::new();
    let acme = w.issue("acme");
    let s = snapshot(
        &w,
        &[("acme", TenantStatus::Active)],
        &[],
        &[(&acme, "acme", false)],
    );
    let admitted = admit(&s, Some(&acme.cert_der), now()).unwrap();
    assert_eq!(admitted.tenant, tid("acme"));
    assert_eq!(admitted.identity.serial, acme.serial);
    assert_eq!(admitted.entry.status, TenantStatus::Active);
}

#[test]
fn every_registry_refusal_is_reported_with_its_label() {
    let w = World::new();
    let acme = w.issue("acme");
    let other = w.issue("other");
    let active = TenantStatus::Active;
    let cases = [
        // Deleted tenant.
        (
            snapshot(&w, &[], &[], &[(&acme, "acme", false)]),
            Refusal::UnknownTenant,
        ),
        (
            snapshot(
                &w,
                &[("acme", TenantStatus::Suspended)],
                &[],
                &[(&acme, "acme", false)],
            ),
            Refusal::TenantSuspended,
        ),
        (
            snapshot(&w, &[("acme", active)], &[], &[]),
            Refusal::UnknownCertificate,
        ),
        (
            snapshot(&w, &[("acme", active)], &[], &[(&acme, "other", false)]),
            Refusal::CertificateOfOtherTenant,
        ),
        (
            snapshot(
                &w,
                &[("acme", active)],
                &[],
                &[(&acme, "acme", true), (&other, "other", false)],
            ),
            Refusal::CertificateRevoked,
        ),
    ];
    for (s, want) in cases {
        let refused = admit(&s, Some(&acme.cert_der), now()).unwrap_err();
        assert_eq!(refused.reason, AdmissionRefusal::Registry(want));
        assert_eq!(refused.reason.as_str(), want.as_str());
        assert_eq!(refused.tenant(), Some(&tid("acme")));
        assert!(refused.detail.contains("tenant acme"), "{}", refused.detail);
        // A live connection is re-checked the same way.
        let identity = refused.identity.as_deref().unwrap();
        assert_eq!(
            readmit(&s, &tid("acme"), identity, now()),
            Err(AdmissionRefusal::Registry(want))
        );
    }
}

#[test]
fn no_certificate_garbage_and_foreign_trust_domains_are_no_tenant() {
    let w = World::new();
    let s = snapshot(&w, &[("acme", TenantStatus::Active)], &[], &[]);
    let none = admit(&s, None, now()).unwrap_err();
    assert_eq!(none.reason, AdmissionRefusal::NoCertificate);
    assert_eq!(none.reason.as_str(), "no_tenant");
    let garbage = admit(&s, Some(b"not a certificate"), now()).unwrap_err();
    assert_eq!(garbage.reason, AdmissionRefusal::UnreadableCertificate);
    assert_eq!(garbage.reason.as_str(), "no_tenant");

    let elsewhere = World {
        ca: CertificateAuthority::generate(&CaConfig::default()).unwrap(),
        domain: "elsewhere.test".parse().unwrap(),
    };
    let cert = elsewhere.issue("acme");
    let refused = admit(&s, Some(&cert.cert_der), now()).unwrap_err();
    assert_eq!(refused.reason, AdmissionRefusal::NoTenant);
    assert!(
        refused.detail.contains("spiffe://example.test/tenant/<id>")
            && refused
                .detail
                .contains("spiffe://elsewhere.test/tenant/acme"),
        "{}",
        refused.detail
    );
}

#[test]
fn validity_is_checked_at_the_given_time() {
    let w = World::new();
    let acme = w.issue_for("acme", Duration::from_secs(3600));
    let s = snapshot(
        &w,
        &[("acme", TenantStatus::Active)],
        &[],
        &[(&acme, "acme", false)],
    );
    let later = now() + time::Duration::hours(2);
    let refused = admit(&s, Some(&acme.cert_der), later).unwrap_err();
    assert_eq!(refused.reason, AdmissionRefusal::CertificateExpired);
    assert_eq!(refused.reason.as_str(), "certificate_expired");
    let identity = refused.identity.as_deref().unwrap();
    assert_eq!(
        readmit(&s, &tid("acme"), identity, later),
        Err(AdmissionRefusal::CertificateExpired)
    );
    assert_eq!(readmit(&s, &tid("acme"), identity, now()), Ok(()));

    let earlier = acme.not_before - time::Duration::hours(1);
    let refused = admit(&s, Some(&acme.cert_der), earlier).unwrap_err();
    assert_eq!(refused.reason, AdmissionRefusal::CertificateNotYetValid);
}

#[test]
fn destination_verdicts_for_literals_and_names() {
    use std::net::IpAddr;
    let ip = |s: &str| s.parse::<IpAddr>().unwrap();
    assert_eq!(
        DestinationVerdict::before_dial("8.8.8.8", false),
        DestinationVerdict::Public(ip("8.8.8.8"))
    );
    assert!(matches!(
        DestinationVerdict::before_dial("127.0.0.1", false),
        DestinationVerdict::PrivateRefused {
            range: "loopback",
            ..
        }
    ));
    assert!(matches!(
        DestinationVerdict::before_dial("[::1]", true),
        DestinationVerdict::PrivateAllowed {
            range: "loopback",
            ..
        }
    ));
    assert_eq!(
        DestinationVerdict::before_dial("db.acme.test", false),
        DestinationVerdict::ResolvedAtDial {
            allow_private: false
        }
    );
}

proptest! {
    /// A literal is judged exactly as the dialer judges a resolved address.
    #[test]
    fn literals_are_judged_like_resolved_addresses(bits in any::<u128>(), v4 in any::<bool>(), allow in any::<bool>()) {
        let ip: std::net::IpAddr = if v4 {
            std::net::Ipv4Addr::from(bits as u32).into()
        } else {
            std::net::Ipv6Addr::from(bits).into()
        };
        let text = match ip {
            std::net::IpAddr::V6(v6) => format!("[{v6}]"),
            std::net::IpAddr::V4(v4) => v4.to_string(),
        };
        let verdict = DestinationVerdict::before_dial(&text, allow);
        prop_assert_eq!(verdict, DestinationVerdict::of_address(ip, allow));
        let policy = mtls_route_spec::DestinationPolicy { allow_private: allow };
        prop_assert_eq!(verdict.is_refused(), policy.check(ip).is_err());
    }
}
