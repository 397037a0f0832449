//! `onesheet export`: write a model bundle.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use burn::tensor::Device;
use onesheet::bundle::{Bundle, Manifest, Precision, Provenance};
use onesheet::model::{GenreClassifier, GenreHeadConfig};
use onesheet::preprocess::InputSpec;
use onesheet::pretrained;

use crate::defaults;
use crate::embed::parse_size;

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
}

/// Writes the bundle.
pub fn run(args: Args) -> Result<()> {
    if !args.untrained_head {
        bail!(
            "a trained bundle is written by `onesheet train` (--out); pass --untrained-head for a \
             test bundle"
        );
    }
    let device = Device::flex();
    let network = pretrained::load_file(&args.weights, &device)
        .with_context(|| format!("loading weights {}", args.weights.display()))?;
    let model = GenreClassifier {
        backbone: network.backbone,
        head: GenreHeadConfig::new().init(&device),
    };
    let provenance = Provenance {
        trained: false,
        backbone: format!("{}", args.weights.display()),
        recipe: "untrained genre head: for tests only, its scores mean nothing".into(),
        ..Provenance::default()
    };
    let manifest = Manifest::new(
        InputSpec::mobilenet(args.size.0, args.size.1),
        0.5,
        provenance,
    );
    let precision = if args.f32 {
        Precision::F32
    } else {
        Precision::F16
    };
    let bytes = Bundle { manifest, model }.to_bytes(precision)?;
    std::fs::write(&args.out, &bytes).with_context(|| format!("writing {}", args.out.display()))?;
    eprintln!("wrote {} ({} bytes)", args.out.display(), bytes.len());
    Ok(())
}
