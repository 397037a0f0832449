//! The seed projects' systems, reproduced on our split with smartcore (seed 001: an RBF SVM on
//! frozen features with and without class balancing, a 4-layer MLP on them, PCA of grayscale
//! pixels with k-NN, logistic regression and a random forest; seeds 000, 001 and 004: a small
//! CNN trained from scratch). Each is fitted on the training posters, its thresholds tuned on
//! validation like the model's, and scored on the same test posters.

use std::collections::HashMap;
use std::path::Path;
use std::time::Instant;

use anyhow::{Result, anyhow};
use onesheet::NUM_GENRES;
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rayon::prelude::*;
use smartcore::decomposition::pca::{PCA, PCAParameters};
use smartcore::ensemble::random_forest_regressor::{
    RandomForestRegressor, RandomForestRegressorParameters,
};
use smartcore::linalg::basic::arrays::Array;
use smartcore::linalg::basic::matrix::DenseMatrix;
use smartcore::linear::logistic_regression::{LogisticRegression, LogisticRegressionParameters};
use smartcore::neighbors::knn_classifier::{KNNClassifier, KNNClassifierParameters};
use smartcore::svm::Kernels;
use smartcore::svm::svc::{SVC, SVCParameters};

use crate::dataset::Labels;
use crate::evaluation::metrics::Summary;
use crate::evaluation::{Baseline, BaselineFigures};
use crate::research::small_cnn;
use crate::research::tune::Search;
use crate::split::Part;
use crate::thresholds::{decisions_of, tune_thresholds};
use crate::training::Prepared;
use crate::training::head_inputs::Inputs;
use crate::training::probe::{self, ProbeConfig, Rows, Standardisation};

/// Training posters the SVMs see at most: smartcore's SMO solver is quadratic in them.
const SVM_POSTERS: usize = 1200;
/// Principal components of the grayscale pixels.
const COMPONENTS: usize = 64;
/// Principal components of the standardised embedding the SVMs read.
const SVM_COMPONENTS: usize = 64;

/// Scores of each poster of each table given: `[table][poster][genre]`.
type Tables = Vec<Vec<Vec<f32>>>;
/// A system fitted on training rows, scoring the tables given.
type Fitter = fn(&Rows, &[&Rows], u64) -> Result<Tables>;
/// Scores of the validation posters, then of the test posters.
pub type ValidAndTest = (Vec<Vec<f32>>, Vec<Vec<f32>>);

/// One seed system, fitted, with its scores on every validation and test poster.
pub struct SeedSystem {
    /// Which system.
    pub baseline: Baseline,
    /// How the report names it.
    pub label: String,
    /// Its thresholds, tuned on validation.
    pub thresholds: Vec<f32>,
    /// Scores by poster row (validation and test posters).
    scores: HashMap<usize, Vec<f32>>,
    /// Fit wall time.
    pub seconds: f64,
}

impl SeedSystem {
    fn new(
        baseline: Baseline,
        label: String,
        prepared: &Prepared,
        scored: ValidAndTest,
        started: Instant,
    ) -> Self {
        let (valid, test) = scored;
        let valid_rows = prepared.rows(Part::Validation, None);
        let test_rows = prepared.rows(Part::Test, None);
        let labels: Vec<Labels> = valid_rows.iter().map(|(_, l)| *l).collect();
        let thresholds = tune_thresholds(&valid, &labels);
        let scores = valid_rows
            .iter()
            .map(|(r, _)| *r)
            .zip(valid)
            .chain(test_rows.iter().map(|(r, _)| *r).zip(test))
            .collect();
        let seconds = started.elapsed().as_secs_f64();
        eprintln!("  {label}: {seconds:.0} s");
        Self {
            baseline,
            label,
            thresholds,
            scores,
            seconds,
        }
    }

    /// Its figures on `rows` (test posters).
    pub fn figures(&self, rows: &[(usize, Labels)]) -> Result<BaselineFigures> {
        let scores = rows
            .iter()
            .map(|(r, _)| {
                self.scores
                    .get(r)
                    .cloned()
                    .ok_or_else(|| anyhow!("{} has no score for poster row {r}", self.label))
            })
            .collect::<Result<Vec<_>>>()?;
        let labels: Vec<Labels> = rows.iter().map(|(_, l)| *l).collect();
        Ok(BaselineFigures {
            baseline: self.baseline,
            label: format!("{} (fit {:.0} s)", self.label, self.seconds),
            summary: Summary::new(&scores, &decisions_of(&scores, &self.thresholds), &labels),
        })
    }
}

