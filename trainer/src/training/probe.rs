//! Heads trained in memory on cached features: the levers the report compares, `onesheet tune`'s
//! search and the seeds' MLP. A probe standardises its inputs, trains a stack of linear layers
//! with AdamW and keeps the epoch with the best validation macro ROC-AUC; a linear probe folds
//! back into a [`GenreHead`] exactly.

use std::time::Instant;

use anyhow::{Result, bail};
use burn::module::{Module, Param};
use burn::nn::{Dropout, DropoutConfig, Linear, LinearConfig};
use burn::optim::{AdamWConfig, GradientsParams};
use burn::tensor::activation::{log_sigmoid, relu, sigmoid};
use burn::tensor::{Device, Tensor, TensorData};
use onesheet::NUM_GENRES;
use onesheet::model::{GenreHead, GenreHeadConfig};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{RngExt, SeedableRng};
use serde::{Deserialize, Serialize};

use super::fit::EpochLoss;
use crate::dataset::Labels;
use crate::evaluation::metrics::macro_roc_auc;

/// Rows of features and their labels.
#[derive(Debug, Clone, Default)]
pub struct Rows {
    /// `len × dim` values, row-major.
    pub x: Vec<f32>,
    /// Values per row.
    pub dim: usize,
    /// One label set per row.
    pub labels: Vec<Labels>,
}

impl Rows {
    /// An empty table of `dim`-wide rows.
    pub fn new(dim: usize) -> Self {
        Self {
            dim,
            ..Self::default()
        }
    }

    /// Appends one row.
    pub fn push(&mut self, row: &[f32], labels: Labels) {
        debug_assert_eq!(row.len(), self.dim);
        self.x.extend_from_slice(row);
        self.labels.push(labels);
    }

    /// Number of rows.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Row `i`.
    pub fn row(&self, i: usize) -> &[f32] {
        &self.x[i * self.dim..(i + 1) * self.dim]
    }

    /// The rows at `indices`.
    pub fn select(&self, indices: &[usize]) -> Self {
        let mut out = Self::new(self.dim);
        for &i in indices {
            out.push(self.row(i), self.labels[i]);
        }
        out
    }
}

/// The loss a probe minimises.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum Loss {
    /// Binary cross-entropy, positives weighted by √(negatives / positives).
    WeightedBce,
    /// Binary cross-entropy, unweighted.
    Bce,
    /// Focal loss (Lin et al. 2017): both terms scaled by (1 − p_t)^γ.
    Focal {
        /// γ.
        gamma: f32,
    },
    /// Asymmetric loss (Ridnik et al. 2021): easy negatives scaled down by p^γ after shifting
    /// their probability down by `clip`, positives kept as in cross-entropy.
    Asymmetric {
        /// γ of the negative term.
        gamma_neg: f32,
        /// Probability margin below which a negative costs nothing.
        clip: f32,
    },
}

impl Loss {
    fn describe(self) -> String {
        match self {
            Self::WeightedBce => "BCE with √(neg/pos) positive weights".into(),
            Self::Bce => "BCE".into(),
            Self::Focal { gamma } => format!("focal loss γ {gamma}"),
            Self::Asymmetric { gamma_neg, clip } => {
                format!("asymmetric loss γ− {gamma_neg}, clip {clip}")
            }
        }
    }
}

/// How a probe is trained.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProbeConfig {
    /// Widths of the hidden layers (none: a linear head).
    pub hidden: Vec<usize>,
    /// Dropout before every layer.
    pub dropout: f64,
    /// Peak learning rate (cosine-annealed to 1% of it).
    pub learning_rate: f64,
    /// AdamW decoupled weight decay.
    pub weight_decay: f32,
    /// Most epochs.
    pub epochs: usize,
    /// Epochs without a better validation ROC-AUC before stopping.
    pub patience: usize,
    /// Examples per step.
    pub batch_size: usize,
    /// The loss.
    pub loss: Loss,
    /// Targets pulled from 0/1 to ε/2 and 1 − ε/2.
    pub label_smoothing: f32,
    /// Mixup of pairs of training rows (and their targets) with λ ~ U(0, 1), on this share of
    /// batches; 0 turns it off.
    pub mixup: f32,
    /// Probes trained with seeds `seed`, `seed + 1`, … whose logits are averaged.
    pub ensemble: usize,
    /// Seeds initialisation, shuffling, dropout and mixup.
    pub seed: u64,
}

