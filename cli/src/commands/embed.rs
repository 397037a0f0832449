//! `onesheet embed`: arguments for [`onesheet_cli::embed::embed`].

use std::path::PathBuf;
use std::process::ExitCode;

use super::defaults;
use anyhow::Result;
use clap::ValueEnum;
use onesheet::Backend;
use onesheet_cli::embed::{self, EmbedConfig};

use super::shared::{parse_backend, parse_size};

/// Arguments of `onesheet embed`.
#[derive(clap::Args)]
pub struct Args {
    /// Images to embed (JPEG, PNG, WebP, GIF, BMP, TIFF).
    #[arg(required = true)]
    images: Vec<PathBuf>,
    /// Pretrained MobileNetV2 weights (torchvision-layout safetensors).
    #[arg(long, env = "ONESHEET_WEIGHTS", default_value = defaults::WEIGHTS)]
    weights: PathBuf,
    /// Output format.
    #[arg(long, value_enum, default_value_t = FormatArg::Jsonl)]
    format: FormatArg,
    /// Model input size, WIDTHxHEIGHT.
    #[arg(long, default_value = "224x224", value_parser = parse_size)]
    size: (u32, u32),
    /// Where the model runs: `cpu` or `webgpu` (natively wgpu on Vulkan, Metal or DX12).
    #[arg(long, default_value = "cpu", value_parser = parse_backend)]
    backend: Backend,
    /// Images run through the model together.
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u16).range(1..))]
    batch: u16,
}

/// Output formats.
#[derive(Debug, Clone, Copy, ValueEnum)]
enum FormatArg {
    /// One JSON object per line: `{"file", "embedding"}` or `{"file", "error"}`.
    Jsonl,
}

/// Embeds every image; exit code 1 when any failed.
pub fn run(args: Args) -> Result<ExitCode> {
    let FormatArg::Jsonl = args.format;
    let failed = embed::embed(&EmbedConfig {
        images: args.images,
        weights: args.weights,
        size: args.size,
        backend: args.backend,
        batch: usize::from(args.batch),
    })?;
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
