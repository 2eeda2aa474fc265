//! Argument handling of the probe; the network path is tested end to end against
//! `openssl s_server` in `bins/mtlsd/tests/identities.rs`.

use std::time::Duration;

use super::*;

#[test]
fn targets_are_host_and_port() {
    assert_eq!(
        split_target("api.acme.test:443").unwrap(),
        ("api.acme.test".into(), 443)
    );
    assert_eq!(
        split_target("127.0.0.1:8443").unwrap(),
        ("127.0.0.1".into(), 8443)
    );
    assert_eq!(split_target("[::1]:8443").unwrap(), ("::1".into(), 8443));
    for bad in [
        "api.acme.test",
        "api:https",
        ":443",
        "host:0",
        "::1:443",
        "host:70000",
    ] {
        let err = split_target(bad).unwrap_err();
        assert!(
            matches!(&err, ProbeError::BadTarget { target } if target == bad),
            "{bad}"
        );
        assert!(err.to_string().contains("HOST:PORT"));
    }
}

const CONFIG: &str = r#"
[[listener]]
name = "in"
mode = "server"
listen = "127.0.0.1:1"
target = "127.0.0.1:2"
[listener.tls]
cert = "s.pem"
key = "s-key.pem"
ca = "ca.pem"

[[listener]]
name = "out"
mode = "client"
listen = "127.0.0.1:3"
target = "api.acme.test:443"
[listener.tls]
ca = "ca.pem"
identities = []
"#;

#[test]
fn the_listener_is_found_or_the_candidates_are_named() {
    let config = Config::from_toml(CONFIG, "/etc/mtlsd/m.toml").unwrap();
    let (name, tls) = outbound_listener(&config, None).unwrap();
    assert_eq!(name, "out");
    assert_eq!(tls.server_name.to_str(), "api.acme.test");
    assert_eq!(outbound_listener(&config, Some("out")).unwrap().0, "out");

    let err = outbound_listener(&config, Some("in")).unwrap_err();
    assert!(
        matches!(err, ProbeError::NotOutbound { mode: "server", .. }),
        "{err}"
    );
    let err = outbound_listener(&config, Some("nope")).unwrap_err();
    assert!(err.to_string().contains("no listener \"nope\""), "{err}");
    assert!(err.to_string().contains("outbound TLS side: out"), "{err}");

    let out = &CONFIG[CONFIG.find("[[listener]]\nname = \"out\"").unwrap()..];
    let two = format!(
        "{CONFIG}\n{}",
        out.replace("\"out\"", "\"out2\"")
            .replace("127.0.0.1:3", "127.0.0.1:4")
    );
    let config = Config::from_toml(&two, "/etc/mtlsd/m.toml").unwrap();
    let err = outbound_listener(&config, None).unwrap_err();
    assert!(
        matches!(err, ProbeError::ListenerRequired { count: 2, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("--listener"), "{err}");
}

#[tokio::test]
async fn without_a_ca_or_consent_the_probe_refuses_to_run() {
    let mut options = ProbeOptions::new("127.0.0.1:9");
    options.timeout = Duration::from_secs(1);
    let err = probe(&options, None).await.unwrap_err();
    assert!(matches!(err, ProbeError::NoTrustRoots), "{err}");
    options.server_name = Some("not a name".into());
    options.insecure_skip_verify = true;
    let err = probe(&options, None).await.unwrap_err();
    assert!(matches!(err, ProbeError::BadServerName { .. }), "{err}");
}
