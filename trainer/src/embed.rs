//! `onesheet embed`: the pretrained backbone's embedding of each image, as JSON lines.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::ValueEnum;
use onesheet::model::ModelInput;
use onesheet::preprocess::{self, DecodeLimits, InputSpec};
use onesheet::{inference, model, pretrained};
use serde_json::json;

use crate::backend::Backend;
use crate::defaults;
use crate::progress;

/// Arguments of `onesheet embed`.
#[derive(clap::Args)]
pub struct Args {
    /// Images to embed (JPEG, PNG, WebP, GIF).
    #[arg(required = true)]
    images: Vec<PathBuf>,
    /// Pretrained MobileNetV2 weights (torchvision-layout safetensors).
    #[arg(long, env = "ONESHEET_WEIGHTS", default_value = defaults::WEIGHTS)]
    weights: PathBuf,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Jsonl)]
    format: Format,
    /// Model input size, WIDTHxHEIGHT.
    #[arg(long, default_value = "224x224", value_parser = parse_size)]
    size: (u32, u32),
    /// Where the model runs.
    #[arg(long, value_enum, default_value_t = Backend::Flex)]
    backend: Backend,
    /// Images run through the model together.
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u16).range(1..))]
    batch: u16,
}

/// Output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Format {
    /// One JSON object per line.
    Jsonl,
}

/// `WIDTHxHEIGHT`, both positive.
pub fn parse_size(text: &str) -> Result<(u32, u32), String> {
    let (w, h) = text
        .split_once(['x', 'X', '×'])
        .ok_or_else(|| format!("`{text}` is not WIDTHxHEIGHT"))?;
    let parse = |s: &str| match s.trim().parse::<u32>() {
        Ok(n) if (32..=4096).contains(&n) => Ok(n),
        _ => Err(format!("`{s}` is not a size between 32 and 4096")),
    };
    Ok((parse(w)?, parse(h)?))
}

/// Embeds every image; a bad image is reported in its own line and the rest go on.
pub fn run(args: Args) -> Result<ExitCode> {
    let device = args.backend.device()?;
    let network = pretrained::load_file(&args.weights, &device)
        .with_context(|| format!("loading weights {}", args.weights.display()))?;
    let spec = InputSpec::mobilenet(args.size.0, args.size.1);
    let limits = DecodeLimits::default();
    let Format::Jsonl = args.format;

    let bar = progress::bar(args.images.len() as u64, "embedding");
    let mut out = std::io::stdout().lock();
    let mut failed = 0usize;
    for chunk in args.images.chunks(usize::from(args.batch)) {
        let (mut ready, mut inputs): (Vec<&PathBuf>, Vec<ModelInput>) = (Vec::new(), Vec::new());
        let mut lines = Vec::new();
        for path in chunk {
            let prepared = std::fs::read(path)
                .map_err(anyhow::Error::from)
                .and_then(|bytes| Ok(preprocess::prepare_bytes(&bytes, &spec, &limits)?));
            match prepared {
                Ok(input) => {
                    ready.push(path);
                    inputs.push(input);
                }
                Err(error) => {
                    failed += 1;
                    lines.push((path, json!({ "file": path, "error": error.to_string() })));
                }
            }
        }
        if !inputs.is_empty() {
            let embedding = network.backbone.forward(model::batch(&inputs, &device));
            let rows = inference::read_rows_sync(embedding)?;
            for (path, row) in ready.into_iter().zip(rows) {
                lines.push((path, json!({ "file": path, "embedding": row })));
            }
        }
        // Keep the command line's order, whatever failed.
        lines.sort_by_key(|(path, _)| chunk.iter().position(|p| p == *path));
        for (_, line) in lines {
            writeln!(out, "{line}")?;
        }
        bar.inc(chunk.len() as u64);
    }
    bar.finish_and_clear();
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
