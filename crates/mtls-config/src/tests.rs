use std::path::Path;
use std::time::Duration;

use mtls_tls::{ClientAuth, TlsVersion};

use super::*;

const GOOD: &str = r#"
[[listener]]
name = "api"
mode = "server"
listen = "127.0.0.1:8443"
target = "127.0.0.1:8080"

[listener.tls]
cert = "server.pem"
key = "server-key.pem"
ca = "ca.pem"

[listener.acl]
allow_cn = ["frontend"]
allow_uri = ["spiffe://example.test/tenant/*"]

[[listener]]
name = "out"
mode = "client"
listen = "127.0.0.1:9080"
target = "api.internal:8443"

[listener.tls]
cert = "/abs/client.pem"
key = "client-key.pem"
ca = "ca.pem"
min_version = "1.3"

[listener.proxy]
dial_timeout = "2s"
idle_timeout = "5m"
max_connections = 10
on_limit = "refuse"

[health]
enabled = true

[metrics]
enabled = true
listen = "127.0.0.1:9101"

[logging]
level = "debug"
format = "json"
"#;

fn load(text: &str) -> Result<Config, ConfigError> {
    Config::from_toml(text, Path::new("/etc/mtlsd/mtlsd.toml"))
}

fn problems(text: &str) -> Vec<Problem> {
    match load(text) {
        Err(ConfigError::Invalid { problems, path }) => {
            assert_eq!(path, Path::new("/etc/mtlsd/mtlsd.toml"));
            problems
        }
        other => panic!("expected Invalid, got {other:?}"),
    }
}

/// A one-listener server config with `extra` appended to the listener.
fn server_with(tls_extra: &str, extra: &str) -> String {
    format!(
        "[[listener]]\nname = \"api\"\nmode = \"server\"\nlisten = \"127.0.0.1:8443\"\n\
         target = \"127.0.0.1:8080\"\n{extra}\n[listener.tls]\ncert = \"c.pem\"\nkey = \"k.pem\"\n\
         ca = \"ca.pem\"\n{tls_extra}\n"
    )
}

