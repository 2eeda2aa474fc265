//! Request paths at the gateway (issue 13): dot segments, encoded dots, repeated slashes,
//! escaped slashes and backslashes. The path is normalised before routing and forwarded
//! normalised, so `/v1/../admin/` is not matched by a `/v1` route. Real mtlsd, tenantctl and
//! `curl --path-as-is`, and an upstream that records the request line it received.

mod support;

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener};
use std::sync::{Arc, Mutex};

use mtls_registry::Store;
use mtls_route_spec::RouteSpec;
use support::Mtlsd;
use support::tenants::{Bundle, DataDir, actor, curl, tenant};

/// An HTTP/1.1 upstream that answers `saw <request-target>` and records every target.
fn recording_upstream() -> (SocketAddr, Arc<Mutex<Vec<String>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    let record = seen.clone();
    std::thread::spawn(move || {
        for s in l.incoming() {
            let Ok(s) = s else { break };
            let record = record.clone();
            std::thread::spawn(move || {
                let mut w = s.try_clone().unwrap();
                let mut r = BufReader::new(s);
                loop {
                    let mut request_line = String::new();
                    match r.read_line(&mut request_line) {
                        Ok(0) | Err(_) => return,
                        Ok(_) => {}
                    }
                    loop {
                        let mut line = String::new();
                        match r.read_line(&mut line) {
                            Ok(0) | Err(_) => return,
                            Ok(_) if line == "\r\n" => break,
                            Ok(_) => {}
                        }
                    }
                    let target = request_line
                        .split(' ')
                        .nth(1)
                        .unwrap_or_default()
                        .to_owned();
                    record.lock().unwrap().push(target.clone());
                    let body = format!("saw {target}\n");
                    let reply = format!(
                        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{body}",
                        body.len()
                    );
                    if w.write_all(reply.as_bytes()).is_err() {
                        return;
                    }
                }
            });
        }
    });
    (addr, seen)
}

/// `curl --path-as-is https://localhost:<port><path>`: (status, body).
fn get_as_is(bundle: &Bundle, ca: &std::path::Path, port: u16, path: &str) -> (u16, String) {
    let url = format!("https://localhost:{port}{path}");
    let out = curl(bundle, ca, &["--path-as-is", "-w", "\n%{http_code}", &url]);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", "000"));
    (code.trim().parse().unwrap_or(0), body.to_owned())
}

fn route(json: &str) -> RouteSpec {
    serde_json::from_str(json).unwrap()
}

