//! Flags shared by the training pipeline's subcommands (`train`, `evaluate`, `levers`, `tune`).

use std::path::PathBuf;

use onesheet_trainer::training::{Prepared, Sources, prepare};

use super::defaults;
use super::shared::parse_size;

/// Where the labelled data, the pretrained weights and the working directory are.
#[derive(clap::Args)]
pub struct SourcesArgs {
    /// Root of the labelled posters (`posters/`, `vintage/`).
    #[arg(long, env = "ONESHEET_DATA", default_value = defaults::DATA)]
    data: PathBuf,
    /// Pretrained MobileNetV2 weights (torchvision-layout safetensors).
    #[arg(long, env = "ONESHEET_WEIGHTS", default_value = defaults::WEIGHTS)]
    weights: PathBuf,
    /// Working directory: split, feature cache, checkpoints, logs.
    #[arg(long, default_value = defaults::WORK)]
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
