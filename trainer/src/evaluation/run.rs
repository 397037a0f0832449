//! The evaluation itself: the bundle run end to end on each collection's test posters, beside
//! the seed projects' baselines fitted on the same split.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use burn::module::Module;
use onesheet::GENRES;
use onesheet::bundle::Bundle;
use onesheet::inference::Classifier;
use onesheet::model::{GenreHeadConfig, ModelInput};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use rayon::prelude::*;

use super::metrics::{Objective, Summary, best_threshold};
use super::report::{Evaluated, SplitReport};
use crate::dataset::{Collection, Labels};
use crate::split::Part;
use crate::thresholds::{decisions_of, tune_thresholds};
use crate::training::fit::{StageConfig, fit};
use crate::training::labelled::{Examples, FeatureSource, Input};
use crate::training::loader::Source;
use crate::training::models::HeadModel;
use crate::training::{Prepared, RunLog, Sources, prepare, scores_of};
use onesheet::progress;

/// What to evaluate and where the report goes.
#[derive(Debug, Clone)]
pub struct EvaluateConfig {
    /// The bundle to evaluate.
    pub model: PathBuf,
    /// The training run's data, weights and working directory (split, cache, run.json).
    pub sources: Sources,
    /// Where to write the report; plots go in a `report/` folder beside it.
    pub report: PathBuf,
    /// Fit and report the seed projects' systems (minutes; off for quick runs and tests).
    pub seed_systems: bool,
}