impl Default for ProbeConfig {
    /// The levers' baseline, a linear head with light dropout; the shipped head is
    /// [`crate::training::Recipe::head`] (128 hidden units, dropout 0.6).
    fn default() -> Self {
        Self {
            hidden: Vec::new(),
            dropout: 0.3,
            learning_rate: 1e-3,
            weight_decay: 1e-2,
            epochs: 40,
            patience: 4,
            batch_size: 64,
            loss: Loss::WeightedBce,
            label_smoothing: 0.0,
            mixup: 0.0,
            ensemble: 1,
            seed: 42,
        }
    }
}

impl ProbeConfig {
    /// The settings in a phrase, for the report.
    pub fn summary(&self) -> String {
        let mut parts = vec![if self.hidden.is_empty() {
            "linear".to_string()
        } else {
            format!(
                "MLP {} hidden (ReLU)",
                self.hidden
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("–")
            )
        }];
        parts.push(self.loss.describe());
        parts.push(format!(
            "AdamW lr {:.1e}, weight decay {:.1e}, dropout {}, batch {}",
            self.learning_rate, self.weight_decay, self.dropout, self.batch_size
        ));
        if self.label_smoothing > 0.0 {
            parts.push(format!("label smoothing {}", self.label_smoothing));
        }
        if self.mixup > 0.0 {
            parts.push(format!("mixup on {:.0}% of batches", self.mixup * 100.0));
        }
        if self.ensemble > 1 {
            parts.push(format!("{} seeds averaged", self.ensemble));
        }
        parts.join(", ")
    }
}

/// Linear layers with ReLU between them and dropout before each.
#[derive(Module, Debug)]
pub struct Mlp {
    layers: Vec<Linear>,
    dropout: Dropout,
}

impl Mlp {
    fn new(dim: usize, config: &ProbeConfig, device: &Device) -> Self {
        let widths: Vec<usize> = std::iter::once(dim)
            .chain(config.hidden.iter().copied())
            .chain(std::iter::once(NUM_GENRES))
            .collect();
        Self {
            layers: widths
                .windows(2)
                .map(|w| LinearConfig::new(w[0], w[1]).init(device))
                .collect(),
            dropout: DropoutConfig::new(config.dropout).init(),
        }
    }

    /// Logits, `[batch, genres]`.
    pub fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        let last = self.layers.len() - 1;
        self.layers.iter().enumerate().fold(x, |x, (i, layer)| {
            let y = layer.forward(self.dropout.forward(x));
            if i < last { relu(y) } else { y }
        })
    }
}

/// A trained probe: the standardisation of its inputs and its members.
#[derive(Debug, Clone)]
pub struct Probe {
    standard: Standardisation,
    members: Vec<Mlp>,
}

/// How a probe's training went.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ProbeLog {
    /// Each member's kept epoch (best validation macro ROC-AUC).
    pub best_epochs: Vec<usize>,
    /// Each member's mean training and validation loss per epoch.
    pub curves: Vec<Vec<EpochLoss>>,
    /// Wall time of the whole fit.
    pub seconds: f64,
}

