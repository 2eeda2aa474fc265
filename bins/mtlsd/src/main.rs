//! `mtlsd`: the multi-mtls-proxy daemon (server, client and bridge mTLS tunnels, the
//! multi-tenant gateway serving the tenant registry, and the control-plane API over mTLS
//! when the config has a `[control]` section).
//!
//! ```text
//! mtlsd --config FILE          run until SIGTERM/SIGINT (SIGHUP reloads certificates)
//! mtlsd --config FILE --check  validate the config and load its TLS files, then exit
//! mtlsd generate-docs --out DIR  (hidden) write shell completions and man pages
//! mtlsd probe HOST:PORT [--config FILE [--listener NAME]] [--server-name NAME] [--ca FILE]
//!       [--insecure-skip-verify] [--timeout 10s] [--json]
//!                              show what an upstream asks of a client certificate
//! ```
//!
//! Exit status: 0 on success (including a drained shutdown), 2 for a bad config, unusable
//! TLS material or a socket that cannot be bound, 1 for other run-time failures.
//! `probe` exits 0 when the handshake completed (whether or not an identity matched),
//! 1 when it could not connect or the handshake failed, 2 for bad arguments or config.
//!
//! Environment: `MTLS_CONFIG` (the config file when `--config` is not given), `MTLS_DATA_DIR`
//! (the data dir when the file names none), `MTLS_REGISTRY` (a `postgres://` registry when the
//! file names none), `MTLS_LOG` (a `tracing` filter over
//! `logging.level`); see `env.rs`.
//!
//! Once every socket is bound, `mtlsd` prints one line per socket on stdout,
//! `bound <listener|admin> <name> <address>` (and `bound control control <address>` for
//! the `[control]` API), then `ready` (useful with `listen = "...:0"`).
//! Logs go to stderr.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};
use mtls_config::{Config, Defaults};
use mtls_gateway::{ErrorChain, Gateway};
use mtls_probe::{self as probe, ProbeOptions};

/// The multi-mtls-proxy daemon: server, client and bridge mTLS tunnels, and the multi-tenant
/// gateway (mode = "gateway") serving the tenant registry.
#[derive(Debug, Parser)]
#[command(
    version,
    about,
    args_conflicts_with_subcommands = true,
    subcommand_negates_reqs = true
)]
struct Args {
    /// The TOML config file [env: MTLS_CONFIG].
    #[arg(long, short = 'c', value_name = "FILE")]
    config: Option<PathBuf>,
    /// Validate the config and load its certificates and keys, then exit (0 = valid, 2 = not).
    #[arg(long)]
    check: bool,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Connect to an upstream once and show what it asks of a client: its certificate, the
    /// TLS version, the CA names and signature schemes of its CertificateRequest, and which
    /// configured identity would be sent and why.
    Probe(ProbeArgs),
}

#[derive(Debug, clap::Args)]
struct ProbeArgs {
    /// The upstream, HOST:PORT.
    #[arg(value_name = "HOST:PORT")]
    target: String,
    /// A config file whose listener's identities, ca, server_name and min_version to use.
    #[arg(long, short = 'c', value_name = "FILE")]
    config: Option<PathBuf>,
    /// The listener (client or bridge mode) to take from --config; optional when only one
    /// listener dials out with TLS.
    #[arg(long, short = 'l', value_name = "NAME", requires = "config")]
    listener: Option<String>,
    /// The server name to send (SNI) and verify [default: the listener's, else HOST].
    #[arg(long, value_name = "NAME")]
    server_name: Option<String>,
    /// PEM CA bundle to verify the server with [default: the listener's ca].
    #[arg(long, value_name = "FILE")]
    ca: Option<PathBuf>,
    /// Do not verify the server certificate (diagnostics only: the server is not
    /// authenticated).
    #[arg(long)]
    insecure_skip_verify: bool,
    /// Bound on connecting plus handshaking.
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = humantime::parse_duration)]
    timeout: Duration,
    /// Print the report as one JSON object.
    #[arg(long)]
    json: bool,
}

