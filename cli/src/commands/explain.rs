//! `onesheet explain`: arguments for [`onesheet_cli::why_maps::explain`].

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::ValueEnum;
use onesheet::files::write;
use onesheet_cli::why_maps::{self as explain, ExplainConfig};

use super::shared::ModelArgs;

/// Arguments of `onesheet explain`.
#[derive(clap::Args)]
pub struct Args {
    /// The poster.
    poster: PathBuf,
    /// The genre to explain (default: the poster's top genre).
    #[arg(long)]
    genre: Option<String>,
    /// Where to write the poster with the map drawn over it (PNG); needed with `--format png`.
    #[arg(long)]
    out: Option<PathBuf>,
    /// `png`: the overlay, to `--out`; `json`: `{"file", "genre", "map"}` on stdout.
    #[arg(long, value_enum, default_value_t = ExplainFormat::Png)]
    format: ExplainFormat,
    #[command(flatten)]
    run: ModelArgs,
}

/// Output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum ExplainFormat {
    /// The poster with the map drawn over it.
    Png,
    /// The map's rows at the feature map's resolution.
    Json,
}

/// Explains one genre of one poster.
pub fn run(args: Args) -> Result<()> {
    if args.format == ExplainFormat::Png && args.out.is_none() {
        bail!("say where to write the picture with --out heat.png (or use --format json)");
    }
    let (explained, genre) = explain::explain(&ExplainConfig {
        poster: args.poster.clone(),
        genre: args.genre,
        model: args.run.source(),
        backend: args.run.backend,
    })?;
    match (args.format, args.out) {
        (ExplainFormat::Json, _) => println!(
            "{}",
            serde_json::to_string(&explained.explanation(&args.poster, genre))?
        ),
        (ExplainFormat::Png, Some(out)) => {
            let mut png = Vec::new();
            explained
                .overlay(genre)
                .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
                .context("encoding the picture")?;
            write::atomic(&out, &png)?;
            eprintln!(
                "{}: {} ({:.2})",
                out.display(),
                onesheet::GENRES[genre].name,
                explained.analysis.prediction.scores[genre]
            );
        }
        (ExplainFormat::Png, None) => {}
    }
    Ok(())
}