/// Fits every seed system.
/// `tune` is where `onesheet tune` left its search; the tuned head is left out without one.
pub fn fit_all(prepared: &Prepared, seed: u64, tune: &Path) -> Result<Vec<SeedSystem>> {
    eprintln!("fitting the seed projects' systems");
    let embedding = |part| Inputs::EMBEDDING.rows(prepared, part, false);
    let (train, valid, test) = (
        embedding(Part::Train),
        embedding(Part::Validation),
        embedding(Part::Test),
    );
    let mut systems = Vec::new();
    for balanced in [false, true] {
        let started = Instant::now();
        let scored = svm(&train, &valid, &test, balanced, seed)?;
        let label = format!(
            "RBF SVM on frozen features{} (seed 001; first {SVM_COMPONENTS} principal \
             components, {SVM_POSTERS} training posters)",
            if balanced {
                ", classes balanced by undersampling"
            } else {
                ""
            }
        );
        let baseline = if balanced {
            Baseline::SvmBalanced
        } else {
            Baseline::Svm
        };
        systems.push(SeedSystem::new(baseline, label, prepared, scored, started));
    }

    let started = Instant::now();
    let mlp = ProbeConfig {
        hidden: vec![512, 256, 128],
        dropout: 0.5,
        seed,
        ..ProbeConfig::default()
    };
    let (probe, _) = probe::fit(
        &Inputs::EMBEDDING.rows(prepared, Part::Train, true),
        &valid,
        &mlp,
    )?;
    systems.push(SeedSystem::new(
        Baseline::Mlp,
        "4-layer MLP on frozen features (seed 001)".into(),
        prepared,
        (probe.scores(&valid), probe.scores(&test)),
        started,
    ));

    if tune.exists() {
        let search = Search::load(tune)?;
        if let Some(config) = search.best_config() {
            let started = Instant::now();
            let (probe, _) = probe::fit(
                &Inputs::EMBEDDING.rows(prepared, Part::Train, true),
                &valid,
                config,
            )?;
            systems.push(SeedSystem::new(
                Baseline::Tuned,
                format!(
                    "head tuned by random search, {} trials × {}-fold CV on the training posters \
                     (seed 004; `onesheet tune`): {}",
                    search.trials.len(),
                    search.folds,
                    config.summary()
                ),
                prepared,
                (probe.scores(&valid), probe.scores(&test)),
                started,
            ));
        }
    } else {
        eprintln!(
            "  no {}: run `onesheet tune` to report the tuned head",
            tune.display()
        );
    }

    let started = Instant::now();
    let pixels = |part| gray_pixels(prepared, part);
    let (pixels_train, pixels_valid, pixels_test) = (
        pixels(Part::Train),
        pixels(Part::Validation),
        pixels(Part::Test),
    );
    let (projected, components) =
        pca_project(&pixels_train, &[&pixels_valid, &pixels_test], COMPONENTS)?;
    let [pc_train, pc_valid, pc_test] = <[Rows; 3]>::try_from(projected)
        .map_err(|_| anyhow!("PCA gave the wrong number of tables"))?;
    let pca_seconds = started.elapsed();
    let pca_systems: [(Baseline, &str, Fitter); 3] = [
        (Baseline::PcaKnn, "k-NN (k = 25)", knn),
        (Baseline::PcaLogistic, "logistic regression", logistic),
        (Baseline::PcaForest, "random forest (100 trees)", forest),
    ];
    for (baseline, name, fitter) in pca_systems {
        let started = Instant::now()
            .checked_sub(pca_seconds)
            .unwrap_or_else(Instant::now);
        let mut scored = fitter(&pc_train, &[&pc_valid, &pc_test], seed)?;
        let test = scored.pop().unwrap_or_default();
        let valid = scored.pop().unwrap_or_default();
        systems.push(SeedSystem::new(
            baseline,
            format!(
                "PCA ({components} components) of {}×{} grayscale pixels + {name} (seed 001)",
                prepared.features.small_thumb_shape()[2],
                prepared.features.small_thumb_shape()[1]
            ),
            prepared,
            (valid, test),
            started,
        ));
    }

    let started = Instant::now();
    let scored = small_cnn::fit_and_score(prepared, seed)?;
    systems.push(SeedSystem::new(
        Baseline::SmallCnn,
        format!(
            "small CNN from scratch on {} thumbnails (seeds 000, 001, 004)",
            small_cnn::DESCRIPTION
        ),
        prepared,
        scored,
        started,
    ));
    Ok(systems)
}

/// Each poster's small thumbnail (28 × 40 at the usual input) in grayscale, 0–1.
fn gray_pixels(prepared: &Prepared, part: Part) -> Rows {
    let features = &prepared.features;
    let [_, h, w] = features.small_thumb_shape();
    let mut rows = Rows::new(h * w);
    for (i, labels) in prepared.rows(part, None) {
        let small = features.small_thumb(i);
        let (r, rest) = small.split_at(h * w);
        let (g, b) = rest.split_at(h * w);
        let gray: Vec<f32> = (0..h * w)
            .map(|p| (0.299 * r[p] + 0.587 * g[p] + 0.114 * b[p]) / 255.0)
            .collect();
        rows.push(&gray, labels);
    }
    rows
}

