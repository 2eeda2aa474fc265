//! The backend-neutral conformance suite of the tenant registry: the tests every
//! [`Store`] backend must pass, written against `&dyn Store`, so that the SQLite and the
//! PostgreSQL backends are held to exactly the same behaviour (outcomes, errors, audit
//! events, versions, snapshots, change lists, paging).
//!
//! A backend's test binary implements [`Backend`] (a fresh database per test) and
//! [`Database`] (stores on it, its data-plane source, and raw SQL for the tampering tests),
//! then expands [`conformance_tests!`] into one `#[test]` per suite test:
//!
//! ```ignore
//! mtls_registry_conformance::conformance_tests!(Box::new(MyBackend::new()));
//! ```
//!
//! The tests themselves are plain functions in [`suite`] that build a [`Fixture`] (a fresh
//! registry with a [`ManualClock`] at [`START`]) from the installed backend.

use std::sync::{Arc, OnceLock};

use mtls_identity::{Fingerprint, Serial, TenantId, TrustDomain};
use mtls_registry::{
    Actor, AuditEvent, AuditFilter, BoxError, CertificateKind, CertificateRecord, Clock,
    ManualClock, NewCertificate, SnapshotSource, Store, TenantLimits, TenantRecord,
};
use mtls_route_spec::RouteSpec;
use time::OffsetDateTime;

pub mod suite;

/// The fixed start time of every test clock.
pub const START: OffsetDateTime = time::macros::datetime!(2026-11-02 10:00:00 UTC);

/// A registry backend under test.
pub trait Backend: Send + Sync {
    /// A new, empty database (one per test).
    fn database(&self) -> Box<dyn Database>;
}

/// One test's database, as the backend and someone with direct access to it see it.
pub trait Database: Send + Sync {
    /// Creates the registry in it (trust domain [`domain`], created by [`actor`]).
    fn create(&self, clock: Arc<dyn Clock>) -> Box<dyn Store>;
    /// A second, independent store on the same registry.
    fn open(&self, clock: Arc<dyn Clock>) -> Box<dyn Store>;
    /// The data plane's read side of the registry (the backend's own source, where it has
    /// one).
    fn source(&self) -> Box<dyn SnapshotSource>;
    /// Runs SQL directly on the database, as an operator or attacker with database access
    /// can; the error is the database's message.
    fn execute(&self, sql: &str) -> Result<(), String>;
    /// [`execute`](Self::execute) with foreign keys not enforced.
    fn execute_without_foreign_keys(&self, sql: &str) -> Result<(), String>;
    /// Removes what makes the audit table append-only (its triggers), as an attacker with
    /// database access could.
    fn drop_audit_guard(&self);
    /// Makes every audit event insert fail with an error (`true`), or stops doing so.
    fn inject_audit_failure(&self, fail: bool);
}

static BACKEND: OnceLock<Box<dyn Backend>> = OnceLock::new();

/// Installs the backend of this test binary (the first call wins; [`conformance_tests!`]
/// calls it at the start of every test).
pub fn install(make: impl FnOnce() -> Box<dyn Backend>) {
    BACKEND.get_or_init(make);
}

fn backend() -> &'static dyn Backend {
    BACKEND
        .get()
        .expect("no registry backend installed: call mtls_registry_conformance::install first")
        .as_ref()
}

/// A fresh registry on the installed backend.
pub struct Fixture {
    /// The store the test works with.
    pub store: Box<dyn Store>,
    /// The store's clock (shared with [`reopen`](Self::reopen)ed stores).
    pub clock: ManualClock,
    /// The database under the store.
    pub db: Box<dyn Database>,
}

// === impl Fixture ===

impl Fixture {
    /// A new registry in a new database, its clock at [`START`].
    #[allow(clippy::new_without_default)]
    pub fn new() -> Self {
        let clock = ManualClock::new(START);
        let db = backend().database();
        let store = db.create(Arc::new(clock.clone()));
        Self { store, clock, db }
    }

    /// A second, independent store on the same registry (same clock).
    pub fn reopen(&self) -> Box<dyn Store> {
        self.db.open(Arc::new(self.clock.clone()))
    }

