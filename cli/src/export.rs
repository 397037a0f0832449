//! Test bundles: the pretrained backbone with an untrained head.

use std::path::PathBuf;

use anyhow::{Context, Result};
use burn::tensor::Device;
use onesheet::bundle::{Bundle, Manifest, Precision, Provenance};
use onesheet::model::{GenreClassifier, GenreHeadConfig};
use onesheet::preprocess::InputSpec;
use onesheet::pretrained;
use onesheet::{NUM_GENRES, YearPrior};

use onesheet::files::write;

/// A test bundle's settings.
#[derive(Debug, Clone)]
pub struct ExportConfig {
    /// Where to write the bundle.
    pub out: PathBuf,
    /// Pretrained MobileNetV2 weights (torchvision-layout safetensors).
    pub weights: PathBuf,
    /// Model input, width and height.
    pub size: (u32, u32),
    /// How the weights are stored.
    pub precision: Precision,
    /// Width of the genre head's hidden layer (none: a linear head).
    pub head_hidden: Option<usize>,
}

/// A year prior as meaningless as the untrained head, so that the year's path through every
/// face is tested: offsets from -1 to +1 that differ by decade and genre, from the 1900s to the
/// 2020s, and thresholds of 0.5.
fn test_year_prior() -> YearPrior {
    YearPrior {
        first_decade: 1900,
        offsets: (0..13)
            .map(|d| {
                (0..NUM_GENRES)
                    .map(|g| ((d * 7 + g * 3) % 9) as f32 / 4.0 - 1.0)
                    .collect()
            })
            .collect(),
        thresholds: vec![0.5; NUM_GENRES],
    }
}

/// Writes a bundle of the pretrained backbone and an untrained genre head (and a made-up year
/// prior). Its scores mean nothing: it exists to test the bundle, the CLI and the browser. (A
/// trained bundle is written by `onesheet_trainer::training::train`.)
pub fn export_untrained(args: &ExportConfig) -> Result<()> {
    let device = Device::flex();
    let network = pretrained::load_file(&args.weights, &device)
        .with_context(|| format!("loading weights {}", args.weights.display()))?;
    let model = GenreClassifier {
        backbone: network.backbone,
        head: GenreHeadConfig::new()
            .with_hidden(args.head_hidden)
            .init(&device),
    };
    let provenance = Provenance {
        trained: false,
        created: write::timestamp(),
        backbone: format!("{} ({})", pretrained::DESCRIPTION, args.weights.display()),
        recipe: "untrained genre head and made-up year prior: for tests only, its scores mean \
                 nothing"
            .into(),
        ..Provenance::default()
    };
    let mut manifest = Manifest::new(
        InputSpec::mobilenet(args.size.0, args.size.1),
        0.5,
        provenance,
    );
    manifest.year = Some(test_year_prior());
    let bytes = Bundle { manifest, model }.to_bytes(args.precision)?;
    write::atomic(&args.out, &bytes)?;
    eprintln!("wrote {} ({} bytes)", args.out.display(), bytes.len());
    Ok(())
}
