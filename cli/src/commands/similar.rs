//! `onesheet similar`: arguments for [`onesheet_cli::similar::similar`].

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use onesheet_cli::similar::{self, SimilarConfig};

use super::shared::{FormatArg, ModelArgs};

/// Arguments of `onesheet similar`.
#[derive(clap::Args)]
pub struct Args {
    /// Posters to find look-alikes of (files or folders).
    #[arg(required = true)]
    posters: Vec<PathBuf>,
    /// The catalogue index (`onesheet index`).
    #[arg(long)]
    index: PathBuf,
    /// Posters listed per query.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u16).range(1..))]
    k: u16,
    /// Output format (jsonl: `{"file", "similar": [{"file", "score"}, …]}` per poster).
    #[arg(long, value_enum, default_value_t = FormatArg::Table)]
    format: FormatArg,
    #[command(flatten)]
    run: ModelArgs,
}

/// Searches for every poster; exit code 1 when any could not be read.
pub fn run(args: Args) -> Result<ExitCode> {
    let failed = similar::similar(&SimilarConfig {
        queries: args.posters,
        index: args.index,
        model: args.run.source(),
        backend: args.run.backend,
        k: usize::from(args.k),
        format: args.format.into(),
    })?;
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