#[test]
fn good_config_with_defaults_and_relative_paths() {
    let c = load(GOOD).unwrap();
    assert_eq!(c.listeners().len(), 2);
    let api = &c.listeners()[0];
    assert_eq!(api.name, "api");
    assert_eq!(api.listen.to_string(), "127.0.0.1:8443");
    assert_eq!(api.target.as_ref().unwrap().to_string(), "127.0.0.1:8080");
    match &api.mode {
        ListenerMode::Server { tls } => {
            assert_eq!(tls.cert, Path::new("/etc/mtlsd/server.pem"));
            assert_eq!(
                tls.client_auth,
                ClientAuth::Required {
                    ca: "/etc/mtlsd/ca.pem".into()
                }
            );
            assert_eq!(tls.min_version, TlsVersion::Tls12);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(api.acl.rules().count(), 2);
    assert_eq!(api.limits.idle_timeout, Duration::from_secs(90));
    assert_eq!(api.limits.max_connections.get(), 1000);
    assert_eq!(api.limits.on_limit, OnLimit::Wait);

    let out = &c.listeners()[1];
    match &out.mode {
        ListenerMode::Client { tls } => {
            assert_eq!(
                tls.identities,
                [IdentityConfig {
                    name: SINGLE_IDENTITY_NAME.to_owned(),
                    cert: "/abs/client.pem".into(),
                    key: "/etc/mtlsd/client-key.pem".into(),
                }]
            );
            assert_eq!(tls.policy, SelectionPolicy::new());
            assert_eq!(tls.server_name.to_str(), "api.internal");
            assert_eq!(tls.min_version, TlsVersion::Tls13);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(out.limits.dial_timeout, Duration::from_secs(2));
    assert_eq!(out.limits.idle_timeout, Duration::from_secs(300));
    assert_eq!(out.limits.on_limit, OnLimit::Refuse);
    assert_eq!(c.health_listen(), Some("127.0.0.1:9000".parse().unwrap()));
    assert_eq!(c.metrics_listen(), Some("127.0.0.1:9101".parse().unwrap()));
    assert_eq!(c.logging().level, LogLevel::Debug);
    assert_eq!(c.logging().format, LogFormat::Json);
    assert_eq!(c.drain_timeout(), Duration::from_secs(30));
    assert!(c.reload().watch);
}

#[test]
fn unknown_keys_are_rejected_with_their_name() {
    let err = load(&server_with("", "colour = \"blue\"")).unwrap_err();
    assert!(err.is_parse());
    let msg = err.to_string();
    assert!(msg.contains("/etc/mtlsd/mtlsd.toml"), "{msg}");
    assert!(msg.contains("colour"), "{msg}");

    let err = load(&server_with("clientauth = \"none\"", "")).unwrap_err();
    assert!(err.to_string().contains("clientauth"), "{err}");
    let err = load("[metrics]\nenable = true\n").unwrap_err();
    assert!(err.to_string().contains("enable"), "{err}");
}

#[test]
fn bad_durations_name_listener_and_field() {
    let p = problems(&server_with(
        "",
        "[listener.proxy]\nidle_timeout = \"90 parsecs\"\ndial_timeout = \"0s\"\n",
    ));
    assert_eq!(p.len(), 2, "{p:?}");
    assert_eq!(p[0].listener.as_deref(), Some("\"api\""));
    assert_eq!(p[0].field, "proxy.dial_timeout");
    assert!(p[0].message.contains("zero"));
    assert_eq!(p[1].field, "proxy.idle_timeout");
    assert!(p[1].message.contains("90 parsecs"));
}

#[test]
fn every_problem_is_reported_not_only_the_first() {
    let text = r#"
[[listener]]
name = "a b"
mode = "sideways"
listen = "localhost"
target = "nowhere"

[listener.proxy]
max_connections = 0
on_limit = "panic"

[[listener]]
mode = "client"
listen = "127.0.0.1:1"
target = "127.0.0.1:2"

[listener.tls]
cert = "c.pem"
client_auth = "required"

[logging]
level = "loud"
format = "xml"

[health]
enabled = true
listen = "0.0.0.0"
"#;
    let p = problems(text);
    let fields: Vec<(Option<&str>, &str)> = p
        .iter()
        .map(|p| (p.listener.as_deref(), p.field.as_str()))
        .collect();
    for expected in [
        (Some("\"a b\""), "name"),
        (Some("\"a b\""), "listen"),
        (Some("\"a b\""), "target"),
        (Some("\"a b\""), "mode"),
        (Some("\"a b\""), "proxy.max_connections"),
        (Some("\"a b\""), "proxy.on_limit"),
        (Some("#2"), "name"),
        (Some("#2"), "tls.client_auth"),
        (Some("#2"), "tls.key"),
        (Some("#2"), "tls.ca"),
        (None, "health.listen"),
        (None, "logging.level"),
        (None, "logging.format"),
    ] {
        assert!(
            fields.contains(&expected),
            "missing {expected:?} in {fields:?}"
        );
    }
    let err = load(text).unwrap_err().to_string();
    assert!(err.contains(&format!("{} problem(s)", p.len())), "{err}");
    assert!(
        err.contains("listener \"a b\": `mode`: \"sideways\" is not a mode"),
        "{err}"
    );
}

#[test]
fn tls_versions_and_policies() {
    let p = problems(&server_with(
        "min_version = \"1.1\"\nclient_auth = \"maybe\"",
        "",
    ));
    assert_eq!(p.len(), 2, "{p:?}");
    assert!(
        p.iter()
            .any(|p| p.field == "tls.min_version" && p.message.contains("\"1.1\""))
    );
    assert!(p.iter().any(|p| p.field == "tls.client_auth"));

    // client_auth = "none" needs no CA, and a CA set anyway is flagged as unused.
    let p = problems(&server_with("client_auth = \"none\"", ""));
    assert_eq!(p[0].field, "tls.ca");
    let c = load(&server_with("client_auth = \"optional\"", "")).unwrap();
    assert!(matches!(
        &c.listeners()[0].mode,
        ListenerMode::Server { tls } if matches!(tls.client_auth, ClientAuth::Optional { .. })
    ));
}

#[test]
fn session_lifetime_defaults_parses_and_may_be_zero() {
    let lifetime =
        |tls_extra: &str| match &load(&server_with(tls_extra, "")).unwrap().listeners()[0].mode {
            ListenerMode::Server { tls } => tls.session_lifetime,
            other => panic!("{other:?}"),
        };
    assert_eq!(lifetime(""), mtls_tls::DEFAULT_SESSION_LIFETIME);
    assert_eq!(
        lifetime("session_lifetime = \"10m\""),
        Duration::from_secs(600)
    );
    assert_eq!(lifetime("session_lifetime = \"0s\""), Duration::ZERO);
    let p = problems(&server_with("session_lifetime = \"soon\"", ""));
    assert_eq!(p.len(), 1, "{p:?}");
    assert_eq!(p[0].field, "tls.session_lifetime");
    assert!(p[0].message.contains("\"soon\""), "{p:?}");
    // Outbound sides resume as clients: the setting is the inbound side's.
    let client = server_with("session_lifetime = \"1h\"", "").replace("\"server\"", "\"client\"");
    let p = problems(&client);
    assert!(
        p.iter().any(|p| p.field == "tls.session_lifetime"
            && p.message.contains("only applies to the inbound TLS side")),
        "{p:?}"
    );
}

#[test]
fn verified_chain_cache_defaults_parses_and_may_be_zero() {
    let size =
        |tls_extra: &str| match &load(&server_with(tls_extra, "")).unwrap().listeners()[0].mode {
            ListenerMode::Server { tls } => tls.verified_chain_cache,
            other => panic!("{other:?}"),
        };
    assert_eq!(size(""), mtls_tls::DEFAULT_VERIFIED_CHAIN_CACHE);
    assert_eq!(size("verified_chain_cache = 10"), 10);
    assert_eq!(size("verified_chain_cache = 0"), 0);
    for bad in ["-1", "1000000000"] {
        let p = problems(&server_with(&format!("verified_chain_cache = {bad}"), ""));
        assert_eq!(p.len(), 1, "{p:?}");
        assert_eq!(p[0].field, "tls.verified_chain_cache");
        assert!(p[0].message.contains(bad), "{p:?}");
    }
    let client = server_with("verified_chain_cache = 5", "").replace("\"server\"", "\"client\"");
    let p = problems(&client);
    assert!(
        p.iter().any(|p| p.field == "tls.verified_chain_cache"
            && p.message.contains("only applies to the inbound TLS side")),
        "{p:?}"
    );
}

#[test]
fn missing_sections_and_mode_mismatches() {
    assert_eq!(problems("")[0].field, "listener");
    let p = problems(
        "[[listener]]\nname = \"x\"\nmode = \"server\"\nlisten = \"127.0.0.1:1\"\ntarget = \"127.0.0.1:2\"\n",
    );
    assert_eq!(p[0].field, "tls");
    let p = problems(&server_with("", "").replace("\"server\"", "\"bridge\""));
    assert!(p.iter().any(|p| p.field == "upstream_tls"), "{p:?}");
    let client =
        server_with("", "[listener.acl]\nallow_cn = [\"x\"]\n").replace("\"server\"", "\"client\"");
    let p = problems(&client);
    assert!(p.iter().any(|p| p.field == "acl"), "{p:?}");
}

#[test]
fn bridge_mode_has_both_sides() {
    let text = server_with("", "").replace("\"server\"", "\"bridge\"")
        + "[listener.upstream_tls]\ncert = \"u.pem\"\nkey = \"uk.pem\"\nca = \"uca.pem\"\nserver_name = \"up.example.test\"\n";
    let c = load(&text).unwrap();
    match &c.listeners()[0].mode {
        ListenerMode::Bridge { tls, upstream_tls } => {
            assert_eq!(tls.cert, Path::new("/etc/mtlsd/c.pem"));
            assert_eq!(upstream_tls.server_name.to_str(), "up.example.test");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn bad_acl_patterns_and_duplicates() {
    let p = problems(&server_with(
        "",
        "[listener.acl]\nallow_uri = [\"spiffe://*/tenant\"]\nallow_cn = [\"\"]\n",
    ));
    assert!(
        p.iter()
            .any(|p| p.field == "acl.allow_uri" && p.message.contains("'*'"))
    );
    assert!(
        p.iter()
            .any(|p| p.field == "acl.allow_cn" && p.message.contains("empty"))
    );

    let two =
        server_with("", "") + &server_with("", "").replace("127.0.0.1:8443", "127.0.0.1:8444");
    let p = problems(&two);
    assert_eq!(p.len(), 1, "{p:?}");
    assert_eq!(p[0].field, "name");
    let two = server_with("", "") + &server_with("", "").replace("\"api\"", "\"api2\"");
    assert_eq!(problems(&two)[0].field, "listen");
}

mod control;
mod gateway;
mod identities;
mod limits;
mod registry;

#[test]
fn unreadable_file_names_the_path() {
    let err = Config::load("/nonexistent/mtlsd.toml").unwrap_err();
    assert!(matches!(err, ConfigError::Read { .. }));
    assert!(err.to_string().contains("/nonexistent/mtlsd.toml"));
}
