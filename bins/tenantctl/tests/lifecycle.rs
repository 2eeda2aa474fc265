//! Tenants, tokens, routes, audit and bad input, through the tenantctl process.

mod support;

use std::os::unix::fs::PermissionsExt;

use support::{Openssl, initialised, issue, tenantctl};

#[test]
fn tenant_lifecycle_and_listing() {
    let t = initialised(false);
    let created = t.json(&[
        "tenant",
        "create",
        "acme",
        "--name",
        "Acme Corp",
        "--max-connections",
        "50",
    ]);
    assert_eq!(created["status"], "active");
    assert_eq!(created["max_connections"], 50);
    t.ok(&["tenant", "create", "globex", "--name", "Globex"]);
    let list = t.json(&["tenant", "list"])["items"].clone();
    let ids: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["acme", "globex"]);
    let human = t.ok(&["tenant", "list"]);
    assert!(
        human.contains("Acme Corp") && human.contains("globex"),
        "{human}"
    );

    assert_eq!(
        t.json(&["tenant", "suspend", "acme"])["status"],
        "suspended"
    );
    t.fails(&["tenant", "suspend", "acme"], "suspended");
    // A suspended tenant gets no certificates and no tokens.
    t.fails(&["cert", "issue", "acme", "--out", "x"], "suspended");
    t.fails(&["token", "create", "acme"], "suspended");
    assert!(!t.work().join("x").exists());
    assert_eq!(t.json(&["tenant", "resume", "acme"])["status"], "active");

    // Delete revokes the tenant's certificates and removes its routes.
    let cert = issue(&t, "acme", "acme-bundle");
    t.ok(&[
        "route",
        "add",
        "acme",
        "tcp",
        "--allow-private",
        "--sni",
        "db.acme.test",
        "--upstream",
        "10.0.0.5:5432",
    ]);
    let deleted = t.json(&["tenant", "delete", "acme"]);
    assert_eq!(deleted["revoked_serials"][0], cert["serial"]);
    assert_eq!(deleted["routes_removed"], 1);
    t.fails(&["tenant", "show", "acme"], "acme");
    let certs = t.json(&["cert", "list"])["items"].clone();
    assert_eq!(certs[0]["revocation_reason"], "cessation-of-operation");
}

