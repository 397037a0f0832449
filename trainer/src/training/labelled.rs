//! Training examples from the feature cache: inputs, 0/1 targets and a known-label mask.

use burn::tensor::{Device, Tensor, TensorData};
use half::f16;
use onesheet::NUM_GENRES;
use onesheet::model::FEATURES;

use crate::dataset::Labels;
use std::sync::Arc;

use super::loader::Source;
use crate::features::{Features, VIEWS};

/// What a model trains on: the pooled embedding (the head alone) or the activation entering
/// the fine-tuned top blocks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Input {
    /// `[batch, 1280]`.
    Pooled,
    /// `[batch, channels, height, width]`.
    Tap,
}

/// A batch of examples on a device.
#[derive(Debug, Clone)]
pub struct Batch<const D: usize> {
    /// Model inputs.
    pub inputs: Tensor<D>,
    /// `[batch, genres]`, 1 for a present genre.
    pub targets: Tensor<2>,
    /// `[batch, genres]`, 1 where the label is known.
    pub mask: Tensor<2>,
    /// `[1, genres]` weight of each genre's positive term.
    pub pos_weight: Tensor<2>,
}

/// A list of (poster row, view) examples drawn from cached features.
pub struct Examples {
    features: Arc<Features>,
    items: Vec<(usize, usize)>,
    labels: Vec<Labels>,
    pos_weight: Vec<f32>,
}

impl Examples {
    /// `rows` of `features` with their labels; every view of each when `all_views`, else the
    /// poster as is. `pos_weight` comes from the training examples.
    pub fn new(
        features: Arc<Features>,
        rows: &[(usize, Labels)],
        all_views: bool,
        pos_weight: Vec<f32>,
    ) -> Self {
        let views = if all_views { VIEWS } else { 1 };
        let mut items = Vec::new();
        let mut labels = Vec::new();
        for &(row, l) in rows {
            for view in 0..views {
                items.push((row, view));
                labels.push(l);
            }
        }
        Self {
            features,
            items,
            labels,
            pos_weight,
        }
    }

    /// Number of examples.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// The examples at `indices`, as tensors of rank `D` on `device`.
    pub fn batch<const D: usize>(
        &self,
        indices: &[usize],
        input: Input,
        device: &Device,
    ) -> Batch<D> {
        let n = indices.len();
        let inputs = match input {
            Input::Pooled => {
                let data: Vec<f32> = indices
                    .iter()
                    .flat_map(|&i| {
                        let (row, view) = self.items[i];
                        self.features.pooled(row, view).iter().copied()
                    })
                    .collect();
                Tensor::<2>::from_data(TensorData::new(data, [n, FEATURES]), device)
                    .reshape(shape::<D>(n, &[FEATURES]))
            }
            Input::Tap => {
                let data: Vec<f32> = indices
                    .iter()
                    .flat_map(|&i| {
                        let (row, view) = self.items[i];
                        self.features.tap(row, view).iter().map(|v| f16::to_f32(*v))
                    })
                    .collect();
                let [c, h, w] = self.features.tap_shape;
                Tensor::<4>::from_data(TensorData::new(data, [n, c, h, w]), device)
                    .reshape(shape::<D>(n, &[c, h, w]))
            }
        };
        let labels: Vec<Labels> = indices.iter().map(|&i| self.labels[i]).collect();
        Batch::new(inputs, &labels, &self.pos_weight, device)
    }
}

impl<const D: usize> Batch<D> {
    /// A batch of `inputs` with the targets and mask of `labels`.
    pub fn new(inputs: Tensor<D>, labels: &[Labels], pos_weight: &[f32], device: &Device) -> Self {
        let n = labels.len();
        let mut targets = Vec::with_capacity(n * NUM_GENRES);
        let mut mask = Vec::with_capacity(n * NUM_GENRES);
        for flags in labels {
            for flag in flags {
                targets.push(if *flag == Some(true) { 1.0 } else { 0.0 });
                mask.push(if flag.is_some() { 1.0 } else { 0.0 });
            }
        }
        Batch {
            inputs,
            targets: Tensor::from_data(TensorData::new(targets, [n, NUM_GENRES]), device),
            mask: Tensor::from_data(TensorData::new(mask, [n, NUM_GENRES]), device),
            pos_weight: Tensor::from_data(
                TensorData::new(pos_weight.to_vec(), [1, NUM_GENRES]),
                device,
            ),
        }
    }
}

/// [`Examples`] read as one kind of input: a [`Source`] for the loader.
pub struct FeatureSource {
    /// The examples.
    pub examples: Arc<Examples>,
    /// Which cached input they give.
    pub input: Input,
}

impl<const D: usize> Source<D> for FeatureSource {
    fn len(&self) -> usize {
        self.examples.len()
    }

    // Cached features carry their augmentation (the mirrored view) already.
    fn batch(
        &self,
        indices: &[usize],
        _augment: Option<u64>,
        device: &Device,
    ) -> Result<Batch<D>, String> {
        Ok(self.examples.batch::<D>(indices, self.input, device))
    }
}

fn shape<const D: usize>(n: usize, rest: &[usize]) -> [usize; D] {
    let mut shape = [1; D];
    shape[0] = n;
    shape[1..].copy_from_slice(rest);
    shape
}

/// Each genre's positive weight: √(negatives / positives) over the known labels, capped at 10.
/// The square root corrects most of the imbalance without letting a genre with 30 positives
/// dominate the loss; thresholds tuned afterwards absorb the rest.
pub fn positive_weights(labels: &[Labels]) -> Vec<f32> {
    (0..NUM_GENRES)
        .map(|g| {
            let pos = labels.iter().filter(|l| l[g] == Some(true)).count() as f32;
            let neg = labels.iter().filter(|l| l[g] == Some(false)).count() as f32;
            if pos == 0.0 {
                1.0
            } else {
                (neg / pos).sqrt().clamp(1.0, 10.0)
            }
        })
        .collect()
}
