//! The one JSON line a run prints.

use serde::Serialize;

/// The result of one run; fields that do not apply to a mode are left out of the JSON.
#[derive(Debug, Clone, Default, Serialize, serde::Deserialize, PartialEq)]
pub struct Report {
    /// Always `mtls-load`.
    pub tool: String,
    /// `handshake`, `rr`, `bulk`, `idle` or `crypto`.
    pub mode: String,
    /// The protocol (`tcp`, `http1`, `h2`, `http`) or, for `handshake`, the request kind.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub proto: Option<String>,
    /// `--label`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// Whether the connections were TLS (false with `--plain`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls: Option<bool>,
    /// `--kx` (TLS runs).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kx: Option<String>,
    /// Concurrent connections (workers).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub conns: Option<usize>,
    /// Bytes per request/response (`rr`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size: Option<usize>,
    /// Runtime worker threads of the load tool.
    pub threads: usize,
    /// Measured wall seconds.
    pub duration_s: f64,
    /// Operations completed in the measured window (handshakes, requests, transfers,
    /// connections opened, crypto iterations).
    pub ops: u64,
    /// Failed operations (warm-up included).
    pub errors: u64,
    /// Why the run ended: `duration`, `count`, `errors` or `done`.
    pub stopped: String,
    /// `ops / duration_s`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rate_per_s: Option<f64>,
    /// Median latency of one operation, µs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub p50_us: Option<u64>,
    /// 90th percentile latency, µs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub p90_us: Option<u64>,
    /// 99th percentile latency, µs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub p99_us: Option<u64>,
    /// Largest latency, µs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_us: Option<u64>,
    /// The load tool's own CPU seconds in the measured window.
    pub client_cpu_s: f64,
    /// `client_cpu_s / duration_s / threads`: near 1 means the client was the bottleneck.
    pub client_cpu_util: f64,
    /// CPU seconds of the `--pid` processes in the measured window.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target_cpu_s: Option<f64>,
    /// The system (kernel) part of `target_cpu_s`: on loopback it includes the receive path
    /// of what the target sent, so it is the floor no proxy with the same syscalls goes under.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target_sys_s: Option<f64>,
    /// `ops / target_cpu_s`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rate_per_target_cpu_s: Option<f64>,
    /// RSS of the `--pid` processes before the measured window, KiB.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target_rss_kib_before: Option<u64>,
    /// RSS of the `--pid` processes with every `idle` connection open and settled, KiB.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target_rss_kib_with: Option<u64>,
    /// RSS of the `--pid` processes after the run, KiB.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target_rss_kib_after: Option<u64>,
    /// `(target_rss_kib_with - target_rss_kib_before) / ops` (`idle`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rss_kib_per_conn: Option<f64>,
    /// Measured handshakes that resumed a TLS session (`handshake`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resumed: Option<u64>,
    /// Payload bytes received in the measured window (`bulk`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bytes: Option<u64>,
    /// MiB (2^20 bytes) per second received (`bulk`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mb_per_s: Option<f64>,
    /// One-core server-side mTLS handshakes/s with X25519 (`crypto`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub crypto_limit_x25519_per_s: Option<f64>,
    /// The same with X25519MLKEM768 (`crypto`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub crypto_limit_mlkem_per_s: Option<f64>,
    /// One ECDSA P-256 signature (the server's CertificateVerify), µs (`crypto`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sign_us: Option<f64>,
    /// One ECDSA P-256 verification of the client's CertificateVerify, µs (`crypto`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verify_handshake_us: Option<f64>,
    /// One ECDSA P-256 verification of the client certificate's signature, µs (`crypto`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verify_cert_us: Option<f64>,
    /// The server's X25519 key exchange (key generation + agreement), µs (`crypto`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kx_x25519_us: Option<f64>,
    /// The server's X25519MLKEM768 key exchange (X25519 + ML-KEM-768 encapsulation), µs
    /// (`crypto`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kx_mlkem_us: Option<f64>,
}

// === impl Report ===

impl Report {
    /// An empty report of `mode`.
    pub fn new(mode: &str, threads: usize, label: Option<&str>) -> Self {
        Self {
            tool: "mtls-load".to_owned(),
            mode: mode.to_owned(),
            label: label.map(str::to_owned),
            threads,
            ..Self::default()
        }
    }

    /// The JSON line (no trailing newline).
    pub fn to_json_line(&self) -> String {
        // A struct of plain fields and finite floats always serializes.
        serde_json::to_string(self)
            .unwrap_or_else(|e| format!("{{\"tool\":\"mtls-load\",\"error\":\"{e}\"}}"))
    }

    /// Why this run should exit non-zero, if it should: nothing completed, or it was stopped
    /// because most operations failed.
    pub fn failure(&self) -> Option<String> {
        if self.stopped == "errors" {
            Some(format!(
                "stopped early: {} of the operations failed (more than half)",
                self.errors
            ))
        } else if self.ops == 0 {
            Some("no operation completed".to_owned())
        } else {
            None
        }
    }
}
