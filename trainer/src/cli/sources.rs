//! Flags shared by `train` and `evaluate`, and small argument parsers.

use std::path::PathBuf;

use clap::ValueEnum;
use onesheet::preprocess::InputSpec;
use onesheet_trainer::classify::Format;
use onesheet_trainer::paths;
use onesheet_trainer::training::{Prepared, Sources, prepare};

/// Where the labelled data, the pretrained weights and the working directory are.
#[derive(clap::Args)]
pub struct SourcesArgs {
    /// Root of the labelled posters (`posters/`, `vintage/`).
    #[arg(long, env = "ONESHEET_DATA", default_value = paths::DATA)]
    data: PathBuf,
    /// Pretrained MobileNetV2 weights (torchvision-layout safetensors).
    #[arg(long, env = "ONESHEET_WEIGHTS", default_value = paths::WEIGHTS)]
    weights: PathBuf,
    /// Working directory: split, feature cache, checkpoints, logs.
    #[arg(long, default_value = paths::WORK)]
    work: PathBuf,
    /// Seed of the split, initialisation, shuffling, dropout and random baselines. A split
    /// already in the working directory keeps the seed it was drawn with.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Use only the first N posters of each collection (quick runs and tests).
    #[arg(long)]
    limit: Option<usize>,
    /// Images per backbone batch.
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u16).range(1..))]
    batch: u16,
}

/// The working directory's cached features at one input size: what `levers` and `tune` read.
#[derive(clap::Args)]
pub struct CachedArgs {
    #[command(flatten)]
    sources: SourcesArgs,
    /// Model input the features are cached at, WIDTHxHEIGHT.
    #[arg(long, default_value = "224x320", value_parser = parse_size)]
    size: (u32, u32),
}

impl CachedArgs {
    /// The sources, and the features prepared (computed first where missing).
    pub fn prepare(self) -> anyhow::Result<(Sources, Prepared)> {
        let sources: Sources = self.sources.into();
        let prepared = prepare(&sources, self.size)?;
        Ok((sources, prepared))
    }
}

impl From<SourcesArgs> for Sources {
    fn from(args: SourcesArgs) -> Self {
        Self {
            data: args.data,
            weights: args.weights,
            work: args.work,
            seed: args.seed,
            limit: args.limit,
            batch: usize::from(args.batch),
        }
    }
}

/// `WIDTHxHEIGHT`, within what the model and memory allow ([`InputSpec::check`]: the limit
/// every bundle is held to on load).
pub fn parse_size(text: &str) -> Result<(u32, u32), String> {
    let (w, h) = text
        .split_once(['x', 'X', '×'])
        .ok_or_else(|| format!("`{text}` is not WIDTHxHEIGHT"))?;
    let parse = |s: &str| {
        s.trim()
            .parse::<u32>()
            .map_err(|_| format!("`{s}` is not a number of pixels"))
    };
    let (width, height) = (parse(w)?, parse(h)?);
    InputSpec::mobilenet(width, height)
        .check()
        .map_err(|e| e.to_string())?;
    Ok((width, height))
}

/// A backend in the shared vocabulary: `cpu` or `webgpu` (aliases `flex`, `wgpu`).
pub fn parse_backend(text: &str) -> Result<onesheet::Backend, String> {
    text.parse()
        .map_err(|e: onesheet::backend::UnknownBackend| e.to_string())
}

/// Which bundle runs, and where: shared by every subcommand that runs a bundle.
#[derive(clap::Args)]
pub struct ModelArgs {
    /// Model bundle.
    #[arg(long, env = "ONESHEET_MODEL", default_value = paths::MODEL)]
    pub model: PathBuf,
    /// Where the model runs: `cpu` or `webgpu` (natively wgpu on Vulkan, Metal or DX12).
    #[arg(long, default_value = "cpu", value_parser = parse_backend)]
    pub backend: onesheet::Backend,
}

/// How a listing (`classify`, `similar`) is written.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum FormatArg {
    /// Aligned columns for people.
    Table,
    /// CSV rows, with a header.
    Csv,
    /// One JSON array.
    Json,
    /// One JSON object per line.
    Jsonl,
}

impl From<FormatArg> for Format {
    fn from(format: FormatArg) -> Self {
        match format {
            FormatArg::Table => Self::Table,
            FormatArg::Csv => Self::Csv,
            FormatArg::Json => Self::Json,
            FormatArg::Jsonl => Self::Jsonl,
        }
    }
}