/// Trains a probe on `train`, stopping and picking epochs on `valid`.
pub fn fit(train: &Rows, valid: &Rows, config: &ProbeConfig) -> Result<(Probe, ProbeLog)> {
    if train.is_empty() || valid.is_empty() {
        bail!("a probe needs training and validation rows");
    }
    if train.dim != valid.dim {
        bail!("training and validation rows differ in width");
    }
    let started = Instant::now();
    let mut probe = Probe {
        standard: Standardisation::of(train),
        members: Vec::new(),
    };
    let mut log = ProbeLog {
        best_epochs: Vec::new(),
        curves: Vec::new(),
        seconds: 0.0,
    };
    let x_train = probe.standard.apply(train).x;
    let x_valid = probe.standard.apply(valid).x;
    for member in 0..config.ensemble.max(1) {
        let seed = config.seed + member as u64;
        let member = fit_member(&x_train, train, &x_valid, valid, config, seed)?;
        probe.members.push(member.mlp);
        log.best_epochs.push(member.best_epoch);
        log.curves.push(member.curves);
    }
    log.seconds = started.elapsed().as_secs_f64();
    Ok((probe, log))
}

/// One member's training.
struct Member {
    mlp: Mlp,
    best_epoch: usize,
    curves: Vec<EpochLoss>,
}

fn fit_member(
    x_train: &[f32],
    train: &Rows,
    x_valid: &[f32],
    valid: &Rows,
    config: &ProbeConfig,
    seed: u64,
) -> Result<Member> {
    let plain = Device::flex();
    let device = plain.clone().autodiff();
    device.seed(seed);
    let mut rng = StdRng::seed_from_u64(seed);
    let dim = train.dim;
    let mut model = Mlp::new(dim, config, &device);
    let mut optimizer = AdamWConfig::new()
        .with_weight_decay(config.weight_decay)
        .init();
    let pos_weight = pos_weights(&train.labels, config.loss);
    let steps_per_epoch = train.len().div_ceil(config.batch_size);
    let total_steps = (config.epochs * steps_per_epoch).max(1);
    let mut order: Vec<usize> = (0..train.len()).collect();
    let mut best: Option<(f64, usize, Mlp)> = None;
    let mut step = 0usize;
    let mut curves = Vec::new();
    for epoch in 1..=config.epochs {
        let mut train_loss = (0.0, 0usize);
        order.shuffle(&mut rng);
        for batch in order.chunks(config.batch_size) {
            let n = batch.len();
            let mut x: Vec<f32> = Vec::with_capacity(n * dim);
            let mut targets = Vec::with_capacity(n * NUM_GENRES);
            let mut mask = Vec::with_capacity(n * NUM_GENRES);
            let mix = config.mixup > 0.0 && rng.random::<f32>() < config.mixup;
            for &i in batch {
                let partner = if mix {
                    batch[rng.random_range(0..n)]
                } else {
                    i
                };
                let lambda = if mix { rng.random::<f32>() } else { 1.0 };
                let (a, b) = (
                    &x_train[i * dim..(i + 1) * dim],
                    &x_train[partner * dim..(partner + 1) * dim],
                );
                x.extend(
                    a.iter()
                        .zip(b)
                        .map(|(a, b)| lambda * a + (1.0 - lambda) * b),
                );
                for g in 0..NUM_GENRES {
                    let (la, lb) = (train.labels[i][g], train.labels[partner][g]);
                    let t = |l: Option<bool>| if l == Some(true) { 1.0 } else { 0.0 };
                    let target = lambda * t(la) + (1.0 - lambda) * t(lb);
                    let eps = config.label_smoothing;
                    targets.push(target * (1.0 - eps) + eps / 2.0);
                    mask.push(if la.is_some() && lb.is_some() {
                        1.0
                    } else {
                        0.0
                    });
                }
            }
            let x = Tensor::<2>::from_data(TensorData::new(x, [n, dim]), &device);
            let targets =
                Tensor::<2>::from_data(TensorData::new(targets, [n, NUM_GENRES]), &device);
            let mask = Tensor::<2>::from_data(TensorData::new(mask, [n, NUM_GENRES]), &device);
            let weight = Tensor::<2>::from_data(
                TensorData::new(pos_weight.clone(), [1, NUM_GENRES]),
                &device,
            );
            let loss = probe_loss(model.forward(x), targets, mask, weight, config.loss);
            train_loss.0 += f64::from(loss.clone().into_scalar::<f32>()) * n as f64;
            train_loss.1 += n;
            let grads = GradientsParams::from_grads(loss.backward(), &model);
            let lr = cosine_lr(config.learning_rate, step as f64 / total_steps as f64);
            model = optimizer.step(lr, model, grads);
            step += 1;
        }
        let valid_model = model.valid();
        let logits = member_logits(&valid_model, x_valid, dim, &plain);
        curves.push(EpochLoss {
            epoch,
            train: train_loss.0 / train_loss.1.max(1) as f64,
            valid: mean_loss(&logits, &valid.labels, &pos_weight, config.loss),
        });
        // ROC-AUC ranks, so the logits serve as well as their sigmoids.
        let auc = macro_roc_auc(&logits, &valid.labels).unwrap_or(0.0);
        if best.as_ref().is_none_or(|(b, _, _)| auc > *b) {
            best = Some((auc, epoch, valid_model));
        } else if best
            .as_ref()
            .is_some_and(|(_, e, _)| epoch - e >= config.patience)
        {
            break;
        }
    }
    let (_, best_epoch, mlp) = best.ok_or_else(|| anyhow::anyhow!("no epoch ran"))?;
    Ok(Member {
        mlp,
        best_epoch,
        curves,
    })
}