#[test]
fn bad_tenant_input_is_refused_with_specific_errors() {
    let t = initialised(false);
    for (id, needle) in [
        ("Acme", "uppercase"),
        ("-acme", "'-'"),
        ("ac_me", "'_'"),
        ("", "empty"),
    ] {
        t.fails(&["tenant", "create", id, "--name", "X"], needle);
    }
    let long = "a".repeat(64);
    t.fails(&["tenant", "create", &long, "--name", "X"], "63");
    t.ok(&["tenant", "create", "acme", "--name", "Acme"]);
    t.fails(&["tenant", "create", "acme", "--name", "Again"], "acme");
    t.fails(&["tenant", "show", "nobody"], "nobody");
    t.fails(&["cert", "issue", "nobody", "--out", "n"], "nobody");
    t.fails(&["tenant", "create", "x", "--name", ""], "name");
    // The failed commands left nothing behind.
    assert_eq!(
        t.json(&["tenant", "list"])["items"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    // JSON errors are machine-readable too.
    let run = t.run(&["--json", "tenant", "show", "nobody"]);
    assert_eq!(run.code, Some(1));
    let v: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(v["kind"], "registry");
}

#[test]
fn enrollment_token_is_one_time_and_keeps_the_key_local() {
    let t = initialised(true);
    t.ok(&["tenant", "create", "acme", "--name", "Acme"]);
    let token = t.json(&["token", "create", "acme", "--ttl", "15m"]);
    let secret = token["token"].as_str().unwrap().to_owned();
    std::fs::write(t.work().join("token"), format!("{secret}\n")).unwrap();
    let enrolled = t.json(&["enroll", "--token-file", "token", "--out", "app"]);
    assert_eq!(enrolled["tenant"], "acme");
    let dir = t.work().join("app");
    Openssl.ok(
        &dir,
        &[
            "verify",
            "-CAfile",
            "ca.pem",
            "-untrusted",
            "cert.pem",
            "cert.pem",
        ],
    );
    let text = Openssl.ok(&dir, &["x509", "-in", "cert.pem", "-noout", "-text"]);
    assert!(
        text.contains("URI:spiffe://example.test/tenant/acme"),
        "{text}"
    );
    // The secret is stored nowhere in the data dir.
    let db = std::fs::read(t.data_dir().join("registry.db")).unwrap();
    assert!(
        !db.windows(secret.len()).any(|w| w == secret.as_bytes()),
        "token secret found in registry.db"
    );

    // Second use, unknown token and an empty token file are refused; no new files appear.
    t.fails(
        &["enroll", "--token-file", "token", "--out", "again"],
        "already used",
    );
    t.fails(
        &["enroll", "--token", "mtls-enroll-AAAA", "--out", "again"],
        "token",
    );
    std::fs::write(t.work().join("empty"), "").unwrap();
    t.fails(
        &["enroll", "--token-file", "empty", "--out", "again"],
        "empty",
    );
    t.fails(&["enroll", "--out", "again"], "token");
    assert!(!t.work().join("again").exists());
    assert_eq!(
        t.json(&["cert", "list", "acme"])["items"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    let tokens = t.json(&["token", "list", "acme"]);
    assert!(tokens[0]["used_at"].is_string());
    t.fails(&["token", "create", "acme", "--ttl", "90d"], "lifetime");
}

#[test]
fn routes_are_validated_listed_and_removed() {
    let t = initialised(false);
    t.ok(&["tenant", "create", "acme", "--name", "Acme"]);
    t.ok(&["tenant", "create", "globex", "--name", "Globex"]);
    let http = t.json(&[
        "route",
        "add",
        "acme",
        "http",
        "--allow-private",
        "--host",
        "api.acme.test",
        "--path",
        "/v1",
        "--upstream",
        "https://10.1.2.3:8443",
        "--upstream",
        "https://10.1.2.4:8443",
        "--add-header",
        "x-team: payments",
        "--timeout",
        "30s",
    ]);
    let id = http["id"].as_str().unwrap().to_owned();
    t.ok(&[
        "route",
        "add",
        "acme",
        "connect",
        "--allow",
        "*.stripe.com:443",
        "--allow",
        "db.acme.test:5432",
    ]);
    // Same host and path in another tenant is fine: tables are per tenant.
    t.ok(&[
        "route",
        "add",
        "globex",
        "http",
        "--allow-private",
        "--host",
        "api.acme.test",
        "--path",
        "/v1",
        "--upstream",
        "http://127.0.0.1:9000",
    ]);
    // The same claim twice within one tenant is a conflict naming the first route.
    t.fails(
        &[
            "route",
            "add",
            "acme",
            "http",
            "--allow-private",
            "--host",
            "api.acme.test",
            "--path",
            "/v1",
            "--upstream",
            "http://127.0.0.1:9001",
        ],
        &id,
    );
    for (args, needle) in [
        (
            vec!["http", "--host", "api.acme.test", "--upstream", "ftp://x"],
            "ftp",
        ),
        (vec!["http", "--host", "*.", "--upstream", "http://x"], "*."),
        (
            vec![
                "http",
                "--host",
                "a.test",
                "--path",
                "no-slash",
                "--upstream",
                "http://x",
            ],
            "no-slash",
        ),
        (
            vec!["tcp", "--sni", "db.test", "--upstream", "db.test"],
            "db.test",
        ),
        (vec!["connect", "--allow", "*:443"], "*"),
        (vec!["connect", "--allow", "host:0"], "host:0"),
    ] {
        let mut all = vec!["route", "add", "acme"];
        all.extend(args);
        t.fails(&all, needle);
    }
    assert_eq!(
        t.json(&["route", "list", "acme"])["items"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    assert_eq!(
        t.json(&["route", "list"])["items"]
            .as_array()
            .unwrap()
            .len(),
        3
    );
    let human = t.ok(&["route", "list", "acme"]);
    assert!(human.contains("api.acme.test"), "{human}");
    t.ok(&["route", "remove", &id]);
    t.fails(&["route", "remove", &id], &id);
    assert_eq!(
        t.json(&["route", "list", "acme"])["items"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    t.fails(
        &[
            "route",
            "add",
            "nobody",
            "tcp",
            "--sni",
            "a.test",
            "--upstream",
            "a.test:1",
        ],
        "nobody",
    );
}

#[test]
fn audit_log_records_changes_and_detects_tampering() {
    let t = initialised(false);
    t.ok(&["tenant", "create", "acme", "--name", "Acme"]);
    t.ok(&["tenant", "create", "globex", "--name", "Globex"]);
    issue(&t, "acme", "a");
    t.ok(&["tenant", "suspend", "globex"]);
    let all = t.json(&["audit"])["items"].clone();
    let actions: Vec<&str> = all
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        [
            "registry.init",
            "tenant.create",
            "tenant.create",
            "cert.issue",
            "tenant.suspend"
        ]
    );
    assert!(
        all.as_array()
            .unwrap()
            .iter()
            .all(|e| e["actor"] == "cli:test")
    );
    let acme = t.json(&["audit", "--tenant", "acme"])["items"].clone();
    assert_eq!(acme.as_array().unwrap().len(), 2);
    assert_eq!(
        t.json(&["audit", "--since", "1h"])["items"]
            .as_array()
            .unwrap()
            .len(),
        5
    );
    assert_eq!(
        t.json(&["audit", "--since", "2099-01-01T00:00:00Z"])["items"]
            .as_array()
            .unwrap()
            .len(),
        0
    );
    t.fails(&["audit", "--since", "yesterday-ish"], "--since");
    let verified = t.json(&["audit", "verify"]);
    assert_eq!(verified["events"], 5);

    // Someone with write access to the file edits an event behind the API's back.
    let db = rusqlite::Connection::open(t.data_dir().join("registry.db")).unwrap();
    let triggers: Vec<String> = db
        .prepare("SELECT name FROM sqlite_master WHERE type = 'trigger'")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    for name in triggers {
        db.execute_batch(&format!("DROP TRIGGER \"{name}\""))
            .unwrap();
    }
    let table: String = db
        .query_row(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE 'audit%' ORDER BY name LIMIT 1",
            [],
            |r| r.get(0),
        )
        .unwrap();
    db.execute(
        &format!("UPDATE \"{table}\" SET actor = 'cli:mallory' WHERE seq = 3"),
        [],
    )
    .unwrap();
    drop(db);
    let err = t.fails(&["audit", "verify"], "3");
    assert!(err.to_lowercase().contains("audit"), "{err}");
}

#[test]
fn unsafe_missing_and_corrupt_data_dirs_are_refused() {
    let t = tenantctl();
    t.fails(&["tenant", "list"], "tenantctl init");
    t.ok(&["init", "--trust-domain", "example.test"]);
    let data = t.data_dir().to_owned();
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o755)).unwrap();
    t.fails(&["tenant", "list"], "0755");
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o700)).unwrap();
    t.ok(&["tenant", "list"]);
    t.fails(&["init", "--trust-domain", "Bad Domain"], "trust domain");

    // A corrupt registry is reported as such, not as an empty one.
    let db = data.join("registry.db");
    for companion in ["registry.db-wal", "registry.db-shm"] {
        let _ = std::fs::remove_file(data.join(companion));
    }
    std::fs::write(&db, vec![0x42u8; 8192]).unwrap();
    let err = t.fails(&["tenant", "list"], "registry.db");
    assert!(err.to_lowercase().contains("corrupt"), "{err}");
}

#[test]
fn a_failure_in_the_middle_of_issuing_leaves_the_registry_unchanged() {
    let t = initialised(false);
    t.ok(&["tenant", "create", "acme", "--name", "Acme"]);
    let audit_before = t.json(&["audit"])["items"].as_array().unwrap().len();
    // The bundle directory cannot be created (its parent is a file): the certificate is
    // signed, then writing fails inside the registry transaction.
    std::fs::write(t.work().join("blocker"), b"a file").unwrap();
    t.fails(
        &["cert", "issue", "acme", "--out", "blocker/bundle"],
        "blocker",
    );
    assert_eq!(
        t.json(&["cert", "list"])["items"].as_array().unwrap().len(),
        0
    );
    assert_eq!(
        t.json(&["audit"])["items"].as_array().unwrap().len(),
        audit_before
    );
    t.ok(&["audit", "verify"]);
    // An existing, non-empty output directory is refused before anything happens.
    std::fs::create_dir(t.work().join("full")).unwrap();
    std::fs::write(t.work().join("full/keep.txt"), b"mine").unwrap();
    t.fails(&["cert", "issue", "acme", "--out", "full"], "full");
    assert_eq!(
        std::fs::read(t.work().join("full/keep.txt")).unwrap(),
        b"mine"
    );
    assert_eq!(
        t.json(&["cert", "list"])["items"].as_array().unwrap().len(),
        0
    );
}

#[test]
fn explain_shows_the_gateways_decision() {
    let t = initialised(true);
    t.ok(&["tenant", "create", "acme", "--name", "Acme"]);
    t.ok(&["tenant", "create", "globex", "--name", "Globex"]);
    let cert = issue(&t, "acme", "acme");
    let exact = t.json(&[
        "route",
        "add",
        "acme",
        "http",
        "--allow-private",
        "--host",
        "api.acme.test",
        "--path",
        "/v1",
        "--upstream",
        "https://10.1.2.3:8443",
        "--upstream-identity",
        "acme-partner",
    ])["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let wildcard = t.json(&[
        "route",
        "add",
        "acme",
        "http",
        "--allow-private",
        "--host",
        "*.acme.test",
        "--upstream",
        "http://127.0.0.1:9000",
    ])["id"]
        .as_str()
        .unwrap()
        .to_owned();
    t.ok(&[
        "route",
        "add",
        "acme",
        "connect",
        "--allow",
        "db.acme.test:5432",
    ]);
    // globex's identical host never shows up for acme.
    t.ok(&[
        "route",
        "add",
        "globex",
        "http",
        "--allow-private",
        "--host",
        "api.acme.test",
        "--path",
        "/v1/users",
        "--upstream",
        "http://127.0.0.1:9100",
    ]);

    let v = t.json(&[
        "explain",
        "--cert",
        "acme/cert.pem",
        "--host",
        "API.acme.test:443",
        "--path",
        "/v1/users?x=1",
    ]);
    assert_eq!(v["tenant"], "acme");
    assert_eq!(v["admitted"], true);
    assert_eq!(v["route"], exact.as_str());
    assert_eq!(v["upstream_identity"], "acme-partner");
    let candidates = v["candidates"].as_array().unwrap();
    assert_eq!(candidates.len(), 2, "{v}");
    assert_eq!(candidates[1]["route"], wildcard.as_str());
    assert_eq!(candidates[1]["verdict"], "less specific host");
    let human = t.ok(&[
        "explain",
        "--cert",
        "acme/cert.pem",
        "--host",
        "api.acme.test",
        "--path",
        "/v1",
    ]);
    assert!(
        human.contains("admitted") && human.contains(&exact),
        "{human}"
    );

    let miss = t.json(&["explain", "--cert", "acme/cert.pem", "--host", "nope.test"]);
    assert_eq!(miss["no_route"], "no_host_match");
    let allowed = t.json(&[
        "explain",
        "--cert",
        "acme/cert.pem",
        "--connect",
        "db.acme.test:5432",
    ]);
    assert_eq!(allowed["pattern"], "db.acme.test:5432");
    let denied = t.json(&[
        "explain",
        "--cert",
        "acme/cert.pem",
        "--connect",
        "evil.test:22",
    ]);
    assert_eq!(denied["no_route"], "not_allowed");

    // Refusals: suspended tenant, revoked certificate, another CA's certificate.
    t.ok(&["tenant", "suspend", "acme"]);
    let v = t.json(&[
        "explain",
        "--cert",
        "acme/cert.pem",
        "--host",
        "api.acme.test",
    ]);
    assert_eq!(
        (v["admitted"].as_bool(), v["refusal"].as_str()),
        (Some(false), Some("tenant_suspended"))
    );
    t.ok(&["tenant", "resume", "acme"]);
    t.ok(&["cert", "revoke", cert["serial"].as_str().unwrap()]);
    let v = t.json(&[
        "explain",
        "--cert",
        "acme/cert.pem",
        "--host",
        "api.acme.test",
    ]);
    assert_eq!(v["refusal"], "certificate_revoked");

    let other = initialised(false);
    other.ok(&["tenant", "create", "acme", "--name", "Acme"]);
    issue(&other, "acme", "foreign");
    let foreign = other.work().join("foreign/cert.pem");
    let v = t.json(&[
        "explain",
        "--cert",
        foreign.to_str().unwrap(),
        "--host",
        "api.acme.test",
    ]);
    assert_eq!(v["admitted"], false);
    assert!(
        v["refusal"].as_str().unwrap().contains("not issued by"),
        "{v}"
    );
    t.fails(&["explain", "--cert", "acme/cert.pem"], "--host");

    // The chain is checked by the listener's own verifier: the leaf alone, without the
    // intermediate a client sends from its cert.pem, does not chain to ca.pem.
    t.ok(&["cert", "issue", "acme", "--out", "acme-leaf"]);
    let full = std::fs::read_to_string(t.work().join("acme-leaf/cert.pem")).unwrap();
    let end = "-----END CERTIFICATE-----\n";
    let leaf_only = &full[..full.find(end).unwrap() + end.len()];
    assert!(full.len() > leaf_only.len(), "cert.pem holds the chain");
    std::fs::write(t.work().join("leaf-only.pem"), leaf_only).unwrap();
    let v = t.json(&[
        "explain",
        "--cert",
        "leaf-only.pem",
        "--host",
        "api.acme.test",
    ]);
    assert_eq!(v["admitted"], false, "{v}");
    assert!(
        v["refusal"].as_str().unwrap().contains("not issued by"),
        "{v}"
    );
}

/// `route add ... --allow-private`: HTTP, TCP and CONNECT routes to non-public IP literals
/// are refused without it (naming the range), accepted with it, and `route list` shows it.
#[test]
fn private_upstream_literals_need_allow_private() {
    let t = initialised(false);
    t.ok(&["tenant", "create", "acme", "--name", "Acme"]);
    for (args, range) in [
        (
            vec![
                "http",
                "--host",
                "a.acme.test",
                "--upstream",
                "http://127.0.0.1:8080",
            ],
            "loopback (127.0.0.0/8)",
        ),
        (
            vec![
                "http",
                "--host",
                "b.acme.test",
                "--upstream",
                "http://[64:ff9b::a9fe:a9fe]",
            ],
            "link-local (includes cloud metadata) (169.254.0.0/16) of 169.254.169.254 embedded by NAT64",
        ),
        (
            vec![
                "tcp",
                "--sni",
                "db.acme.test",
                "--upstream",
                "10.0.0.5:5432",
            ],
            "private (10.0.0.0/8)",
        ),
        (
            vec!["connect", "--allow", "[::ffff:127.0.0.1]:22"],
            "loopback",
        ),
    ] {
        let mut all = vec!["route", "add", "acme"];
        all.extend(&args);
        t.fails(&all, range);
        t.fails(&all, "allow_private");
        all.push("--allow-private");
        let added = t.json(&all);
        assert_eq!(added["spec"]["allow_private"], true, "{added}");
        assert!(
            added["summary"]
                .as_str()
                .unwrap()
                .ends_with("[private allowed]"),
            "{added}"
        );
    }
    // A name is judged when it is dialed, not when it is added.
    let named = t.json(&[
        "route",
        "add",
        "acme",
        "http",
        "--host",
        "c.acme.test",
        "--upstream",
        "http://localhost:8080",
    ]);
    assert!(named["spec"].get("allow_private").is_none(), "{named}");
    let human = t.ok(&["route", "list", "acme"]);
    assert_eq!(human.matches("[private allowed]").count(), 4, "{human}");
    assert!(
        human.contains("http c.acme.test/ -> http://localhost:8080\n"),
        "{human}"
    );
}
