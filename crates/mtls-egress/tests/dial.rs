//! The dialer over real loopback sockets: the private-range policy and the egress bind.
//! (How its errors become HTTP answers is tested in mtls-http-proxy.)

use std::net::IpAddr;
use std::time::Duration;

use mtls_egress::{DialError, EgressPolicy, dial};
use mtls_test_support::net::{closed_port, echo_listener};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const DIAL: Duration = Duration::from_secs(5);

/// The bound for every wait in these tests.
const WAIT: Duration = Duration::from_secs(20);

#[tokio::test]
async fn loopback_is_refused_without_allow_private() {
    let (addr, _) = echo_listener("127.0.0.1").await;
    let err = dial("127.0.0.1", addr.port(), &EgressPolicy::new(DIAL))
        .await
        .unwrap_err();
    assert!(err.is_forbidden(), "{err}");
    assert!(!err.is_timeout(), "{err}");
    let text = err.to_string();
    assert!(
        text.contains("127.0.0.1") && text.contains("loopback"),
        "{text}"
    );

    let err = dial("localhost", addr.port(), &EgressPolicy::new(DIAL))
        .await
        .unwrap_err();
    match &err {
        DialError::NonPublic {
            host, addr, range, ..
        } => {
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
        let err = dial(ip, 80, &EgressPolicy::new(DIAL)).await.unwrap_err();
        assert!(err.to_string().contains(range), "{ip}: {err}");
    }
}

#[tokio::test]
async fn loopback_is_allowed_with_allow_private() {
    let (addr, mut peers) = echo_listener("127.0.0.1").await;
    let policy = EgressPolicy {
        allow_private: true,
        ..EgressPolicy::new(DIAL)
    };
    let mut tcp = dial("localhost", addr.port(), &policy).await.unwrap();
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
    let err = dial("127.0.0.1", closed.port(), &policy).await.unwrap_err();
    assert!(!err.is_forbidden() && !err.is_timeout(), "{err}");
    assert!(matches!(err, DialError::Connect { .. }), "{err}");
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
    let policy = EgressPolicy {
        allow_private: true,
        egress_bind: Some(egress),
        dial_timeout: DIAL,
    };
    let tcp = dial("127.0.0.1", addr.port(), &policy).await.unwrap();
    assert_eq!(tcp.local_addr().unwrap().ip(), egress);
    let peer = tokio::time::timeout(WAIT, peers.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(peer.ip(), egress);

    // An IPv6 egress address cannot reach an IPv4-only destination.
    let policy = EgressPolicy {
        egress_bind: Some("::1".parse().unwrap()),
        ..policy
    };
    let err = dial("127.0.0.1", addr.port(), &policy).await.unwrap_err();
    assert!(matches!(err, DialError::EgressFamily { .. }), "{err}");
}

/// IPv6 forms that carry a loopback IPv4 address are loopback: refused without a connect
/// attempt, even though `::ffff:127.0.0.1` (dual-stack sockets) really reaches 127.0.0.1.
#[tokio::test]
async fn ipv6_forms_embedding_loopback_are_refused() {
    let (addr, _) = echo_listener("127.0.0.1").await;
    for (host, form) in [
        ("[::ffff:127.0.0.1]", "IPv4-mapped"),
        ("[64:ff9b::7f00:1]", "NAT64 well-known prefix"),
        ("[::127.0.0.1]", "IPv4-compatible (deprecated)"),
        ("[2002:7f00:1::1]", "6to4"),
    ] {
        let err = dial(host, addr.port(), &EgressPolicy::new(DIAL))
            .await
            .unwrap_err();
        match &err {
            DialError::NonPublic { range, why, .. } => {
                assert_eq!(*range, "loopback", "{host}");
                let (embedded_by, ipv4) = why.embedded.expect("judged by the IPv4 address");
                assert_eq!(
                    (embedded_by.name, ipv4.to_string().as_str()),
                    (form, "127.0.0.1")
                );
            }
            other => panic!("{host}: unexpected {other}"),
        }
        let text = err.to_string();
        assert!(
            text.contains("loopback (127.0.0.0/8) of 127.0.0.1 embedded by"),
            "{text}"
        );
    }
    // The same forms embedding a public address are public (judged by that address): the
    // dial is attempted, not refused by policy.
    let err = dial(
        "[64:ff9b::808:808]",
        9,
        &EgressPolicy::new(Duration::from_millis(200)),
    )
    .await
    .map(|_| ())
    .unwrap_err();
    assert!(!err.is_forbidden(), "{err}");
}