/// The loss of `logits` on `labels`, computed as training computes it (no smoothing, mixup
/// or dropout): the validation curve.
fn mean_loss(logits: &[Vec<f32>], labels: &[Labels], pos_weight: &[f32], loss: Loss) -> f64 {
    let device = Device::flex();
    let n = logits.len();
    let logits: Vec<f32> = logits.iter().flatten().copied().collect();
    let (mut targets, mut mask) = (Vec::new(), Vec::new());
    for l in labels {
        for flag in l {
            targets.push(if *flag == Some(true) { 1.0f32 } else { 0.0 });
            mask.push(if flag.is_some() { 1.0f32 } else { 0.0 });
        }
    }
    let t = |v: Vec<f32>, rows: usize| {
        Tensor::<2>::from_data(TensorData::new(v, [rows, NUM_GENRES]), &device)
    };
    let value = probe_loss(
        t(logits, n),
        t(targets, n),
        t(mask, n),
        t(pos_weight.to_vec(), 1),
        loss,
    );
    f64::from(value.into_scalar::<f32>())
}

fn probe_loss(
    logits: Tensor<2>,
    targets: Tensor<2>,
    mask: Tensor<2>,
    pos_weight: Tensor<2>,
    loss: Loss,
) -> Tensor<1> {
    let negatives = targets.ones_like() - targets.clone();
    let per_flag = match loss {
        Loss::WeightedBce | Loss::Bce => {
            targets * pos_weight * log_sigmoid(logits.clone())
                + negatives * log_sigmoid(logits.neg())
        }
        Loss::Focal { gamma } => {
            let p = sigmoid(logits.clone());
            let positive =
                (p.ones_like() - p.clone()).powf_scalar(gamma) * log_sigmoid(logits.clone());
            let negative = p.powf_scalar(gamma) * log_sigmoid(logits.neg());
            targets * positive + negatives * negative
        }
        Loss::Asymmetric { gamma_neg, clip } => {
            let p = sigmoid(logits.clone());
            let shifted = (p - clip).clamp_min(0.0);
            let log_not = (shifted.ones_like() - shifted.clone())
                .clamp_min(1e-8)
                .log();
            targets * log_sigmoid(logits) + negatives * shifted.powf_scalar(gamma_neg) * log_not
        }
    };
    (per_flag.neg() * mask.clone()).sum() / mask.sum().clamp_min(1.0)
}

/// √(negatives / positives) per genre for the weighted loss (capped at 10), 1 otherwise.
fn pos_weights(labels: &[Labels], loss: Loss) -> Vec<f32> {
    if loss == Loss::WeightedBce {
        super::labelled::positive_weights(labels)
    } else {
        vec![1.0; NUM_GENRES]
    }
}

