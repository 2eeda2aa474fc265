//! Two handles on one file, writing from two threads at once.

use std::sync::Arc;
use std::thread;

use mtls_identity::RevocationReason;
use mtls_registry::{Store, TenantLimits, TenantStatus};

use crate::{Fixture, actor, issue_ok, tcp_route, tid};

const PER_THREAD: usize = 25;

pub fn interleaved_writers_on_two_handles() {
    let f = Fixture::new();
    let stores: [Arc<dyn Store>; 2] = [Arc::from(f.reopen()), Arc::from(f.reopen())];
    let handles: Vec<_> = stores
        .iter()
        .enumerate()
        .map(|(n, store)| {
            let store = Arc::clone(store);
            thread::spawn(move || {
                for i in 0..PER_THREAD {
                    let id = tid(&format!("t{n}-{i}"));
                    store.create_tenant(&actor(), &id, "Concurrent", TenantLimits::default())?;
                    let cert = store.record_certificate(&actor(), &id, &mut issue_ok())?;
                    store.add_route(&actor(), &id, tcp_route("db.example.test"))?;
                    if i % 3 == 0 {
                        store.revoke_certificate(
                            &actor(),
                            &cert.serial,
                            RevocationReason::Superseded,
                        )?;
                    }
                    if i % 5 == 0 {
                        store.set_tenant_status(&actor(), &id, TenantStatus::Suspended)?;
                    }
                    // Readers in between writes never block or fail.
                    store.snapshot()?;
                }
                Ok::<_, mtls_registry::RegistryError>(())
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap().unwrap();
    }

    let report = f.store.verify_audit().unwrap();
    let expected = 1 + 2 * (3 * PER_THREAD + PER_THREAD.div_ceil(3) + PER_THREAD.div_ceil(5));
    assert_eq!(report.events as usize, expected);
    assert_eq!(f.store.version().unwrap(), report.events);
    let snap = f.store.snapshot().unwrap();
    assert_eq!(snap.tenant_count(), 2 * PER_THREAD);
    assert_eq!(f.store.routes(None).unwrap().len(), 2 * PER_THREAD);
    assert_eq!(
        f.store.revoked_certificates().unwrap().len(),
        2 * PER_THREAD.div_ceil(3)
    );
}

pub fn one_handle_shared_by_threads() {
    let f = Fixture::new();
    let store: Arc<dyn Store> = Arc::from(f.reopen());
    let handles: Vec<_> = (0..4)
        .map(|n| {
            let store = Arc::clone(&store);
            thread::spawn(move || {
                for i in 0..10 {
                    store
                        .create_tenant(
                            &actor(),
                            &tid(&format!("s{n}-{i}")),
                            "Shared",
                            TenantLimits::default(),
                        )
                        .unwrap();
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    assert_eq!(store.tenants().unwrap().len(), 40);
    assert_eq!(store.verify_audit().unwrap().events, 41);
}
