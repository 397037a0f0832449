//! `onesheet`: the native command line: train, evaluate and export the model; classify a
//! catalogue; serve the drop page.

mod backend;
mod classify;
mod dataset;
mod defaults;
mod embed;
mod evaluate;
mod export;
mod features;
mod metrics;
mod plots;
mod progress;
mod report;
mod serve;
mod split;
mod train;
mod training;

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
    /// Train the genre model on the labelled posters and write a bundle.
    Train(train::Args),
    /// Evaluate a bundle on the test splits and write the report.
    Evaluate(evaluate::Args),
    /// Genres of every poster in files or folders.
    Classify(classify::Args),
    /// Print the pretrained backbone's 1280-d embedding of each image, one JSON line each.
    Embed(embed::Args),
    /// Write a model bundle.
    Export(export::Args),
    /// Serve the drop page (www/) and the shipped model (models/) on 127.0.0.1.
    Serve(serve::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let outcome = match cli.command {
        Command::Train(args) => train::run(args).map(|()| ExitCode::SUCCESS),
        Command::Evaluate(args) => evaluate::run(args).map(|()| ExitCode::SUCCESS),
        Command::Classify(args) => classify::run(args),
        Command::Embed(args) => embed::run(args),
        Command::Export(args) => export::run(args).map(|()| ExitCode::SUCCESS),
        Command::Serve(args) => serve::run(args).map(|()| ExitCode::SUCCESS),
    };
    match outcome {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
