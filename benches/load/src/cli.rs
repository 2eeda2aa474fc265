//! The command line: common flags (`global`, so they go before or after the subcommand) and
//! one subcommand per mode. `benches/compare.sh` is written against exactly these names.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// `mtls-load`: an mTLS load generator, a plain backend and the crypto limit, on loopback.
#[derive(Debug, Clone, Parser)]
#[command(name = "mtls-load", version, about, long_about = None)]
pub struct Cli {
    /// Flags shared by every mode.
    #[command(flatten)]
    pub common: Common,
    /// The mode.
    #[command(subcommand)]
    pub command: Command,
}

/// Flags shared by every mode.
#[derive(Debug, Clone, Args)]
pub struct Common {
    /// The target, `HOST:PORT`; it must resolve to a loopback address.
    #[arg(long, global = true, value_name = "HOST:PORT")]
    pub connect: Option<String>,
    /// The client certificate chain (PEM); required unless `--plain`.
    #[arg(long, global = true, value_name = "PEM")]
    pub cert: Option<PathBuf>,
    /// The client certificate's private key (PEM); required unless `--plain`.
    #[arg(long, global = true, value_name = "PEM")]
    pub key: Option<PathBuf>,
    /// The CA certificates (PEM) that the target's server certificate must chain to.
    #[arg(long, global = true, value_name = "PEM")]
    pub ca: Option<PathBuf>,
    /// The name sent as SNI and checked against the server certificate.
    #[arg(long, global = true, default_value = "localhost")]
    pub server_name: String,
    /// No TLS: plain TCP (for measuring the backend alone).
    #[arg(long, global = true)]
    pub plain: bool,
    /// The key-exchange groups the client offers.
    #[arg(long, global = true, value_enum, default_value_t = Kx::Default)]
    pub kx: Kx,
    /// Measured seconds (default 10; `backend`: seconds to run, default 600).
    #[arg(long, global = true, value_name = "SECS")]
    pub duration: Option<f64>,
    /// Stop after this many measured operations (whichever of this and `--duration` comes
    /// first).
    #[arg(long, global = true, value_name = "N")]
    pub count: Option<u64>,
    /// A process under test (repeatable): its CPU time and RSS are sampled before and after
    /// the measured window, and summed over all given PIDs.
    #[arg(long = "pid", global = true, value_name = "PID")]
    pub pids: Vec<u32>,
    /// Free text copied into the JSON line.
    #[arg(long, global = true)]
    pub label: Option<String>,
    /// Seconds of load before the measured window (not counted).
    #[arg(long, global = true, default_value_t = 1.0, value_name = "SECS")]
    pub warmup: f64,
    /// Runtime worker threads (default: the available cores).
    #[arg(long, global = true, value_name = "N")]
    pub threads: Option<usize>,
}

/// Which key-exchange groups the client offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Kx {
    /// The provider's defaults (X25519MLKEM768 first, then X25519, P-256, P-384).
    Default,
    /// X25519 only.
    X25519,
    /// X25519MLKEM768 (hybrid post-quantum) only.
    Mlkem,
}

/// The modes.
#[derive(Debug, Clone, Subcommand)]
pub enum Command {
    /// Connect, full handshake (or resumed with `--resume`), one small request, close; in a
    /// loop on each of `--conns` workers.
    Handshake(HandshakeArgs),
    /// Persistent connections, each looping request/response of `--size` bytes.
    Rr(RrArgs),
    /// One connection moving `--mb` MiB per transfer, transfers repeated; reports MiB/s.
    Bulk(BulkArgs),
    /// Open `--conns` connections, hold them `--hold` seconds, report target RSS per
    /// connection.
    Idle(IdleArgs),
    /// The plain backend every target forwards to: TCP echo or HTTP/1.1 + h2c.
    Backend(BackendArgs),
    /// The machine's crypto limit for one server-side mTLS handshake, on one thread.
    Crypto,
}

/// What one connection sends once it is up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Request {
    /// `GET <path>` with `Host: <host>`; the response status must be 2xx.
    Http,
    /// 32 bytes written and read back (a TCP echo behind the target).
    Echo,
    /// Nothing: handshake, then close.
    None,
}

