//! `onesheet embed`: the pretrained backbone's embedding of each image, as JSON lines.

use std::io::Write;
use std::path::PathBuf;

use anyhow::{Context, Result};
use onesheet::model::ModelInput;
use onesheet::preprocess::{self, DecodeLimits, InputSpec};
use onesheet::{Backend, inference, model, pretrained};
use serde_json::json;

use onesheet::files::read as input_file;
use onesheet::progress;

/// An embedding run's settings.
#[derive(Debug, Clone)]
pub struct EmbedConfig {
    /// Images to embed.
    pub images: Vec<PathBuf>,
    /// Pretrained MobileNetV2 weights (torchvision-layout safetensors).
    pub weights: PathBuf,
    /// Model input, width and height.
    pub size: (u32, u32),
    /// Where the model runs.
    pub backend: Backend,
    /// Images run through the model together (at least 1).
    pub batch: usize,
}

/// Embeds every image, one JSON line each on stdout (`{"file", "embedding"}` or
/// `{"file", "error"}`); a bad image is reported in its own line and the rest go on. Returns
/// how many failed.
pub fn embed(args: &EmbedConfig) -> Result<usize> {
    let device = args.backend.device()?;
    let network = pretrained::load_file(&args.weights, &device)
        .with_context(|| format!("loading weights {}", args.weights.display()))?;
    let spec = InputSpec::mobilenet(args.size.0, args.size.1);
    let limits = DecodeLimits::default();

    let bar = progress::bar(args.images.len() as u64, "embedding");
    let mut out = std::io::stdout().lock();
    let mut failed = 0usize;
    for chunk in args.images.chunks(args.batch.max(1)) {
        let (mut ready, mut inputs): (Vec<&PathBuf>, Vec<ModelInput>) = (Vec::new(), Vec::new());
        let mut lines = Vec::new();
        for path in chunk {
            let prepared = input_file::image(path, &limits)
                .map_err(anyhow::Error::from)
                .and_then(|bytes| Ok(preprocess::prepare_bytes(&bytes, &spec, &limits)?));
            match prepared {
                Ok(input) => {
                    ready.push(path);
                    inputs.push(input);
                }
                Err(error) => {
                    failed += 1;
                    lines.push((
                        path,
                        json!({ "file": path.to_string_lossy(), "error": error.to_string() }),
                    ));
                }
            }
        }
        if !inputs.is_empty() {
            let embedding = network.backbone.forward(model::batch(&inputs, &device));
            let rows = inference::read_rows_sync(embedding)?;
            for (path, row) in ready.into_iter().zip(rows) {
                lines.push((
                    path,
                    json!({ "file": path.to_string_lossy(), "embedding": row }),
                ));
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
    Ok(failed)
}
