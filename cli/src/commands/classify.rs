//! `onesheet classify`: arguments for [`onesheet_cli::classify::classify`].

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use onesheet::Year;
use onesheet_cli::classify::{self, ClassifyConfig};
use onesheet_cli::year_input::Years;

use super::shared::{FormatArg, ModelArgs};

/// Arguments of `onesheet classify`.
#[derive(clap::Args)]
pub struct Args {
    /// Poster images, or folders to search for them (JPEG, PNG, WebP, GIF, BMP, TIFF).
    #[arg(required = true)]
    inputs: Vec<PathBuf>,
    #[command(flatten)]
    run: ModelArgs,
    /// Output format (default: a table for people).
    #[arg(long, value_enum, default_value_t = FormatArg::Table)]
    format: FormatArg,
    /// Posters run through the model together.
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u16).range(1..))]
    batch: u16,
    /// Print nothing per poster; report posters per second on stderr.
    #[arg(long)]
    bench: bool,
    /// The release year of every poster given: it refines the genres by decade.
    #[arg(long, value_name = "YEAR", conflicts_with = "years")]
    year: Option<Year>,
    /// A CSV with the header `file,year`: each poster whose file name is listed gets its year
    /// (the others, and empty years, none).
    #[arg(long, value_name = "FILE.csv")]
    years: Option<PathBuf>,
}

/// Classifies every input; exit code 1 when any file failed.
pub fn run(args: Args) -> Result<ExitCode> {
    let years = match (args.year, &args.years) {
        (Some(year), _) => Years::All(year),
        (None, Some(csv)) => Years::read_csv(csv)?,
        (None, None) => Years::None,
    };
    let tally = classify::classify(&ClassifyConfig {
        inputs: args.inputs,
        model: args.run.source(),
        format: args.format.into(),
        backend: args.run.backend,
        batch: usize::from(args.batch),
        bench: args.bench,
        years,
    })?;
    Ok(if tally.failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
