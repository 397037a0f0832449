//! `onesheet classify`: arguments for [`onesheet_trainer::classify::classify`].

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use onesheet::Backend;
use onesheet_trainer::classify::{self, ClassifyConfig};
use onesheet_trainer::paths;

use super::sources::{FormatArg, parse_backend};

/// Arguments of `onesheet classify`.
#[derive(clap::Args)]
pub struct Args {
    /// Poster images, or folders to search for them (JPEG, PNG, WebP, GIF, BMP, TIFF).
    #[arg(required = true)]
    inputs: Vec<PathBuf>,
    /// Model bundle.
    #[arg(long, env = "ONESHEET_MODEL", default_value = paths::MODEL)]
    model: PathBuf,
    /// Output format (default: a table for people).
    #[arg(long, value_enum, default_value_t = FormatArg::Table)]
    format: FormatArg,
    /// Where the model runs: `cpu` or `webgpu` (natively wgpu on Vulkan, Metal or DX12).
    #[arg(long, default_value = "cpu", value_parser = parse_backend)]
    backend: Backend,
    /// Posters run through the model together.
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u16).range(1..))]
    batch: u16,
    /// Print nothing per poster; report posters per second on stderr.
    #[arg(long)]
    bench: bool,
}

/// Classifies every input; exit code 1 when any file failed.
pub fn run(args: Args) -> Result<ExitCode> {
    let tally = classify::classify(&ClassifyConfig {
        inputs: args.inputs,
        model: args.model,
        format: args.format.into(),
        backend: args.backend,
        batch: usize::from(args.batch),
        bench: args.bench,
    })?;
    Ok(if tally.failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