/// `train` and `others` projected on `train`'s first principal components (at most
/// `components`, and fewer than its rows): the tables and the number of components.
fn pca_project(train: &Rows, others: &[&Rows], components: usize) -> Result<(Vec<Rows>, usize)> {
    let components = components
        .min(train.dim)
        .min(train.len().saturating_sub(1))
        .max(1);
    let pca = PCA::fit(
        &matrix(train)?,
        PCAParameters::default().with_n_components(components),
    )
    .map_err(|e| anyhow!("PCA: {e}"))?;
    let tables = std::iter::once(train)
        .chain(others.iter().copied())
        .map(|rows| {
            let projected = pca
                .transform(&matrix(rows)?)
                .map_err(|e| anyhow!("PCA: {e}"))?;
            let mut out = Rows::new(components);
            for (i, labels) in rows.labels.iter().enumerate() {
                let row: Vec<f32> = (0..components)
                    .map(|j| *projected.get((i, j)) as f32)
                    .collect();
                out.push(&row, *labels);
            }
            Ok(out)
        })
        .collect::<Result<Vec<Rows>>>()?;
    Ok((tables, components))
}

fn matrix(rows: &Rows) -> Result<DenseMatrix<f64>> {
    DenseMatrix::new(
        rows.len(),
        rows.dim,
        rows.x.iter().map(|&v| f64::from(v)).collect(),
        false,
    )
    .map_err(|e| anyhow!("building a matrix: {e}"))
}

/// Genre `g`'s known labels as 0/1 with the indices of the rows that have one.
fn known(rows: &Rows, g: usize) -> (Vec<usize>, Vec<i32>) {
    rows.labels
        .iter()
        .enumerate()
        .filter_map(|(i, l)| l[g].map(|l| (i, i32::from(l))))
        .unzip()
}

/// Per genre, in parallel: `fit_genre(g)` gives a column of scores per scored table; the
/// columns are assembled into rows. A genre without both classes in training scores 0.
fn per_genre(
    tables: &[&Rows],
    fit_genre: impl Fn(usize) -> Result<Option<Vec<Vec<f32>>>> + Sync,
) -> Result<Tables> {
    let columns = (0..NUM_GENRES)
        .into_par_iter()
        .map(&fit_genre)
        .collect::<Result<Vec<_>>>()?;
    Ok(tables
        .iter()
        .enumerate()
        .map(|(t, table)| {
            (0..table.len())
                .map(|i| {
                    columns
                        .iter()
                        .map(|c| c.as_ref().map_or(0.0, |c| c[t][i]))
                        .collect()
                })
                .collect()
        })
        .collect())
}

fn both_classes(y: &[i32]) -> bool {
    y.contains(&0) && y.contains(&1)
}

fn sigmoid(x: f64) -> f32 {
    (1.0 / (1.0 + (-x).exp())) as f32
}

/// One RBF SVM per genre on standardised embeddings; scores are the decision values through a
/// sigmoid (monotone, so ROC-AUC and tuned thresholds are those of the decision values).
fn svm(train: &Rows, valid: &Rows, test: &Rows, balanced: bool, seed: u64) -> Result<ValidAndTest> {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut subset: Vec<usize> = (0..train.len()).collect();
    subset.shuffle(&mut rng);
    subset.truncate(SVM_POSTERS);
    let train = train.select(&subset);
    let standard = Standardisation::of(&train);
    let (projected, _) = pca_project(
        &standard.apply(&train),
        &[&standard.apply(valid), &standard.apply(test)],
        SVM_COMPONENTS,
    )?;
    let (train, scored) = (&projected[0], &projected[1..]);
    let tables: Vec<&Rows> = scored.iter().collect();
    let gamma = 1.0 / train.dim as f64;
    let mut out = per_genre(&tables, |g| {
        let (mut index, mut y) = known(train, g);
        if balanced {
            (index, y) = undersample(&index, &y, seed + g as u64);
        }
        // smartcore's solver reads only the first n values of a row when it has n < dim
        // training rows: such a genre is left unscored rather than fitted wrongly.
        if !both_classes(&y) || y.len() <= train.dim {
            return Ok(None);
        }
        let x = matrix(&train.select(&index))?;
        let parameters = SVCParameters::default()
            .with_c(1.0)
            .with_kernel(Kernels::rbf().with_gamma(gamma));
        let started = Instant::now();
        let model = SVC::fit(&x, &y, &parameters).map_err(|e| anyhow!("SVM: {e}"))?;
        eprintln!(
            "    {}: {} rows, fitted in {:.0} s",
            onesheet::GENRES[g].name,
            y.len(),
            started.elapsed().as_secs_f64()
        );
        let columns = tables
            .iter()
            .map(|t| {
                let m = matrix(t)?;
                Ok(model
                    .decision_function(&m)
                    .map_err(|e| anyhow!("SVM: {e}"))?
                    .into_iter()
                    .map(sigmoid)
                    .collect())
            })
            .collect::<Result<Vec<Vec<f32>>>>()?;
        Ok(Some(columns))
    })?;
    let test = out.pop().unwrap_or_default();
    let valid = out.pop().unwrap_or_default();
    Ok((valid, test))
}

