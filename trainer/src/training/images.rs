//! Stage 4's examples: poster images decoded per batch, with random mirror and crop.

use std::path::PathBuf;

use burn::tensor::Device;
use image::{RgbImage, imageops};
use onesheet::model::{ModelInput, batch};
use onesheet::preprocess::{self, DecodeLimits, InputSpec};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use rayon::prelude::*;

use super::examples::Batch;
use super::loader::Source;
use crate::dataset::Labels;

/// Posters read from disk; augmented views when the loader asks for them.
pub struct ImageSource {
    posters: Vec<(PathBuf, Labels)>,
    spec: InputSpec,
    pos_weight: Vec<f32>,
}

impl ImageSource {
    /// `posters` (image, labels) prepared with `spec`.
    pub fn new(posters: Vec<(PathBuf, Labels)>, spec: InputSpec, pos_weight: Vec<f32>) -> Self {
        Self {
            posters,
            spec,
            pos_weight,
        }
    }
}

/// A random mirror and a crop keeping 80–100% of each side: posters are framed loosely, and
/// their layout is roughly symmetric, so both keep the genre.
fn augment(image: RgbImage, rng: &mut StdRng) -> RgbImage {
    let image = if rng.random_bool(0.5) {
        imageops::flip_horizontal(&image)
    } else {
        image
    };
    let (w, h) = image.dimensions();
    let cw = (f64::from(w) * rng.random_range(0.8..=1.0))
        .round()
        .max(1.0) as u32;
    let ch = (f64::from(h) * rng.random_range(0.8..=1.0))
        .round()
        .max(1.0) as u32;
    let x = rng.random_range(0..=w - cw.min(w));
    let y = rng.random_range(0..=h - ch.min(h));
    imageops::crop_imm(&image, x, y, cw.min(w), ch.min(h)).to_image()
}

impl Source<4> for ImageSource {
    fn len(&self) -> usize {
        self.posters.len()
    }

    fn batch(
        &self,
        indices: &[usize],
        augment_seed: Option<u64>,
        device: &Device,
    ) -> Result<Batch<4>, String> {
        let limits = DecodeLimits::default();
        let inputs = indices
            .par_iter()
            .map(|&i| {
                let (path, _) = &self.posters[i];
                let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
                let image = preprocess::decode(&bytes, &limits)
                    .map_err(|e| format!("{}: {e}", path.display()))?;
                let image = match augment_seed {
                    // Each poster's view depends on the epoch's seed and the poster alone.
                    Some(seed) => augment(image, &mut StdRng::seed_from_u64(seed ^ i as u64)),
                    None => image,
                };
                preprocess::prepare(&image, &self.spec).map_err(|e| e.to_string())
            })
            .collect::<Result<Vec<ModelInput>, String>>()?;
        if inputs.is_empty() {
            return Err("an empty batch".into());
        }
        let labels: Vec<Labels> = indices.iter().map(|&i| self.posters[i].1).collect();
        Ok(Batch::new(
            batch(&inputs, device),
            &labels,
            &self.pos_weight,
            device,
        ))
    }
}
