//! `onesheet`: the native command line. Each subcommand parses its arguments and calls the
//! `onesheet_cli` library (the product's tools) or, with the `train` feature, the
//! `onesheet_trainer` library (the training pipeline); nothing else happens here.

mod commands;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    match commands::Cli::parse().run() {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
