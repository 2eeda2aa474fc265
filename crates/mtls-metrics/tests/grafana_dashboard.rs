//! The Grafana dashboard (`packaging/grafana/mtlsd.json`) queries only series that mtlsd
//! really exports, with label names those series really carry.
//!
//! The exported set is read from the text exposition of [`Metrics`] after one series of
//! every family has been created, so the names include what the encoder adds (`_total` on
//! counters, `_bucket`/`_sum`/`_count` on histograms) and nothing is typed twice.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use mtls_metrics::{
    DirectionLabel, IdentityLabel, ListenerLabel, Metrics, ReasonLabel, ResultLabel,
    SelectionLabel, SideLabel, TenantLabel, TenantLimitLabel, TenantRequestLabel,
};
use serde_json::Value;

/// Labels Prometheus itself adds to every scraped series.
const SCRAPE_LABELS: [&str; 2] = ["instance", "job"];

/// Every family with one series, so that the exposition lists them all.
fn populated() -> Metrics {
    let m = Metrics::new();
    let listener: Arc<str> = Arc::from("l");
    let tenant: Arc<str> = Arc::from("t");
    let l = ListenerLabel {
        listener: listener.clone(),
    };
    let reason = ReasonLabel {
        listener: listener.clone(),
        reason: "r",
    };
    let result = ResultLabel {
        listener: listener.clone(),
        result: "success",
    };
    let side = SideLabel {
        listener: listener.clone(),
        side: "inbound",
    };
    m.active_connections.get_or_create(&l).inc();
    m.connections.get_or_create(&l).inc();
    m.connections_refused.get_or_create(&l).inc();
    m.bytes_proxied
        .get_or_create(&DirectionLabel {
            listener: listener.clone(),
            direction: "client_to_upstream",
        })
        .inc();
    m.connection_duration.get_or_create(&l).observe(0.1);
    m.acl_decisions.get_or_create(&result).inc();
    m.handshake_duration.get_or_create(&side).observe(0.01);
    m.handshake_failures.get_or_create(&reason).inc();
    m.handshakes_refused.get_or_create(&reason).inc();
    m.dial_errors.get_or_create(&l).inc();
    m.connections_closed.get_or_create(&reason).inc();
    m.cert_reloads.get_or_create(&result).inc();
    m.cert_expiry.get_or_create(&side).set(1);
    m.identity_selections
        .get_or_create(&SelectionLabel {
            listener: listener.clone(),
            identity: "i".into(),
            reason: "fallback",
        })
        .inc();
    m.identity_expiry
        .get_or_create(&IdentityLabel {
            listener: listener.clone(),
            identity: "i".into(),
        })
        .set(1);
    m.registry_version.get_or_create(&l).set(1);
    m.registry_reloads.get_or_create(&result).inc();
    m.registry_read_age.get_or_create(&l).set(1);
    m.registry_stale.get_or_create(&l).set(0);
    m.tenant_refusals.get_or_create(&reason).inc();
    m.tenant_connections_closed.get_or_create(&reason).inc();
    m.tenant_active_connections
        .get_or_create(&TenantLabel {
            listener: listener.clone(),
            tenant: tenant.clone(),
        })
        .inc();
    m.tenant_limited
        .get_or_create(&TenantLimitLabel {
            listener: listener.clone(),
            tenant: tenant.clone(),
            limit: "max_connections",
        })
        .inc();
    m.tenant_requests
        .get_or_create(&TenantRequestLabel {
            listener,
            tenant,
            protocol: "http",
            status: "2xx",
        })
        .inc();
    m.log_lines_dropped.inc();
    m
}

/// Series name -> its label names, from the text exposition.
fn exported() -> BTreeMap<String, BTreeSet<String>> {
    let text = populated().encode();
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for line in text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        let end = line.find(['{', ' ']).unwrap_or(line.len());
        let labels = out.entry(line[..end].to_owned()).or_default();
        if let Some(rest) = line[end..].strip_prefix('{') {
            let body = &rest[..rest.find('}').expect("closing brace")];
            for pair in body.split(',') {
                labels.insert(pair.split('=').next().unwrap().to_owned());
            }
        }
    }
    out
}

/// Every PromQL string of the dashboard: panel targets' `expr`, variables' `query` and
/// `definition`, at any depth.
fn queries(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                match (k.as_str(), v) {
                    ("expr" | "query" | "definition", Value::String(s)) => out.push(s.clone()),
                    _ => queries(v, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| queries(v, out)),
        _ => {}
    }
}

/// What one query names: metrics, the labels of each metric's `{...}` selector, and the
/// labels of its `by (...)`/`without (...)` clauses and `label_values(m, label)`.
#[derive(Debug, Default)]
struct Names {
    metrics: BTreeSet<String>,
    selector_labels: Vec<(String, String)>,
    grouping_labels: BTreeSet<String>,
}

fn is_ident(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == ':'
}

fn label_list(body: &str) -> impl Iterator<Item = String> + '_ {
    body.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

