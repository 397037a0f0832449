//! `onesheet train`: labelled posters → split → cached features → trained head (→ fine-tuned
//! top blocks) → per-genre thresholds → a bundle.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use burn::module::Module;
use burn::nn::DropoutConfig;
use burn::tensor::{Tensor, activation};
use onesheet::bundle::{Bundle, Manifest, Precision, Provenance};
use onesheet::inference::read_rows_sync;
use onesheet::model::{GenreClassifier, MobileNetV2};
use onesheet::preprocess::InputSpec;
use onesheet::pretrained;
use onesheet::{Backend, Year};
use serde::{Deserialize, Serialize};

use crate::dataset::{self, Dataset, Labels};
use crate::evaluation::metrics::Summary;
use crate::features::{self, CacheSpec, Features};
use crate::levers::{self, Inputs};
use crate::split::{FRACTIONS, Part, Split};
use crate::thresholds::{decisions_of, tune_thresholds};
use crate::training::examples::{Examples, FeatureSource, Input, positive_weights};
use crate::training::fit::{StageConfig, StageLog, fit};
use crate::training::images::ImageSource;
use crate::training::loader::Source;
use crate::training::models::{FullModel, HeadModel, Logits, TopModel};
use crate::training::probe::{self, ProbeConfig};
use crate::training::year_prior::{self, Scored, YearFit};
use crate::write;

/// How far training goes; each stage starts from the one before.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Stage {
    /// Stage 2: the genre head on cached embeddings.
    Head,
    /// Stage 3: then the last block, last convolution and head on cached activations.
    Top,
    /// Stage 4: then the network from [`TrainConfig::full_from_block`] on, on augmented images
    /// (the whole network is meant for a GPU).
    Full,
}

/// Where the labelled data, the pretrained weights and the working directory are, and how
/// they are read: shared by training and evaluation.
#[derive(Debug, Clone)]
pub struct Sources {
    /// Root of the labelled posters (`posters/`, `vintage/`).
    pub data: PathBuf,
    /// Pretrained MobileNetV2 weights (torchvision-layout safetensors).
    pub weights: PathBuf,
    /// Working directory: split, feature cache, checkpoints, logs.
    pub work: PathBuf,
    /// Seed of the split, initialisation, shuffling, dropout and random baselines.
    pub seed: u64,
    /// Use only the first N posters of each collection (quick runs and tests).
    pub limit: Option<usize>,
    /// Images per backbone batch.
    pub batch: usize,
}

/// A training run's settings.
#[derive(Debug, Clone)]
pub struct TrainConfig {
    /// Data, weights, working directory, seed.
    pub sources: Sources,
    /// Where to write the trained bundle.
    pub out: PathBuf,
    /// Model input, width and height.
    pub size: (u32, u32),
    /// The last stage to run.
    pub stage: Stage,
    /// Most epochs of the head stage.
    pub head_epochs: usize,
    /// Most epochs of the top-blocks stage.
    pub top_epochs: usize,
    /// Most epochs of the full fine-tuning stage.
    pub full_epochs: usize,
    /// The fine-tuning stage trains the blocks from this one on (and the last convolution and
    /// the head); the stem and the blocks before it stay as pretrained. 0: the whole network.
    pub full_from_block: usize,
    /// Peak learning rate of the fine-tuning stage.
    pub full_learning_rate: f64,
    /// Dropout before each of the genre head's layers.
    pub dropout: f64,
    /// Width of the genre head's hidden layer (none: a linear head).
    pub head_hidden: Option<usize>,
    /// Where training runs.
    pub backend: Backend,
    /// How the bundle stores its weights.
    pub precision: Precision,
    /// Stop the top-blocks stage after this epoch's checkpoint, as a crash would (tests
    /// resuming).
    pub stop_after_epoch: Option<usize>,
}

/// What a training run leaves in `work/run.json` for the report.
#[derive(Debug, Serialize, Deserialize)]
pub struct RunLog {
    /// Input size.
    pub input: InputSpec,
    /// Seconds this run spent computing features (0 when all were cached already).
    pub cache_seconds: f64,
    /// The stages trained, in order.
    pub stages: Vec<StageLog>,
    /// Posters per part and collection.
    pub counts: Vec<(String, String, usize)>,
    /// Validation figures with the tuned thresholds.
    pub validation: Summary,
    /// How the release year's prior was fitted (absent for runs before it existed).
    #[serde(default)]
    pub year: Option<YearFit>,
    /// Validation figures with the year and its thresholds.
    #[serde(default)]
    pub validation_with_year: Option<Summary>,
}

