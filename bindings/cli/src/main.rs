//! `kluis`: the command-line shell over kluis-core. Parsing, PIN input and printing live here;
//! every decision about credentials, trust and the vault is the core's.

mod args;
mod commands;
mod output;
mod shared;
mod views;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = match args::Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            // Help and version go to stdout with exit 0; usage errors exit 2 (clap's own convention).
            let code = if e.use_stderr() { 2 } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    match commands::run(&cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("kluis: {}", e.message());
            ExitCode::from(e.exit_code())
        }
    }
}
