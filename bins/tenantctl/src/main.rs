//! `tenantctl`: the admin CLI of multi-mtls-proxy.
//!
//! A thin binary: it parses arguments, opens the data directory and calls `mtls-ca` and
//! `mtls-registry`. Every change is one registry transaction with its audit event; files
//! (keys, certificates, CRLs) are written atomically and never overwritten by accident.
//!
//! With `--server https://HOST:PORT` (or `TENANTCTL_SERVER`, or `server` in the `--config`
//! file) the commands that make sense remotely go over the control-plane API instead
//! (`mtls-control-client`), printing the same output; `enroll --server` and `renew` manage a
//! tenant's own certificate directory from anywhere. Commands that need the CA key or the
//! registry file are local-only and say so.
//!
//! Exit codes: 0 success, 1 the operation failed (the message says why; a refusal by the
//! server prints its code and message), 2 bad usage.

// The doc comments of `cli.rs` are clap's `--help` text, printed as written: placeholders like
// `spiffe://<domain>/tenant/<id>` are meant literally there, not as HTML.
#![allow(rustdoc::invalid_html_tags)]

mod cli;
mod commands;
mod data_dir;
mod env;
mod error;
mod output;
mod settings;

use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches};

use crate::cli::Cli;
use crate::output::Output;

fn main() -> ExitCode {
    // `tenantctl generate-docs --out DIR` (hidden; packaging): completions and man pages of
    // the CLI without it.
    let matches = mtls_cli_docs::with_generate_subcommand(Cli::command()).get_matches();
    if let Some(status) = mtls_cli_docs::run_if_requested(&matches, Cli::command()) {
        return status;
    }
    let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    let json = cli.json;
    match commands::run(cli) {
        Ok(output) => {
            output.print(json);
            ExitCode::SUCCESS
        }
        Err(err) => {
            Output::print_error(&err, json);
            ExitCode::from(1)
        }
    }
}
