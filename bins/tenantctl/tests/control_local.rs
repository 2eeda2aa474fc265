//! The control-plane additions that run on the local data directory: admin certificates,
//! route-policy limits, tenant egress addresses (and what `show`/`explain` say about them),
//! and the clear refusals of local-only commands in remote mode.

mod support;

use support::{Openssl, initialised, issue, mode};

#[test]
fn admin_certificates_are_issued_listed_and_revoked() {
    let t = initialised(false);
    let issued = t.json(&["admin", "issue", "alice", "--out", "alice", "--days", "7"]);
    assert_eq!(issued["admin"], "alice");
    assert_eq!(issued["uri"], "spiffe://example.test/admin/alice");
    let dir = t.work().join("alice");
    assert_eq!(mode(&dir.join("key.pem")), 0o600);
    let text = Openssl.ok(
        t.work(),
        &["x509", "-in", "alice/cert.pem", "-noout", "-text"],
    );
    assert!(
        text.contains("URI:spiffe://example.test/admin/alice"),
        "{text}"
    );
    assert!(text.contains("TLS Web Client Authentication"), "{text}");
    // The certificate verifies against the bundle's CA and its key matches.
    Openssl.ok(
        t.work(),
        &["verify", "-CAfile", "alice/ca.pem", "alice/cert.pem"],
    );
    let cert_pub = Openssl.ok(
        t.work(),
        &["x509", "-in", "alice/cert.pem", "-noout", "-pubkey"],
    );
    let key_pub = Openssl.ok(t.work(), &["pkey", "-in", "alice/key.pem", "-pubout"]);
    assert_eq!(cert_pub, key_pub);

    // Refusals: a non-empty output, a bad name, too many days.
    t.fails(
        &["admin", "issue", "bob", "--out", "alice"],
        "already exists",
    );
    t.fails(&["admin", "issue", "Bob!", "--out", "bob"], "admin name");
    t.fails(
        &["admin", "issue", "bob", "--out", "bob", "--days", "0"],
        "--days",
    );
    assert!(!t.work().join("bob").exists());

    let list = t.json(&["admin", "list"]);
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert_eq!(list[0]["serial"], issued["serial"]);
    assert!(t.ok(&["admin", "list"]).contains("valid"));

    let serial = issued["serial"].as_str().unwrap();
    let revoked = t.json(&["admin", "revoke", serial, "--reason", "key-compromise"]);
    assert_eq!(revoked["revocation_reason"], "key-compromise");
    assert!(
        t.ok(&["admin", "list"])
            .contains("revoked (key-compromise)")
    );
    t.fails(&["admin", "revoke", serial], "already revoked");
    t.fails(&["admin", "revoke", "abcdef"], "abcdef");

    // Both changes are in the audit log, and the chain verifies.
    let audit = t.json(&["audit"])["items"].clone();
    let actions: Vec<&str> = audit
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert!(actions.contains(&"admin.cert.issue"), "{actions:?}");
    assert!(actions.contains(&"admin.cert.revoke"), "{actions:?}");
    t.ok(&["audit", "verify"]);
}

