//! `tenantctl explain` normalises the request path as the gateway does (issue 13): it shows
//! the raw and normalised path, or the refusal, and routes on the normalised path.

#[allow(unused_imports)] // the shared support module re-exports helpers this file does not need
mod support;

use support::{initialised, issue};

#[test]
fn explain_routes_on_the_normalised_path_and_shows_refusals() {
    let t = initialised(false);
    t.ok(&["tenant", "create", "acme", "--name", "Acme"]);
    issue(&t, "acme", "acme");
    let route = |args: &[&str]| {
        let mut all = vec!["route", "add", "acme", "http", "--host", "api.acme.test"];
        all.extend_from_slice(args);
        all.extend_from_slice(&["--upstream", "http://127.0.0.1:9000", "--allow-private"]);
        t.json(&all)["id"].as_str().unwrap().to_owned()
    };
    let v1 = route(&["--path", "/v1"]);
    let files = route(&["--path", "/files", "--escaped-slashes", "keep"]);
    let listed = t.ok(&["route", "list", "acme"]);
    assert!(
        listed.contains("http api.acme.test/files -> http://127.0.0.1:9000 [escaped slashes kept]"),
        "{listed}"
    );
    let spec = t.json(&["route", "list", "acme"])["items"].clone();
    assert_eq!(spec[1]["spec"]["escaped_slashes"], "keep", "{spec}");
    assert!(spec[0]["spec"].get("escaped_slashes").is_none(), "{spec}");
    t.fails(
        &[
            "route",
            "add",
            "acme",
            "http",
            "--host",
            "x.acme.test",
            "--path",
            "/a%2Fb",
            "--upstream",
            "http://127.0.0.1:9000",
        ],
        "allowed only with escaped_slashes \"keep\"",
    );
    t.fails(
        &[
            "route",
            "add",
            "acme",
            "http",
            "--host",
            "x.acme.test",
            "--escaped-slashes",
            "decode",
            "--upstream",
            "http://127.0.0.1:9000",
        ],
        "decode",
    );
    let explain = |path: &str| {
        let args = [
            "explain",
            "--cert",
            "acme/cert.pem",
            "--host",
            "api.acme.test",
            "--path",
            path,
        ];
        (t.json(&args), t.ok(&args))
    };

    // The issue's escape: a request for /admin/, which no route matches.
    let (v, human) = explain("/v1/%2e%2e/admin/?q=1");
    assert_eq!(v["path"], "/v1/%2e%2e/admin/");
    assert_eq!(v["query"], "q=1");
    assert_eq!(v["normalized_path"], "/admin/");
    assert_eq!(v["route"], serde_json::Value::Null, "{v}");
    assert_eq!(v["no_route"], "no_path_match", "{v}");
    assert!(
        human.contains(
            "Path         /v1/%2e%2e/admin/ normalises to /admin/ (query ?q=1 forwarded unchanged)"
        ),
        "{human}"
    );

    // Normalised, then routed.
    let (v, human) = explain("/v1/./x//y");
    assert_eq!(v["normalized_path"], "/v1/x/y");
    assert_eq!(v["route"], v1.as_str());
    assert!(human.contains("normalises to /v1/x/y"), "{human}");
    assert!(
        human.contains(&format!("Route        {v1} wins for api.acme.test/v1/x/y")),
        "{human}"
    );
    let (v, human) = explain("/v1/orders");
    assert_eq!(v["normalized_path"], "/v1/orders");
    assert!(
        human.contains("Path         /v1/orders: already normal"),
        "{human}"
    );
    // The dialer's verdict on the winner's upstream, as the gateway will apply it.
    assert!(
        human.contains(
            "Destination  http://127.0.0.1:9000: 127.0.0.1 is in the loopback range, allowed by --allow-private"
        ),
        "{human}"
    );
    assert_eq!(v["allow_private"], true, "{v}");
    assert_eq!(
        v["upstream_destinations"][0]["upstream"], "http://127.0.0.1:9000",
        "{v}"
    );
    assert_eq!(v["upstream_destinations"][0]["refused"], false, "{v}");

    // Escaped slashes: kept by /files, refused by /v1 (which still wins the match).
    let (v, _) = explain("/files/a%2fb");
    assert_eq!(
        (v["route"].as_str(), v["normalized_path"].as_str()),
        (Some(files.as_str()), Some("/files/a%2Fb"))
    );
    assert_eq!(v["path_refusal"], serde_json::Value::Null);
    let (v, human) = explain("/v1/a%2Fb");
    assert_eq!(v["route"], v1.as_str());
    assert_eq!(v["path_refusal"], "encoded_slash");
    assert_eq!(v["refusal"], "encoded_slash");
    assert!(
        human.contains("REFUSED: encoded slash %2F at byte 5"),
        "{human}"
    );
    assert!(human.contains("400 bad_path"), "{human}");

    // Refused before routing: no route is looked up.
    let (v, human) = explain("/v1/a\\b");
    assert_eq!(v["normalized_path"], serde_json::Value::Null);
    assert_eq!(v["path_refusal"], "backslash");
    assert!(v.get("candidates").is_none(), "{v}");
    assert!(
        human.contains(
            "Path         /v1/a\\b: REFUSED: backslash at byte 5 (the gateway answers 400 bad_path)"
        ),
        "{human}"
    );
}
