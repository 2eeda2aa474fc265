//! `mtls-load`: parses the command line and runs one mode (see the library's docs).

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;
use mtls_load::{Cli, Command};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let threads = mtls_load::threads(&cli);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("mtls-load: cannot start the runtime: {e}");
            return ExitCode::from(2);
        }
    };
    if matches!(cli.command, Command::Backend(_)) {
        let served = runtime.block_on(mtls_load::run_backend(&cli, |addr| {
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "{}", mtls_load::backend::listening_line(addr));
            let _ = writeln!(out, "ready");
            let _ = out.flush();
        }));
        return match served {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("mtls-load: {e}");
                ExitCode::from(2)
            }
        };
    }
    match runtime.block_on(mtls_load::run(&cli, threads)) {
        Ok(report) => {
            println!("{}", report.to_json_line());
            match report.failure() {
                Some(why) => {
                    eprintln!("mtls-load: {why}");
                    ExitCode::FAILURE
                }
                None => ExitCode::SUCCESS,
            }
        }
        Err(e) => {
            eprintln!("mtls-load: {e}");
            ExitCode::from(2)
        }
    }
}
