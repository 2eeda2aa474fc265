//! Explanations and reporting misses.

use std::error::Error as _;

use super::*;
use crate::Verdict;

#[test]
fn explain_lists_the_winner_then_losers_with_reasons() {
    let table = table_a(&[
        ("r-wild", http("*.acme.test", "/")),
        ("r-root", http("api.acme.test", "/")),
        ("r-v1", http("api.acme.test", "/v1")),
        ("r-v1-dup", http("api.acme.test", "/v1")),
        ("r-admin", http("api.acme.test", "/admin")),
        ("r-other", http("web.acme.test", "/")),
    ]);
    let a = tenant("a");
    let explanation = table.explain_http(&a, "API.acme.test:443", "/v1/items?q=1");
    let summary: Vec<_> = explanation
        .candidates
        .iter()
        .map(|c| (*c.key, c.verdict))
        .collect();
    assert_eq!(
        summary,
        [
            ("r-v1", Verdict::Winner),
            ("r-v1-dup", Verdict::LaterTieBreak),
            ("r-root", Verdict::ShorterPrefix),
            ("r-wild", Verdict::LessSpecificHost),
        ]
    );
    let winner = table
        .match_http(&a, "API.acme.test:443", "/v1/items?q=1")
        .unwrap();
    assert_eq!(explanation.outcome, Ok(winner));
    let misses: Vec<_> = explanation.path_misses.iter().map(|(k, _)| **k).collect();
    assert_eq!(misses, ["r-admin"]);
    assert_eq!(
        explanation.to_string(),
        "r-v1 api.acme.test/v1: wins (exact host, 1 prefix segment)\n\
         r-v1-dup api.acme.test/v1: later in tie-break order (exact host, 1 prefix segment)\n\
         r-root api.acme.test/: shorter prefix (exact host, 0 prefix segments)\n\
         r-wild *.acme.test/: less specific host (wildcard of 3 labels, 0 prefix segments)\n\
         r-admin api.acme.test/admin: host matches, path prefix does not\n"
    );
}

#[test]
fn explain_reports_misses() {
    let table = table_a(&[("r-v1", http("api.acme.test", "/v1"))]);
    let a = tenant("a");
    let e = table.explain_http(&a, "api.acme.test", "/v2");
    assert_eq!(e.outcome, Err(NoRoute::NoPathMatch));
    assert!(e.candidates.is_empty());
    assert_eq!(e.path_misses.len(), 1);
    assert!(
        e.to_string()
            .starts_with("no route: routes claim this host")
    );
    assert_eq!(
        table.explain_http(&a, "x.test", "/").outcome,
        Err(NoRoute::NoHostMatch)
    );
    assert_eq!(
        table.explain_http(&a, "bad..host", "/").outcome,
        Err(NoRoute::NoHostMatch)
    );
    let e = table.explain_http(&tenant("zz"), "api.acme.test", "/v1");
    assert_eq!(e.outcome, Err(NoRoute::UnknownTenant));
    assert_eq!(e.to_string(), "no route: the tenant has no routes\n");
}

#[test]
fn no_route_names_the_request_when_asked() {
    assert_eq!(NoRoute::NoPathMatch.as_str(), "no_path_match");
    assert_eq!(NoRoute::UnknownTenant.as_str(), "unknown_tenant");
    let miss = NoRoute::NoHostMatch.for_http(&tenant("acme"), "api.x", "/v1");
    assert_eq!(
        miss.to_string(),
        r#"tenant acme: no route for host "api.x" path "/v1""#
    );
    assert_eq!(
        miss.source().unwrap().to_string(),
        "no route of the tenant claims this host"
    );
    let miss = NoRoute::NotAllowed.for_connect(&tenant("acme"), "db.x", 5432);
    assert_eq!(
        miss.to_string(),
        "tenant acme: no route for CONNECT db.x:5432"
    );
    assert_eq!(miss.reason, NoRoute::NotAllowed);
    let miss = NoRoute::NoHostMatch.for_tcp(&tenant("acme"), "db.x");
    assert_eq!(
        miss.to_string(),
        r#"tenant acme: no route for server name "db.x""#
    );
}