/// All positives and as many negatives, drawn at random (or all when fewer).
fn undersample(index: &[usize], y: &[i32], seed: u64) -> (Vec<usize>, Vec<i32>) {
    let positives = y.iter().filter(|&&v| v == 1).count();
    let mut negatives: Vec<usize> = (0..y.len()).filter(|&i| y[i] == 0).collect();
    negatives.shuffle(&mut StdRng::seed_from_u64(seed));
    negatives.truncate(positives);
    let keep: Vec<usize> = (0..y.len())
        .filter(|&i| y[i] == 1)
        .chain(negatives)
        .collect();
    (
        keep.iter().map(|&i| index[i]).collect(),
        keep.iter().map(|&i| y[i]).collect(),
    )
}

fn knn(train: &Rows, tables: &[&Rows], _seed: u64) -> Result<Tables> {
    per_genre(tables, |g| {
        let (index, y) = known(train, g);
        if !both_classes(&y) {
            return Ok(None);
        }
        let x = matrix(&train.select(&index))?;
        let model = KNNClassifier::fit(&x, &y, KNNClassifierParameters::default().with_k(25))
            .map_err(|e| anyhow!("k-NN: {e}"))?;
        let columns = tables
            .iter()
            .map(|t| {
                let proba = model
                    .predict_proba(&matrix(t)?)
                    .map_err(|e| anyhow!("k-NN: {e}"))?;
                // Columns follow the sorted classes: [0, 1].
                Ok(proba
                    .into_iter()
                    .map(|p| p.as_slice().get(1).copied().unwrap_or(0.0) as f32)
                    .collect())
            })
            .collect::<Result<Vec<Vec<f32>>>>()?;
        Ok(Some(columns))
    })
}

fn logistic(train: &Rows, tables: &[&Rows], _seed: u64) -> Result<Tables> {
    per_genre(tables, |g| {
        let (index, y) = known(train, g);
        if !both_classes(&y) {
            return Ok(None);
        }
        let x = matrix(&train.select(&index))?;
        let model = LogisticRegression::fit(
            &x,
            &y,
            LogisticRegressionParameters::default().with_alpha(1.0),
        )
        .map_err(|e| anyhow!("logistic regression: {e}"))?;
        let (w, b) = (model.coefficients(), *model.intercept().get((0, 0)));
        let columns = tables
            .iter()
            .map(|t| {
                (0..t.len())
                    .map(|i| {
                        let z: f64 = t
                            .row(i)
                            .iter()
                            .enumerate()
                            .map(|(j, &v)| f64::from(v) * *w.get((0, j)))
                            .sum();
                        sigmoid(z + b)
                    })
                    .collect()
            })
            .collect();
        Ok(Some(columns))
    })
}

/// A regression forest on 0/1 targets: its prediction is the share of positives in the
/// leaves, a probability, where smartcore's classification forest only votes.
fn forest(train: &Rows, tables: &[&Rows], seed: u64) -> Result<Tables> {
    per_genre(tables, |g| {
        let (index, y) = known(train, g);
        if !both_classes(&y) {
            return Ok(None);
        }
        let x = matrix(&train.select(&index))?;
        let y: Vec<f64> = y.into_iter().map(f64::from).collect();
        let parameters = RandomForestRegressorParameters::default()
            .with_n_trees(100)
            .with_min_samples_leaf(5)
            .with_max_depth(16)
            .with_seed(seed + g as u64);
        let model = RandomForestRegressor::fit(&x, &y, parameters)
            .map_err(|e| anyhow!("random forest: {e}"))?;
        let columns = tables
            .iter()
            .map(|t| {
                Ok(model
                    .predict(&matrix(t)?)
                    .map_err(|e| anyhow!("random forest: {e}"))?
                    .into_iter()
                    .map(|p| p as f32)
                    .collect())
            })
            .collect::<Result<Vec<Vec<f32>>>>()?;
        Ok(Some(columns))
    })
}