/// Everything stage 1 gives the later stages: data, split and cached features.
pub struct Prepared {
    /// The posters.
    pub dataset: Dataset,
    /// Their parts.
    pub split: Split,
    /// Cached backbone outputs, one row per poster in `dataset` order.
    pub features: Arc<Features>,
    /// Preprocessing the features were computed with.
    pub input: InputSpec,
    /// The pretrained network.
    pub pretrained: onesheet::model::ImageNetClassifier,
    /// Seconds spent caching.
    pub cache_seconds: f64,
    /// The feature cache's key (weights and preprocessing).
    pub cache_key: String,
    /// SHA-256 of the pretrained weights file.
    pub weights_digest: String,
}

impl Prepared {
    /// What a stage trained on these posters depends on: stage configs carry it, so a working
    /// directory never resumes or reuses a run made on other features or another split.
    pub fn fingerprint(&self) -> String {
        format!(
            "features {}, train {}, validation {}",
            self.cache_key,
            self.rows(Part::Train, None).len(),
            self.rows(Part::Validation, None).len()
        )
    }

    /// Rows (and labels) of `part`, optionally only one collection.
    pub fn rows(
        &self,
        part: Part,
        collection: Option<dataset::Collection>,
    ) -> Vec<(usize, Labels)> {
        self.dataset
            .posters
            .iter()
            .enumerate()
            .filter(|(_, p)| self.split.part(&p.id) == Some(part))
            .filter(|(_, p)| collection.is_none_or(|c| p.collection == c))
            .map(|(i, p)| (i, p.labels))
            .collect()
    }
}

/// Loads the data, makes or reads the split and fills the feature cache.
pub fn prepare(sources: &Sources, size: (u32, u32)) -> Result<Prepared> {
    let Sources {
        data,
        weights,
        work,
        seed,
        limit,
        batch,
    } = sources;
    let mut dataset = dataset::load(data)?;
    if let Some(limit) = *limit {
        let mut kept = std::collections::HashMap::new();
        dataset.posters.retain(|p| {
            let n = kept.entry(p.collection).or_insert(0usize);
            *n += 1;
            *n <= limit
        });
    }
    eprintln!(
        "{} posters ({} duplicate images dropped)",
        dataset.posters.len(),
        dataset.duplicates.len()
    );
    let split = Split::load_or_create(&dataset, &work.join("split.csv"), *seed)?;
    let device = burn::tensor::Device::flex();
    let pretrained = pretrained::load_file(weights, &device)
        .with_context(|| format!("loading weights {}", weights.display()))?;
    let input = InputSpec::mobilenet(size.0, size.1);
    let spec = CacheSpec::new(weights, input.clone())?;
    let started = Instant::now();
    let features = features::ensure(
        &dataset.posters,
        &work.join("cache"),
        &spec,
        &pretrained.backbone,
        &device,
        *batch,
    )?;
    Ok(Prepared {
        dataset,
        split,
        features: Arc::new(features),
        input,
        pretrained,
        cache_seconds: started.elapsed().as_secs_f64(),
        cache_key: spec.key()?,
        weights_digest: spec.weights_digest,
    })
}