/// Evaluates the bundle on each collection's test split and writes the report.
pub fn evaluate(args: &EvaluateConfig) -> Result<Evaluated> {
    let bytes = onesheet::files::read::bundle(&args.model)?;
    let device = burn::tensor::Device::flex();
    let bundle = Bundle::from_bytes(&bytes, &device)
        .with_context(|| format!("loading {}", args.model.display()))?;
    if !bundle.manifest.provenance.trained {
        eprintln!("warning: {} has an untrained head", args.model.display());
    }
    let size = (bundle.manifest.input.width, bundle.manifest.input.height);
    let prepared = prepare(&args.sources, size)?;
    let classifier = Classifier::new(bundle, device.clone());
    let baselines = Baselines::fit(&prepared, &args.sources, &device)?;
    let seed_systems = if args.seed_systems {
        crate::research::seeds::fit_all(
            &prepared,
            args.sources.seed,
            &args.sources.work.join("tune.json"),
        )?
    } else {
        Vec::new()
    };

    // Seed 003's other thresholds: tuned on the bundle's own validation scores for accuracy
    // and for precision, as the shipped ones are for F1.
    let valid_rows = prepared.rows(Part::Validation, None);
    eprintln!("scoring the validation posters for the other thresholds");
    let (valid_scores, _) = run_bundle(
        &classifier,
        &prepared,
        &valid_rows,
        args.sources.batch,
        false,
    )?;
    let valid_labels: Vec<Labels> = valid_rows.iter().map(|(_, l)| *l).collect();
    let objectives: Vec<(Objective, Vec<f32>)> = OBJECTIVES
        .iter()
        .map(|&objective| {
            let thresholds = (0..GENRES.len())
                .map(|g| {
                    let s: Vec<f32> = valid_scores.iter().map(|r| r[g]).collect();
                    let l: Vec<Option<bool>> = valid_labels.iter().map(|l| l[g]).collect();
                    best_threshold(&s, &l, objective)
                })
                .collect();
            (objective, thresholds)
        })
        .collect();

    let mut splits = Vec::new();
    for collection in Collection::ALL {
        let rows = prepared.rows(Part::Test, Some(collection));
        if rows.is_empty() {
            continue;
        }
        let started = Instant::now();
        let (scores, mirrored) =
            run_bundle(&classifier, &prepared, &rows, args.sources.batch, true)?;
        let seconds = started.elapsed().as_secs_f64();
        let labels: Vec<Labels> = rows.iter().map(|(_, l)| *l).collect();
        let thresholds = classifier.bundle.manifest.thresholds();
        let decisions = decisions_of(&scores, &thresholds);
        let model = Summary::new(&scores, &decisions, &labels);
        // Test-time mirroring, measured (not shipped): the mean of the two views' scores.
        let averaged: Vec<Vec<f32>> = scores
            .iter()
            .zip(&mirrored)
            .map(|(a, b)| a.iter().zip(b).map(|(a, b)| (a + b) / 2.0).collect())
            .collect();
        let with_mirror = Summary::new(&averaged, &decisions_of(&averaged, &thresholds), &labels);
        // With each poster's release year, through the rule every face applies.
        let manifest = &classifier.bundle.manifest;
        let with_year: Option<(Scores, Vec<Vec<bool>>)> = manifest.year.is_some().then(|| {
            rows.iter()
                .zip(&scores)
                .map(|((row, _), scores)| {
                    let year = prepared.dataset.posters[*row].year;
                    let prediction = manifest.predict(scores.clone(), Some(year));
                    let decisions = prediction.decisions();
                    (prediction.scores, decisions)
                })
                .unzip()
        });

        let mut by_decade: BTreeMap<u16, Vec<usize>> = BTreeMap::new();
        for (i, (row, _)) in rows.iter().enumerate() {
            by_decade
                .entry(prepared.dataset.posters[*row].year.decade())
                .or_default()
                .push(i);
        }
        let summary_of = |idx: &[usize], scores: &[Vec<f32>], decisions: &[Vec<bool>]| {
            let pick = |v: &[Vec<f32>]| idx.iter().map(|&i| v[i].clone()).collect::<Vec<_>>();
            let d: Vec<Vec<bool>> = idx.iter().map(|&i| decisions[i].clone()).collect();
            let l: Vec<Labels> = idx.iter().map(|&i| labels[i]).collect();
            Summary::new(&pick(scores), &d, &l)
        };
        let decades = by_decade
            .iter()
            .map(|(&decade, idx)| (decade, summary_of(idx, &scores, &decisions)))
            .collect();
        let decades_with_year = with_year.as_ref().map_or_else(BTreeMap::new, |(s, d)| {
            by_decade
                .iter()
                .map(|(&decade, idx)| (decade, summary_of(idx, s, d)))
                .collect()
        });
        let all: Vec<usize> = (0..rows.len()).collect();
        let with_year = with_year.as_ref().map(|(s, d)| summary_of(&all, s, d));
        let by_objective = objectives
            .iter()
            .map(|(objective, thresholds)| {
                (
                    objective.describe(),
                    Summary::new(&scores, &decisions_of(&scores, thresholds), &labels),
                )
            })
            .collect();
        splits.push(SplitReport {
            collection,
            model,
            with_mirror,
            with_year,
            decades,
            decades_with_year,
            by_objective,
            labels,
            scores,
            baselines: {
                let mut all = baselines.evaluate(&prepared, &rows, args.sources.seed)?;
                for system in &seed_systems {
                    all.push(system.figures(&rows)?);
                }
                all
            },
            seconds,
        });
    }
    let run_log: Option<RunLog> = std::fs::read_to_string(args.sources.work.join("run.json"))
        .ok()
        .and_then(|text| serde_json::from_str(&text).ok());
    let read_json = |name: &str| std::fs::read_to_string(args.sources.work.join(name)).ok();
    let evaluated = Evaluated {
        levers: read_json("levers.json").and_then(|t| serde_json::from_str(&t).ok()),
        search: read_json("tune.json").and_then(|t| serde_json::from_str(&t).ok()),
        colours: super::colours::Colours::of(&prepared),
        manifest: classifier.bundle.manifest.clone(),
        model_file: args.model.clone(),
        model_bytes: bytes.len(),
        splits,
        run: run_log,
        duplicates: prepared.dataset.duplicates.len(),
    };
    super::report::write(&evaluated, &args.report)?;
    for split in &evaluated.splits {
        eprintln!(
            "{} test ({} posters): macro ROC-AUC {:.4}, micro F1 {:.4}, macro F1 {:.4}, mAP {:.4}",
            split.collection,
            split.model.posters,
            split.model.macro_auc.unwrap_or(f64::NAN),
            split.model.micro_f1,
            split.model.macro_f1,
            split.model.mean_average_precision.unwrap_or(f64::NAN),
        );
        if let Some(with) = &split.with_year {
            eprintln!(
                "{} test with the release year: macro ROC-AUC {:.4}, micro F1 {:.4}, macro F1 {:.4}",
                split.collection,
                with.macro_auc.unwrap_or(f64::NAN),
                with.micro_f1,
                with.macro_f1,
            );
        }
    }
    eprintln!("wrote {}", args.report.display());
    Ok(evaluated)
}

