//! `mode = "gateway"`: data dir defaults, required client auth, `[listener.gateway]`.

use std::path::Path;
use std::time::Duration;

use super::{load, problems};
use mtls_tls::ClientAuth;

use crate::{Config, Defaults, GatewayProtocol, ListenerMode};

const GATEWAY: &str = r#"
data_dir = "data"

[[listener]]
name = "gw"
mode = "gateway"
listen = "127.0.0.1:8443"
"#;

#[test]
fn tls_defaults_come_from_the_data_dir() {
    let config = load(GATEWAY).unwrap();
    assert_eq!(config.data_dir(), Path::new("/etc/mtlsd/data"));
    assert_eq!(
        config.registry_path(),
        Path::new("/etc/mtlsd/data/registry.db")
    );
    assert!(config.has_gateway());
    let gw = &config.listeners()[0];
    assert!(gw.target.is_none());
    let ListenerMode::Gateway { tls, gateway, .. } = &gw.mode else {
        panic!("not a gateway: {:?}", gw.mode)
    };
    assert_eq!(tls.cert, Path::new("/etc/mtlsd/data/server/cert.pem"));
    assert_eq!(tls.key, Path::new("/etc/mtlsd/data/server/key.pem"));
    assert_eq!(
        tls.client_auth,
        ClientAuth::Required {
            ca: "/etc/mtlsd/data/ca.pem".into()
        }
    );
    assert_eq!(gateway.poll_interval, Duration::from_millis(250));
    assert_eq!(gateway.request_timeout, Duration::from_secs(30));
    assert_eq!(gateway.max_header_bytes, 64 * 1024);
    assert_eq!(gateway.protocol, GatewayProtocol::Auto);
    assert_eq!(gateway.registry_staleness, Duration::from_secs(30));
    assert_eq!(gw.mode.as_str(), "gateway");
}

#[test]
fn explicit_tls_and_gateway_settings_win() {
    let text = format!(
        "{GATEWAY}\n[listener.tls]\ncert = \"/pki/gw.pem\"\nkey = \"gw-key.pem\"\nca = \"/pki/ca.pem\"\n\n\
         [listener.gateway]\npoll_interval = \"100ms\"\nmax_header_bytes = 16384\n\
         request_timeout = \"5s\"\nprotocol = \"tcp\"\nregistry_staleness = \"2s\"\n"
    );
    let config = load(&text).unwrap();
    let ListenerMode::Gateway { tls, gateway, .. } = &config.listeners()[0].mode else {
        panic!("not a gateway")
    };
    assert_eq!(tls.cert, Path::new("/pki/gw.pem"));
    assert_eq!(tls.key, Path::new("/etc/mtlsd/gw-key.pem"));
    assert_eq!(gateway.poll_interval, Duration::from_millis(100));
    assert_eq!(gateway.max_header_bytes, 16384);
    assert_eq!(gateway.request_timeout, Duration::from_secs(5));
    assert_eq!(gateway.protocol, GatewayProtocol::Tcp);
    assert_eq!(gateway.registry_staleness, Duration::from_secs(2));
}

#[test]
fn data_dir_defaults_to_the_callers_default_or_mtlsd_data_next_to_the_config() {
    let text = GATEWAY.replace("data_dir = \"data\"", "");
    let config = load(&text).unwrap();
    assert_eq!(config.data_dir(), Path::new("/etc/mtlsd/mtlsd-data"));

    let from = |dir: &str| {
        let defaults = Defaults::default().with_data_dir(Some(dir));
        Config::from_toml_with(&text, "/etc/mtlsd/mtlsd.toml", &defaults).unwrap()
    };
    assert_eq!(from("/srv/mtls").data_dir(), Path::new("/srv/mtls"));
    assert_eq!(from("rel").data_dir(), Path::new("/etc/mtlsd/rel"));
    // An empty value counts as unset.
    assert_eq!(from("").data_dir(), Path::new("/etc/mtlsd/mtlsd-data"));
    // The file wins over the caller's default.
    let defaults = Defaults::default().with_data_dir(Some("/srv/mtls"));
    let config = Config::from_toml_with(GATEWAY, "/etc/mtlsd/mtlsd.toml", &defaults).unwrap();
    assert_eq!(config.data_dir(), Path::new("/etc/mtlsd/data"));
}

#[test]
fn gateway_mistakes_are_reported_with_their_field() {
    let text = format!(
        "{}\ntarget = \"127.0.0.1:80\"\n[listener.tls]\nclient_auth = \"optional\"\n\
         [listener.gateway]\npoll_interval = \"5s\"\nmax_header_bytes = 10\nprotocol = \"udp\"\n\
         registry_staleness = \"100ms\"\n",
        GATEWAY.trim_end()
    );
    let found: Vec<(String, String)> = problems(&text)
        .into_iter()
        .map(|p| (p.field, p.message))
        .collect();
    let fields: Vec<&str> = found.iter().map(|(f, _)| f.as_str()).collect();
    assert_eq!(
        fields,
        [
            "target",
            "tls.client_auth",
            "gateway.poll_interval",
            "gateway.max_header_bytes",
            "gateway.registry_staleness",
            "gateway.protocol",
        ],
        "{found:?}"
    );
    assert!(found[0].1.contains("not used in gateway mode"));
    assert!(found[1].1.contains("must be \"required\""));

    // `[listener.gateway]` outside gateway mode, and `upstream_tls` in it.
    let server = "[[listener]]\nname = \"s\"\nmode = \"server\"\nlisten = \"127.0.0.1:1\"\n\
                  target = \"127.0.0.1:2\"\n[listener.tls]\ncert = \"c\"\nkey = \"k\"\nca = \"a\"\n\
                  [listener.gateway]\nprotocol = \"http\"\n";
    let p = problems(server);
    assert_eq!(p.len(), 1);
    assert_eq!(p[0].field, "gateway");
    let p = problems(&format!("{GATEWAY}\n[listener.upstream_tls]\nca = \"x\"\n"));
    assert_eq!(p[0].field, "upstream_tls");
    assert!(p[0].to_string().contains("listener \"gw\""));
}