    /// Runs SQL directly on the database; panics if it fails.
    pub fn sql(&self, sql: &str) {
        self.db
            .execute(sql)
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
    }

    /// Creates tenant `id` ([`create_tenant`]).
    pub fn tenant(&self, id: &str) -> TenantRecord {
        create_tenant(&*self.store, id)
    }

    /// Records a certificate for `tenant`.
    pub fn cert(&self, tenant: &str) -> CertificateRecord {
        self.store
            .record_certificate(&actor(), &tid(tenant), &mut issue_ok())
            .unwrap()
    }
}

/// Creates tenant `id` in `store`: display name "Tenant ID", default limits.
pub fn create_tenant(store: &dyn Store, id: &str) -> TenantRecord {
    store
        .create_tenant(
            &actor(),
            &tid(id),
            &format!("Tenant {id}"),
            TenantLimits::default(),
        )
        .unwrap()
}

/// The trust domain of every test registry.
pub fn domain() -> TrustDomain {
    "proxy.example.com".parse().unwrap()
}

/// The actor of every test change.
pub fn actor() -> Actor {
    Actor::new("cli:test").unwrap()
}

/// A tenant id.
pub fn tid(id: &str) -> TenantId {
    id.parse().unwrap()
}

/// A certificate valid for 90 days from [`START`].
pub fn new_cert(serial: Serial) -> NewCertificate {
    NewCertificate {
        fingerprint: Fingerprint::of_der(serial.as_bytes()),
        serial,
        not_before: START,
        not_after: START + time::Duration::days(90),
        kind: CertificateKind::Client,
    }
}

/// An `issue` callback that "signs" a certificate with a random serial.
pub fn issue_ok() -> impl FnMut(&TenantRecord) -> Result<NewCertificate, BoxError> {
    |_| Ok(new_cert(Serial::random()))
}

/// An `issue` callback that fails like a CA would.
pub fn issue_fail() -> impl FnMut(&TenantRecord) -> Result<NewCertificate, BoxError> {
    |tenant| Err(format!("CA key unavailable while signing for {}", tenant.id).into())
}

/// A TCP route by SNI to a private upstream (allowed).
pub fn tcp_route(sni: &str) -> RouteSpec {
    serde_json::from_value(serde_json::json!({
        "kind": "tcp",
        "sni": sni,
        "upstreams": ["10.0.0.7:5432"],
        "allow_private": true,
    }))
    .unwrap()
}

/// An HTTP route for `host` and `prefix` to a private upstream (allowed).
pub fn http_route(host: &str, prefix: &str) -> RouteSpec {
    serde_json::from_value(serde_json::json!({
        "kind": "http",
        "host": host,
        "path_prefix": prefix,
        "upstreams": ["https://10.0.0.5:8443"],
        "allow_private": true,
    }))
    .unwrap()
}

/// A TCP route to a public DNS name: what a tenant may add under the default route policy.
pub fn public_tcp_route(sni: &str) -> RouteSpec {
    serde_json::from_value(serde_json::json!({
        "kind": "tcp",
        "sni": sni,
        "upstreams": ["db.example.com:5432"],
    }))
    .unwrap()
}

/// The registry version, through the `Store` trait.
pub fn version(store: &dyn Store) -> u64 {
    store.version().unwrap()
}

/// Every audit event with `action`.
pub fn events(store: &dyn Store, action: &str) -> Vec<AuditEvent> {
    store
        .audit_events(&AuditFilter::default())
        .unwrap()
        .into_iter()
        .filter(|e| e.action == action)
        .collect()
}

