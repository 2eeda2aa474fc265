//! `[listener.proxy]` handshake caps and `[listener.gateway] tenant_max_connections`.

use super::{load, problems, server_with};

use crate::ListenerMode;

#[test]
fn handshake_caps_and_tenant_cap_have_safe_defaults() {
    let config = load(&server_with("", "")).unwrap();
    let limits = config.listeners()[0].limits;
    assert_eq!(limits.max_handshakes.get(), 256);
    assert_eq!(limits.max_handshakes_per_source.get(), 32);

    let gateway = "[[listener]]\nname = \"gw\"\nmode = \"gateway\"\nlisten = \"127.0.0.1:1\"\n";
    let config = load(gateway).unwrap();
    let ListenerMode::Gateway { gateway, .. } = &config.listeners()[0].mode else {
        panic!("not a gateway")
    };
    assert_eq!(gateway.tenant_max_connections.get(), 1024);
}

#[test]
fn handshake_caps_and_tenant_cap_are_read() {
    let proxy = "[listener.proxy]\nmax_handshakes = 8\nmax_handshakes_per_source = 2\n";
    let config = load(&server_with("", proxy)).unwrap();
    let limits = config.listeners()[0].limits;
    assert_eq!(limits.max_handshakes.get(), 8);
    assert_eq!(limits.max_handshakes_per_source.get(), 2);

    // A small max_handshakes lowers the per-source default with it.
    let config = load(&server_with("", "[listener.proxy]\nmax_handshakes = 4\n")).unwrap();
    assert_eq!(
        config.listeners()[0].limits.max_handshakes_per_source.get(),
        4
    );

    let gateway = "[[listener]]\nname = \"gw\"\nmode = \"gateway\"\nlisten = \"127.0.0.1:1\"\n\
                   [listener.gateway]\ntenant_max_connections = 3\n";
    let config = load(gateway).unwrap();
    let ListenerMode::Gateway { gateway, .. } = &config.listeners()[0].mode else {
        panic!("not a gateway")
    };
    assert_eq!(gateway.tenant_max_connections.get(), 3);
}

#[test]
fn bad_handshake_caps_and_tenant_cap_name_their_field() {
    let proxy = "[listener.proxy]\nmax_handshakes = 0\nmax_handshakes_per_source = -1\n";
    let p = problems(&server_with("", proxy));
    let found: Vec<(&str, &str)> = p
        .iter()
        .map(|p| (p.field.as_str(), p.message.as_str()))
        .collect();
    assert!(
        found.contains(&("proxy.max_handshakes", "0 is not a positive number")),
        "{found:?}"
    );
    assert!(
        found.contains(&(
            "proxy.max_handshakes_per_source",
            "-1 is not a positive number"
        )),
        "{found:?}"
    );

    let proxy = "[listener.proxy]\nmax_handshakes = 4\nmax_handshakes_per_source = 5\n";
    let p = problems(&server_with("", proxy));
    assert_eq!(p.len(), 1, "{p:?}");
    assert_eq!(p[0].field, "proxy.max_handshakes_per_source");
    assert!(
        p[0].message.contains("above proxy.max_handshakes (4)"),
        "{}",
        p[0].message
    );

    for bad in ["0", "-3", "4294967296"] {
        let gateway = format!(
            "[[listener]]\nname = \"gw\"\nmode = \"gateway\"\nlisten = \"127.0.0.1:1\"\n\
             [listener.gateway]\ntenant_max_connections = {bad}\n"
        );
        let p = problems(&gateway);
        assert_eq!(p.len(), 1, "{p:?}");
        assert_eq!(p[0].field, "gateway.tenant_max_connections");
        assert!(
            p[0].message
                .starts_with(&format!("{bad} is not a positive number")),
            "{}",
            p[0].message
        );
    }
}
