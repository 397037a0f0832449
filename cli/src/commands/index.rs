//! `onesheet index`: arguments for [`onesheet_cli::indexing::index`].

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use onesheet_cli::indexing::{self as index, IndexConfig};

use super::shared::ModelArgs;

/// Arguments of `onesheet index`.
#[derive(clap::Args)]
pub struct Args {
    /// Folders of posters (or poster files) to index.
    #[arg(required = true)]
    inputs: Vec<PathBuf>,
    /// The index file: created, or brought up to date with the posters it lacks.
    #[arg(long)]
    out: PathBuf,
    #[command(flatten)]
    run: ModelArgs,
    /// Posters run through the model together.
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u16).range(1..))]
    batch: u16,
    /// Where the browser faces find each poster's picture: a URL with `{file}` for its name
    /// relative to the folder indexed, e.g. `/catalogue/{file}`.
    #[arg(long)]
    thumbnails: Option<String>,
}

/// Indexes the posters; exit code 1 when any file was skipped.
pub fn run(args: Args) -> Result<ExitCode> {
    let summary = index::index(&IndexConfig {
        inputs: args.inputs,
        out: args.out.clone(),
        model: args.run.source(),
        backend: args.run.backend,
        batch: usize::from(args.batch),
        thumbnails: args.thumbnails,
    })?;
    eprintln!(
        "{}: {} posters ({} added, {} skipped)",
        args.out.display(),
        summary.posters,
        summary.added,
        summary.failed
    );
    Ok(if summary.failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