fn names(query: &str) -> Names {
    let mut names = Names::default();
    let chars: Vec<char> = query.chars().collect();
    let mut i = 0;
    let mut last_metric: Option<String> = None;
    while i < chars.len() {
        let c = chars[i];
        if c == '"' {
            // A string literal (label value, regex): skip it whole.
            i += 1;
            while i < chars.len() && chars[i] != '"' {
                i += if chars[i] == '\\' { 2 } else { 1 };
            }
            i += 1;
            continue;
        }
        if c == '$' || c == '[' {
            // A Grafana variable or a range: not a name.
            let close = if c == '[' { ']' } else { ' ' };
            while i < chars.len()
                && chars[i] != close
                && (c == '[' || is_ident(chars[i]) || chars[i] == '$')
            {
                i += 1;
            }
            i += 1;
            continue;
        }
        if c == '{' {
            let end = i + chars[i..]
                .iter()
                .position(|&c| c == '}')
                .expect("unclosed {");
            let body: String = chars[i + 1..end].iter().collect();
            let metric = last_metric.clone().expect("a selector after a metric name");
            let mut in_string = false;
            let mut label = String::new();
            for ch in body.chars() {
                match ch {
                    '"' => in_string = !in_string,
                    _ if in_string => {}
                    '=' | '!' | '~' => {
                        if !label.trim().is_empty() {
                            names
                                .selector_labels
                                .push((metric.clone(), label.trim().to_owned()));
                        }
                        label.clear();
                    }
                    ',' => label.clear(),
                    _ => label.push(ch),
                }
            }
            i = end + 1;
            continue;
        }
        if is_ident(c) && (i == 0 || !is_ident(chars[i - 1])) && !c.is_ascii_digit() {
            let start = i;
            while i < chars.len() && is_ident(chars[i]) {
                i += 1;
            }
            let word: String = chars[start..i].iter().collect();
            let rest: String = chars[i..].iter().collect();
            let rest = rest.trim_start();
            if matches!(word.as_str(), "by" | "without") && rest.starts_with('(') {
                let body = &rest[1..rest.find(')').expect("unclosed (")];
                names.grouping_labels.extend(label_list(body));
            } else if word.starts_with("mtlsd_") {
                names.metrics.insert(word.clone());
                last_metric = Some(word);
            } else if word == "label_values" {
                // label_values(metric{...}, label): the last argument is a label.
                let body = &rest[1..rest.rfind(')').expect("unclosed (")];
                if let Some((_, label)) = body.rsplit_once(',') {
                    names.grouping_labels.insert(label.trim().to_owned());
                }
            }
            continue;
        }
        i += 1;
    }
    names
}

fn dashboard() -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../packaging/grafana/mtlsd.json"
    );
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

#[test]
fn every_queried_metric_and_label_is_exported() {
    let exported = exported();
    let mut all = Vec::new();
    queries(&dashboard(), &mut all);
    assert!(
        all.len() > 20,
        "the dashboard has only {} queries",
        all.len()
    );
    let mut problems = Vec::new();
    let mut used = BTreeSet::new();
    for q in &all {
        let n = names(q);
        let mut allowed: BTreeSet<String> = SCRAPE_LABELS.iter().map(|s| s.to_string()).collect();
        for m in &n.metrics {
            match exported.get(m) {
                Some(labels) => allowed.extend(labels.iter().cloned()),
                None => problems.push(format!("{m} is not exported (query: {q})")),
            }
            used.insert(m.clone());
        }
        for (m, label) in &n.selector_labels {
            let known = exported.get(m).is_some_and(|l| l.contains(label))
                || SCRAPE_LABELS.contains(&label.as_str());
            if !known {
                problems.push(format!("{m} has no label {label} (query: {q})"));
            }
        }
        for label in &n.grouping_labels {
            if !allowed.contains(label) {
                problems.push(format!(
                    "no metric of the query has label {label} (query: {q})"
                ));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    // The dashboard covers the families operators alert on, histograms by their buckets.
    for needed in [
        "mtlsd_connection_duration_seconds_bucket",
        "mtlsd_tls_handshake_duration_seconds_bucket",
        "mtlsd_tenant_requests_total",
        "mtlsd_registry_stale",
        "mtlsd_cert_expiry_seconds",
    ] {
        assert!(
            used.contains(needed),
            "the dashboard never queries {needed}"
        );
    }
}

#[test]
fn the_checker_catches_a_wrong_name_or_label() {
    let exported = exported();
    assert!(exported.contains_key("mtlsd_connections_total"));
    assert!(exported["mtlsd_connection_duration_seconds_bucket"].contains("le"));
    let n = names(
        r#"sum by (tenant) (rate(mtlsd_conections_total{listener=~"$listener", tennant="a"}[$__rate_interval]))"#,
    );
    assert_eq!(
        n.metrics,
        BTreeSet::from(["mtlsd_conections_total".to_owned()])
    );
    assert_eq!(
        n.selector_labels,
        [
            ("mtlsd_conections_total".to_owned(), "listener".to_owned()),
            ("mtlsd_conections_total".to_owned(), "tennant".to_owned()),
        ]
    );
    assert_eq!(n.grouping_labels, BTreeSet::from(["tenant".to_owned()]));
    assert!(!exported.contains_key("mtlsd_conections_total"));
    let v = names(r#"label_values(mtlsd_tenant_requests_total{instance=~"$instance"}, tenant)"#);
    assert!(v.grouping_labels.contains("tenant"));
}