/// Trains every stage up to `args.stage`, tunes the thresholds and writes the bundle to
/// `args.out` and the run log to `work/run.json`.
pub fn train(args: &TrainConfig) -> Result<RunLog> {
    let prepared = prepare(&args.sources, args.size)?;
    let (work, seed) = (&args.sources.work, args.sources.seed);
    let plain = args.backend.device()?;
    let device = plain.clone().autodiff();
    let train_rows = prepared.rows(Part::Train, None);
    let valid_rows = prepared.rows(Part::Validation, None);
    if train_rows.is_empty() || valid_rows.is_empty() {
        bail!("the split left no training or no validation posters");
    }
    let train_labels: Vec<Labels> = train_rows.iter().map(|(_, l)| *l).collect();
    let pos_weight = positive_weights(&train_labels);
    let examples = |rows: &[(usize, Labels)], all_views: bool| {
        Arc::new(Examples::new(
            prepared.features.clone(),
            rows,
            all_views,
            pos_weight.clone(),
        ))
    };
    let (train, valid) = (examples(&train_rows, true), examples(&valid_rows, false));
    // The training posters as they are (no mirrored copies): the year prior is fitted on the
    // final model's scores for them.
    let train_once = examples(&train_rows, false);
    let pooled = |examples: &Arc<Examples>| -> Arc<dyn Source<2>> {
        Arc::new(FeatureSource {
            examples: examples.clone(),
            input: Input::Pooled,
        })
    };
    let tap = |examples: &Arc<Examples>| -> Arc<dyn Source<4>> {
        Arc::new(FeatureSource {
            examples: examples.clone(),
            input: Input::Tap,
        })
    };

    // Stage 2: the head on pooled embeddings, trained in memory (a minute) and folded into
    // the product's head exactly.
    let head_config = head_recipe(args);
    let train_embeddings = Inputs::EMBEDDING.rows(&prepared, Part::Train, true);
    let valid_embeddings = Inputs::EMBEDDING.rows(&prepared, Part::Validation, false);
    eprintln!("head: {}", head_config.summary());
    let (probe, probe_log) = probe::fit(&train_embeddings, &valid_embeddings, &head_config)?;
    let head = HeadModel {
        head: probe
            .to_genre_head(&plain)
            .context("the head recipe has more than one hidden layer")?,
    };
    eprintln!(
        "head: best epoch {} of {} ({:.0} s)",
        probe_log.best_epochs[0],
        probe_log.curves[0].len(),
        probe_log.seconds
    );
    let mut stages = vec![StageLog {
        name: "head".into(),
        settings: head_config.summary(),
        curves: probe_log.curves[0].clone(),
        best_epoch: probe_log.best_epochs[0],
        seconds: Some(probe_log.seconds),
    }];

    let mut backbone = prepared.pretrained.backbone.clone();
    let mut genre_head = head.head.clone().fork(&device);
    // Later stages train the head on with the run's dropout.
    genre_head.dropout = DropoutConfig::new(args.dropout).init();
    // A later stage starts from this head: its run must never resume one that started from
    // another.
    let after_head = format!(
        "{}, head {}",
        prepared.fingerprint(),
        serde_json::to_string(&head_config)?
    );
    let top_config = StageConfig::new()
        .with_data(after_head.clone())
        .with_epochs(args.top_epochs)
        .with_batch_size(32)
        .with_learning_rate(2e-4)
        .with_weight_decay(5e-2)
        .with_patience(2)
        .with_dropout(args.dropout)
        .with_seed(seed);
    let full_config = StageConfig::new()
        .with_data(format!(
            "{after_head}, trained from block {}",
            args.full_from_block
        ))
        .with_epochs(args.full_epochs)
        .with_batch_size(32)
        .with_learning_rate(args.full_learning_rate)
        .with_weight_decay(5e-2)
        .with_patience(2)
        .with_dropout(args.dropout)
        .with_seed(seed);
    // Validation and training scores of the final model (thresholds are tuned on the former,
    // the year prior fitted on the latter).
    let mut valid_scores = scores_of::<_, 2>(&head, pooled(&valid).as_ref(), &plain)?;
    let mut train_scores = scores_of::<_, 2>(&head, pooled(&train_once).as_ref(), &plain)?;
    if args.stage >= Stage::Top && args.top_epochs > 0 {
        // `train()`: parameters that came out of an earlier stage's `valid()` track no grads.
        let top = TopModel::new(&backbone, genre_head.clone())
            .train()
            .fork(&device);
        let top = fit::<_, 4>(
            top,
            &work.join("top"),
            &tap(&train),
            &tap(&valid),
            &top_config,
            &device,
            args.stop_after_epoch,
        )?;
        eprintln!("top blocks: best epoch {}", top.log.best_epoch);
        stages.push(top.log);
        let model = top.model.valid();
        valid_scores = scores_of::<_, 4>(&model, tap(&valid).as_ref(), &plain)?;
        train_scores = scores_of::<_, 4>(&model, tap(&train_once).as_ref(), &plain)?;
        (backbone, genre_head) = model.into_backbone(backbone);
    }
    if args.stage >= Stage::Full {
        let images = |rows: &[(usize, Labels)]| -> Arc<dyn Source<4>> {
            let posters = rows
                .iter()
                .map(|(i, l)| (prepared.dataset.posters[*i].image.clone(), *l))
                .collect();
            Arc::new(ImageSource::new(
                posters,
                prepared.input.clone(),
                pos_weight.clone(),
            ))
        };
        let full = FullModel {
            model: GenreClassifier {
                backbone: frozen_below(backbone.clone(), args.full_from_block),
                head: genre_head.clone(),
            },
        }
        .train()
        .fork(&device);
        let mut full = fit::<_, 4>(
            full,
            &work.join("full"),
            &images(&train_rows),
            &images(&valid_rows),
            &full_config,
            &device,
            None,
        )?;
        eprintln!("full fine-tuning: best epoch {}", full.log.best_epoch);
        full.log.settings = format!(
            "{}, {}",
            trained_blocks(args.full_from_block),
            full.log.settings
        );
        stages.push(full.log);
        let model = full.model.valid();
        valid_scores = scores_of::<_, 4>(&model, images(&valid_rows).as_ref(), &plain)?;
        train_scores = scores_of::<_, 4>(&model, images(&train_rows).as_ref(), &plain)?;
        (backbone, genre_head) = (model.model.backbone, model.model.head);
    }

    // Decisions: the F1-best threshold per genre on validation.
    let valid_labels: Vec<Labels> = valid_rows.iter().map(|(_, l)| *l).collect();
    let thresholds = tune_thresholds(&valid_scores, &valid_labels);
    let decisions = decisions_of(&valid_scores, &thresholds);
    let validation = Summary::new(&valid_scores, &decisions, &valid_labels);
    eprintln!(
        "validation: macro ROC-AUC {:.4}, micro F1 {:.4}, macro F1 {:.4}",
        validation.macro_auc.unwrap_or(f64::NAN),
        validation.micro_f1,
        validation.macro_f1
    );

    // The release year: per-decade offsets fitted on the training posters' scores.
    let years = |rows: &[(usize, Labels)]| -> Vec<Year> {
        rows.iter()
            .map(|(i, _)| prepared.dataset.posters[*i].year)
            .collect()
    };
    let (train_years, valid_years) = (years(&train_rows), years(&valid_rows));
    let fitted = year_prior::fit(
        &Scored {
            scores: &train_scores,
            labels: &train_labels,
            years: &train_years,
        },
        &Scored {
            scores: &valid_scores,
            labels: &valid_labels,
            years: &valid_years,
        },
    );
    let mut valid_scores_with_year = None;
    let validation_with_year = fitted.as_ref().map(|(prior, fit)| {
        let scores = year_prior::applied(
            prior,
            &Scored {
                scores: &valid_scores,
                labels: &valid_labels,
                years: &valid_years,
            },
        );
        let summary = Summary::new(
            &scores,
            &decisions_of(&scores, &prior.thresholds),
            &valid_labels,
        );
        eprintln!(
            "validation with the year (decades {}–{}, penalty {}): macro ROC-AUC {:.4}, micro \
             F1 {:.4}, log loss {:.4} (without: {:.4})",
            fit.decades.0,
            fit.decades.1,
            fit.penalty,
            summary.macro_auc.unwrap_or(f64::NAN),
            summary.micro_f1,
            fit.valid_loss_with,
            fit.valid_loss_without
        );
        valid_scores_with_year = Some(scores);
        summary
    });
    // A fine-tuning stage is a lever too: its validation figures join `onesheet levers`'
    // table, beside the heads on frozen features it is compared with.
    if let Some(stage) = stages.iter().rev().find(|s| s.name != "head") {
        let mut row = levers::validation_figures(&prepared, &valid_scores, &valid_labels);
        if let Some(with_year) = &valid_scores_with_year {
            let with = levers::validation_figures(&prepared, with_year, &valid_labels);
            row.posters_macro_auc_with_year = Some(with.posters_macro_auc);
            row.vintage_macro_auc_with_year = Some(with.vintage_macro_auc);
        }
        row.name = format!("fine-tuning stage `{}` (+ the year's prior)", stage.name);
        row.inputs = if stage.name == "top" {
            "cached activations entering block 16".into()
        } else {
            "poster images, augmented".into()
        };
        row.settings.clone_from(&stage.settings);
        row.seconds = stages.iter().filter_map(|s| s.seconds).sum();
        row.best_epochs = vec![stage.best_epoch];
        levers::save(&work.join("levers.json"), row)?;
    }

    let flex = burn::tensor::Device::flex();
    let model = GenreClassifier {
        backbone: backbone.fork(&flex),
        head: genre_head.fork(&flex),
    };
    let recipe = recipe(
        args.size,
        seed,
        &stages,
        fitted.as_ref().map(|(_, fit)| fit),
    );
    let mut manifest = Manifest::new(
        prepared.input.clone(),
        0.5,
        Provenance {
            trained: true,
            created: write::timestamp(),
            backbone: format!(
                "{} (weights SHA-256 {})",
                pretrained::DESCRIPTION,
                prepared.weights_digest
            ),
            training_data: format!(
                "{} posters: 1980–2015 (IMDb genres) and pre-1980 (MovieLens genres), {:.0}% \
                 train, split seed {}",
                prepared.dataset.posters.len(),
                FRACTIONS[0] * 100.0,
                prepared.split.seed()
            ),
            recipe,
            metrics: [
                (
                    "validation_macro_roc_auc",
                    validation.macro_auc.unwrap_or(f64::NAN),
                ),
                ("validation_micro_f1", validation.micro_f1),
                ("validation_macro_f1", validation.macro_f1),
            ]
            .into_iter()
            .chain(validation_with_year.iter().flat_map(|with| {
                [
                    (
                        "validation_macro_roc_auc_with_year",
                        with.macro_auc.unwrap_or(f64::NAN),
                    ),
                    ("validation_micro_f1_with_year", with.micro_f1),
                ]
            }))
            .map(|(k, v)| (k.to_string(), v))
            .collect(),
        },
    );
    for (decision, threshold) in manifest.genres.iter_mut().zip(&thresholds) {
        decision.threshold = *threshold;
    }
    let (year_prior, year_fit) = fitted.unzip();
    manifest.year = year_prior;
    let bytes = Bundle { manifest, model }.to_bytes(args.precision)?;
    write::atomic(&args.out, &bytes)?;
    eprintln!("wrote {} ({} bytes)", args.out.display(), bytes.len());

    let counts = Part::ALL
        .iter()
        .flat_map(|&part| {
            dataset::Collection::ALL.map(|c| {
                (
                    part.name().to_string(),
                    c.dir_name().to_string(),
                    prepared.rows(part, Some(c)).len(),
                )
            })
        })
        .collect();
    let log = RunLog {
        input: prepared.input,
        cache_seconds: prepared.cache_seconds,
        stages,
        counts,
        validation,
        year: year_fit,
        validation_with_year,
    };
    write::atomic(
        &work.join("run.json"),
        serde_json::to_string_pretty(&log)?.as_bytes(),
    )?;
    Ok(log)
}

