//! Stage 4's examples: poster images decoded per batch, with random mirror, crop and colour
//! jitter.

use std::path::PathBuf;

use burn::tensor::Device;
use image::{RgbImage, imageops};
use onesheet::model::{ModelInput, batch};
use onesheet::preprocess::{self, DecodeLimits, InputSpec};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use rayon::prelude::*;

use super::labelled::Batch;
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

/// Brightness and saturation scaled by up to ±10%, on the prepared input (a few hundred
/// thousand values, not the full-size scan): prints and scans of one poster differ this much,
/// while a poster's palette, which says something of its genre, stays.
fn jitter(input: &mut ModelInput, spec: &InputSpec, rng: &mut StdRng) {
    let brightness: f32 = rng.random_range(0.9..=1.1);
    let saturation: f32 = rng.random_range(0.9..=1.1);
    let plane = input.width * input.height;
    let (r, rest) = input.data.split_at_mut(plane);
    let (g, b) = rest.split_at_mut(plane);
    let to_unit = |v: f32, c: usize| (v * spec.std[c] + spec.mean[c]) / 255.0;
    let from_unit = |v: f32, c: usize| (v.clamp(0.0, 1.0) * 255.0 - spec.mean[c]) / spec.std[c];
    for ((r, g), b) in r.iter_mut().zip(g.iter_mut()).zip(b.iter_mut()) {
        let rgb = [to_unit(*r, 0), to_unit(*g, 1), to_unit(*b, 2)];
        let grey = 0.299 * rgb[0] + 0.587 * rgb[1] + 0.114 * rgb[2];
        let out = rgb.map(|v| (grey + (v - grey) * saturation) * brightness);
        (*r, *g, *b) = (
            from_unit(out[0], 0),
            from_unit(out[1], 1),
            from_unit(out[2], 2),
        );
    }
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
                // Each poster's view depends on the epoch's seed and the poster alone.
                let mut rng = augment_seed.map(|seed| StdRng::seed_from_u64(seed ^ i as u64));
                let image = match &mut rng {
                    Some(rng) => augment(image, rng),
                    None => image,
                };
                let mut input =
                    preprocess::prepare(&image, &self.spec).map_err(|e| e.to_string())?;
                if let Some(rng) = &mut rng {
                    jitter(&mut input, &self.spec, rng);
                }
                Ok(input)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jitter_scales_brightness_and_saturation_within_range() {
        let spec = InputSpec::mobilenet(2, 1);
        // Two pixels, channel-major: a mid gray and a saturated red, in the model's [-1, 1].
        let original = ModelInput {
            width: 2,
            height: 1,
            data: vec![0.0, 1.0, 0.0, -1.0, 0.0, -1.0],
            year: None,
        };
        let mut seen_change = false;
        for seed in 0..20 {
            let mut input = original.clone();
            jitter(&mut input, &spec, &mut StdRng::seed_from_u64(seed));
            assert!(
                input.data.iter().all(|v| (-1.0..=1.0).contains(v)),
                "{input:?}"
            );
            // Gray stays gray: saturation has nothing to move, brightness moves all alike.
            let gray = [input.data[0], input.data[2], input.data[4]];
            assert!(gray.iter().all(|v| (v - gray[0]).abs() < 1e-6), "{gray:?}");
            // Within ±10% of the original brightness (0.5 on a 0–1 scale).
            let level = f32::midpoint(gray[0], 1.0);
            assert!((0.45 - 1e-6..=0.55 + 1e-6).contains(&level), "{level}");
            seen_change |= (level - 0.5).abs() > 1e-3;
        }
        assert!(seen_change, "jitter never changed anything");
    }
}