#[test]
fn route_policy_flags_set_the_policy_in_one_update() {
    let t = initialised(false);
    t.ok(&["tenant", "create", "acme", "--name", "Acme"]);
    let set = t.json(&[
        "tenant",
        "limits",
        "acme",
        "--max-connections",
        "10",
        "--max-routes",
        "2",
        "--max-upstreams-per-route",
        "3",
        "--allow-upstream-host",
        "*.example.com",
        "--allow-upstream-host",
        "api.partner.test",
        "--allow-upstream-port",
        "443",
        "--allow-upstream-port",
        "8000-8999",
        "--allow-private-routes",
        "--allow-identity",
        "partner",
    ]);
    assert_eq!(set["max_connections"], 10);
    let p = &set["route_policy"];
    assert_eq!(p["max_routes"], 2);
    assert_eq!(p["max_upstreams_per_route"], 3);
    assert_eq!(
        p["allowed_upstream_hosts"],
        serde_json::json!(["*.example.com", "api.partner.test"])
    );
    assert_eq!(
        p["allowed_upstream_ports"],
        serde_json::json!(["443", "8000-8999"])
    );
    assert_eq!(p["allow_private"], true);
    assert_eq!(p["allowed_identities"], serde_json::json!(["partner"]));

    let show = t.ok(&["tenant", "show", "acme"]);
    assert!(
        show.contains("max_routes=2 max_upstreams_per_route=3 hosts=*.example.com,api.partner.test ports=443,8000-8999 private=allowed identities=partner"),
        "{show}"
    );

    // Without a policy flag the policy is kept (connection limits are set as before).
    let kept = t.json(&["tenant", "limits", "acme", "--requests-per-second", "5"]);
    assert_eq!(kept["route_policy"], set["route_policy"]);
    assert_eq!(kept["max_connections"], serde_json::Value::Null);
    assert_eq!(kept["requests_per_second"], 5);

    // A policy flag replaces the whole policy: the rest go back to their defaults.
    let reset = t.json(&["tenant", "limits", "acme", "--max-routes", "7"]);
    assert_eq!(reset["route_policy"]["max_routes"], 7);
    assert_eq!(reset["route_policy"]["allow_private"], false);
    assert_eq!(reset["route_policy"]["max_upstreams_per_route"], 8);

    // Bad values name the flag and the value; nothing changes.
    t.fails(
        &["tenant", "limits", "acme", "--allow-upstream-port", "99999"],
        "--allow-upstream-port",
    );
    t.fails(
        &[
            "tenant",
            "limits",
            "acme",
            "--allow-upstream-host",
            "bad host",
        ],
        "--allow-upstream-host",
    );
    t.fails(&["tenant", "limits", "nope", "--max-routes", "1"], "nope");
    assert_eq!(
        t.json(&["tenant", "show", "acme"])["route_policy"]["max_routes"],
        7
    );
    let updates = t.json(&["audit", "--tenant", "acme"])["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "tenant.update")
        .count();
    assert_eq!(updates, 3);
}

#[test]
fn egress_addresses_are_checked_shown_and_explained() {
    let t = initialised(false);
    t.ok(&["tenant", "create", "acme", "--name", "Acme"]);
    t.ok(&["tenant", "create", "globex", "--name", "Globex"]);

    // Not an address this host holds: refused with the reason, nothing stored.
    let err = t.fails(
        &["tenant", "egress", "acme", "--address", "192.0.2.10"],
        "192.0.2.10 cannot be tenant acme's egress address",
    );
    assert!(err.contains("caused by"), "{err}");
    t.fails(
        &["tenant", "egress", "acme", "--address", "0.0.0.0"],
        "0.0.0.0",
    );
    t.fails(&["tenant", "egress", "acme"], "--address");

    let set = t.json(&["tenant", "egress", "acme", "--address", "127.0.0.1"]);
    assert_eq!(set["egress_address"], "127.0.0.1");
    assert!(
        t.ok(&["tenant", "show", "acme"])
            .contains("Egress        127.0.0.1")
    );
    assert!(
        t.ok(&["tenant", "show", "globex"])
            .contains("Egress        the host's default")
    );
    // One address, one tenant.
    t.fails(
        &["tenant", "egress", "globex", "--address", "127.0.0.1"],
        "127.0.0.1",
    );

    // explain names the source address of the winning route's connections.
    issue(&t, "acme", "acme-bundle");
    t.ok(&[
        "route",
        "add",
        "acme",
        "http",
        "--host",
        "api.acme.test",
        "--upstream",
        "https://backend.example.com",
    ]);
    t.ok(&[
        "route",
        "add",
        "acme",
        "http",
        "--host",
        "bound.acme.test",
        "--upstream",
        "https://backend.example.com",
        "--egress-bind",
        "::1",
    ]);
    let cert = t.work().join("acme-bundle/cert.pem");
    let cert = cert.to_str().unwrap();
    let out = t.ok(&["explain", "--cert", cert, "--host", "api.acme.test"]);
    assert!(
        out.contains("Egress       from 127.0.0.1 (the tenant's egress address)"),
        "{out}"
    );
    let json = t.json(&["explain", "--cert", cert, "--host", "bound.acme.test"]);
    assert_eq!(json["egress_address"], "::1");
    assert_eq!(json["egress_source"], "the route's egress_bind");

    let cleared = t.json(&["tenant", "egress", "acme", "--clear"]);
    assert_eq!(cleared["egress_address"], serde_json::Value::Null);
    let out = t.ok(&["explain", "--cert", cert, "--host", "api.acme.test"]);
    assert!(
        out.contains("Egress       from the host's default source address"),
        "{out}"
    );
    // Now globex may take it.
    t.ok(&["tenant", "egress", "globex", "--address", "127.0.0.1"]);
}

#[test]
fn local_only_commands_refuse_remote_mode_and_remote_commands_need_a_server() {
    let t = initialised(false);
    let remote = ["--server", "https://127.0.0.1:9"];
    for cmd in [
        vec!["init", "--trust-domain", "x.test"],
        vec!["cert", "issue", "acme", "--out", "b"],
        vec!["cert", "sign", "acme", "--csr", "c.pem", "--out", "o.pem"],
        vec!["admin", "issue", "alice", "--out", "a"],
        vec!["admin", "list"],
        vec!["audit", "verify"],
        vec!["explain", "--cert", "c.pem", "--host", "h"],
    ] {
        let mut args = remote.to_vec();
        args.extend(&cmd);
        let err = t.fails(&args, "works on the local data directory only");
        assert!(err.contains(&format!("tenantctl {}", cmd[0])), "{err}");
    }
    // Through the environment too, and the config file.
    let config = t.work().join("remote.toml");
    std::fs::write(&config, "server = \"https://127.0.0.1:9\"\n").unwrap();
    t.fails(
        &["--config", config.to_str().unwrap(), "admin", "list"],
        "local data directory only",
    );
    for cmd in [vec!["whoami"], vec!["renew", "--cert-dir", "x"]] {
        t.fails(&cmd, "--server https://HOST:PORT");
    }
    // A server URL that is not https is refused before connecting.
    t.fails(
        &[
            "--server",
            "http://127.0.0.1:9",
            "--ca",
            "data/ca.pem",
            "tenant",
            "list",
        ],
        "the scheme must be https",
    );
    // A connection failure names the URL.
    let ca = t.data_dir().join("ca.pem");
    // A port nothing listens on: bound, then released.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("https://127.0.0.1:{port}");
    let err = t.fails(
        &[
            "--server",
            &url,
            "--ca",
            ca.to_str().unwrap(),
            "tenant",
            "list",
        ],
        &url,
    );
    assert!(err.contains("request failed"), "{err}");
    // --cert without --key.
    t.fails(
        &[
            "--server",
            &url,
            "--ca",
            ca.to_str().unwrap(),
            "--cert",
            "c.pem",
            "tenant",
            "list",
        ],
        "--cert needs --key",
    );
}
