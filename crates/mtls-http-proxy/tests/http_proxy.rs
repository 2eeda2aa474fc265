//! `forward` end to end over real loopback sockets: a hyper front server calls it, real
//! hyper upstreams answer.

mod support;

use std::sync::Arc;
use std::time::Duration;

use http::{Request, StatusCode, Version};
use http_body_util::{BodyExt, Empty, Full};
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use mtls_http_proxy::{ProxyErrorKind, RouteTarget, TargetOptions, error_response};
use mtls_route_spec::HttpRoute;
use mtls_test_support::net::closed_port;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use support::*;

/// A route to loopback test upstreams: `allow_private`, since loopback is refused otherwise.
fn route(upstreams: &[String]) -> HttpRoute {
    let mut route = HttpRoute::new(
        "api.acme.test".parse().unwrap(),
        upstreams.iter().map(|u| u.parse().unwrap()).collect(),
    );
    route.allow_private = true;
    route
}

fn target(route: &HttpRoute) -> Arc<RouteTarget> {
    route.validate().unwrap();
    Arc::new(RouteTarget::from_route("api", route, &TargetOptions::default(), None).unwrap())
}

async fn get_json(
    front: std::net::SocketAddr,
    path: &str,
    extra: &[(&str, &str)],
) -> (StatusCode, Value) {
    let client = Client::builder(TokioExecutor::new()).build_http::<Empty<Bytes>>();
    let mut req = Request::get(format!("http://{front}{path}")).header("host", "api.acme.test");
    for (k, v) in extra {
        req = req.header(*k, *v);
    }
    let response = tokio::time::timeout(WAIT, client.request(req.body(Empty::new()).unwrap()))
        .await
        .unwrap()
        .unwrap();
    let status = response.status();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, serde_json::from_slice(&body).unwrap_or(Value::Null))
}

