//! `mtls-load`: the end-to-end load tool of multi-mtls-proxy (a workspace member under
//! `benches/`, not shipped in the release binaries).
//!
//! It speaks mTLS with a client certificate (or plain TCP with `--plain`, to measure the
//! backend alone) to a target on loopback, and prints exactly one JSON line per run
//! ([`Report`]). Every mode is bounded in time (`--duration`, at most 300 s, after
//! `--warmup`) and optionally in count (`--count`); it stops early when more than half of
//! the operations fail, and records its own CPU use (`client_cpu_util` near 1 means the
//! client, not the target, was the bottleneck) and, with `--pid`, the target's CPU time and
//! RSS. The modes, one module each:
//!
//! - [`handshake`]: connect, full (or `--resume`d) TLS handshake, one small request, close.
//! - [`rr`]: persistent connections looping request/response (raw TCP echo, HTTP/1.1, h2).
//! - [`bulk`]: one connection moving MiB, reported as MiB/s.
//! - [`idle`]: hold many connections open and report the target's RSS per connection.
//! - [`backend`]: the plain backend every target forwards to (TCP echo, HTTP/1.1 + h2c).
//! - [`crypto`]: the one-core crypto limit of one server-side mTLS handshake with our
//!   provider (rustls' aws-lc-rs).
//!
//! `src/main.rs` only parses the command line ([`Cli`]) and calls [`run`] or
//! [`run_backend`].

pub mod backend;
pub mod bulk;
pub mod cli;
pub mod conn;
pub mod crypto;
mod error;
pub mod handshake;
pub mod http;
pub mod idle;
pub mod procstat;
mod report;
pub mod rr;
pub mod run;
pub mod target;
pub mod tls;

use std::net::SocketAddr;
use std::time::Instant;

pub use cli::{Cli, Command};
pub use error::LoadError;
pub use report::Report;

/// Runtime worker threads: `--threads`, or the available cores.
pub fn threads(cli: &Cli) -> usize {
    match cli.command {
        // The crypto limit is one core's by definition.
        Command::Crypto => 1,
        _ => cli.common.threads.filter(|n| *n > 0).unwrap_or_else(|| {
            std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
        }),
    }
}

/// Runs one load mode (everything but `backend`) and returns its report; `threads` is what
/// the runtime was built with (it goes into `client_cpu_util`).
pub async fn run(cli: &Cli, threads: usize) -> Result<Report, LoadError> {
    let common = &cli.common;
    match &cli.command {
        Command::Handshake(args) => handshake::run(common, args, threads).await,
        Command::Rr(args) => rr::run(common, args, threads).await,
        Command::Bulk(args) => bulk::run(common, args, threads).await,
        Command::Idle(args) => idle::run(common, args, threads).await,
        Command::Crypto => crypto::run(common),
        Command::Backend(_) => Err(LoadError::Usage(
            "backend is not a load mode: use run_backend".to_owned(),
        )),
    }
}

/// Runs `backend`: binds, calls `ready` with the bound address, serves until `--duration`.
pub async fn run_backend(cli: &Cli, ready: impl FnOnce(SocketAddr)) -> Result<(), LoadError> {
    let Command::Backend(args) = &cli.command else {
        return Err(LoadError::Usage("not the backend command".to_owned()));
    };
    let until = Instant::now() + backend::lifetime(&cli.common)?;
    let listener = backend::bind(args).await?;
    let addr = listener
        .local_addr()
        .map_err(|e| LoadError::io("local address", e))?;
    ready(addr);
    backend::serve(listener, args.proto, until).await;
    Ok(())
}
