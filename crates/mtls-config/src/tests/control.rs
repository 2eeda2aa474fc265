//! `[control]`: the control-plane API section.

use std::path::Path;
use std::time::Duration;

use super::{load, problems};

#[test]
fn a_control_only_config_gets_the_data_dir_defaults() {
    let config = load("data_dir = \"data\"\n[control]\nlisten = \"127.0.0.1:8444\"\n").unwrap();
    assert!(config.listeners().is_empty());
    let c = config.control().unwrap();
    assert_eq!(c.listen, "127.0.0.1:8444".parse().unwrap());
    assert_eq!(c.cert, Path::new("/etc/mtlsd/data/server/cert.pem"));
    assert_eq!(c.key, Path::new("/etc/mtlsd/data/server/key.pem"));
    assert_eq!(c.ca, Path::new("/etc/mtlsd/data/ca.pem"));
    assert_eq!(c.cert_validity, Duration::from_secs(30 * 86400));
    assert_eq!(c.recovery_window, Duration::from_secs(30 * 86400));
    assert_eq!(c.max_recoveries, 3);
    assert_eq!(c.max_body_bytes, 65536);
    assert_eq!(c.handshake_timeout, Duration::from_secs(10));
    assert_eq!((c.enroll_per_ip.count, c.enroll_per_ip.burst), (10, 5));
    assert_eq!(c.enroll_per_ip.period, Duration::from_secs(60));
    assert_eq!((c.renew_per_tenant.count, c.renew_per_tenant.burst), (6, 3));
    assert_eq!(c.renew_per_tenant.period, Duration::from_secs(3600));
}

#[test]
fn every_key_is_read_and_a_zero_window_disables_recovery() {
    let config = load(
        r#"
[control]
listen = "0.0.0.0:8444"
cert = "control.pem"
key = "/keys/control-key.pem"
ca = "clients.pem"
cert_validity = "7d"
recovery_window = "0s"
max_recoveries = 0
max_body_bytes = 4096
handshake_timeout = "3s"

[control.rate_limits]
enroll_per_ip_per_minute = 30
enroll_per_ip_burst = 10
renew_per_ip_per_minute = 20
renew_per_ip_burst = 4
renew_per_tenant_per_hour = 12
renew_per_tenant_burst = 2
"#,
    )
    .unwrap();
    let c = config.control().unwrap();
    assert_eq!(c.listen.port(), 8444);
    assert_eq!(c.cert, Path::new("/etc/mtlsd/control.pem"));
    assert_eq!(c.key, Path::new("/keys/control-key.pem"));
    assert_eq!(c.ca, Path::new("/etc/mtlsd/clients.pem"));
    assert_eq!(c.cert_validity, Duration::from_secs(7 * 86400));
    assert!(c.recovery_window.is_zero());
    assert_eq!(c.max_recoveries, 0);
    assert_eq!(c.max_body_bytes, 4096);
    assert_eq!(c.handshake_timeout, Duration::from_secs(3));
    assert_eq!((c.enroll_per_ip.count, c.enroll_per_ip.burst), (30, 10));
    assert_eq!((c.renew_per_ip.count, c.renew_per_ip.burst), (20, 4));
    assert_eq!(
        (c.renew_per_tenant.count, c.renew_per_tenant.burst),
        (12, 2)
    );
}

#[test]
fn bad_values_name_the_field() {
    let found = problems(
        r#"
[control]
cert_validity = "900d"
recovery_window = "soon"
max_recoveries = 1000
max_body_bytes = 10
handshake_timeout = "0s"

[control.rate_limits]
enroll_per_ip_burst = 0
"#,
    );
    let fields: Vec<&str> = found.iter().map(|p| p.field.as_str()).collect();
    assert_eq!(
        fields,
        [
            "control.cert_validity",
            "control.recovery_window",
            "control.max_recoveries",
            "control.max_body_bytes",
            "control.handshake_timeout",
            "control.rate_limits.enroll_per_ip_burst",
        ]
    );
    assert!(
        found[0].message.contains("825 days"),
        "{}",
        found[0].message
    );
    assert!(
        found[2].message.contains("0 to 100"),
        "{}",
        found[2].message
    );
    assert!(found.iter().all(|p| p.listener.is_none()));

    let found = problems("[control]\nlisten = \"localhost:80\"\n");
    assert_eq!(found[0].field, "control.listen");
    assert!(found[0].message.contains("localhost:80"));
}

#[test]
fn the_control_port_may_not_be_a_listeners_and_no_section_needs_a_listener() {
    let found = problems(
        "[[listener]]\nname = \"gw\"\nmode = \"gateway\"\nlisten = \"127.0.0.1:8443\"\n\
         [control]\nlisten = \"127.0.0.1:8443\"\n",
    );
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].field, "control.listen");
    assert!(found[0].message.contains("used by a listener"));

    let found = problems("");
    assert_eq!(found[0].field, "listener");
    assert!(found[0].message.contains("[control]"));
    assert!(
        load("[control]\nlisten = \"127.0.0.1:8444\"\nbogus = 1\n")
            .unwrap_err()
            .is_parse()
    );
}
