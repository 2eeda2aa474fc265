//! `mtlsd`: the multi-mtls-proxy daemon (server, client and bridge mTLS tunnels).
//!
//! ```text
//! mtlsd --config FILE          run until SIGTERM/SIGINT (SIGHUP reloads certificates)
//! mtlsd --config FILE --check  validate the config and load its TLS files, then exit
//! ```
//!
//! Exit status: 0 on success (including a drained shutdown), 2 for a bad config, unusable
//! TLS material or a socket that cannot be bound, 1 for other run-time failures.
//!
//! Once every socket is bound, `mtlsd` prints one line per socket on stdout,
//! `bound <listener|admin> <name> <address>`, then `ready` (useful with `listen = "...:0"`).
//! Logs go to stderr.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use mtls_gateway::config::Config;
use mtls_gateway::{ErrorChain, Gateway};

/// The multi-mtls-proxy daemon: server, client and bridge mTLS tunnels.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// The TOML config file.
    #[arg(long, short = 'c', value_name = "FILE", env = "MTLSD_CONFIG")]
    config: PathBuf,
    /// Validate the config and load its certificates and keys, then exit (0 = valid, 2 = not).
    #[arg(long)]
    check: bool,
}

const EXIT_CONFIG: u8 = 2;

fn main() -> ExitCode {
    let args = Args::parse();
    // Both rustls providers may be compiled into the workspace; pick aws-lc-rs once, here.
    // Our own configs pass it explicitly; this covers any library that asks for the default.
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();

    let config = match Config::load(&args.config) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("mtlsd: {}", ErrorChain(&e));
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    if args.check {
        return match mtls_gateway::check(&config) {
            Ok(()) => {
                println!(
                    "mtlsd: {} is valid ({} listener(s))",
                    args.config.display(),
                    config.listeners().len()
                );
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("mtlsd: {}", ErrorChain(&e));
                ExitCode::from(EXIT_CONFIG)
            }
        };
    }

    mtls_gateway::init_logging(config.logging());
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("mtlsd: cannot start the tokio runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async move {
        let gateway = match Gateway::bind(config).await {
            Ok(g) => g,
            Err(e) => {
                tracing::error!(error = %ErrorChain(&e), "cannot start");
                eprintln!("mtlsd: {}", ErrorChain(&e));
                return ExitCode::from(EXIT_CONFIG);
            }
        };
        {
            let mut out = std::io::stdout().lock();
            for b in gateway.local_addrs() {
                let _ = writeln!(out, "bound {} {} {}", b.kind, b.name, b.addr);
            }
            let _ = writeln!(out, "ready");
            let _ = out.flush();
        }
        match gateway.run().await {
            Ok(summary) => {
                if summary.abandoned_connections > 0 {
                    tracing::warn!(
                        abandoned = summary.abandoned_connections,
                        "exited with connections still open after the drain deadline"
                    );
                }
                ExitCode::SUCCESS
            }
            Err(e) => {
                tracing::error!(error = %ErrorChain(&e), "stopped with an error");
                eprintln!("mtlsd: {}", ErrorChain(&e));
                ExitCode::from(EXIT_CONFIG)
            }
        }
    })
}