fn member_logits(model: &Mlp, x: &[f32], dim: usize, device: &Device) -> Vec<Vec<f32>> {
    let mut out = Vec::with_capacity(x.len() / dim.max(1));
    for chunk in x.chunks(1024 * dim) {
        let n = chunk.len() / dim;
        let t = Tensor::<2>::from_data(TensorData::new(chunk.to_vec(), [n, dim]), device);
        let values: Vec<f32> = model
            .forward(t)
            .into_data()
            .try_into_vec::<f32>()
            .unwrap_or_default();
        out.extend(values.chunks(NUM_GENRES).map(<[f32]>::to_vec));
    }
    out
}

/// Each column's training mean and 1 / standard deviation (1 for a constant column): what
/// probes and the seeds' systems standardise their inputs with.
#[derive(Debug, Clone)]
pub struct Standardisation {
    mean: Vec<f32>,
    scale: Vec<f32>,
}

impl Standardisation {
    /// The standardisation of `rows`' columns.
    pub fn of(rows: &Rows) -> Self {
        let n = rows.len().max(1) as f64;
        let mut mean = vec![0f64; rows.dim];
        let mut square = vec![0f64; rows.dim];
        for i in 0..rows.len() {
            for (j, &v) in rows.row(i).iter().enumerate() {
                mean[j] += f64::from(v);
                square[j] += f64::from(v) * f64::from(v);
            }
        }
        let (mut m, mut s) = (Vec::new(), Vec::new());
        for j in 0..rows.dim {
            let mu = mean[j] / n;
            let var = (square[j] / n - mu * mu).max(0.0);
            m.push(mu as f32);
            s.push(if var > 1e-12 {
                (1.0 / var.sqrt()) as f32
            } else {
                1.0
            });
        }
        Self { mean: m, scale: s }
    }

    /// `rows` standardised.
    pub fn apply(&self, rows: &Rows) -> Rows {
        Rows {
            x: rows
                .x
                .chunks(rows.dim)
                .flat_map(|row| {
                    row.iter()
                        .zip(self.mean.iter().zip(&self.scale))
                        .map(|(v, (m, s))| (v - m) * s)
                })
                .collect(),
            dim: rows.dim,
            labels: rows.labels.clone(),
        }
    }
}

/// The learning rate `progress` (0–1) of the way through a cosine schedule from `peak` down to
/// 1% of it.
pub fn cosine_lr(peak: f64, progress: f64) -> f64 {
    peak * (0.01 + 0.99 * 0.5 * (1.0 + (std::f64::consts::PI * progress).cos()))
}

impl Probe {
    /// Per-genre probabilities of `rows`: the members' mean logit through a sigmoid.
    pub fn scores(&self, rows: &Rows) -> Vec<Vec<f32>> {
        let device = Device::flex();
        let x = self.standard.apply(rows).x;
        let mut sum = vec![vec![0f32; NUM_GENRES]; rows.len()];
        for member in &self.members {
            for (acc, row) in sum
                .iter_mut()
                .zip(member_logits(member, &x, rows.dim, &device))
            {
                for (a, l) in acc.iter_mut().zip(row) {
                    *a += l;
                }
            }
        }
        let k = self.members.len().max(1) as f32;
        sum.into_iter()
            .map(|row| {
                row.into_iter()
                    .map(|l| 1.0 / (1.0 + (-l / k).exp()))
                    .collect()
            })
            .collect()
    }

