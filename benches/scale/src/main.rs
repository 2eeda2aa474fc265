//! `mtls-scale`: parses the command line and runs [`mtls_scale::run`]; prints the report.

use std::process::ExitCode;

use clap::Parser;
use mtls_scale::Cli;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("mtls-scale: cannot start the tokio runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(mtls_scale::run(&cli)) {
        Ok(report) => {
            println!("{}", report.json);
            if cli.fail_on_miss && report.misses > 0 {
                eprintln!(
                    "mtls-scale: {} change(s) never went live within {} s",
                    report.misses, cli.change_timeout_s
                );
                return ExitCode::FAILURE;
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            let mut message = e.to_string();
            let mut source = std::error::Error::source(&e);
            while let Some(s) = source {
                message.push_str(": ");
                message.push_str(&s.to_string());
                source = s.source();
            }
            eprintln!("mtls-scale: {message}");
            ExitCode::from(2)
        }
    }
}