/// HTTP request details shared by the HTTP-speaking modes.
#[derive(Debug, Clone, Args)]
pub struct HttpTarget {
    /// The `Host` header (h2: the `:authority`); default: `--server-name`.
    #[arg(long)]
    pub host: Option<String>,
}

/// `handshake` flags.
#[derive(Debug, Clone, Args)]
pub struct HandshakeArgs {
    /// Concurrent workers, each one connection at a time.
    #[arg(long, default_value_t = 1)]
    pub conns: usize,
    /// Share one session store between connections so TLS sessions resume.
    #[arg(long)]
    pub resume: bool,
    /// What to send on each connection.
    #[arg(long, value_enum, default_value_t = Request::None)]
    pub request: Request,
    /// The HTTP `Host`.
    #[command(flatten)]
    pub http: HttpTarget,
    /// The HTTP path for `--request http`.
    #[arg(long, default_value = "/")]
    pub path: String,
}

/// The request/response protocol of `rr`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RrProto {
    /// Write `size` bytes, read them back (an echo backend).
    Tcp,
    /// HTTP/1.1 keep-alive `GET /bytes/<size>`.
    Http1,
    /// HTTP/2 `GET /bytes/<size>`, one request at a time per connection.
    H2,
}

/// `rr` flags.
#[derive(Debug, Clone, Args)]
pub struct RrArgs {
    /// The protocol.
    #[arg(long, value_enum)]
    pub proto: RrProto,
    /// Persistent connections, one worker each.
    #[arg(long, default_value_t = 1)]
    pub conns: usize,
    /// Bytes per response (tcp: per request and per response).
    #[arg(long, default_value_t = 64)]
    pub size: usize,
    /// The HTTP `Host`.
    #[command(flatten)]
    pub http: HttpTarget,
}

/// The protocol of `bulk`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum BulkProto {
    /// Write the bytes to an echo backend and read them back at the same time.
    Tcp,
    /// HTTP/1.1 `GET /bytes/<MiB>` on one keep-alive connection.
    Http,
}

/// `bulk` flags.
#[derive(Debug, Clone, Args)]
pub struct BulkArgs {
    /// The protocol.
    #[arg(long, value_enum)]
    pub proto: BulkProto,
    /// MiB per transfer.
    #[arg(long, default_value_t = 64)]
    pub mb: u64,
    /// The HTTP `Host`.
    #[command(flatten)]
    pub http: HttpTarget,
}

/// `idle` flags.
#[derive(Debug, Clone, Args)]
pub struct IdleArgs {
    /// Connections to open and hold.
    #[arg(long, default_value_t = 100)]
    pub conns: usize,
    /// Seconds to hold them once all are open.
    #[arg(long, default_value_t = 5.0, value_name = "SECS")]
    pub hold: f64,
    /// What to send on each connection before holding it.
    #[arg(long, value_enum, default_value_t = Request::None)]
    pub request: Request,
    /// The HTTP `Host`.
    #[command(flatten)]
    pub http: HttpTarget,
    /// The HTTP path for `--request http`.
    #[arg(long, default_value = "/")]
    pub path: String,
}

/// What the backend serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum BackendProto {
    /// TCP echo.
    Tcp,
    /// HTTP/1.1 and h2c (prior knowledge): `GET /`, `GET /bytes/N`, `POST /echo`.
    Http,
}

/// `backend` flags.
#[derive(Debug, Clone, Args)]
pub struct BackendArgs {
    /// Where to listen (loopback only; port 0 picks one, printed as `listening ADDR`).
    #[arg(long)]
    pub listen: SocketAddr,
    /// What to serve.
    #[arg(long, value_enum)]
    pub proto: BackendProto,
}

// === impl HttpTarget ===

impl HttpTarget {
    /// The `Host` to send: `--host`, or else the server name.
    pub fn host_or<'a>(&'a self, server_name: &'a str) -> &'a str {
        self.host.as_deref().unwrap_or(server_name)
    }
}
