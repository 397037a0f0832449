//! `onesheet train`: arguments for [`onesheet_trainer::training::train`].

use std::path::PathBuf;

use anyhow::Result;
use clap::ValueEnum;
use onesheet::Backend;
use onesheet::bundle::Precision;
use onesheet_trainer::paths;
use onesheet_trainer::training::{self, Stage, TrainConfig};

use super::sources::{SourcesArgs, parse_backend, parse_size};

/// Arguments of `onesheet train`.
#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    sources: SourcesArgs,
    /// Where to write the trained bundle.
    #[arg(long, default_value = paths::MODEL)]
    out: PathBuf,
    /// Model input, WIDTHxHEIGHT: the whole 2:3 poster by default.
    #[arg(long, default_value = "224x320", value_parser = parse_size)]
    size: (u32, u32),
    /// The last stage to run.
    #[arg(long, value_enum, default_value_t = StageArg::Head)]
    stage: StageArg,
    /// Most epochs of the head stage.
    #[arg(long, default_value_t = 40)]
    head_epochs: usize,
    /// Most epochs of the top-blocks stage (0 skips it: a fine-tuning stage then starts from
    /// the head).
    #[arg(long, default_value_t = 8)]
    top_epochs: usize,
    /// Most epochs of the full fine-tuning stage.
    #[arg(long, default_value_t = 10)]
    full_epochs: usize,
    /// The fine-tuning stage trains the inverted-residual blocks from this one on (0–16), the
    /// last convolution and the head; 0 trains the whole network.
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u8).range(0..=16))]
    full_from_block: u8,
    /// Peak learning rate of the fine-tuning stage (cosine-annealed).
    #[arg(long, default_value_t = 5e-5)]
    full_learning_rate: f64,
    /// Dropout before each of the genre head's layers.
    #[arg(long, default_value_t = 0.6)]
    dropout: f64,
    /// Width of the genre head's hidden ReLU layer; 0 for a linear head.
    #[arg(long, default_value_t = 128)]
    head_hidden: usize,
    /// Where training runs: `cpu` or `webgpu` (natively wgpu on Vulkan, Metal or DX12).
    #[arg(long, default_value = "cpu", value_parser = parse_backend)]
    backend: Backend,
    /// Store weights in f32 rather than f16.
    #[arg(long)]
    f32: bool,
    /// Stop the top-blocks stage after this epoch's checkpoint, as a crash would (tests resuming).
    #[arg(long, hide = true)]
    stop_after_epoch: Option<usize>,
}

/// How far training goes.
#[derive(Debug, Clone, Copy, ValueEnum)]
enum StageArg {
    /// Stage 2: the genre head on cached embeddings.
    Head,
    /// Stage 3: then the last block, last convolution and head on cached activations.
    Top,
    /// Stage 4: then the network from `--full-from-block` on, on augmented images (the whole
    /// network is meant for a GPU: `--backend webgpu`).
    Full,
}

/// Runs `onesheet train`.
pub fn run(args: Args) -> Result<()> {
    let config = TrainConfig {
        sources: args.sources.into(),
        out: args.out,
        size: args.size,
        stage: match args.stage {
            StageArg::Head => Stage::Head,
            StageArg::Top => Stage::Top,
            StageArg::Full => Stage::Full,
        },
        head_epochs: args.head_epochs,
        top_epochs: args.top_epochs,
        full_epochs: args.full_epochs,
        full_from_block: usize::from(args.full_from_block),
        full_learning_rate: args.full_learning_rate,
        dropout: args.dropout,
        head_hidden: (args.head_hidden > 0).then_some(args.head_hidden),
        backend: args.backend,
        precision: if args.f32 {
            Precision::F32
        } else {
            Precision::F16
        },
        stop_after_epoch: args.stop_after_epoch,
    };
    training::train(&config).map(drop)
}
