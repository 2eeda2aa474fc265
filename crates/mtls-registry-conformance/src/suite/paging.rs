//! Keyset paging: every listing read page by page gives the unpaged listing, each record
//! once and in order, whatever the page size; cursors of another listing are refused; a
//! tenant's snapshot decides like the full one.

use mtls_identity::{RevocationReason, Serial};
use mtls_registry::{AuditFilter, Page, PageCursor, RegistryError, Store};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

use crate::{Fixture, actor, tcp_route, tid};

/// Reads a listing to its end, `limit` at a time, checking every page's size.
fn all_pages<T: Clone>(
    limit: usize,
    mut read: impl FnMut(Option<&PageCursor>) -> Result<Page<T>, RegistryError>,
) -> Vec<T> {
    let mut out = Vec::new();
    let mut after: Option<PageCursor> = None;
    loop {
        let page = read(after.as_ref()).unwrap();
        assert!(page.items.len() <= limit, "a page over its limit");
        if page.next.is_some() {
            assert_eq!(page.items.len(), limit, "a short page that is not the last");
        }
        out.extend(page.items.iter().cloned());
        match page.next {
            Some(next) => after = Some(next),
            None => return out,
        }
        assert!(out.len() < 100_000, "the cursor never ends");
    }
}

/// 250 tenants (created out of id order); `busy` gets 130 routes and 130 certificates,
/// 44 other tenants one route and one certificate each,
/// most within the same second (the rowid breaks those ties), with revocations and other
/// tenants' events in between.
fn populated() -> Fixture {
    let f = Fixture::new();
    for i in (0..250).rev() {
        f.tenant(&format!("t-{i:03}"));
    }
    f.tenant("busy");
    for i in 0..130 {
        if i % 40 == 0 {
            f.clock.advance(time::Duration::seconds(1));
        }
        f.store
            .add_route(
                &actor(),
                &tid("busy"),
                tcp_route(&format!("s{i}.busy.test")),
            )
            .unwrap();
        let cert = f.cert("busy");
        if i % 7 == 0 {
            f.store
                .revoke_certificate(&actor(), &cert.serial, RevocationReason::KeyCompromise)
                .unwrap();
        }
        if i % 3 == 0 {
            let other = format!("t-{:03}", (i * 7) % 250);
            f.cert(&other);
            f.store
                .add_route(
                    &actor(),
                    &tid(&other),
                    tcp_route(&format!("s{i}.other.test")),
                )
                .unwrap();
        }
    }
    f
}

pub fn two_hundred_fifty_tenants_page_in_id_order_each_once_and_the_cursor_ends() {
    let f = populated();
    let all = f.store.tenants().unwrap();
    assert_eq!(all.len(), 251);
    for limit in [1, 7, 100, 250, 251, 1000] {
        let paged = all_pages(limit, |after| f.store.tenants_page(after, limit));
        assert_eq!(paged, all, "page size {limit}");
    }
    // A tenant id is a cursor, whether or not the tenant exists.
    let page = f
        .store
        .tenants_page(Some(&"t-1".parse().unwrap()), 2)
        .unwrap();
    let ids: Vec<&str> = page.items.iter().map(|t| t.id.as_str()).collect();
    assert_eq!(ids, ["t-100", "t-101"]);
    assert_eq!(page.next.unwrap().as_str(), "t-101");
}

pub fn one_tenants_routes_certificates_and_audit_events_page_like_the_unpaged_lists() {
    let f = populated();
    let busy = tid("busy");
    let routes = f.store.routes(Some(&busy)).unwrap();
    let certs = f.store.certificates(Some(&busy)).unwrap();
    let every_cert = f.store.certificates(None).unwrap();
    let every_route = f.store.routes(None).unwrap();
    let filter = AuditFilter {
        tenant: Some(busy.clone()),
        ..AuditFilter::default()
    };
    let events = f.store.audit_events(&filter).unwrap();
    let every_event = f.store.audit_events(&AuditFilter::default()).unwrap();
    assert_eq!(routes.len(), 130);
    assert_eq!(certs.len(), 130);
    assert!(events.len() > 260, "{} events", events.len());

    let mut runner = TestRunner::new(Config {
        cases: 48,
        ..Config::default()
    });
    runner
        .run(&(1usize..=140), |limit| {
            let paged = all_pages(limit, |a| f.store.routes_page(Some(&busy), a, limit));
            prop_assert_eq!(&paged, &routes);
            let paged = all_pages(limit, |a| f.store.routes_page(None, a, limit));
            prop_assert_eq!(&paged, &every_route);
            let paged = all_pages(limit, |a| f.store.certificates_page(Some(&busy), a, limit));
            prop_assert_eq!(&paged, &certs);
            let paged = all_pages(limit, |a| f.store.certificates_page(None, a, limit));
            prop_assert_eq!(&paged, &every_cert);
            let paged = all_pages(limit, |a| f.store.audit_page(&filter, a, limit));
            prop_assert_eq!(&paged, &events);
            let paged = all_pages(limit, |a| {
                f.store.audit_page(&AuditFilter::default(), a, limit)
            });
            prop_assert_eq!(&paged, &every_event);
            Ok(())
        })
        .unwrap();
}

