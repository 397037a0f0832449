//! The subcommands: argument parsing only, each calling one library entry point.

mod classify;
mod defaults;
mod embed;
mod explain;
mod export;
mod gallery;
mod index;
mod kiosk;
mod serve;
mod shared;
mod similar;

// The training pipeline's subcommands (feature `train`).
#[cfg(feature = "train")]
mod evaluate;
#[cfg(feature = "train")]
mod levers;
#[cfg(feature = "train")]
mod sources;
#[cfg(feature = "train")]
mod train;
#[cfg(feature = "train")]
mod tune;

use std::process::ExitCode;

use anyhow::Result;
use clap::{Parser, Subcommand};

/// The command line.
#[derive(Parser)]
#[command(
    name = "onesheet",
    version,
    about = "Movie-poster genres from the image alone"
)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Train the genre model on the labelled posters and write a bundle.
    #[cfg(feature = "train")]
    Train(train::Args),
    /// Evaluate a bundle on the test splits and write the report.
    #[cfg(feature = "train")]
    Evaluate(evaluate::Args),
    /// Measure changes to the head's inputs and training on the validation posters.
    #[cfg(feature = "train")]
    Levers(levers::Args),
    /// Random search of the head's settings, scored by k-fold cross-validation on the
    /// training posters (seed 004).
    #[cfg(feature = "train")]
    Tune(tune::Args),
    /// Genres of every poster in files or folders.
    Classify(classify::Args),
    /// Print the pretrained backbone's 1280-d embedding of each image, one JSON line each.
    Embed(embed::Args),
    /// Index a catalogue's posters for `similar`, `gallery` and the browser faces.
    Index(index::Args),
    /// The catalogue's posters most like each given poster.
    Similar(similar::Args),
    /// Where in a poster the model found a genre.
    Explain(explain::Args),
    /// The catalogue as a static site browsable by genre.
    Gallery(gallery::Args),
    /// Write a model bundle.
    Export(export::Args),
    /// Serve the drop page, the shop widget and the kiosk (www/) with the models (models/) on
    /// 127.0.0.1.
    Serve(serve::Args),
    /// Serve the offline gallery kiosk at / (runs onesheet-kiosk, the binary with the kiosk and
    /// the shipped model inside).
    Kiosk(kiosk::Args),
}

impl Cli {
    /// Runs the chosen subcommand.
    pub fn run(self) -> Result<ExitCode> {
        let done = |()| ExitCode::SUCCESS;
        match self.command {
            #[cfg(feature = "train")]
            Command::Train(args) => train::run(args).map(done),
            #[cfg(feature = "train")]
            Command::Evaluate(args) => evaluate::run(args).map(done),
            #[cfg(feature = "train")]
            Command::Levers(args) => levers::run(args).map(done),
            #[cfg(feature = "train")]
            Command::Tune(args) => tune::run(args).map(done),
            Command::Classify(args) => classify::run(args),
            Command::Embed(args) => embed::run(args),
            Command::Index(args) => index::run(args),
            Command::Similar(args) => similar::run(args),
            Command::Explain(args) => explain::run(args).map(done),
            Command::Gallery(args) => gallery::run(args),
            Command::Export(args) => export::run(args).map(done),
            Command::Serve(args) => serve::run(args).map(done),
            Command::Kiosk(args) => kiosk::run(&args),
        }
    }
}
