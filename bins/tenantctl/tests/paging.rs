//! Paged listings through the real binary: `tenant list`, `route list TENANT`,
//! `cert list TENANT` and `audit --tenant` with `--limit` and `--after` give every record
//! once, in order, and stop; `--json` carries `next`, the human form hints it on stderr.

mod support;

use mtls_identity::{Fingerprint, Serial, TenantId};
use mtls_registry::{Actor, AuditFilter, CertificateKind, NewCertificate, Store, TenantLimits};
use mtls_registry_sqlite::SqliteStore;
use mtls_route_spec::RouteSpec;
use serde_json::Value;
use support::{CliRunner, initialised};

/// An initialised data dir with 250 tenants besides `acme` (created out of id order), and
/// 250 routes and 120 certificates of `acme`, written straight into its registry.
fn populated() -> (CliRunner, SqliteStore) {
    let t = initialised(false);
    t.ok(&["tenant", "create", "acme", "--name", "ACME Corp"]);
    let store = SqliteStore::open(t.data_dir().join("registry.db")).unwrap();
    let actor = Actor::new("cli:bulk").unwrap();
    for i in (0..250).rev() {
        let id: TenantId = format!("t-{i:03}").parse().unwrap();
        store
            .create_tenant(&actor, &id, "T", TenantLimits::default())
            .unwrap();
    }
    let acme: TenantId = "acme".parse().unwrap();
    for i in 0..250 {
        let spec: RouteSpec = serde_json::from_value(serde_json::json!({
            "kind": "tcp",
            "sni": format!("s{i}.acme.test"),
            "upstreams": ["db.example.com:5432"],
        }))
        .unwrap();
        store.add_route(&actor, &acme, spec).unwrap();
    }
    let now = time::OffsetDateTime::now_utc();
    for _ in 0..120 {
        store
            .record_certificate(&actor, &acme, &mut |_| {
                let serial = Serial::random();
                Ok(NewCertificate {
                    fingerprint: Fingerprint::of_der(serial.as_bytes()),
                    serial,
                    not_before: now,
                    not_after: now + time::Duration::days(30),
                    kind: CertificateKind::Client,
                })
            })
            .unwrap();
    }
    (t, store)
}

/// Runs `args --limit N` and follows `next` with `--after` to the end: every item.
fn all_pages(t: &CliRunner, args: &[&str], limit: usize, start: Option<&str>) -> Vec<Value> {
    let limit_text = limit.to_string();
    let mut items = Vec::new();
    let mut after = start.map(str::to_owned);
    for _ in 0..1000 {
        let mut full: Vec<&str> = Vec::new();
        full.extend(args);
        full.extend(["--limit", &limit_text]);
        if let Some(a) = &after {
            full.extend(["--after", a]);
        }
        let page = t.json(&full);
        let got = page["items"].as_array().unwrap();
        assert!(got.len() <= limit, "{full:?}: over the limit");
        items.extend(got.iter().cloned());
        match page["next"].as_str() {
            Some(next) => {
                assert_eq!(
                    got.len(),
                    limit,
                    "{full:?}: a short page that is not the last"
                );
                after = Some(next.to_owned());
            }
            None => {
                assert!(page["next"].is_null(), "{page}");
                return items;
            }
        }
    }
    panic!("{args:?}: the cursor never ends");
}

fn field(items: &[Value], key: &str) -> Vec<String> {
    items
        .iter()
        .map(|v| match &v[key] {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        })
        .collect()
}

