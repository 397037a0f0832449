//! `onesheet gallery`: arguments for [`onesheet_cli::gallery::gallery`].

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use onesheet_cli::gallery::{self, GalleryConfig};

use super::shared::ModelArgs;

/// Arguments of `onesheet gallery`.
#[derive(clap::Args)]
pub struct Args {
    /// Folders of posters (or poster files).
    #[arg(required = true)]
    inputs: Vec<PathBuf>,
    /// The site's folder: open its index.html in a browser, or put it on any static host.
    #[arg(long)]
    out: PathBuf,
    #[command(flatten)]
    run: ModelArgs,
    /// Posters run through the model together.
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u16).range(1..))]
    batch: u16,
}

/// Builds the site; exit code 1 when any file was skipped.
pub fn run(args: Args) -> Result<ExitCode> {
    let summary = gallery::gallery(&GalleryConfig {
        inputs: args.inputs,
        out: args.out.clone(),
        model: args.run.source(),
        backend: args.run.backend,
        batch: usize::from(args.batch),
    })?;
    eprintln!(
        "{}: {} posters ({} skipped) in {:.0} s; open {}",
        args.out.display(),
        summary.posters,
        summary.failed,
        summary.seconds,
        args.out.join("index.html").display()
    );
    Ok(if summary.failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