mod control;
mod env;
mod registry;

const EXIT_CONFIG: u8 = 2;

/// What fills the config file's gaps from outside it: the data dir from `MTLS_DATA_DIR`, the
/// registry from `MTLS_REGISTRY`.
fn config_defaults() -> Defaults {
    Defaults::default()
        .with_data_dir(env::process_var(env::DATA_DIR))
        .with_registry(env::process_var(env::REGISTRY))
}

fn main() -> ExitCode {
    // `mtlsd generate-docs --out DIR` (hidden; packaging): completions and man pages of the
    // CLI without it.
    let matches = mtls_cli_docs::with_generate_subcommand(Args::command()).get_matches();
    if let Some(status) = mtls_cli_docs::run_if_requested(&matches, Args::command()) {
        return status;
    }
    let args = Args::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    // Both rustls providers may be compiled into the workspace; pick aws-lc-rs once, here.
    // Our own configs pass it explicitly; this covers any library that asks for the default.
    let _ = Arc::unwrap_or_clone(mtls_tls::provider()).install_default();

    let config_path = match (args.command, args.config) {
        (Some(Command::Probe(probe)), _) => return run_probe(probe),
        (None, Some(path)) => path,
        (None, None) => match env::process_var(env::CONFIG) {
            Some(path) => PathBuf::from(path),
            None => Args::command()
                .error(
                    clap::error::ErrorKind::MissingRequiredArgument,
                    format!(
                        "a config file is required: pass --config FILE or set {}",
                        env::CONFIG
                    ),
                )
                .exit(),
        },
    };
    let args = RunArgs {
        config: config_path,
        check: args.check,
    };
    let config = match Config::load_with(&args.config, &config_defaults()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("mtlsd: {}", ErrorChain(&e));
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    // Needed by gateway listeners and the control API; opened before the runtime starts
    // (the PostgreSQL client blocks).
    let needs_registry = config.has_gateway() || config.control().is_some();
    let registry = match needs_registry.then(|| registry::OpenedRegistry::open(&config, args.check))
    {
        None => None,
        Some(Ok(r)) => Some(r),
        Some(Err(e)) => {
            eprintln!(
                "mtlsd: cannot open the registry {}: {}",
                config.registry(),
                ErrorChain(&e)
            );
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    let source = registry
        .as_ref()
        .filter(|_| config.has_gateway())
        .map(registry::OpenedRegistry::source);
    let shared_store = registry
        .as_ref()
        .and_then(registry::OpenedRegistry::shared_store);
    if args.check {
        let checked = mtls_gateway::check(&config, source)
            .map_err(|e| ErrorChain(&e).to_string())
            .and_then(|()| {
                control::check(&config, shared_store).map_err(|e| ErrorChain(&e).to_string())
            });
        return match checked {
            Ok(()) => {
                println!(
                    "mtlsd: {} is valid ({} listener(s))",
                    args.config.display(),
                    config.listeners().len()
                );
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("mtlsd: {e}");
                ExitCode::from(EXIT_CONFIG)
            }
        };
    }

    // Log lines are written by a writer thread; the guard flushes what is queued when `main`
    // returns (after the runtime has stopped), so a shutdown's last lines are not lost.
    let _log_writer =
        mtls_gateway::init_logging(config.logging(), env::process_var(env::LOG).as_deref());
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
        let control = match control::bind(&config, shared_store).await {
            Ok(c) => c,
            Err(e) => {
                tracing::error!(error = %ErrorChain(&e), "cannot start");
                eprintln!("mtlsd: {}", ErrorChain(&e));
                return ExitCode::from(EXIT_CONFIG);
            }
        };
        let gateway = match Gateway::bind(config, source).await {
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
            if let Some(addr) = control.as_ref().and_then(|c| c.listener.local_addr().ok()) {
                let _ = writeln!(out, "bound control control {addr}");
            }
            let _ = writeln!(out, "ready");
            let _ = out.flush();
        }
        // A PostgreSQL registry announces every commit (of any replica, tenantctl or
        // control API); kept until the gateway has stopped.
        let _change_listener = registry.as_ref().and_then(|r| {
            let nudge = gateway.registry_nudge();
            r.listen(move || nudge.nudge())
        });
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let stop_signal = match stop_signal() {
            Ok(s) => s,
            Err(e) => {
                eprintln!("mtlsd: {e}");
                return ExitCode::FAILURE;
            }
        };
        // Changes made through the API reach the gateway's listeners at once, not at their
        // next registry poll.
        if let Some(c) = &control {
            let nudge = gateway.registry_nudge();
            c.plane.on_change(move || nudge.nudge());
        }
        let control_task = control.map(|c| {
            let mut stop = stop_rx.clone();
            tokio::spawn(c.plane.serve(c.listener, c.tls, async move {
                let _ = stop.wait_for(|s| *s).await;
            }))
        });
        let gateway_run = gateway.run_until(async move {
            let cause = stop_signal.await;
            let _ = stop_tx.send(true);
            cause
        });
        let result = gateway_run.await;
        if let Some(task) = control_task {
            match task.await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => {
                    tracing::error!(error = %ErrorChain(&e), "control API stopped with an error")
                }
                Err(e) => tracing::error!(error = %e, "control API task failed"),
            }
        }
        match result {
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

/// Resolves on the first SIGTERM or SIGINT, naming it.
fn stop_signal() -> Result<impl std::future::Future<Output = &'static str>, String> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term =
        signal(SignalKind::terminate()).map_err(|e| format!("cannot handle SIGTERM: {e}"))?;
    let mut int =
        signal(SignalKind::interrupt()).map_err(|e| format!("cannot handle SIGINT: {e}"))?;
    Ok(async move {
        tokio::select! {
            _ = term.recv() => "SIGTERM",
            _ = int.recv() => "SIGINT",
        }
    })
}

/// What the daemon path needs once the subcommand is ruled out.
struct RunArgs {
    config: PathBuf,
    check: bool,
}

fn run_probe(args: ProbeArgs) -> ExitCode {
    let config = match &args.config {
        Some(path) => match Config::load_with(path, &config_defaults()) {
            Ok(c) => Some(c),
            Err(e) => {
                eprintln!("mtlsd probe: {}", ErrorChain(&e));
                return ExitCode::from(EXIT_CONFIG);
            }
        },
        None => None,
    };
    let outbound = match &config {
        Some(c) => match probe::outbound_listener(c, args.listener.as_deref()) {
            Ok(found) => Some(found),
            Err(e) => {
                eprintln!("mtlsd probe: {}", ErrorChain(&e));
                return ExitCode::from(EXIT_CONFIG);
            }
        },
        None => None,
    };
    if args.insecure_skip_verify {
        eprintln!(
            "mtlsd probe: WARNING: --insecure-skip-verify: the server certificate is NOT \
             verified; anyone on the path could be answering. Use this for diagnostics only."
        );
    }
    let mut options = ProbeOptions::new(args.target);
    options.server_name = args.server_name;
    options.ca = args.ca;
    options.insecure_skip_verify = args.insecure_skip_verify;
    options.timeout = args.timeout;

    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("mtlsd probe: cannot start the tokio runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let report = match runtime.block_on(probe::probe(&options, outbound)) {
        Ok(report) => report,
        Err(e) => {
            eprintln!("mtlsd probe: {}", ErrorChain(&e));
            return if matches!(
                e,
                probe::ProbeError::Connect { .. } | probe::ProbeError::ConnectTimeout { .. }
            ) {
                ExitCode::FAILURE
            } else {
                ExitCode::from(EXIT_CONFIG)
            };
        }
    };
    if args.json {
        println!("{}", report.to_json());
    } else {
        println!("{report}");
    }
    match &report.handshake_error {
        None => ExitCode::SUCCESS,
        Some(e) => {
            eprintln!("mtlsd probe: handshake with {} failed: {e}", options.target);
            ExitCode::FAILURE
        }
    }
}
