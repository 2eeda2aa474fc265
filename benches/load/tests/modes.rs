//! Every load mode against real loopback listeners: the tool's own backend, behind a rustls
//! mTLS terminator (client certificate required). Each run lasts at most about a second.

mod support;

use mtls_load::cli::BackendProto;
use support::{Pki, args, assert_clean, backend, run, terminator};

/// Short runs: no warm-up, half a second measured.
const SHORT: &[&str] = &["--warmup", "0", "--duration", "0.5"];

/// `words` after the common flags for `target` (TLS with `pki`'s client certificate).
fn tls_run(pki: &Pki, target: std::net::SocketAddr, words: &[&str]) -> Vec<String> {
    let mut all = args(words);
    all.extend(args(&["--connect", &target.to_string()]));
    all.extend(pki.client_flags());
    all.extend(args(SHORT));
    all
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handshakes_are_full_without_resume_and_resume_with_it() {
    let pki = Pki::new();
    let echo = terminator(&pki, backend(BackendProto::Tcp).await).await;

    let full = run(&tls_run(
        &pki,
        echo,
        &["handshake", "--conns", "2", "--request", "echo"],
    ))
    .await
    .unwrap();
    let json = assert_clean(
        &full,
        &[
            "rate_per_s",
            "p50_us",
            "p99_us",
            "client_cpu_util",
            "resumed",
        ],
    );
    assert_eq!(json["mode"], "handshake");
    assert_eq!(json["proto"], "echo");
    assert_eq!(full.resumed, Some(0), "{full:?}");

    let resumed = run(&tls_run(
        &pki,
        echo,
        &["handshake", "--conns", "2", "--request", "none", "--resume"],
    ))
    .await
    .unwrap();
    assert_clean(&resumed, &["resumed"]);
    let count = resumed.resumed.unwrap();
    assert!(count > 0 && count <= resumed.ops, "{resumed:?}");

    let http = terminator(&pki, backend(BackendProto::Http).await).await;
    let one_get = run(&tls_run(
        &pki,
        http,
        &[
            "handshake",
            "--request",
            "http",
            "--path",
            "/",
            "--host",
            "demo.localhost",
        ],
    ))
    .await
    .unwrap();
    assert_clean(&one_get, &["p90_us", "max_us"]);
    // A path the backend does not serve is a failed request, not a success.
    let missing = run(&tls_run(
        &pki,
        http,
        &["handshake", "--request", "http", "--path", "/nope"],
    ))
    .await
    .unwrap();
    assert_eq!(missing.ops, 0, "{missing:?}");
    assert!(missing.errors > 0);
    assert!(missing.failure().is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_response_over_tcp_http1_and_h2() {
    let pki = Pki::new();
    let echo = terminator(&pki, backend(BackendProto::Tcp).await).await;
    let http = terminator(&pki, backend(BackendProto::Http).await).await;
    for (target, proto) in [(echo, "tcp"), (http, "http1"), (http, "h2")] {
        let report = run(&tls_run(
            &pki,
            target,
            &[
                "rr", "--proto", proto, "--conns", "4", "--size", "100", "--kx", "x25519",
            ],
        ))
        .await
        .unwrap();
        let json = assert_clean(
            &report,
            &["p50_us", "p90_us", "p99_us", "max_us", "rate_per_s"],
        );
        assert_eq!(json["proto"], proto);
        assert_eq!(json["conns"], 4);
        assert_eq!(json["size"], 100);
        assert_eq!(json["kx"], "x25519");
        assert!(report.p50_us <= report.p99_us && report.p99_us <= report.max_us);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn count_stops_the_run_and_plain_reaches_the_backend_alone() {
    let http = backend(BackendProto::Http).await;
    let report = run(&args(&[
        "rr",
        "--plain",
        "--proto",
        "http1",
        "--connect",
        &http.to_string(),
        "--count",
        "25",
        "--warmup",
        "0",
        "--duration",
        "5",
    ]))
    .await
    .unwrap();
    assert_clean(&report, &[]);
    assert_eq!(report.ops, 25);
    assert_eq!(report.stopped, "count");
    assert!(report.duration_s < 5.0, "{report:?}");
    assert_eq!(report.tls, Some(false));
    assert!(report.kx.is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bulk_moves_bytes_over_tcp_and_http() {
    let pki = Pki::new();
    let echo = terminator(&pki, backend(BackendProto::Tcp).await).await;
    let http = terminator(&pki, backend(BackendProto::Http).await).await;
    for (target, proto) in [(echo, "tcp"), (http, "http")] {
        let report = run(&tls_run(
            &pki,
            target,
            &["bulk", "--proto", proto, "--mb", "1"],
        ))
        .await
        .unwrap();
        let json = assert_clean(&report, &["mb_per_s", "bytes"]);
        assert_eq!(json["proto"], proto);
        assert!(report.bytes.unwrap() >= report.ops << 20, "{report:?}");
        assert!(report.mb_per_s.unwrap() > 0.0);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_reports_rss_per_connection_of_the_pid() {
    let pki = Pki::new();
    let http = terminator(&pki, backend(BackendProto::Http).await).await;
    // The terminator runs in this process: our own RSS is the target's.
    let me = std::process::id().to_string();
    let mut words = tls_run(
        &pki,
        http,
        &[
            "idle",
            "--conns",
            "20",
            "--hold",
            "0",
            "--request",
            "http",
            "--pid",
            &me,
        ],
    );
    words.retain(|w| w != "--duration" && w != "0.5");
    words.extend(args(&["--duration", "5"]));
    let report = run(&words).await.unwrap();
    let json = assert_clean(
        &report,
        &[
            "target_rss_kib_before",
            "target_rss_kib_with",
            "target_rss_kib_after",
            "rss_kib_per_conn",
            "p99_us",
        ],
    );
    assert_eq!(report.ops, 20);
    assert_eq!(json["mode"], "idle");
    assert!(report.target_rss_kib_with.unwrap() > 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crypto_limits_for_both_groups() {
    let report = run(&args(&["crypto", "--duration", "0.3", "--warmup", "0"]))
        .await
        .unwrap();
    let json = assert_clean(
        &report,
        &[
            "crypto_limit_x25519_per_s",
            "crypto_limit_mlkem_per_s",
            "sign_us",
            "verify_handshake_us",
            "verify_cert_us",
            "kx_x25519_us",
            "kx_mlkem_us",
        ],
    );
    assert_eq!(json["threads"], 1);
    let x25519 = report.crypto_limit_x25519_per_s.unwrap();
    let mlkem = report.crypto_limit_mlkem_per_s.unwrap();
    assert!(x25519 > 0.0 && mlkem > 0.0, "{report:?}");
    // The limit is the inverse of the components' sum.
    let sum = report.sign_us.unwrap()
        + report.verify_handshake_us.unwrap()
        + report.verify_cert_us.unwrap()
        + report.kx_x25519_us.unwrap();
    assert!(sum > 0.0);
    let implied = 1e6 / sum;
    assert!(
        (implied / x25519 - 1.0).abs() < 0.25,
        "{implied} vs {x25519}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refusing_target_fails_the_run() {
    let pki = Pki::new();
    // Nothing listens there: every connect fails.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let report = run(&tls_run(&pki, closed, &["handshake", "--conns", "2"]))
        .await
        .unwrap();
    assert_eq!(report.ops, 0);
    assert!(report.errors >= 20, "{report:?}");
    assert_eq!(report.stopped, "errors");
    assert!(report.failure().unwrap().contains("more than half"));

    // A server whose CA the client does not trust.
    let other = Pki::new();
    let untrusted = terminator(&other, backend(BackendProto::Tcp).await).await;
    let report = run(&tls_run(
        &pki,
        untrusted,
        &["handshake", "--request", "echo"],
    ))
    .await
    .unwrap();
    assert_eq!(report.ops, 0);
    assert!(report.errors > 0);
}

#[tokio::test]
async fn non_loopback_targets_and_missing_flags_are_refused() {
    let pki = Pki::new();
    let mut words = args(&["rr", "--proto", "tcp", "--connect", "192.0.2.1:443"]);
    words.extend(pki.client_flags());
    let err = run(&words).await.unwrap_err().to_string();
    assert!(err.contains("refusing --connect 192.0.2.1:443"), "{err}");
    let err = run(&args(&["rr", "--proto", "tcp", "--connect", "127.0.0.1:9"]))
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("--ca is required unless --plain"), "{err}");
    let err = run(&args(&["rr", "--proto", "tcp", "--plain"]))
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("--connect"), "{err}");
}