#[test]
fn dot_segments_and_escaped_slashes_cannot_leave_the_route_prefix() {
    let tmp = tempfile::tempdir().unwrap();
    let data = DataDir::init(tmp.path());
    let a = data.tenant("a");
    let (upstream, seen) = recording_upstream();
    let store = data.store();
    let v1 = format!(
        r#"{{"kind":"http","host":"localhost","path_prefix":"/v1","upstreams":["http://{upstream}"],"allow_private":true}}"#
    );
    store.add_route(&actor(), &tenant("a"), route(&v1)).unwrap();
    let gw = Mtlsd::start(tmp.path(), "mtlsd.toml", &data.config(""));
    let port = gw.addr("gw").port();
    let ca = data.ca();

    // The route works, and an already normal path is forwarded as it came.
    assert_eq!(
        get_as_is(&a, &ca, port, "/v1/orders"),
        (200, "saw /v1/orders\n".into())
    );

    // The issue's reproduction: these are requests for /admin/, which no route matches.
    for escape in [
        "/v1/../admin/",
        "/v1/%2e%2e/admin/",
        "/v1/%2E%2E/admin/",
        "/v1/.%2e/admin/",
    ] {
        let (status, body) = get_as_is(&a, &ca, port, escape);
        assert_eq!(status, 404, "{escape}: {body}");
        assert!(body.contains(r#""error":"no_route""#), "{escape}: {body}");
    }

    // Normalised paths are forwarded normalised, the query unchanged.
    assert_eq!(
        get_as_is(&a, &ca, port, "/v1/./x//y"),
        (200, "saw /v1/x/y\n".into())
    );
    assert_eq!(
        get_as_is(&a, &ca, port, "/v1/a/../%7euser/%2e?x=%2e%2e&y=/../"),
        (200, "saw /v1/~user/?x=%2e%2e&y=/../\n".into())
    );
    assert_eq!(
        get_as_is(&a, &ca, port, "/v1/a%2cb"),
        (200, "saw /v1/a%2Cb\n".into())
    );

    // Escaped slashes and backslashes, and backslashes, are refused with 400 bad_path naming
    // the reason; so are bad escapes and encoded NUL.
    let refusals = [
        ("/v1/a%2Fb", "encoded slash %2F at byte 5"),
        ("/v1/a%2fb", "encoded slash %2F at byte 5"),
        ("/v1/a%5Cb", "encoded backslash %5C at byte 5"),
        ("/v1/a\\b", "backslash at byte 5"),
        ("/v1/..\\admin", "backslash at byte 6"),
        ("/v1/a%zz", "does not start a two-hex-digit escape"),
        ("/v1/a%00", "encoded control byte %00 at byte 5"),
    ];
    for (path, reason) in refusals {
        let (status, body) = get_as_is(&a, &ca, port, path);
        assert_eq!(status, 400, "{path}: {body}");
        assert!(body.contains(r#""error":"bad_path""#), "{path}: {body}");
        assert!(body.contains(reason), "{path}: {body}");
    }

    // The upstream saw exactly the accepted requests, normalised, and nothing else.
    assert_eq!(
        *seen.lock().unwrap(),
        [
            "/v1/orders",
            "/v1/x/y",
            "/v1/~user/?x=%2e%2e&y=/../",
            "/v1/a%2Cb"
        ]
    );
    // The access log shows the normalised path, and the raw one when it differs.
    gw.wait_log(r#"path=/v1/x/y raw_path=/v1/./x//y"#);
    gw.wait_log(r#"path=/admin/ raw_path=/v1/%2e%2e/admin/"#);
}

#[test]
fn escaped_slashes_reach_only_a_route_that_opts_in() {
    let tmp = tempfile::tempdir().unwrap();
    let data = DataDir::init(tmp.path());
    let a = data.tenant("a");
    let (upstream, seen) = recording_upstream();
    // `/files` keeps escaped slashes (set with tenantctl); `/v1` and `/` refuse them.
    data.ctl(&[
        "route",
        "add",
        "a",
        "http",
        "--host",
        "localhost",
        "--path",
        "/files",
        "--upstream",
        &format!("http://{upstream}"),
        "--allow-private",
        "--escaped-slashes",
        "keep",
    ]);
    data.ctl(&[
        "route",
        "add",
        "a",
        "http",
        "--host",
        "localhost",
        "--path",
        "/v1",
        "--upstream",
        &format!("http://{upstream}"),
        "--allow-private",
    ]);
    data.ctl(&[
        "route",
        "add",
        "a",
        "http",
        "--host",
        "localhost",
        "--upstream",
        &format!("http://{upstream}"),
        "--allow-private",
    ]);
    let listed = data.ctl(&["route", "list", "a"]);
    assert!(
        listed.contains("http localhost/files -> http://"),
        "{listed}"
    );
    assert_eq!(
        listed.matches("[escaped slashes kept]").count(),
        1,
        "{listed}"
    );
    let gw = Mtlsd::start(tmp.path(), "mtlsd.toml", &data.config(""));
    let port = gw.addr("gw").port();
    let ca = data.ca();

    // The opt-in route gets them as they came (hex uppercased), not as separators.
    assert_eq!(
        get_as_is(&a, &ca, port, "/files/a%2fb/%5c"),
        (200, "saw /files/a%2Fb/%5C\n".into())
    );
    // `..%2F..` is one segment, not two dot segments: it stays under /files.
    assert_eq!(
        get_as_is(&a, &ca, port, "/files/..%2F..%2Fv1"),
        (200, "saw /files/..%2F..%2Fv1\n".into())
    );
    // Dot segments still resolve first: this is a request for /v1/a%2Fb, and /v1 refuses it.
    let (status, body) = get_as_is(&a, &ca, port, "/files/../v1/a%2Fb");
    assert_eq!(status, 400, "{body}");
    assert!(body.contains(r#""error":"bad_path""#), "{body}");
    assert!(body.contains("encoded slash %2F at byte 14"), "{body}");
    // The catch-all refuses them too; a literal backslash is refused even on /files.
    assert_eq!(get_as_is(&a, &ca, port, "/other/a%2Fb").0, 400);
    assert_eq!(get_as_is(&a, &ca, port, "/files/a\\b").0, 400);
    assert_eq!(
        *seen.lock().unwrap(),
        ["/files/a%2Fb/%5C", "/files/..%2F..%2Fv1"]
    );
}
