//! The seeds' small CNN trained from scratch (seeds 000, 001, 004), on the cached thumbnails
//! shrunk to 28 × 40: three 3×3 convolutions with ReLU and 2×2 max pooling, global average
//! pooling and a linear layer. A report baseline, not the product.

use anyhow::{Result, anyhow};
use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::pool::{MaxPool2d, MaxPool2dConfig};
use burn::nn::{Dropout, DropoutConfig, Linear, LinearConfig, PaddingConfig2d};
use burn::optim::{AdamWConfig, GradientsParams};
use burn::tensor::activation::relu;
use burn::tensor::{Device, Tensor, TensorData};
use onesheet::NUM_GENRES;
use onesheet::model::global_average_pool;
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;

use crate::dataset::Labels;
use crate::evaluation::metrics::macro_roc_auc;
use crate::features::VIEWS;
use crate::research::seeds::ValidAndTest;
use crate::split::Part;
use crate::training::Prepared;
use crate::training::labelled::{Batch, positive_weights};
use crate::training::loss::masked_bce;
use crate::training::probe::cosine_lr;

/// Input size in words, for the report.
pub const DESCRIPTION: &str = "28×40";
const EPOCHS: usize = 12;
const PATIENCE: usize = 3;
const BATCH: usize = 64;

/// The network.
#[derive(Module, Debug)]
pub struct SmallCnn {
    convs: Vec<Conv2d>,
    pool: MaxPool2d,
    dropout: Dropout,
    linear: Linear,
}

impl SmallCnn {
    fn new(device: &Device) -> Self {
        let widths = [3, 16, 32, 64];
        Self {
            convs: widths
                .windows(2)
                .map(|w| {
                    Conv2dConfig::new([w[0], w[1]], [3, 3])
                        .with_padding(PaddingConfig2d::Same)
                        .init(device)
                })
                .collect(),
            pool: MaxPool2dConfig::new([2, 2]).with_strides([2, 2]).init(),
            dropout: DropoutConfig::new(0.3).init(),
            linear: LinearConfig::new(64, NUM_GENRES).init(device),
        }
    }

    fn forward(&self, x: Tensor<4>) -> Tensor<2> {
        let x = self
            .convs
            .iter()
            .fold(x, |x, conv| self.pool.forward(relu(conv.forward(x))));
        self.linear
            .forward(self.dropout.forward(global_average_pool(x)))
    }
}

/// Poster rows of a part as `[3, 28, 40]` inputs in −1…1 (mirrored for view 1).
struct Images {
    data: Vec<f32>,
    labels: Vec<Labels>,
    shape: [usize; 3],
}

impl Images {
    fn of(prepared: &Prepared, part: Part, views: usize) -> Self {
        let features = &prepared.features;
        let shape = features.small_thumb_shape();
        let [_, _, w] = shape;
        let mut data = Vec::new();
        let mut labels = Vec::new();
        for (row, l) in prepared.rows(part, None) {
            let small = features.small_thumb(row);
            for view in 0..views {
                for line in small.chunks(w) {
                    let normalised = line.iter().map(|v| v / 127.5 - 1.0);
                    if view == 1 {
                        data.extend(normalised.rev());
                    } else {
                        data.extend(normalised);
                    }
                }
                labels.push(l);
            }
        }
        Self {
            data,
            labels,
            shape,
        }
    }

    fn len(&self) -> usize {
        self.labels.len()
    }

    fn tensor(&self, indices: &[usize], device: &Device) -> Tensor<4> {
        let len: usize = self.shape.iter().product();
        let data: Vec<f32> = indices
            .iter()
            .flat_map(|&i| self.data[i * len..(i + 1) * len].iter().copied())
            .collect();
        let [c, h, w] = self.shape;
        Tensor::from_data(TensorData::new(data, [indices.len(), c, h, w]), device)
    }
}

fn scores(model: &SmallCnn, images: &Images, device: &Device) -> Result<Vec<Vec<f32>>> {
    let mut out = Vec::with_capacity(images.len());
    let all: Vec<usize> = (0..images.len()).collect();
    for chunk in all.chunks(256) {
        let logits = model.forward(images.tensor(chunk, device));
        let values: Vec<f32> = burn::tensor::activation::sigmoid(logits)
            .into_data()
            .try_into_vec()
            .map_err(|e| anyhow!("reading scores: {e:?}"))?;
        out.extend(values.chunks(NUM_GENRES).map(<[f32]>::to_vec));
    }
    Ok(out)
}

/// Trains the CNN on the training posters (and their mirror images), keeps the epoch with the
/// best validation macro ROC-AUC, and returns its validation and test scores.
pub fn fit_and_score(prepared: &Prepared, seed: u64) -> Result<ValidAndTest> {
    let plain = Device::flex();
    let device = plain.clone().autodiff();
    device.seed(seed);
    let train = Images::of(prepared, Part::Train, VIEWS);
    let valid = Images::of(prepared, Part::Validation, 1);
    let test = Images::of(prepared, Part::Test, 1);
    let pos_weight = positive_weights(&train.labels);
    let mut model = SmallCnn::new(&device);
    let mut optimizer = AdamWConfig::new().with_weight_decay(1e-4).init();
    let mut rng = StdRng::seed_from_u64(seed);
    let mut order: Vec<usize> = (0..train.len()).collect();
    let total = (EPOCHS * train.len().div_ceil(BATCH)) as f64;
    let (mut step, mut best): (usize, Option<(f64, usize, SmallCnn)>) = (0, None);
    let bar = onesheet::progress::bar(EPOCHS as u64, "small CNN epochs");
    for epoch in 1..=EPOCHS {
        order.shuffle(&mut rng);
        for batch in order.chunks(BATCH) {
            let labels: Vec<Labels> = batch.iter().map(|&i| train.labels[i]).collect();
            let b = Batch::new(train.tensor(batch, &device), &labels, &pos_weight, &device);
            let loss = masked_bce(model.forward(b.inputs), b.targets, b.mask, b.pos_weight);
            let grads = GradientsParams::from_grads(loss.backward(), &model);
            let lr = cosine_lr(2e-3, step as f64 / total);
            model = optimizer.step(lr, model, grads);
            step += 1;
        }
        bar.inc(1);
        let current = model.valid();
        let auc = macro_roc_auc(&scores(&current, &valid, &plain)?, &valid.labels).unwrap_or(0.0);
        if best.as_ref().is_none_or(|(b, _, _)| auc > *b) {
            best = Some((auc, epoch, current));
        } else if best.as_ref().is_some_and(|(_, e, _)| epoch - e >= PATIENCE) {
            break;
        }
    }
    bar.finish_and_clear();
    let (_, _, model) = best.ok_or_else(|| anyhow!("the small CNN ran no epoch"))?;
    Ok((
        scores(&model, &valid, &plain)?,
        scores(&model, &test, &plain)?,
    ))
}
