//! `onesheet`: the native command line (embed, export; train, evaluate, classify and serve
//! come with their issues).

mod backend;
mod defaults;
mod embed;
mod export;
mod progress;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "onesheet",
    version,
    about = "Movie-poster genres from the image alone"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Print the pretrained backbone's 1280-d embedding of each image, one JSON line each.
    Embed(embed::Args),
    /// Write a model bundle.
    Export(export::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let outcome = match cli.command {
        Command::Embed(args) => embed::run(args),
        Command::Export(args) => export::run(args).map(|()| ExitCode::SUCCESS),
    };
    match outcome {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