/// Per poster, a score per genre.
type Scores = Vec<Vec<f32>>;

/// The threshold objectives reported beside the shipped F1-tuned decisions (seed 003).
const OBJECTIVES: [Objective; 2] = [
    Objective::Accuracy,
    Objective::Precision { min_recall: 0.25 },
];

/// The bundle's scores on the images of `rows`, through the same path as `onesheet classify`,
/// and on their mirror images.
fn run_bundle(
    classifier: &Classifier,
    prepared: &Prepared,
    rows: &[(usize, Labels)],
    batch: usize,
    mirror: bool,
) -> Result<(Scores, Scores)> {
    let bar = progress::bar(rows.len() as u64, "evaluating");
    let mut scores = Vec::with_capacity(rows.len());
    let mut mirrored = Vec::with_capacity(rows.len());
    for chunk in rows.chunks(batch.max(1)) {
        let inputs = chunk
            .par_iter()
            .map(|(row, _)| {
                let path = &prepared.dataset.posters[*row].image;
                let bytes =
                    std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
                classifier
                    .prepare(&bytes)
                    .with_context(|| format!("preparing {}", path.display()))
            })
            .collect::<Result<Vec<ModelInput>>>()?;
        scores.extend(classifier.classify(&inputs)?.into_iter().map(|p| p.scores));
        if mirror {
            let flipped: Vec<ModelInput> = inputs.iter().map(ModelInput::mirrored).collect();
            mirrored.extend(classifier.classify(&flipped)?.into_iter().map(|p| p.scores));
        }
        bar.inc(chunk.len() as u64);
    }
    bar.finish_and_clear();
    Ok((scores, mirrored))
}

/// The systems the seed projects compared against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Baseline {
    /// Random flags at the training split's positive rate.
    RandomFlags,
    /// Each genre's training frequency as its score.
    LabelPrior,
    /// One-vs-rest logistic regression on frozen pooled features.
    Logistic,
    /// Seed 001: an RBF SVM per genre on frozen features.
    Svm,
    /// The same with each genre's classes balanced.
    SvmBalanced,
    /// Seed 001: a 4-layer MLP on frozen features.
    Mlp,
    /// Seed 001: PCA of grayscale pixels, then k-NN.
    PcaKnn,
    /// Then logistic regression.
    PcaLogistic,
    /// Then a random forest.
    PcaForest,
    /// Seeds 000, 001, 004: a small CNN from scratch.
    SmallCnn,
    /// Seed 004: the head with settings from `onesheet tune`'s random search.
    Tuned,
}

/// One baseline's figures on a test split.
#[derive(Debug, Clone)]
pub struct BaselineFigures {
    /// Which baseline.
    pub baseline: Baseline,
    /// How the report names it.
    pub label: String,
    /// Its figures.
    pub summary: Summary,
}

/// What the seed projects compared against, fitted on the training split.
struct Baselines {
    /// Share of known training flags that are positive.
    positive_rate: f64,
    /// Training frequency of each genre.
    prior: Vec<f32>,
    /// Thresholds of the prior, tuned on validation like the model's.
    prior_thresholds: Vec<f32>,
    /// One-vs-rest logistic regression on frozen pooled features.
    logistic: HeadModel,
    /// Its thresholds, tuned on validation.
    logistic_thresholds: Vec<f32>,
}