/// One `#[test]` per conformance test, in a module per topic, on the backend `$backend`
/// (an expression of type `Box<dyn Backend>`, evaluated once per test binary).
#[macro_export]
macro_rules! conformance_tests {
    ($backend:expr) => {
        $crate::__conformance_tests! {
            $backend;
            admin_certs { admin_certificates_are_recorded_listed_and_revoked, serials_are_unique_across_admin_and_tenant_certificates, a_failing_or_invalid_admin_issue_records_nothing }
            append_audit { appended_events_are_chained_but_do_not_bump_the_version, invalid_action_names_are_refused_before_anything_is_written }
            audit { chain_verifies_after_many_operations, edited_details_are_caught, edited_actor_is_caught, unparsable_details_are_caught, deleted_middle_event_is_caught, deleted_last_event_is_caught, changed_hash_is_caught, rewritten_chain_is_caught_by_the_head, appended_event_outside_the_api_is_caught }
            certs { certificates_are_recorded_listed_and_revoked, certificate_errors_record_nothing, delete_tenant_revokes_and_removes }
            changes { every_change_is_listed_once_in_order_with_its_tenant_and_kind, a_read_that_changes_nothing_is_not_a_change, pages_concatenate_to_the_whole_list, a_version_the_registry_never_had_is_a_gap, a_log_with_a_hole_is_a_gap, the_data_plane_source_lists_what_the_store_lists, a_delta_from_any_version_brings_that_snapshot_up_to_date, a_delta_of_tokens_touches_no_tenant_and_a_foreign_version_is_a_gap }
            concurrency { interleaved_writers_on_two_handles, one_handle_shared_by_threads }
            model { store_agrees_with_model }
            paging { two_hundred_fifty_tenants_page_in_id_order_each_once_and_the_cursor_ends, one_tenants_routes_certificates_and_audit_events_page_like_the_unpaged_lists, rows_added_between_pages_are_not_repeated_and_later_ones_come_last, cursors_of_another_listing_or_made_up_are_refused_by_name, a_tenants_snapshot_admits_and_routes_like_the_full_one }
            renewal { a_plain_renewal_keeps_the_lineage_and_the_presented_certificate, revoke_presented_and_recovery_revoke_the_presented_certificate_as_superseded, a_lineage_recovers_at_most_max_recoveries_times, renewal_refuses_unknown_revoked_and_unadmitted_certificates, a_failing_issue_callback_records_nothing_and_revokes_nothing }
            routes { routes_add_list_remove_and_conflicts, route_ids_parse_strictly }
            self_service { a_tenant_route_within_the_policy_is_added_and_audited_as_self_service, the_stored_policy_is_what_is_checked_and_a_refusal_changes_nothing, egress_bind_is_allowed_only_to_the_tenants_own_address, add_route_errors_come_before_or_beside_the_policy, concurrent_tenant_routes_never_overshoot_max_routes, concurrent_tenant_routes_of_two_tenants_all_land }
            snapshot { admit_covers_every_refusal, deleted_tenant_is_unknown_and_its_certificates_revoked, routes_are_per_tenant, version_bumps_on_every_change_and_only_then, another_handle_sees_changes, a_route_whose_tenant_is_gone_is_left_out, many_routes_are_read_in_order_and_a_bad_stored_spec_fails_the_snapshot }
            tenant_update { an_update_changes_every_given_field_in_one_event, only_changed_fields_are_recorded_and_an_unchanged_update_writes_nothing, update_errors_change_nothing, an_egress_address_belongs_to_one_tenant_at_a_time, a_taken_address_refuses_the_whole_update, the_data_planes_read_only_source_sees_egress_addresses, create_tenant_with_settings_is_one_transaction }
            tenants { actor_names_are_validated, tenant_lifecycle, tenant_errors, audit_filter_by_tenant_since_and_limit }
            tokens { token_is_redeemed_once, ttl_bounds, expired_token_is_refused, unknown_token_says_nothing, suspended_tenant_cannot_get_or_redeem_tokens, failed_issue_leaves_the_token_unused }
            transactions { failing_issue_records_nothing, panicking_issue_records_nothing_and_the_store_keeps_working, failure_after_the_change_rolls_everything_back, failed_redeem_after_issue_leaves_the_token_unused, audit_table_is_append_only_through_sql }
        }
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __conformance_tests {
    ($backend:expr; $($module:ident { $($name:ident),* $(,)? })*) => {
        $(
            mod $module {
                $(
                    #[test]
                    fn $name() {
                        $crate::install(|| $backend);
                        $crate::suite::$module::$name();
                    }
                )*
            }
        )*
    };
}
