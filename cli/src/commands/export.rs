//! `onesheet export`: arguments for [`onesheet_cli::export::export_untrained`].

use std::path::PathBuf;

use super::defaults;
use anyhow::{Result, bail};
use onesheet::bundle::Precision;
use onesheet_cli::export::{self, ExportConfig};

use super::shared::parse_size;

/// Arguments of `onesheet export`.
#[derive(clap::Args)]
pub struct Args {
    /// Where to write the bundle.
    #[arg(long)]
    out: PathBuf,
    /// Build the bundle from the pretrained backbone and an untrained genre head. Its scores
    /// mean nothing: it exists to test the bundle, the CLI and the browser.
    #[arg(long)]
    untrained_head: bool,
    /// Pretrained MobileNetV2 weights (torchvision-layout safetensors).
    #[arg(long, env = "ONESHEET_WEIGHTS", default_value = defaults::WEIGHTS)]
    weights: PathBuf,
    /// Model input size, WIDTHxHEIGHT.
    #[arg(long, default_value = "224x224", value_parser = parse_size)]
    size: (u32, u32),
    /// Store weights in f32 rather than f16.
    #[arg(long)]
    f32: bool,
    /// Width of the genre head's hidden layer (the shipped head's by default); 0 for a
    /// linear head.
    #[arg(long, default_value_t = 128)]
    head_hidden: usize,
}

/// Writes the bundle.
pub fn run(args: Args) -> Result<()> {
    if !args.untrained_head {
        bail!(
            "a trained bundle is written by `onesheet train` (--out); pass --untrained-head for a \
             test bundle"
        );
    }
    export::export_untrained(&ExportConfig {
        out: args.out,
        weights: args.weights,
        size: args.size,
        head_hidden: (args.head_hidden > 0).then_some(args.head_hidden),
        precision: if args.f32 {
            Precision::F32
        } else {
            Precision::F16
        },
    })
}
