//! CONNECT egress over real loopback sockets: the private-range policy, egress bind, and a
//! CONNECT tunnel served on a hyper server.

mod support;

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use mtls_splice::SpliceConfig;
use mtls_splice::connect::{
    ConnectError, ConnectPolicy, connect_target, dial_connect_target, serve_connect,
};
use mtls_splice::proxy::ProxyErrorKind;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use support::*;

const DIAL: Duration = Duration::from_secs(5);

/// A listener that reports each peer address and echoes bytes.
async fn echo_listener(ip: &str) -> (SocketAddr, tokio::sync::mpsc::UnboundedReceiver<SocketAddr>) {
    let listener = TcpListener::bind((ip, 0)).await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        loop {
            let Ok((mut tcp, peer)) = listener.accept().await else {
                return;
            };
            let _ = tx.send(peer);
            tokio::spawn(async move {
                let (mut r, mut w) = tcp.split();
                let _ = tokio::io::copy(&mut r, &mut w).await;
            });
        }
    });
    (addr, rx)
}

#[tokio::test]
async fn loopback_is_refused_without_allow_private() {
    let (addr, _) = echo_listener("127.0.0.1").await;
    let err = dial_connect_target("127.0.0.1", addr.port(), &ConnectPolicy::new(DIAL))
        .await
        .unwrap_err();
    assert!(err.is_forbidden(), "{err}");
    assert_eq!(err.kind(), ProxyErrorKind::Forbidden);
    let text = err.to_string();
    assert!(
        text.contains("127.0.0.1") && text.contains("loopback"),
        "{text}"
    );

    let err = dial_connect_target("localhost", addr.port(), &ConnectPolicy::new(DIAL))
        .await
        .unwrap_err();
    match &err {
        ConnectError::NonPublic { host, addr, range } => {
            assert_eq!(host, "localhost");
            assert!(addr.is_loopback());
            assert_eq!(*range, "loopback");
        }
        other => panic!("unexpected {other}"),
    }
    assert!(
        err.to_string().starts_with("localhost resolves to"),
        "{err}"
    );

    // Other non-public ranges are refused as literals too, without any connect attempt.
    for (ip, range) in [
        ("10.0.0.5", "private"),
        ("169.254.169.254", "link-local"),
        ("[::1]", "loopback"),
    ] {
        let err = dial_connect_target(ip, 80, &ConnectPolicy::new(DIAL))
            .await
            .unwrap_err();
        assert!(err.to_string().contains(range), "{ip}: {err}");
    }
}

#[tokio::test]
async fn loopback_is_allowed_with_allow_private() {
    let (addr, mut peers) = echo_listener("127.0.0.1").await;
    let policy = ConnectPolicy {
        allow_private: true,
        ..ConnectPolicy::new(DIAL)
    };
    let mut tcp = dial_connect_target("localhost", addr.port(), &policy)
        .await
        .unwrap();
    tcp.write_all(b"ping").await.unwrap();
    let mut buf = [0u8; 4];
    tokio::time::timeout(WAIT, tcp.read_exact(&mut buf))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&buf, b"ping");
    assert!(peers.recv().await.unwrap().ip().is_loopback());

    // A closed port is reported with host, port and address.
    let closed = closed_port().await;
    let err = dial_connect_target("127.0.0.1", closed.port(), &policy)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ProxyErrorKind::UpstreamUnreachable);
    assert!(
        err.to_string()
            .contains(&format!("127.0.0.1:{}", closed.port())),
        "{err}"
    );
}

#[tokio::test]
async fn egress_bind_sets_the_source_address() {
    let (addr, mut peers) = echo_listener("127.0.0.1").await;
    let egress: IpAddr = "127.0.0.2".parse().unwrap();
    let policy = ConnectPolicy {
        allow_private: true,
        egress_bind: Some(egress),
        dial_timeout: DIAL,
    };
    let tcp = dial_connect_target("127.0.0.1", addr.port(), &policy)
        .await
        .unwrap();
    assert_eq!(tcp.local_addr().unwrap().ip(), egress);
    let peer = tokio::time::timeout(WAIT, peers.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(peer.ip(), egress);

    // An IPv6 egress address cannot reach an IPv4-only destination.
    let policy = ConnectPolicy {
        egress_bind: Some("::1".parse().unwrap()),
        ..policy
    };
    let err = dial_connect_target("127.0.0.1", addr.port(), &policy)
        .await
        .unwrap_err();
    assert!(matches!(err, ConnectError::EgressFamily { .. }), "{err}");
}

/// A front server that serves CONNECT with the given policy.
async fn connect_front(policy: ConnectPolicy) -> SocketAddr {
    serve(move |req, _peer| async move {
        let target = match connect_target(&req) {
            Ok(target) => target,
            Err(err) => {
                return mtls_splice::proxy::error_response(err.kind(), &err.to_string(), None);
            }
        };
        let served = serve_connect(
            req,
            &target,
            &policy,
            Some("egress"),
            SpliceConfig::new(Duration::from_secs(10)),
        )
        .await;
        served.response
    })
    .await
}

#[tokio::test]
async fn connect_tunnel_round_trips_and_refuses_forbidden() {
    let (addr, _) = echo_listener("127.0.0.1").await;

    let open = connect_front(ConnectPolicy {
        allow_private: true,
        ..ConnectPolicy::new(DIAL)
    })
    .await;
    let mut tcp = TcpStream::connect(open).await.unwrap();
    let head = format!(
        "CONNECT 127.0.0.1:{0} HTTP/1.1\r\nhost: 127.0.0.1:{0}\r\n\r\n",
        addr.port()
    );
    tcp.write_all(head.as_bytes()).await.unwrap();
    let (status, head, _) = read_response(&mut tcp).await;
    assert_eq!(status, 200, "{head}");
    tcp.write_all(b"through the tunnel").await.unwrap();
    let mut buf = [0u8; 18];
    tokio::time::timeout(WAIT, tcp.read_exact(&mut buf))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&buf, b"through the tunnel");

    let strict = connect_front(ConnectPolicy::new(DIAL)).await;
    let (status, _, body) = raw_exchange(
        strict,
        &format!(
            "CONNECT 127.0.0.1:{0} HTTP/1.1\r\nhost: 127.0.0.1:{0}\r\n\r\n",
            addr.port()
        ),
    )
    .await;
    assert_eq!(status, 403);
    let json: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(json["error"], "forbidden");
    assert_eq!(json["route"], "egress");
    assert!(
        json["message"].as_str().unwrap().contains("loopback"),
        "{json}"
    );
}
