//! `onesheet train`: labelled posters → split → cached features ([`prepare`]) → the stages a
//! [`Recipe`] asks for ([`stages`](super::stages)) → per-genre thresholds and the release
//! year's prior → a bundle whose provenance records the recipe.

use std::path::PathBuf;

use anyhow::{Result, bail};
use burn::module::Module;
use onesheet::bundle::{Bundle, Manifest};
use onesheet::files::write;
use onesheet::model::GenreClassifier;
use onesheet::preprocess::InputSpec;
use onesheet::{Backend, Year};
use serde::{Deserialize, Serialize};

use crate::dataset::{self, Labels};
use crate::evaluation::metrics::Summary;
use crate::evaluation::validation::{ValidationRow, validation_figures};
use crate::split::Part;
use crate::thresholds::{decisions_of, tune_thresholds};
use crate::training::fit::StageLog;
use crate::training::prepare::{Prepared, Sources, prepare};
use crate::training::provenance::provenance;
use crate::training::recipe::{Recipe, Stage};
use crate::training::stages::{Run, Trained};
use crate::training::year_prior::{self, Scored, YearFit};

/// A training run's settings.
#[derive(Debug, Clone)]
pub struct TrainConfig {
    /// Data, weights, working directory, seed.
    pub sources: Sources,
    /// Where to write the trained bundle.
    pub out: PathBuf,
    /// How to train.
    pub recipe: Recipe,
    /// Where training runs.
    pub backend: Backend,
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

/// What a run made, besides the bundle it wrote.
pub struct TrainOutcome {
    /// What `work/run.json` now holds.
    pub log: RunLog,
    /// The last fine-tuning stage's validation figures, a row for the levers' table beside
    /// the heads on frozen features it is compared with (none when only the head trained).
    pub fine_tuning: Option<ValidationRow>,
}

/// Trains every stage up to `args.recipe.stage`, tunes the thresholds, fits the year's prior,
/// and writes the bundle to `args.out` and the run log to `work/run.json`.
pub fn train(args: &TrainConfig) -> Result<TrainOutcome> {
    let prepared = prepare(&args.sources, args.recipe.size)?;
    let (work, seed, recipe) = (&args.sources.work, args.sources.seed, &args.recipe);
    let run = Run::new(&prepared, recipe, seed, work, args.backend.device()?);
    if run.train_rows.is_empty() || run.valid_rows.is_empty() {
        bail!("the split left no training or no validation posters");
    }
    if recipe.stage == Stage::Top && recipe.top_epochs == 0 {
        bail!("--stage top with --top-epochs 0 trains nothing after the head; give it epochs");
    }

    let mut trained = run.head()?;
    let mut stages = vec![trained.log.clone()];
    if recipe.stage >= Stage::Top && recipe.top_epochs > 0 {
        trained = run.top(trained, args.stop_after_epoch)?;
        stages.push(trained.log.clone());
    }
    if recipe.stage >= Stage::Full {
        trained = run.full(trained)?;
        stages.push(trained.log.clone());
    }

    let valid_labels: Vec<Labels> = run.valid_rows.iter().map(|(_, l)| *l).collect();
    let decided = Decided::new(&run, &trained, &valid_labels);
    let fine_tuning = (stages.len() > 1).then(|| decided.row(&prepared, &stages));

    let flex = burn::tensor::Device::flex();
    let model = GenreClassifier {
        backbone: trained.backbone.fork(&flex),
        head: trained.head.fork(&flex),
    };
    let (prior, year_fit) = decided.year.unzip();
    let mut manifest = Manifest::new(
        prepared.input.clone(),
        0.5,
        provenance(
            &prepared,
            recipe,
            seed,
            &stages,
            year_fit.as_ref(),
            &decided.validation,
            decided.validation_with_year.as_ref(),
        ),
    );
    for (decision, threshold) in manifest.genres.iter_mut().zip(&decided.thresholds) {
        decision.threshold = *threshold;
    }
    manifest.year = prior;
    let bytes = Bundle { manifest, model }.to_bytes(recipe.precision)?;
    write::atomic(&args.out, &bytes)?;
    eprintln!("wrote {} ({} bytes)", args.out.display(), bytes.len());

    let log = RunLog {
        input: prepared.input.clone(),
        cache_seconds: prepared.cache_seconds,
        counts: counts(&prepared),
        stages,
        validation: decided.validation,
        year: year_fit,
        validation_with_year: decided.validation_with_year,
    };
    write::atomic(
        &work.join("run.json"),
        serde_json::to_string_pretty(&log)?.as_bytes(),
    )?;
    Ok(TrainOutcome { log, fine_tuning })
}

/// The decisions made on the final model's validation scores: the F1-best threshold per
/// genre, and the release year's per-decade prior fitted on its training scores.
struct Decided {
    thresholds: Vec<f32>,
    validation: Summary,
    valid_scores: Vec<Vec<f32>>,
    valid_labels: Vec<Labels>,
    year: Option<(onesheet::YearPrior, YearFit)>,
    validation_with_year: Option<Summary>,
    valid_scores_with_year: Option<Vec<Vec<f32>>>,
}

impl Decided {
    fn new(run: &Run<'_>, trained: &Trained, valid_labels: &[Labels]) -> Self {
        let thresholds = tune_thresholds(&trained.valid_scores, valid_labels);
        let decisions = decisions_of(&trained.valid_scores, &thresholds);
        let validation = Summary::new(&trained.valid_scores, &decisions, valid_labels);
        eprintln!(
            "validation: macro ROC-AUC {:.4}, micro F1 {:.4}, macro F1 {:.4}",
            validation.macro_auc.unwrap_or(f64::NAN),
            validation.micro_f1,
            validation.macro_f1
        );
        let years = |rows: &[(usize, Labels)]| -> Vec<Year> {
            rows.iter()
                .map(|(i, _)| run.prepared.dataset.posters[*i].year)
                .collect()
        };
        let (train_years, valid_years) = (years(&run.train_rows), years(&run.valid_rows));
        let train_labels: Vec<Labels> = run.train_rows.iter().map(|(_, l)| *l).collect();
        let valid = Scored {
            scores: &trained.valid_scores,
            labels: valid_labels,
            years: &valid_years,
        };
        let year = year_prior::fit(
            &Scored {
                scores: &trained.train_scores,
                labels: &train_labels,
                years: &train_years,
            },
            &valid,
        );
        let (validation_with_year, valid_scores_with_year) = match &year {
            Some((prior, fit)) => {
                let scores = year_prior::applied(prior, &valid);
                let summary = Summary::new(
                    &scores,
                    &decisions_of(&scores, &prior.thresholds),
                    valid_labels,
                );
                eprintln!(
                    "validation with the year (decades {}–{}, penalty {}): macro ROC-AUC {:.4}, \
                     micro F1 {:.4}, log loss {:.4} (without: {:.4})",
                    fit.decades.0,
                    fit.decades.1,
                    fit.penalty,
                    summary.macro_auc.unwrap_or(f64::NAN),
                    summary.micro_f1,
                    fit.valid_loss_with,
                    fit.valid_loss_without
                );
                (Some(summary), Some(scores))
            }
            None => (None, None),
        };
        Self {
            thresholds,
            validation,
            valid_scores: trained.valid_scores.clone(),
            valid_labels: valid_labels.to_vec(),
            year,
            validation_with_year,
            valid_scores_with_year,
        }
    }

    /// The last fine-tuning stage's row for the levers' table.
    fn row(&self, prepared: &Prepared, stages: &[StageLog]) -> ValidationRow {
        let stage = &stages[stages.len() - 1];
        let mut row = validation_figures(prepared, &self.valid_scores, &self.valid_labels);
        if let Some(with_year) = &self.valid_scores_with_year {
            let with = validation_figures(prepared, with_year, &self.valid_labels);
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
        row
    }
}

/// Posters per part and collection.
fn counts(prepared: &Prepared) -> Vec<(String, String, usize)> {
    Part::ALL
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
        .collect()
}
