//! The trained stages after the feature cache, each starting from the one before: the genre
//! head on cached embeddings, the top blocks on cached activations, and fine-tuning on
//! augmented images. Each returns the model it trained and its scores for the validation and
//! training posters (thresholds are tuned on the former, the year prior fitted on the latter).

use std::sync::Arc;

use anyhow::{Context, Result};
use burn::module::Module;
use burn::nn::DropoutConfig;
use burn::tensor::{Device, Tensor, activation};
use onesheet::inference::read_rows_sync;
use onesheet::model::{GenreClassifier, GenreHead, MobileNetV2};

use crate::dataset::Labels;
use crate::split::Part;
use crate::training::Prepared;
use crate::training::fit::{StageLog, fit};
use crate::training::head_inputs::Inputs;
use crate::training::images::ImageSource;
use crate::training::labelled::{Examples, FeatureSource, Input, positive_weights};
use crate::training::loader::Source;
use crate::training::models::{FullModel, HeadModel, Logits, TopModel};
use crate::training::probe;
use crate::training::provenance::trained_blocks;
use crate::training::recipe::Recipe;

/// One run's posters and settings, shared by its stages.
pub struct Run<'a> {
    /// The posters, split and cached features.
    pub prepared: &'a Prepared,
    /// The recipe.
    pub recipe: &'a Recipe,
    /// Seed of initialisation, shuffling and dropout.
    pub seed: u64,
    /// Where the burn-train stages keep their checkpoints.
    pub work: &'a std::path::Path,
    /// Where inference runs.
    pub plain: Device,
    /// Where training runs (with autodiff).
    pub device: Device,
    /// Training posters, each with its labels.
    pub train_rows: Vec<(usize, Labels)>,
    /// Validation posters.
    pub valid_rows: Vec<(usize, Labels)>,
    /// Positive weights of the loss, from the training labels.
    pub pos_weight: Vec<f32>,
}

/// A stage's network so far, and its scores.
pub struct Trained {
    /// The backbone, as the stage left it.
    pub backbone: MobileNetV2,
    /// The genre head, as the stage left it.
    pub head: GenreHead,
    /// Scores of the validation posters, in [`Prepared::rows`] order.
    pub valid_scores: Vec<Vec<f32>>,
    /// Scores of the training posters as they are (no mirrored copies).
    pub train_scores: Vec<Vec<f32>>,
    /// What the stage did.
    pub log: StageLog,
}

impl<'a> Run<'a> {
    /// A run of `recipe` on `prepared`, inferring on `plain` and training on it with autodiff.
    pub fn new(
        prepared: &'a Prepared,
        recipe: &'a Recipe,
        seed: u64,
        work: &'a std::path::Path,
        plain: Device,
    ) -> Self {
        let train_rows = prepared.rows(Part::Train, None);
        let valid_rows = prepared.rows(Part::Validation, None);
        let train_labels: Vec<Labels> = train_rows.iter().map(|(_, l)| *l).collect();
        Self {
            prepared,
            recipe,
            seed,
            work,
            device: plain.clone().autodiff(),
            plain,
            pos_weight: positive_weights(&train_labels),
            train_rows,
            valid_rows,
        }
    }
}

