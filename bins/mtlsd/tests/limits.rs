//! Connection limits (refuse and wait), the idle timeout, and JSON logs.

mod support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use support::*;

fn client_with(pki: &Pki, server: SocketAddr, proxy: &str, extra: &str) -> String {
    client_config(pki, server, "client").replace(
        "\n[metrics]",
        &format!("\n[listener.proxy]\n{proxy}\n{extra}\n[metrics]"),
    )
}

fn open(addr: SocketAddr) -> TcpStream {
    let mut s = TcpStream::connect_timeout(&addr, WAIT).unwrap();
    s.set_read_timeout(Some(WAIT)).unwrap();
    s.write_all(b"ping").unwrap();
    let mut buf = [0u8; 4];
    s.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"ping");
    s
}

#[test]
fn over_the_limit_is_refused_or_waits() {
    let pki = Pki::new();
    let d = pki.dir.path();
    let server = Mtlsd::start(d, "server.toml", &server_config(&pki, echo_backend(), ""));

    // refuse: the second concurrent connection is closed at once and counted.
    let refuse = Mtlsd::start(
        d,
        "refuse.toml",
        &client_with(
            &pki,
            server.addr("api"),
            "max_connections = 1\non_limit = \"refuse\"",
            "",
        ),
    );
    let first = open(refuse.addr("tunnel"));
    let mut second = TcpStream::connect_timeout(&refuse.addr("tunnel"), WAIT).unwrap();
    second.set_read_timeout(Some(WAIT)).unwrap();
    let _ = second.write_all(b"x");
    let mut buf = Vec::new();
    let _ = second.read_to_end(&mut buf);
    assert!(buf.is_empty());
    let (_, metrics) = refuse.get("metrics", "/metrics");
    assert!(
        metrics.contains("mtlsd_connections_refused_total{listener=\"tunnel\"} 1"),
        "{metrics}"
    );
    drop(first);

    // wait: the second connection is served once the first one ends.
    let wait = Mtlsd::start(
        d,
        "wait.toml",
        &client_with(&pki, server.addr("api"), "max_connections = 1", ""),
    );
    let first = open(wait.addr("tunnel"));
    let addr = wait.addr("tunnel");
    let second = std::thread::spawn(move || {
        drop(open(addr));
        Instant::now()
    });
    // The second connection is established by the kernel but not accepted: it sits in the
    // listen backlog while the only slot is taken.
    wait_for("the second connection queued in the accept backlog", || {
        accept_queue(addr).is_some_and(|queued| queued >= 1)
    });
    let released = Instant::now();
    drop(first);
    let served = second.join().unwrap();
    assert!(
        served >= released,
        "the second connection was served before the first one ended"
    );
}

#[test]
fn idle_connections_are_closed_and_logs_can_be_json() {
    let pki = Pki::new();
    let d = pki.dir.path();
    let server = Mtlsd::start(d, "server.toml", &server_config(&pki, echo_backend(), ""));
    let client = Mtlsd::start(
        d,
        "client.toml",
        &client_with(
            &pki,
            server.addr("api"),
            "idle_timeout = \"300ms\"",
            "[logging]\nformat = \"json\"\n",
        ),
    );
    let mut s = open(client.addr("tunnel"));
    let started = Instant::now();
    let mut rest = Vec::new();
    s.read_to_end(&mut rest).unwrap(); // EOF once the idle timeout fires
    assert!(rest.is_empty());
    let elapsed = started.elapsed();
    assert!(
        elapsed >= Duration::from_millis(250) && elapsed < Duration::from_secs(10),
        "{elapsed:?}"
    );

    client.wait_log("idle_timeout");
    let log = client.stderr();
    let closed = log
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|v| v["message"] == "connection closed")
        .unwrap_or_else(|| panic!("no JSON 'connection closed' line in:\n{log}"));
    assert_eq!(closed["listener"], "tunnel");
    assert_eq!(closed["end"], "idle_timeout");
    assert_eq!(closed["bytes_in"], 4);
    assert_eq!(closed["bytes_out"], 4);
    assert_eq!(closed["level"], "INFO");
}