impl Baselines {
    fn fit(prepared: &Prepared, sources: &Sources, device: &burn::tensor::Device) -> Result<Self> {
        let train = prepared.rows(Part::Train, None);
        let valid = prepared.rows(Part::Validation, None);
        if train.is_empty() || valid.is_empty() {
            bail!("the split has no training or validation posters");
        }
        let (mut positive, mut known) = (0usize, 0usize);
        let mut prior = vec![0.0f32; GENRES.len()];
        for g in 0..GENRES.len() {
            let flags: Vec<bool> = train.iter().filter_map(|(_, l)| l[g]).collect();
            positive += flags.iter().filter(|f| **f).count();
            known += flags.len();
            prior[g] = flags.iter().filter(|f| **f).count() as f32 / flags.len().max(1) as f32;
        }
        let valid_labels: Vec<Labels> = valid.iter().map(|(_, l)| *l).collect();
        let prior_thresholds = tune_thresholds(&vec![prior.clone(); valid.len()], &valid_labels);

        // Plain logistic regression: no dropout, no positive weights, L2 through weight decay,
        // the poster as is (no mirrored copies).
        let unweighted = vec![1.0; GENRES.len()];
        let examples = |rows: &[(usize, Labels)]| {
            Arc::new(Examples::new(
                prepared.features.clone(),
                rows,
                false,
                unweighted.clone(),
            ))
        };
        let autodiff = device.clone().autodiff();
        autodiff.seed(sources.seed);
        let model = HeadModel {
            head: GenreHeadConfig::new().with_dropout(0.0).init(&autodiff),
        };
        let config = StageConfig::new()
            .with_data(prepared.fingerprint())
            .with_epochs(40)
            .with_learning_rate(1e-3)
            .with_weight_decay(1e-4)
            .with_seed(sources.seed);
        let pooled = |rows: &[(usize, Labels)]| -> Arc<dyn Source<2>> {
            Arc::new(FeatureSource {
                examples: examples(rows),
                input: Input::Pooled,
            })
        };
        let fitted = fit::<_, 2>(
            model,
            &sources.work.join("baseline-logistic"),
            &pooled(&train),
            &pooled(&valid),
            &config,
            &autodiff,
            None,
        )?;
        let logistic = fitted.model.valid();
        let valid_scores = scores_of::<_, 2>(&logistic, pooled(&valid).as_ref(), device)?;
        Ok(Self {
            positive_rate: positive as f64 / known.max(1) as f64,
            prior,
            prior_thresholds,
            logistic_thresholds: tune_thresholds(&valid_scores, &valid_labels),
            logistic,
        })
    }

    /// Each baseline's figures on `rows`.
    fn evaluate(
        &self,
        prepared: &Prepared,
        rows: &[(usize, Labels)],
        seed: u64,
    ) -> Result<Vec<BaselineFigures>> {
        let labels: Vec<Labels> = rows.iter().map(|(_, l)| *l).collect();
        let n = rows.len();
        let mut rng = StdRng::seed_from_u64(seed);
        let random_scores: Vec<Vec<f32>> = (0..n)
            .map(|_| (0..GENRES.len()).map(|_| rng.random::<f32>()).collect())
            .collect();
        let random_flags: Vec<Vec<bool>> = random_scores
            .iter()
            .map(|r| {
                r.iter()
                    .map(|&s| f64::from(s) < self.positive_rate)
                    .collect()
            })
            .collect();
        let prior_scores = vec![self.prior.clone(); n];
        let unweighted = vec![1.0; GENRES.len()];
        let source = FeatureSource {
            examples: Arc::new(Examples::new(
                prepared.features.clone(),
                rows,
                false,
                unweighted,
            )),
            input: Input::Pooled,
        };
        let logistic_scores =
            scores_of::<_, 2>(&self.logistic, &source, &burn::tensor::Device::flex())?;
        Ok(vec![
            BaselineFigures {
                baseline: Baseline::RandomFlags,
                label: format!(
                    "random flags at the positive rate ({:.1}%)",
                    self.positive_rate * 100.0
                ),
                summary: Summary::new(&random_scores, &random_flags, &labels),
            },
            BaselineFigures {
                baseline: Baseline::LabelPrior,
                label: "label-frequency prior (F1-tuned thresholds flag every genre)".into(),
                summary: Summary::new(
                    &prior_scores,
                    &decisions_of(&prior_scores, &self.prior_thresholds),
                    &labels,
                ),
            },
            BaselineFigures {
                baseline: Baseline::Logistic,
                label: "logistic regression, frozen features".into(),
                summary: Summary::new(
                    &logistic_scores,
                    &decisions_of(&logistic_scores, &self.logistic_thresholds),
                    &labels,
                ),
            },
        ])
    }
}