impl Run<'_> {
    fn examples(&self, rows: &[(usize, Labels)], all_views: bool) -> Arc<Examples> {
        Arc::new(Examples::new(
            self.prepared.features.clone(),
            rows,
            all_views,
            self.pos_weight.clone(),
        ))
    }

    fn cached(&self, rows: &[(usize, Labels)], all_views: bool, input: Input) -> FeatureSource {
        FeatureSource {
            examples: self.examples(rows, all_views),
            input,
        }
    }

    fn images(&self, rows: &[(usize, Labels)]) -> Arc<dyn Source<4>> {
        let posters = rows
            .iter()
            .map(|(i, l)| (self.prepared.dataset.posters[*i].image.clone(), *l))
            .collect();
        Arc::new(ImageSource::new(
            posters,
            self.prepared.input.clone(),
            self.pos_weight.clone(),
        ))
    }

    /// What every later stage starts from (a run must never resume one that started from
    /// another head).
    fn after_head(&self) -> Result<String> {
        Ok(format!(
            "{}, head {}",
            self.prepared.fingerprint(),
            serde_json::to_string(&self.recipe.head(self.seed))?
        ))
    }

    /// Stage 2: the head on pooled embeddings, trained in memory (a minute) and folded into
    /// the product's head exactly.
    pub fn head(&self) -> Result<Trained> {
        let config = self.recipe.head(self.seed);
        let train = Inputs::EMBEDDING.rows(self.prepared, Part::Train, true);
        let valid = Inputs::EMBEDDING.rows(self.prepared, Part::Validation, false);
        eprintln!("head: {}", config.summary());
        let (probe, log) = probe::fit(&train, &valid, &config)?;
        let head = HeadModel {
            head: probe
                .to_genre_head(&self.plain)
                .context("the head recipe has more than one hidden layer")?,
        };
        eprintln!(
            "head: best epoch {} of {} ({:.0} s)",
            log.best_epochs[0],
            log.curves[0].len(),
            log.seconds
        );
        let pooled =
            |rows: &[(usize, Labels)], all_views| self.cached(rows, all_views, Input::Pooled);
        Ok(Trained {
            valid_scores: scores_of::<_, 2>(&head, &pooled(&self.valid_rows, false), &self.plain)?,
            train_scores: scores_of::<_, 2>(&head, &pooled(&self.train_rows, false), &self.plain)?,
            backbone: self.prepared.pretrained.backbone.clone(),
            head: head.head,
            log: StageLog {
                name: "head".into(),
                settings: config.summary(),
                curves: log.curves[0].clone(),
                best_epoch: log.best_epochs[0],
                seconds: Some(log.seconds),
            },
        })
    }

    /// Stage 3: the last block, the last convolution and the head on cached activations.
    /// `stop_after_epoch` stops it after that epoch's checkpoint, as a crash would.
    pub fn top(&self, from: Trained, stop_after_epoch: Option<usize>) -> Result<Trained> {
        let tap = |rows: &[(usize, Labels)], all_views| -> Arc<dyn Source<4>> {
            Arc::new(self.cached(rows, all_views, Input::Tap))
        };
        // `train()`: parameters that came out of an earlier stage's `valid()` track no grads.
        let top = TopModel::new(&from.backbone, self.with_dropout(from.head))
            .train()
            .fork(&self.device);
        let top = fit::<_, 4>(
            top,
            &self.work.join("top"),
            &tap(&self.train_rows, true),
            &tap(&self.valid_rows, false),
            &self.recipe.top(self.after_head()?, self.seed),
            &self.device,
            stop_after_epoch,
        )?;
        eprintln!("top blocks: best epoch {}", top.log.best_epoch);
        let model = top.model.valid();
        let valid_scores =
            scores_of::<_, 4>(&model, tap(&self.valid_rows, false).as_ref(), &self.plain)?;
        let train_scores =
            scores_of::<_, 4>(&model, tap(&self.train_rows, false).as_ref(), &self.plain)?;
        let (backbone, head) = model.into_backbone(from.backbone);
        Ok(Trained {
            backbone,
            head,
            valid_scores,
            train_scores,
            log: top.log,
        })
    }

    /// Stage 4: the network from [`Recipe::full_from_block`] on, on augmented images.
    pub fn full(&self, from: Trained) -> Result<Trained> {
        let from_block = self.recipe.full_from_block;
        let full = FullModel {
            model: GenreClassifier {
                backbone: frozen_below(from.backbone, from_block),
                head: self.with_dropout(from.head),
            },
        }
        .train()
        .fork(&self.device);
        let data = format!("{}, trained from block {from_block}", self.after_head()?);
        let mut full = fit::<_, 4>(
            full,
            &self.work.join("full"),
            &self.images(&self.train_rows),
            &self.images(&self.valid_rows),
            &self.recipe.full(data, self.seed),
            &self.device,
            None,
        )?;
        eprintln!("full fine-tuning: best epoch {}", full.log.best_epoch);
        full.log.settings = format!("{}, {}", trained_blocks(from_block), full.log.settings);
        let model = full.model.valid();
        let valid_scores =
            scores_of::<_, 4>(&model, self.images(&self.valid_rows).as_ref(), &self.plain)?;
        let train_scores =
            scores_of::<_, 4>(&model, self.images(&self.train_rows).as_ref(), &self.plain)?;
        Ok(Trained {
            backbone: model.model.backbone,
            head: model.model.head,
            valid_scores,
            train_scores,
            log: full.log,
        })
    }

    /// `head` on the training device, with the recipe's dropout (later stages train it on).
    fn with_dropout(&self, head: GenreHead) -> GenreHead {
        let mut head = head.fork(&self.device);
        head.dropout = DropoutConfig::new(self.recipe.dropout).init();
        head
    }
}

/// `backbone` with its stem and the blocks before `from` frozen: the fine-tuning stage leaves
/// them as pretrained, and autodiff keeps no graph for them, so a step costs their forward
/// pass only.
fn frozen_below(mut backbone: MobileNetV2, from: usize) -> MobileNetV2 {
    if from == 0 {
        return backbone;
    }
    backbone.stem = backbone.stem.freeze();
    backbone.blocks = backbone
        .blocks
        .into_iter()
        .enumerate()
        .map(|(i, block)| if i < from { block.freeze() } else { block })
        .collect();
    backbone
}

/// Sigmoid scores of a trained stage model on every example, in order.
pub fn scores_of<M: Logits<D>, const D: usize>(
    model: &M,
    source: &dyn Source<D>,
    device: &Device,
) -> Result<Vec<Vec<f32>>> {
    let mut rows = Vec::with_capacity(source.len());
    let indices: Vec<usize> = (0..source.len()).collect();
    for chunk in indices.chunks(128) {
        let batch = source
            .batch(chunk, None, device)
            .map_err(anyhow::Error::msg)?;
        let scores: Tensor<2> = activation::sigmoid(model.logits_of(batch.inputs));
        rows.extend(read_rows_sync(scores)?);
    }
    Ok(rows)
}