pub fn rows_added_between_pages_are_not_repeated_and_later_ones_come_last() {
    let f = populated();
    let busy = tid("busy");
    let first = f.store.routes_page(Some(&busy), None, 100).unwrap();
    // Removing a listed route and adding one does not shift what is left.
    f.store.remove_route(&actor(), &first.items[3].id).unwrap();
    let added = f
        .store
        .add_route(&actor(), &busy, tcp_route("late.busy.test"))
        .unwrap();
    let rest = f
        .store
        .routes_page(Some(&busy), first.next.as_ref(), 100)
        .unwrap();
    assert_eq!(rest.items.len(), 31);
    assert_eq!(rest.items.last().unwrap().id, added.id);
    assert!(rest.is_last());
    let seen: std::collections::HashSet<_> = first
        .items
        .iter()
        .chain(&rest.items)
        .map(|r| r.id.clone())
        .collect();
    assert_eq!(seen.len(), 131);
}

pub fn cursors_of_another_listing_or_made_up_are_refused_by_name() {
    let f = populated();
    let busy = tid("busy");
    let routes_cursor = f
        .store
        .routes_page(Some(&busy), None, 5)
        .unwrap()
        .next
        .unwrap();
    let cert_cursor = f
        .store
        .certificates_page(Some(&busy), None, 5)
        .unwrap()
        .next
        .unwrap();
    let of_other = f
        .store
        .routes_page(Some(&tid("t-001")), Some(&routes_cursor), 5)
        .unwrap_err();
    assert!(of_other.is_invalid_cursor(), "{of_other}");
    assert!(
        of_other.to_string().contains("another tenant's listing"),
        "{of_other}"
    );
    // A per-tenant certificate cursor is not one of the every-tenant listing.
    assert!(
        f.store
            .certificates_page(None, Some(&cert_cursor), 5)
            .unwrap_err()
            .is_invalid_cursor()
    );
    let bad: PageCursor = "busy.x.1".parse().unwrap();
    let err = f.store.routes_page(Some(&busy), Some(&bad), 5).unwrap_err();
    assert!(matches!(
        err,
        RegistryError::InvalidCursor {
            listing: "routes",
            ..
        }
    ));
    let err = f
        .store
        .audit_page(&AuditFilter::default(), Some(&routes_cursor), 5)
        .unwrap_err();
    assert!(err.to_string().contains("not an event seq"), "{err}");
    let err = f.store.tenants_page(Some(&bad), 5).unwrap_err();
    assert!(err.to_string().contains("not a tenant id"), "{err}");
    // An unknown tenant has no routes: one empty, last page.
    let none = f.store.routes_page(Some(&tid("nobody")), None, 5).unwrap();
    assert!(none.items.is_empty() && none.is_last());
}

pub fn a_tenants_snapshot_admits_and_routes_like_the_full_one() {
    let f = populated();
    f.tenant("quiet");
    f.store
        .set_tenant_status(
            &actor(),
            &tid("t-007"),
            mtls_registry::TenantStatus::Suspended,
        )
        .unwrap();
    let busy_certs = f.store.certificates(Some(&tid("busy"))).unwrap();
    let other_cert = f.cert("t-003").serial;
    let full = Store::snapshot(&*f.store).unwrap();
    let unknown = Serial::random();
    for tenant in ["busy", "quiet", "t-003", "t-007", "nobody"] {
        let id = tid(tenant);
        for serial in busy_certs
            .iter()
            .take(10)
            .map(|c| c.serial.clone())
            .chain([other_cert.clone(), unknown.clone()])
        {
            let one = f.store.tenant_snapshot(&id, Some(&serial)).unwrap();
            assert_eq!(one.version(), full.version());
            assert_eq!(one.trust_domain(), full.trust_domain());
            assert_eq!(
                one.admit(&id, &serial).cloned(),
                full.admit(&id, &serial).cloned(),
                "{tenant} presenting {serial}"
            );
            assert_eq!(one.routes(&id), full.routes(&id), "{tenant}");
            assert!(one.tenant_count() <= 1);
        }
    }
}
