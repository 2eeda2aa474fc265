//! The `mtls-load` binary itself: the backend's `listening`/`ready` lines, one JSON line on
//! stdout per run, and the exit codes.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Output, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_mtls-load");

/// A backend process; killed on drop.
struct Backend {
    child: Child,
    addr: String,
}

impl Backend {
    fn start(proto: &str) -> Self {
        let mut child = Command::new(BIN)
            .args([
                "backend",
                "--listen",
                "127.0.0.1:0",
                "--proto",
                proto,
                "--duration",
                "30",
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let first = lines.next().unwrap().unwrap();
        let addr = first
            .strip_prefix("listening ")
            .unwrap_or_else(|| panic!("{first}"))
            .to_owned();
        assert_eq!(lines.next().unwrap().unwrap(), "ready");
        Self { child, addr }
    }
}

impl Drop for Backend {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn load(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

#[test]
fn one_json_line_per_run_and_exit_codes() {
    let http = Backend::start("http");
    let out = load(&[
        "rr",
        "--plain",
        "--proto",
        "h2",
        "--connect",
        &http.addr,
        "--duration",
        "0.3",
        "--warmup",
        "0",
        "--conns",
        "2",
        "--label",
        "binary test",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(stdout.lines().count(), 1, "{stdout}");
    let json: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(json["mode"], "rr");
    assert_eq!(json["proto"], "h2");
    assert_eq!(json["label"], "binary test");
    assert!(json["ops"].as_u64().unwrap() > 0, "{json}");
    assert_eq!(json["errors"], 0);
    for field in [
        "rate_per_s",
        "p50_us",
        "p90_us",
        "p99_us",
        "max_us",
        "client_cpu_s",
        "client_cpu_util",
    ] {
        assert!(json.get(field).is_some(), "no {field}: {json}");
    }

    // Global flags may also come before the subcommand.
    let echo = Backend::start("tcp");
    let out = load(&[
        "--plain",
        "--connect",
        &echo.addr,
        "--count",
        "10",
        "--warmup",
        "0",
        "bulk",
        "--proto",
        "tcp",
        "--mb",
        "1",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["ops"], 10);
    assert_eq!(json["bytes"], 10 << 20);
    assert_eq!(json["stopped"], "count");

    // Nothing completes against the echo backend with HTTP: a JSON line, exit 1.
    let out = load(&[
        "rr",
        "--plain",
        "--proto",
        "http1",
        "--connect",
        &echo.addr,
        "--duration",
        "0.3",
        "--warmup",
        "0",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["ops"], 0);
    assert!(!out.stderr.is_empty());

    // A usage error: no JSON, exit 2, the reason on stderr.
    let out = load(&[
        "rr",
        "--plain",
        "--proto",
        "tcp",
        "--connect",
        "198.51.100.1:80",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
    assert!(String::from_utf8_lossy(&out.stderr).contains("only runs on loopback"));
    let out = load(&["backend", "--listen", "0.0.0.0:0", "--proto", "tcp"]);
    assert_eq!(out.status.code(), Some(2));
}