    /// The probe as the product's [`GenreHead`] on the raw (unstandardised) inputs, exactly:
    /// the standardisation folded into the first layer; an ensemble of linear members as
    /// their averaged weights, an ensemble of one-hidden-layer members as one head whose
    /// hidden layer holds all of theirs side by side and whose last layer averages them.
    /// `None` for members with more than one hidden layer.
    pub fn to_genre_head(&self, device: &Device) -> Option<GenreHead> {
        let Standardisation { mean, scale } = &self.standard;
        let dim = mean.len();
        let k = self.members.len() as f64;
        let read = |t: Tensor<2>| t.into_data().try_into_vec::<f32>().ok();
        let read1 = |t: Tensor<1>| t.into_data().try_into_vec::<f32>().ok();
        // Folds x ↦ W·((x − μ)·s) + b into x ↦ W'·x + b' for a [dim, out] weight.
        let fold = |w: &[f32], b: &[f32], out: usize| -> (Vec<f32>, Vec<f32>) {
            let mut folded = vec![0f32; dim * out];
            let mut bias: Vec<f64> = b.iter().map(|&v| f64::from(v)).collect();
            for i in 0..dim {
                let (m, s) = (f64::from(mean[i]), f64::from(scale[i]));
                for o in 0..out {
                    let v = f64::from(w[i * out + o]) * s;
                    folded[i * out + o] = v as f32;
                    bias[o] -= v * m;
                }
            }
            (folded, bias.into_iter().map(|v| v as f32).collect())
        };
        let tensor2 = |v: Vec<f32>, shape: [usize; 2]| {
            Param::from_tensor(Tensor::<2>::from_data(TensorData::new(v, shape), device))
        };
        let tensor1 = |v: Vec<f32>| {
            let n = v.len();
            Param::from_tensor(Tensor::<1>::from_data(TensorData::new(v, [n]), device))
        };
        let mut weights = Vec::new();
        for member in &self.members {
            let mut layers = Vec::new();
            for layer in &member.layers {
                let w = read(layer.weight.val())?;
                let b = read1(layer.bias.as_ref()?.val())?;
                layers.push((w, b, layer.weight.dims()));
            }
            weights.push(layers);
        }
        match weights.first()?.len() {
            1 => {
                let mut w = vec![0f32; dim * NUM_GENRES];
                let mut b = vec![0f32; NUM_GENRES];
                for layers in &weights {
                    for (acc, v) in w.iter_mut().zip(&layers[0].0) {
                        *acc += v / k as f32;
                    }
                    for (acc, v) in b.iter_mut().zip(&layers[0].1) {
                        *acc += v / k as f32;
                    }
                }
                let (w, b) = fold(&w, &b, NUM_GENRES);
                let mut head = GenreHeadConfig::new().with_features(dim).init(device);
                head.linear.weight = tensor2(w, [dim, NUM_GENRES]);
                head.linear.bias = Some(tensor1(b));
                Some(head)
            }
            2 => {
                let width: usize = weights.iter().map(|l| l[0].2[1]).sum();
                // Hidden units side by side: [dim, width] and [width, genres].
                let mut w1 = vec![0f32; dim * width];
                let mut b1 = Vec::with_capacity(width);
                let mut w2 = Vec::with_capacity(width * NUM_GENRES);
                let mut b2 = vec![0f32; NUM_GENRES];
                let mut at = 0;
                for layers in &weights {
                    let units = layers[0].2[1];
                    for i in 0..dim {
                        w1[i * width + at..i * width + at + units]
                            .copy_from_slice(&layers[0].0[i * units..(i + 1) * units]);
                    }
                    b1.extend_from_slice(&layers[0].1);
                    w2.extend(layers[1].0.iter().map(|v| v / k as f32));
                    for (acc, v) in b2.iter_mut().zip(&layers[1].1) {
                        *acc += v / k as f32;
                    }
                    at += units;
                }
                let (w1, b1) = fold(&w1, &b1, width);
                let mut head = GenreHeadConfig::new()
                    .with_features(dim)
                    .with_hidden(Some(width))
                    .init(device);
                let hidden = head.hidden.as_mut()?;
                hidden.weight = tensor2(w1, [dim, width]);
                hidden.bias = Some(tensor1(b1));
                head.linear.weight = tensor2(w2, [width, NUM_GENRES]);
                head.linear.bias = Some(tensor1(b2));
                Some(head)
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two informative columns on very different scales and a constant one.
    fn toy(n: usize, seed: u64) -> Rows {
        let mut rng = StdRng::seed_from_u64(seed);
        let mut rows = Rows::new(3);
        for _ in 0..n {
            let a: f32 = rng.random::<f32>() - 0.5;
            let b: f32 = (rng.random::<f32>() - 0.5) * 1000.0;
            let mut labels: Labels = [Some(false); NUM_GENRES];
            labels[0] = Some(a > 0.0);
            labels[1] = Some(b > 0.0);
            rows.push(&[a, b, 7.0], labels);
        }
        rows
    }

    #[test]
    fn learns_a_separable_toy_and_folds_into_the_product_head() {
        let (train, valid) = (toy(600, 1), toy(200, 2));
        let config = ProbeConfig {
            epochs: 30,
            learning_rate: 1e-2,
            ensemble: 2,
            dropout: 0.0,
            ..ProbeConfig::default()
        };
        let (probe, log) = fit(&train, &valid, &config).expect("fits");
        assert_eq!(log.best_epochs.len(), 2);
        let scores = probe.scores(&valid);
        let auc = |g: usize| {
            let column: Vec<f32> = scores.iter().map(|s| s[g]).collect();
            let labels: Vec<Option<bool>> = valid.labels.iter().map(|l| l[g]).collect();
            crate::evaluation::metrics::roc_auc(&column, &labels).unwrap_or(0.0)
        };
        assert!(auc(0) > 0.98 && auc(1) > 0.98, "{} {}", auc(0), auc(1));

        assert_folds_exactly(&probe, &valid);
    }

    /// The folded head on raw inputs gives the probe's own scores.
    fn assert_folds_exactly(probe: &Probe, rows: &Rows) {
        let device = Device::flex();
        let head = probe.to_genre_head(&device).expect("the probe folds");
        let x = Tensor::<2>::from_data(
            TensorData::new(rows.x.clone(), [rows.len(), rows.dim]),
            &device,
        );
        let logits: Vec<f32> = head.forward(x).into_data().try_into_vec().expect("f32");
        for (row, expected) in logits.chunks(NUM_GENRES).zip(probe.scores(rows)) {
            for (l, s) in row.iter().zip(expected) {
                assert!((1.0 / (1.0 + (-l).exp()) - s).abs() < 1e-4);
            }
        }
    }

    #[test]
    fn an_ensemble_of_hidden_layer_members_folds_into_one_wider_head() {
        let (train, valid) = (toy(300, 5), toy(100, 6));
        let config = ProbeConfig {
            epochs: 5,
            hidden: vec![6],
            ensemble: 3,
            ..ProbeConfig::default()
        };
        let (probe, log) = fit(&train, &valid, &config).expect("fits");
        assert_eq!(log.curves.len(), 3);
        assert!(
            log.curves
                .iter()
                .flatten()
                .all(|e| e.train.is_finite() && e.valid.is_finite())
        );
        let head = probe.to_genre_head(&Device::flex()).expect("folds");
        assert_eq!(head.hidden.as_ref().map(|h| h.weight.dims()), Some([3, 18]));
        assert_folds_exactly(&probe, &valid);
    }

    #[test]
    fn every_loss_is_finite_and_falls() {
        let (train, valid) = (toy(300, 3), toy(100, 4));
        for loss in [
            Loss::Bce,
            Loss::Focal { gamma: 2.0 },
            Loss::Asymmetric {
                gamma_neg: 4.0,
                clip: 0.05,
            },
        ] {
            let config = ProbeConfig {
                epochs: 15,
                loss,
                label_smoothing: 0.1,
                mixup: 0.5,
                hidden: vec![8],
                ..ProbeConfig::default()
            };
            let (probe, _) = fit(&train, &valid, &config).expect("fits");
            let scores = probe.scores(&valid);
            assert!(scores.iter().flatten().all(|s| s.is_finite()));
            assert_folds_exactly(&probe, &valid);
        }
    }
}
