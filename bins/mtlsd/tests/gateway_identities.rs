//! Upstream client identities of gateway HTTP routes (`[[listener.gateway.identities]]` and
//! a route's `upstream_tls.identity`), against a real `openssl s_server` that requires a
//! client certificate from its own test CA.

mod support;

use mtls_registry::Store;
use mtls_route_spec::{HttpRoute, RouteSpec, UpstreamTls};
use support::tenants::{DataDir, actor, get, tenant};
use support::{Leaf, Mtlsd, Pki, SServer};

/// An HTTPS route to `upstream`, verified with the test PKI's CA, presenting `identity`.
fn tls_route(
    host: &str,
    upstream: std::net::SocketAddr,
    ca: &std::path::Path,
    identity: Option<&str>,
) -> RouteSpec {
    let mut route = HttpRoute::new(
        host.parse().unwrap(),
        vec![format!("https://{upstream}").parse().unwrap()],
    );
    route.allow_private = true;
    route.upstream_tls = Some(UpstreamTls {
        ca_file: Some(ca.to_path_buf()),
        server_name: Some("localhost".into()),
        identity: identity.map(str::to_owned),
    });
    route.into()
}

#[test]
fn a_route_presents_its_identity_to_an_upstream_that_requires_one() {
    let tmp = tempfile::tempdir().unwrap();
    let data = DataDir::init(tmp.path());
    let a = data.tenant("a");
    // The upstream's own PKI: its server certificate and the partner identity we present.
    let pki = Pki::new();
    let (partner_cert, partner_key) = pki.write_leaf("partner", Leaf::client("partner-of-a"));
    let upstream = SServer::start(
        pki.dir.path(),
        &[
            "-cert",
            "server.pem",
            "-key",
            "server-key.pem",
            "-CAfile",
            "ca.pem",
            "-Verify",
            "1",
            "-www",
            "-naccept",
            "100",
        ],
    );
    let ca_path = pki.path("ca.pem");
    let store = data.store();
    for (host, identity) in [
        ("with.localhost", Some("partner")),
        ("without.localhost", None),
        ("ghost.localhost", Some("ghost")),
    ] {
        store
            .add_route(
                &actor(),
                &tenant("a"),
                tls_route(host, upstream.addr, &ca_path, identity),
            )
            .unwrap();
    }
    let extra = format!(
        "[[listener.gateway.identities]]\nname = \"partner\"\ncert = \"{}\"\nkey = \"{}\"\n",
        partner_cert.display(),
        partner_key.display()
    );
    let gw = Mtlsd::start(tmp.path(), "mtlsd.toml", &data.config(&extra));
    let port = gw.addr("gw").port();
    let ca = data.ca();

    // The route's identity is presented when the upstream asks: s_server's status page
    // shows the client certificate it verified.
    let (status, body) = get(&a, &ca, port, "with.localhost", "/");
    assert_eq!(status, 200, "{body}\n{}", gw.stderr());
    assert!(body.contains("partner-of-a"), "{body}");
    gw.wait_metric(
        r#"mtlsd_client_identity_selections_total{listener="gw",identity="partner",reason="matched_ca_name"}"#,
        1.0,
    );

    // The identity's files hot-reload: a renewed certificate is presented without a restart.
    pki.write_leaf("partner", Leaf::client("partner-renewed"));
    support::wait_for("the renewed identity presented", || {
        get(&a, &ca, port, "with.localhost", "/")
            .1
            .contains("partner-renewed")
    });
    gw.wait_metric(
        r#"mtlsd_cert_reloads_total{listener="gw",result="success"}"#,
        1.0,
    );

    // Without an identity, the upstream refuses the handshake: a 502.
    let (status, body) = get(&a, &ca, port, "without.localhost", "/");
    assert_eq!(status, 502, "{body}");
    assert!(body.contains(r#""error":"upstream_unreachable""#), "{body}");

    // An identity the listener does not hold: a 502 naming it, and the listener's list.
    let (status, body) = get(&a, &ca, port, "ghost.localhost", "/");
    assert_eq!(status, 502, "{body}");
    assert!(body.contains(r#"\"ghost\""#), "{body}");
    assert!(body.contains("partner"), "{body}");
    gw.wait_log("HTTP route unusable");
}

#[test]
fn gateway_identities_are_checked_like_tunnel_identities() {
    let tmp = tempfile::tempdir().unwrap();
    let data = DataDir::init(tmp.path());
    let bad = data.config(
        "[[listener.gateway.identities]]\nname = \"none\"\ncert = \"a.pem\"\nkey = \"a-key.pem\"\n\
         [[listener.gateway.identities]]\nname = \"x\"\ncert = \"b.pem\"\n",
    );
    let file = tmp.path().join("bad.toml");
    std::fs::write(&file, bad).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_mtlsd"))
        .arg("--check")
        .arg("--config")
        .arg(&file)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(err.contains("gateway.identities[0].name"), "{err}");
    assert!(err.contains("is reserved"), "{err}");
    assert!(err.contains("gateway.identities[1].key"), "{err}");
}