#[tokio::test]
async fn headers_are_stripped_and_added() {
    let upstream = echo_upstream("a").await;
    let mut r = route(&[format!("http://{upstream}/base")]);
    r.add_headers.push("x-env: prod".parse().unwrap());
    r.rewrite_host = Some("backend.internal:8080".into());
    let front = front(target(&r)).await;
    let ctx = context();

    let (status, json) = get_json(
        front,
        "/v1/items?q=1",
        &[
            (
                "x-forwarded-client-cert",
                "Hash=00;URI=spiffe://proxy.test/tenant/admin",
            ),
            ("x-mtls-tenant", "admin"),
            ("x-mtls-role", "root"),
            ("x-forwarded-for", "10.6.6.6"),
            ("x-forwarded-proto", "http"),
            ("connection", "x-hop"),
            ("x-hop", "drop me"),
            ("proxy-authorization", "Basic Zm9v"),
            ("accept", "application/json"),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{json}");
    assert_eq!(json["uri"], "/base/v1/items?q=1");
    let h = &json["headers"];
    assert_eq!(
        h["x-forwarded-client-cert"],
        serde_json::json!([ctx.client_cert.header_value().to_str().unwrap()])
            .as_array()
            .map(|_| h["x-forwarded-client-cert"].clone())
            .unwrap()
    );
    let xfcc = h["x-forwarded-client-cert"][0].as_str().unwrap();
    assert!(xfcc.starts_with("Hash="), "{xfcc}");
    assert!(
        xfcc.ends_with(";Subject=\"CN=acme\";URI=spiffe://proxy.test/tenant/acme"),
        "{xfcc}"
    );
    assert_eq!(h["x-forwarded-client-cert"].as_array().unwrap().len(), 1);
    assert_eq!(h["x-mtls-tenant"], serde_json::json!(["acme"]));
    assert!(h.get("x-mtls-role").is_none());
    assert_eq!(h["x-forwarded-for"], serde_json::json!(["127.0.0.1"]));
    assert_eq!(h["x-forwarded-proto"], serde_json::json!(["https"]));
    assert_eq!(h["x-forwarded-host"], serde_json::json!(["api.acme.test"]));
    assert_eq!(h["host"], serde_json::json!(["backend.internal:8080"]));
    assert_eq!(h["x-env"], serde_json::json!(["prod"]));
    assert_eq!(h["accept"], serde_json::json!(["application/json"]));
    assert!(h.get("x-hop").is_none());
    assert!(h.get("proxy-authorization").is_none());
}

#[tokio::test]
async fn host_defaults_to_the_upstream_authority() {
    let upstream = echo_upstream("a").await;
    let front = front(target(&route(&[format!("http://{upstream}")]))).await;
    let (status, json) = get_json(front, "/", &[]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        json["headers"]["host"],
        serde_json::json!([upstream.to_string()])
    );
}

#[tokio::test]
async fn twenty_mib_streams_both_ways() {
    const CHUNKS: usize = 320; // 320 x 64 KiB = 20 MiB
    let upstream = echo_upstream("a").await;
    let front = front(target(&route(&[format!("http://{upstream}")]))).await;
    let client = Client::builder(TokioExecutor::new()).build_http::<PatternBody>();
    for exact in [true, false] {
        let req = Request::post(format!("http://{front}/stream"))
            .body(PatternBody::new(CHUNKS, exact))
            .unwrap();
        let response = tokio::time::timeout(WAIT, client.request(req))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.headers()["x-server"], "a");
        let (len, hash) = tokio::time::timeout(WAIT, hash_body(response.into_body()))
            .await
            .unwrap();
        assert_eq!(len, (CHUNKS * 64 * 1024) as u64);
        assert_eq!(hash, PatternBody::sha256(CHUNKS));
    }
}

#[tokio::test]
async fn oversized_body_is_refused_with_413() {
    let upstream = echo_upstream("a").await;
    let mut r = route(&[format!("http://{upstream}")]);
    r.max_body_bytes = Some(1024 * 1024);
    let front = front(target(&r)).await;

    // Declared up front: refused before any byte of the body is read.
    let (status, _, body) = raw_exchange(
        front,
        "POST /upload HTTP/1.1\r\nhost: api.acme.test\r\ncontent-length: 2000000\r\n\r\n",
    )
    .await;
    assert_eq!(status, 413);
    let json: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(json["error"], "body_too_large");
    assert_eq!(json["route"], "api");
    assert!(
        json["message"].as_str().unwrap().contains("2000000"),
        "{json}"
    );

    // Chunked, no length: refused once the limit is crossed while streaming.
    let mut tcp = TcpStream::connect(front).await.unwrap();
    tcp.write_all(
        b"POST /upload HTTP/1.1\r\nhost: api.acme.test\r\ntransfer-encoding: chunked\r\n\r\n",
    )
    .await
    .unwrap();
    let (mut reader, mut writer) = tcp.into_split();
    let sender = tokio::spawn(async move {
        let chunk = vec![b'x'; 64 * 1024];
        for _ in 0..32 {
            let mut frame = format!("{:x}\r\n", chunk.len()).into_bytes();
            frame.extend_from_slice(&chunk);
            frame.extend_from_slice(b"\r\n");
            if writer.write_all(&frame).await.is_err() {
                return;
            }
        }
        let _ = writer.write_all(b"0\r\n\r\n").await;
    });
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let text = loop {
        let n = tokio::time::timeout(WAIT, reader.read(&mut buf))
            .await
            .unwrap()
            .unwrap();
        assert!(n > 0, "closed without a response");
        got.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&got).into_owned();
        if text.contains("\r\n\r\n") && text.trim_end().ends_with('}') {
            break text;
        }
    };
    assert!(text.starts_with("HTTP/1.1 413"), "{text}");
    assert!(text.contains("\"error\":\"body_too_large\""), "{text}");
    sender.abort();

    // Under the limit still passes.
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let req = Request::post(format!("http://{front}/upload"))
        .body(Full::new(Bytes::from(vec![1u8; 1024 * 1024])))
        .unwrap();
    let response = client.request(req).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn closed_port_is_502_and_reset_is_502() {
    let closed = closed_port().await;
    let front_closed = front(target(&route(&[format!("http://{closed}")]))).await;
    let (status, json) = get_json(front_closed, "/", &[]).await;
    assert_eq!(status, StatusCode::BAD_GATEWAY);
    assert_eq!(json["error"], "upstream_unreachable");
    assert_eq!(json["route"], "api");
    assert!(
        json["message"]
            .as_str()
            .unwrap()
            .contains(&closed.to_string()),
        "{json}"
    );

    let reset = resetting_upstream().await;
    let front_reset = front(target(&route(&[format!("http://{reset}")]))).await;
    let (status, json) = get_json(front_reset, "/", &[]).await;
    assert_eq!(status, StatusCode::BAD_GATEWAY, "{json}");
    assert_eq!(json["error"], "upstream_unreachable");
}

#[tokio::test]
async fn slow_upstream_is_504() {
    let slow = slow_upstream(Duration::from_secs(5)).await;
    let mut r = route(&[format!("http://{slow}")]);
    r.timeout = Some(Duration::from_millis(300));
    let front = front(target(&r)).await;
    let started = tokio::time::Instant::now();
    let (status, json) = get_json(front, "/", &[]).await;
    assert_eq!(status, StatusCode::GATEWAY_TIMEOUT);
    assert_eq!(json["error"], "upstream_timeout");
    assert!(started.elapsed() < Duration::from_secs(3));
}

#[tokio::test]
async fn round_robin_skips_the_closed_upstream() {
    let a = echo_upstream("a").await;
    let b = echo_upstream("b").await;
    let closed = closed_port().await;
    let r = route(&[
        format!("http://{a}"),
        format!("http://{closed}"),
        format!("http://{b}"),
    ]);
    let target = target(&r);
    let front = front(target.clone()).await;
    let mut servers = Vec::new();
    for _ in 0..8 {
        // Bodyless requests are retried on the next upstream after a connect failure.
        let (status, json) = get_json(front, "/", &[]).await;
        assert_eq!(status, StatusCode::OK, "{json}");
        servers.push(json["server"].as_str().unwrap().to_owned());
    }
    assert!(target.pool().is_cooling_down(1));
    // The skipped slot's turn goes to the next upstream, so the split need not be even.
    let a_count = servers.iter().filter(|s| *s == "a").count();
    assert!((3..=5).contains(&a_count), "{servers:?}");
    assert_eq!(a_count + servers.iter().filter(|s| *s == "b").count(), 8);
}

#[tokio::test]
async fn upgrade_round_trips_bytes() {
    let upstream = echo_upstream("a").await;
    let front = front(target(&route(&[format!("http://{upstream}")]))).await;
    let mut tcp = TcpStream::connect(front).await.unwrap();
    tcp.write_all(
        b"GET /ws HTTP/1.1\r\nhost: api.acme.test\r\nconnection: Upgrade\r\nupgrade: echo\r\n\r\n",
    )
    .await
    .unwrap();
    let (status, head, _) = read_response(&mut tcp).await;
    assert_eq!(status, 101, "{head}");
    assert!(
        head.to_ascii_lowercase().contains("upgrade: echo"),
        "{head}"
    );
    for message in [&b"hello"[..], b"second frame"] {
        tcp.write_all(message).await.unwrap();
        let mut buf = vec![0u8; message.len()];
        tokio::time::timeout(WAIT, tcp.read_exact(&mut buf))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(buf, message);
    }
}

#[tokio::test]
async fn h2_front_still_forwards() {
    let upstream = echo_upstream("a").await;
    let front = front(target(&route(&[format!("http://{upstream}")]))).await;
    let tcp = TcpStream::connect(front).await.unwrap();
    let (mut sender, conn) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tcp))
            .await
            .unwrap();
    tokio::spawn(conn);
    let req = Request::post("http://api.acme.test/h2?x=1")
        .header("x-mtls-tenant", "admin")
        .body(Full::new(Bytes::from_static(b"over h2")))
        .unwrap();
    let response = tokio::time::timeout(WAIT, sender.send_request(req))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.version(), Version::HTTP_2);
    let body = response.into_body().collect().await.unwrap().to_bytes();
    let json: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(json["uri"], "/h2?x=1");
    assert_eq!(json["version"], "HTTP/1.1");
    assert_eq!(json["body_len"], 7);
    assert_eq!(
        json["headers"]["x-mtls-tenant"],
        serde_json::json!(["acme"])
    );
    assert_eq!(
        json["headers"]["x-forwarded-host"],
        serde_json::json!(["api.acme.test"])
    );
}

#[tokio::test]
async fn error_response_format() {
    let response = error_response(
        ProxyErrorKind::NoRoute,
        "no route for api.acme.test/x",
        None,
    );
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert_eq!(response.headers()["content-type"], "application/json");
    let body = response.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(
        std::str::from_utf8(&body).unwrap(),
        "{\"error\":\"no_route\",\"message\":\"no route for api.acme.test/x\"}\n"
    );
    let response = error_response(ProxyErrorKind::RateLimited, "slow down", Some("api"));
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    let body = response.into_body().collect().await.unwrap().to_bytes();
    let json: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(json["error"], "rate_limited");
    assert_eq!(json["route"], "api");
}
