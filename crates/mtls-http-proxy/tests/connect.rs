//! CONNECT served on a hyper server over real loopback sockets: the tunnel, and how dial
//! failures become the client's answer. (The dialer itself is tested in mtls-egress.)

mod support;

use std::net::SocketAddr;
use std::time::Duration;

use mtls_egress::{EgressPolicy, connect_target, dial};
use mtls_http_proxy::{ProxyErrorKind, error_response, serve_connect};
use mtls_splice::SpliceConfig;
use mtls_test_support::net::{closed_port, echo_listener};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use support::*;

const DIAL: Duration = Duration::from_secs(5);

#[tokio::test]
async fn dial_errors_map_to_forbidden_and_unreachable() {
    // The assertions the dialer tests made on `ConnectError::kind()` before the split.
    let (addr, _) = echo_listener("127.0.0.1").await;
    let err = dial("127.0.0.1", addr.port(), &EgressPolicy::new(DIAL))
        .await
        .unwrap_err();
    assert_eq!(
        ProxyErrorKind::from(&err),
        ProxyErrorKind::DestinationForbidden
    );

    let policy = EgressPolicy {
        allow_private: true,
        ..EgressPolicy::new(DIAL)
    };
    let closed = closed_port().await;
    let err = dial("127.0.0.1", closed.port(), &policy).await.unwrap_err();
    assert_eq!(
        ProxyErrorKind::from(&err),
        ProxyErrorKind::UpstreamUnreachable
    );
}

/// A front server that serves CONNECT with the given policy.
async fn connect_front(policy: EgressPolicy) -> SocketAddr {
    serve(move |req, _peer| async move {
        let target = match connect_target(&req) {
            Ok(target) => target,
            Err(err) => {
                return error_response(ProxyErrorKind::from(&err), &err.to_string(), None);
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

    let open = connect_front(EgressPolicy {
        allow_private: true,
        ..EgressPolicy::new(DIAL)
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

    let strict = connect_front(EgressPolicy::new(DIAL)).await;
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
    assert_eq!(json["error"], "destination_forbidden");
    assert_eq!(json["route"], "egress");
    assert!(
        json["message"].as_str().unwrap().contains("loopback"),
        "{json}"
    );
}
