//! `onesheet`: the native command line. Each subcommand parses its arguments and calls the
//! `onesheet_trainer` library; nothing else happens here.

mod cli;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    match cli::Cli::parse().run() {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
