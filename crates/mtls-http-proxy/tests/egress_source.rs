//! Where a route's upstream connections leave from: the source a target is compiled with is
//! the one the upstream sees (reported back in `ForwardInfo::source`), and a source the host
//! does not hold fails the request with a 502 naming it, without retrying another upstream
//! or marking the upstream failed.

mod support;

use std::net::IpAddr;

use http::{Request, StatusCode};
use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use mtls_http_proxy::{ForwardInfo, ProxyErrorKind, RouteTarget, TargetOptions, forward};
use mtls_route_spec::HttpRoute;
use mtls_test_support::net::peer_http_upstream;

use support::context;

fn ip(text: &str) -> IpAddr {
    text.parse().unwrap()
}

fn route(upstreams: &[std::net::SocketAddr], egress_bind: Option<IpAddr>) -> HttpRoute {
    let mut route = HttpRoute::new(
        "api.acme.test".parse().unwrap(),
        upstreams
            .iter()
            .map(|u| format!("http://{u}").parse().unwrap())
            .collect(),
    );
    route.allow_private = true;
    route.egress_bind = egress_bind;
    route.validate().unwrap();
    route
}

/// One GET through `target`: status, body, and what the forwarder reports.
async fn get(target: &RouteTarget) -> (StatusCode, String, ForwardInfo) {
    let request = Request::get("/")
        .header("host", "api.acme.test")
        .body(Empty::<Bytes>::new())
        .unwrap();
    let response = forward(request, &context(), target).await;
    let status = response.status();
    let info = response.extensions().get::<ForwardInfo>().unwrap().clone();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8_lossy(&body).into_owned(), info)
}

#[tokio::test]
async fn the_compiled_source_is_what_the_upstream_sees() {
    let upstream = peer_http_upstream("127.0.0.1");
    let options = TargetOptions::default();

    // The caller's source wins over the route's own egress_bind (the gateway passes the
    // effective one); from_route keeps the route's.
    let spec = route(&[upstream], Some(ip("127.0.0.9")));
    let given =
        RouteTarget::from_route_with_source("api", &spec, Some(ip("127.0.0.2")), &options, None)
            .unwrap();
    assert_eq!(given.source(), Some(ip("127.0.0.2")));
    for _ in 0..2 {
        // The second request goes over the pooled connection: still from 127.0.0.2.
        let (status, body, info) = get(&given).await;
        assert_eq!((status, body.as_str()), (StatusCode::OK, "127.0.0.2"));
        assert_eq!(info.source, Some(ip("127.0.0.2")));
    }
    let own = RouteTarget::from_route("api", &spec, &options, None).unwrap();
    assert_eq!(own.source(), Some(ip("127.0.0.9")));
    assert_eq!(get(&own).await.1, "127.0.0.9");

    // No source: the OS picks one, and the forwarder still reports what it was.
    let default =
        RouteTarget::from_route_with_source("api", &route(&[upstream], None), None, &options, None)
            .unwrap();
    let (status, body, info) = get(&default).await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, "127.0.0.1"));
    assert_eq!(info.source, Some(ip("127.0.0.1")));
}

#[tokio::test]
async fn an_unbindable_source_is_a_502_naming_it_with_no_retry_and_no_blame() {
    let (one, two) = (
        peer_http_upstream("127.0.0.1"),
        peer_http_upstream("127.0.0.1"),
    );
    let spec = route(&[one, two], None);
    // 192.0.2.1 (TEST-NET-1) is not an address of this host.
    let target = RouteTarget::from_route_with_source(
        "api",
        &spec,
        Some(ip("192.0.2.1")),
        &TargetOptions::default(),
        None,
    )
    .unwrap();
    let (status, body, info) = get(&target).await;
    assert_eq!(status, StatusCode::BAD_GATEWAY, "{body}");
    assert_eq!(info.error, Some(ProxyErrorKind::UpstreamUnreachable));
    assert_eq!(info.source, None);
    let json: serde_json::Value = serde_json::from_str(&body).unwrap();
    let message = json["message"].as_str().unwrap();
    assert!(
        message.contains("not dialed: the route's egress source address 192.0.2.1 cannot be bound"),
        "{message}"
    );
    assert!(
        message.contains("does this host still hold it?"),
        "{message}"
    );
    // Neither upstream is blamed: no cooldown for what was the source's fault.
    assert!(!target.pool().is_cooling_down(0) && !target.pool().is_cooling_down(1));
}
