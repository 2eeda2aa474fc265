//! HTTP routes' upstreams are judged at dial time, on every address they resolve to: a
//! non-public address without `allow_private` is refused with 403 `destination_forbidden`
//! naming the range, and counted as a dial error; allowed upstreams count their bytes.

mod support;

use std::sync::Arc;

use http::{Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use mtls_http_proxy::{RouteTarget, TargetOptions, UpstreamCounters};
use mtls_route_spec::HttpRoute;
use serde_json::Value;

use support::*;

async fn post(front: std::net::SocketAddr, body: &'static str) -> (StatusCode, Value) {
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let request = Request::post(format!("http://{front}/x"))
        .header("host", "api.acme.test")
        .body(Full::new(Bytes::from_static(body.as_bytes())))
        .unwrap();
    let response = tokio::time::timeout(WAIT, client.request(request))
        .await
        .unwrap()
        .unwrap();
    let status = response.status();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, serde_json::from_slice(&body).unwrap_or(Value::Null))
}

fn target(upstream: &str, allow_private: bool, counters: &UpstreamCounters) -> Arc<RouteTarget> {
    let mut route = HttpRoute::new(
        "api.acme.test".parse().unwrap(),
        vec![upstream.parse().unwrap()],
    );
    route.allow_private = allow_private;
    let options = TargetOptions {
        counters: counters.clone(),
        ..TargetOptions::default()
    };
    Arc::new(RouteTarget::from_route("api", &route, &options, None).unwrap())
}

#[tokio::test]
async fn loopback_upstreams_are_refused_at_dial_time_unless_allowed() {
    let upstream = echo_upstream("up").await;
    let port = upstream.port();
    let counters = UpstreamCounters::default();
    for (url, range) in [
        // A literal (as a route stored before add-time checks would have it).
        (format!("http://127.0.0.1:{port}"), "loopback (127.0.0.0/8)"),
        (
            format!("http://[::ffff:127.0.0.1]:{port}"),
            "loopback (127.0.0.0/8) of 127.0.0.1 embedded by IPv4-mapped",
        ),
        // A name passes add-time checks; the address it resolves to is refused.
        (format!("http://localhost:{port}"), "loopback"),
    ] {
        let front = front(target(&url, false, &counters)).await;
        let (status, json) = post(front, "never sent").await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{url}: {json}");
        assert_eq!(json["error"], "destination_forbidden", "{json}");
        assert_eq!(json["route"], "api");
        let message = json["message"].as_str().unwrap();
        assert!(message.contains(range), "{url}: {message}");
        assert!(
            message.contains("private destinations are not allowed"),
            "{message}"
        );
    }
    assert_eq!(counters.dial_errors.get(), 3);
    assert_eq!(
        counters.client_to_upstream.get(),
        0,
        "nothing was sent upstream"
    );

    // The whole message, for the literal.
    let literal = front(target(
        &format!("http://127.0.0.1:{port}"),
        false,
        &counters,
    ))
    .await;
    let (_, json) = post(literal, "never sent").await;
    assert_eq!(
        json["message"],
        format!(
            "upstream http://127.0.0.1:{port}: client error (Connect): cannot dial \
             127.0.0.1:{port}: 127.0.0.1 resolves to 127.0.0.1, in the non-public range \
             loopback (127.0.0.0/8); private destinations are not allowed"
        )
    );
    assert_eq!(counters.dial_errors.get(), 4);

    // The same upstream, allowed: forwarded, and its bytes counted both ways.
    let front = front(target(&format!("http://127.0.0.1:{port}"), true, &counters)).await;
    let (status, json) = post(front, "hello upstream").await;
    assert_eq!(status, StatusCode::OK, "{json}");
    assert_eq!(json["body_len"], "hello upstream".len(), "{json}");
    assert_eq!(counters.dial_errors.get(), 4);
    let sent = counters.client_to_upstream.get();
    let received = counters.upstream_to_client.get();
    // The request (head and body) went up, the JSON echo of it came back.
    assert!(sent > "hello upstream".len() as u64, "{sent}");
    assert!(received > 0, "{received}");
}