#[test]
fn every_listing_pages_each_record_once_in_order_and_the_cursor_ends() {
    let (t, store) = populated();
    let acme: TenantId = "acme".parse().unwrap();
    let tenants: Vec<String> = store
        .tenants()
        .unwrap()
        .iter()
        .map(|x| x.id.to_string())
        .collect();
    assert_eq!(tenants.len(), 251);
    for limit in [1, 33, 100, 251] {
        let got = all_pages(&t, &["tenant", "list"], limit, None);
        assert_eq!(field(&got, "id"), tenants, "tenant list --limit {limit}");
    }
    let routes: Vec<String> = store
        .routes(Some(&acme))
        .unwrap()
        .iter()
        .map(|r| r.id.to_string())
        .collect();
    let got = all_pages(&t, &["route", "list", "acme"], 40, None);
    assert_eq!(field(&got, "id"), routes);
    // Every tenant's routes page too (acme's are all there are).
    let got = all_pages(&t, &["route", "list"], 99, None);
    assert_eq!(field(&got, "id"), routes);
    let certs: Vec<String> = store
        .certificates(Some(&acme))
        .unwrap()
        .iter()
        .map(|c| c.serial.to_string())
        .collect();
    let got = all_pages(&t, &["cert", "list", "acme"], 50, None);
    assert_eq!(field(&got, "serial"), certs);
    let events: Vec<String> = store
        .audit_events(&AuditFilter {
            tenant: Some(acme.clone()),
            ..AuditFilter::default()
        })
        .unwrap()
        .iter()
        .map(|e| e.seq.to_string())
        .collect();
    assert!(events.len() > 370, "{}", events.len());
    let got = all_pages(&t, &["audit", "--tenant", "acme"], 64, Some("0"));
    assert_eq!(field(&got, "seq"), events);
}

#[test]
fn the_default_page_is_100_and_the_human_form_hints_the_next_cursor_on_stderr() {
    let (t, _store) = populated();
    let page = t.json(&["tenant", "list"]);
    assert_eq!(page["items"].as_array().unwrap().len(), 100);
    assert_eq!(page["next"], "t-098");

    let run = t.run(&["route", "list", "acme", "--limit", "3"]);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert_eq!(
        run.stdout.lines().count(),
        4,
        "a header and 3 routes:\n{}",
        run.stdout
    );
    let hint = run.stderr.trim();
    let cursor = hint
        .strip_prefix("More: repeat with --after ")
        .unwrap_or_else(|| panic!("{hint}"));
    assert!(cursor.starts_with("acme."), "{cursor}");
    // The last page has no hint.
    let run = t.run(&["tenant", "list", "--after", "t-240"]);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert!(
        run.stdout.contains("t-249") && !run.stdout.contains("t-240"),
        "{}",
        run.stdout
    );
    assert!(run.stderr.is_empty(), "{}", run.stderr);

    // `audit` without --after shows the newest events: next is null, and a full page says
    // how to read them all.
    let tail = t.json(&["audit", "--tenant", "acme", "--limit", "5"]);
    let seqs = field(tail["items"].as_array().unwrap(), "seq");
    assert_eq!(seqs.len(), 5);
    assert!(tail["next"].is_null(), "{tail}");
    let run = t.run(&["audit", "--tenant", "acme", "--limit", "5"]);
    assert!(run.stderr.contains("--after 0"), "{}", run.stderr);
    assert!(run.stdout.contains(&seqs[4]), "{}", run.stdout);
}

#[test]
fn bad_limits_and_cursors_are_refused_naming_the_flag() {
    let (t, _store) = populated();
    t.fails(&["tenant", "list", "--limit", "0"], "--limit");
    t.fails(&["route", "list", "acme", "--limit", "10001"], "--limit");
    t.fails(&["tenant", "list", "--after", "not a cursor"], "--after");
    t.fails(&["tenant", "list", "--after", "t.1"], "not a tenant id");
    let page = t.json(&["route", "list", "acme", "--limit", "1"]);
    let cursor = page["next"].as_str().unwrap().to_owned();
    t.fails(
        &["route", "list", "t-001", "--after", &cursor],
        "another tenant's listing",
    );
    t.fails(
        &["cert", "list", "acme", "--after", "acme"],
        "certificates listing",
    );
    t.fails(&["audit", "--after", "acme"], "not an event seq");
}