/// The head's recipe: what `onesheet levers` found best on validation (a 128-unit hidden
/// layer with strong dropout), within the run's flags.
fn head_recipe(args: &TrainConfig) -> ProbeConfig {
    ProbeConfig {
        hidden: args.head_hidden.into_iter().collect(),
        dropout: args.dropout,
        epochs: args.head_epochs,
        seed: args.sources.seed,
        ..ProbeConfig::default()
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

/// Which part of the backbone the fine-tuning stage trained, in words.
fn trained_blocks(from: usize) -> String {
    if from == 0 {
        "whole network trained".into()
    } else {
        format!(
            "inverted-residual blocks {from}–16 and the last 1×1 conv trained (stem and blocks \
             0–{} frozen)",
            from - 1
        )
    }
}

/// What each stage did, in the words of the bundle's provenance.
fn recipe(size: (u32, u32), seed: u64, stages: &[StageLog], year: Option<&YearFit>) -> String {
    let mut recipe = format!(
        "input {}x{} (whole poster, stretched); features: frozen ImageNet MobileNetV2 on each \
         poster and its mirror image",
        size.0, size.1
    );
    for stage in stages {
        let what = match stage.name.as_str() {
            "head" => {
                "genre head on cached embeddings, inputs standardised (folded into the \
                       head's first layer), best validation macro ROC-AUC kept"
            }
            "top" => {
                "last inverted-residual block + last 1×1 conv + head on cached activations, \
                 masked BCE with √(neg/pos) positive weights"
            }
            _ => {
                "fine-tuning on images with random mirror, crop (80–100% of each side), \
                 brightness and saturation (±10%), masked BCE with √(neg/pos) positive weights"
            }
        };
        let _ = write!(
            recipe,
            "; {}: {what}, {}; best epoch {}",
            stage.name, stage.settings, stage.best_epoch
        );
    }
    recipe.push_str("; thresholds: F1-best per genre on validation");
    if let Some(fit) = year {
        let _ = write!(
            recipe,
            "; release year (optional input): per-decade logit offsets {}s–{}s, one-parameter \
             logistic fits on the training posters' scores, L2 penalty {} chosen by validation \
             log loss, thresholds with the year F1-best on validation",
            fit.decades.0, fit.decades.1, fit.penalty
        );
    }
    recipe + &format!("; seed {seed}")
}

/// Sigmoid scores of a trained stage model on every example, in order.
pub fn scores_of<M: Logits<D>, const D: usize>(
    model: &M,
    source: &dyn Source<D>,
    device: &burn::tensor::Device,
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
