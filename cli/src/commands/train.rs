//! `onesheet train`: arguments for [`onesheet_trainer::training::train`]. Every default is
//! the shipped recipe's ([`Recipe::default`]): with no flags it makes the shipped model.

use std::path::PathBuf;

use anyhow::Result;
use clap::ValueEnum;
use onesheet::Backend;
use onesheet::bundle::Precision;
use onesheet_trainer::research::levers;
use onesheet_trainer::training::{self, Recipe, Stage, TrainConfig};

use super::defaults;
use super::shared::{parse_backend, parse_size};
use super::sources::SourcesArgs;

/// Arguments of `onesheet train`.
#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    sources: SourcesArgs,
    /// Where to write the trained bundle.
    #[arg(long, default_value = defaults::MODEL)]
    out: PathBuf,
    /// Model input, WIDTHxHEIGHT: the whole 2:3 poster by default.
    #[arg(long, default_value = "224x320", value_parser = parse_size)]
    size: (u32, u32),
    /// The last stage to run.
    #[arg(long, value_enum, default_value_t = StageArg::Full)]
    stage: StageArg,
    /// Most epochs of the head stage.
    #[arg(long, default_value_t = Recipe::default().head_epochs)]
    head_epochs: usize,
    /// Most epochs of the top-blocks stage (0 skips it: a fine-tuning stage then starts from
    /// the head).
    #[arg(long, default_value_t = Recipe::default().top_epochs)]
    top_epochs: usize,
    /// Most epochs of the full fine-tuning stage.
    #[arg(long, default_value_t = Recipe::default().full_epochs)]
    full_epochs: usize,
    /// The fine-tuning stage trains the inverted-residual blocks from this one on (0–16), the
    /// last convolution and the head; 0 trains the whole network.
    #[arg(long, default_value_t = Recipe::default().full_from_block as u8, value_parser = clap::value_parser!(u8).range(0..=16))]
    full_from_block: u8,
    /// Peak learning rate of the fine-tuning stage (cosine-annealed).
    #[arg(long, default_value_t = Recipe::default().full_learning_rate)]
    full_learning_rate: f64,
    /// Dropout before each of the genre head's layers.
    #[arg(long, default_value_t = Recipe::default().dropout)]
    dropout: f64,
    /// Width of the genre head's hidden ReLU layer; 0 for a linear head.
    #[arg(long, default_value_t = Recipe::default().head_hidden.unwrap_or(0))]
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

/// Runs `onesheet train`; a fine-tuning stage's validation figures join `onesheet levers`'
/// table (`work/levers.json`), beside the heads on frozen features it is compared with.
pub fn run(args: Args) -> Result<()> {
    let recipe = args.recipe();
    let config = TrainConfig {
        sources: args.sources.into(),
        out: args.out,
        recipe,
        backend: args.backend,
        stop_after_epoch: args.stop_after_epoch,
    };
    let outcome = training::train(&config)?;
    if let Some(row) = outcome.fine_tuning {
        levers::save(&config.sources.work.join("levers.json"), row)?;
    }
    Ok(())
}

impl Args {
    fn recipe(&self) -> Recipe {
        Recipe {
            size: self.size,
            stage: match self.stage {
                StageArg::Head => Stage::Head,
                StageArg::Top => Stage::Top,
                StageArg::Full => Stage::Full,
            },
            head_epochs: self.head_epochs,
            top_epochs: self.top_epochs,
            full_epochs: self.full_epochs,
            full_from_block: usize::from(self.full_from_block),
            full_learning_rate: self.full_learning_rate,
            dropout: self.dropout,
            head_hidden: (self.head_hidden > 0).then_some(self.head_hidden),
            precision: if self.f32 {
                Precision::F32
            } else {
                Precision::F16
            },
            ..Recipe::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;
    use onesheet_trainer::training::Recipe;

    #[derive(Parser)]
    struct Train {
        #[command(flatten)]
        args: super::Args,
    }

    #[test]
    fn no_flags_is_the_shipped_recipe() {
        let parsed = Train::try_parse_from(["train"]).expect("no flags parse");
        assert_eq!(parsed.args.recipe(), Recipe::default());
        let parsed = Train::try_parse_from(["train", "--stage", "head", "--size", "64x96"])
            .expect("flags parse");
        assert_eq!(
            parsed.args.recipe().command(),
            "onesheet train --size 64x96 --stage head"
        );
    }
}
