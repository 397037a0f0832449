//! `onesheet levers`: what each change to the head's inputs and training does on the
//! validation posters, measured one at a time against today's recipe with in-memory probes
//! ([`crate::training::probe`]) on the feature cache. The results go to `work/levers.json`,
//! which the report's "what we tried" table reads.

mod pooling;

pub use pooling::{MapPools, Pooling};

use std::fmt::Write as _;
use std::path::Path;

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};

use crate::colour;
use crate::dataset::{Collection, Labels};
use crate::evaluation::metrics::Summary;
use crate::features::{STAGE_FEATURES, VIEWS};
use crate::split::Part;
use crate::thresholds::{decisions_of, tune_thresholds};
use crate::training::Prepared;
use crate::training::probe::{self, Loss, ProbeConfig, Rows};
use crate::training::year_prior::{self, Scored};
use crate::write;

/// Which cached features a head reads, side by side.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Inputs {
    /// The 1280-d pooled embedding.
    pub pooled: bool,
    /// The pooled outputs of each stage's last block.
    pub stages: bool,
    /// Colour and layout statistics of the thumbnail.
    pub colour: bool,
}

impl Inputs {
    /// The product's head: the embedding alone.
    pub const EMBEDDING: Self = Self {
        pooled: true,
        stages: false,
        colour: false,
    };

    /// Values per row.
    pub fn dim(self) -> usize {
        usize::from(self.pooled) * onesheet::model::FEATURES
            + usize::from(self.stages) * STAGE_FEATURES
            + usize::from(self.colour) * colour::STATS
    }

    /// In words, for the report.
    pub fn describe(self) -> String {
        let mut parts = Vec::new();
        if self.pooled {
            parts.push("1280-d embedding");
        }
        if self.stages {
            parts.push("pooled outputs of the 7 stages (712)");
        }
        if self.colour {
            parts.push("colour and layout statistics (34)");
        }
        parts.join(" + ")
    }

    /// The rows of `part` (each poster as is, and mirrored too when `all_views`).
    pub fn rows(self, prepared: &Prepared, part: Part, all_views: bool) -> Rows {
        let features = &prepared.features;
        let mut rows = Rows::new(self.dim());
        let mut row = Vec::with_capacity(self.dim());
        for (i, labels) in prepared.rows(part, None) {
            for view in 0..if all_views { VIEWS } else { 1 } {
                row.clear();
                if self.pooled {
                    row.extend_from_slice(features.pooled(i, view));
                }
                if self.stages {
                    row.extend_from_slice(features.stages(i, view));
                }
                if self.colour {
                    row.extend(colour::stats(
                        features.thumb(i),
                        features.thumb_shape,
                        view == 1,
                    ));
                }
                rows.push(&row, labels);
            }
        }
        rows
    }
}

/// One thing tried.
#[derive(Debug, Clone)]
pub struct Lever {
    /// Short name.
    pub name: &'static str,
    /// What the head reads.
    pub inputs: Inputs,
    /// How the embedding part of `inputs` is pooled from the feature map.
    pub pooling: Pooling,
    /// What the head makes of the release year.
    pub year: YearUse,
    /// How it trains.
    pub config: ProbeConfig,
    /// Whether the training rows include each poster's mirror image.
    pub mirrored: bool,
}

/// What a lever does with a poster's release year; measured with it as well as without where
/// it uses it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum YearUse {
    /// Not at all.
    Ignored,
    /// The product's per-decade logit offsets, fitted on the head's training scores.
    Prior,
    /// The decade one-hot as extra head inputs, every training row seen with and without it
    /// (so the head works without one), and the prior on top.
    DecadeInput,
}

/// Decades a [`YearUse::DecadeInput`] head tells apart; earlier and later years count as the
/// first and last.
const DECADES: std::ops::RangeInclusive<u16> = 1910..=2010;

fn decade_slot(year: onesheet::Year) -> usize {
    let (first, last) = (*DECADES.start(), *DECADES.end());
    usize::from((year.decade().clamp(first, last) - first) / 10)
}

const DECADE_SLOTS: usize = (*DECADES.end() - *DECADES.start()) as usize / 10 + 1;

/// A lever's validation figures (thresholds tuned on the same posters, so optimistic, equally
/// for every lever).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LeverResult {
    /// Short name.
    pub name: String,
    /// What the head read.
    pub inputs: String,
    /// How it trained.
    pub settings: String,
    /// Macro ROC-AUC, 1980–2015 validation posters.
    pub posters_macro_auc: f64,
    /// Micro F1, 1980–2015 validation posters.
    pub posters_micro_f1: f64,
    /// Macro ROC-AUC, pre-1980 validation posters.
    pub vintage_macro_auc: f64,
    /// Micro F1, pre-1980 validation posters.
    pub vintage_micro_f1: f64,
    /// Training wall time.
    pub seconds: f64,
    /// Kept epoch of each member.
    pub best_epochs: Vec<usize>,
    /// Macro ROC-AUC, 1980–2015 validation posters, given each poster's year (levers that use
    /// it).
    #[serde(default)]
    pub posters_macro_auc_with_year: Option<f64>,
    /// Macro ROC-AUC, pre-1980 validation posters, given each poster's year.
    #[serde(default)]
    pub vintage_macro_auc_with_year: Option<f64>,
}

/// Today's recipe, each lever alone on top of it, then the levers on the best head found.
pub fn standard() -> Vec<Lever> {
    let base = ProbeConfig::default();
    let lever = |name, inputs, config| Lever {
        name,
        inputs,
        pooling: Pooling::Mean,
        year: YearUse::Ignored,
        config,
        mirrored: true,
    };
    let stages = Inputs {
        stages: true,
        ..Inputs::EMBEDDING
    };
    let colour = Inputs {
        colour: true,
        ..Inputs::EMBEDDING
    };
    let all = Inputs {
        pooled: true,
        stages: true,
        colour: true,
    };
    let mlp = |hidden: usize, dropout: f64| ProbeConfig {
        hidden: vec![hidden],
        dropout,
        ..base.clone()
    };
    let regularised = ProbeConfig {
        learning_rate: 3e-4,
        dropout: 0.6,
        weight_decay: 1e-1,
        ..base.clone()
    };
    vec![
        lever("today's head", Inputs::EMBEDDING, base.clone()),
        Lever {
            mirrored: false,
            ..lever("without mirrored copies", Inputs::EMBEDDING, base.clone())
        },
        lever("+ stage features", stages, base.clone()),
        lever("+ colour and layout", colour, base.clone()),
        lever("+ both", all, base.clone()),
        lever(
            "stronger regularisation",
            Inputs::EMBEDDING,
            ProbeConfig {
                dropout: 0.6,
                weight_decay: 1e-1,
                ..base.clone()
            },
        ),
        lever(
            "stronger regularisation, lr 3e-4",
            Inputs::EMBEDDING,
            regularised.clone(),
        ),
        lever(
            "label smoothing",
            Inputs::EMBEDDING,
            ProbeConfig {
                label_smoothing: 0.1,
                ..base.clone()
            },
        ),
        lever(
            "mixup on features",
            Inputs::EMBEDDING,
            ProbeConfig {
                mixup: 0.5,
                ..base.clone()
            },
        ),
        lever(
            "focal loss",
            Inputs::EMBEDDING,
            ProbeConfig {
                loss: Loss::Focal { gamma: 2.0 },
                ..base.clone()
            },
        ),
        lever(
            "asymmetric loss",
            Inputs::EMBEDDING,
            ProbeConfig {
                loss: Loss::Asymmetric {
                    gamma_neg: 4.0,
                    clip: 0.05,
                },
                ..base.clone()
            },
        ),
        lever(
            "ensemble of 5 heads",
            Inputs::EMBEDDING,
            ProbeConfig {
                ensemble: 5,
                ..base.clone()
            },
        ),
        lever("MLP head, 512 hidden", Inputs::EMBEDDING, mlp(512, 0.5)),
        lever("MLP head, 128 hidden", Inputs::EMBEDDING, mlp(128, 0.5)),
        lever(
            "MLP head, 256 hidden, dropout 0.6",
            Inputs::EMBEDDING,
            mlp(256, 0.6),
        ),
        lever(
            "MLP head, 128 hidden, dropout 0.6",
            Inputs::EMBEDDING,
            mlp(128, 0.6),
        ),
        lever(
            "MLP head, 2 × 128 hidden, dropout 0.6",
            Inputs::EMBEDDING,
            ProbeConfig {
                ensemble: 2,
                ..mlp(128, 0.6)
            },
        ),
        lever("MLP 512 + stage features", stages, mlp(512, 0.5)),
        lever("MLP 512 + stages, colour, layout", all, mlp(512, 0.5)),
        lever(
            "MLP 512 + mixup",
            Inputs::EMBEDDING,
            ProbeConfig {
                mixup: 0.5,
                ..mlp(512, 0.5)
            },
        ),
        lever(
            "MLP 512, ensemble of 3",
            Inputs::EMBEDDING,
            ProbeConfig {
                ensemble: 3,
                ..mlp(512, 0.5)
            },
        ),
        lever(
            "regularised linear + stages, colour, layout, ensemble of 5",
            all,
            ProbeConfig {
                ensemble: 5,
                ..regularised
            },
        ),
    ]
    .into_iter()
    .chain(
        [
            ("MLP 128, max pooling", Pooling::Max),
            ("MLP 128, GeM pooling", Pooling::Gem),
            ("MLP 128, mean + max pooling", Pooling::MeanMax),
            ("MLP 128, mean + GeM pooling", Pooling::MeanGem),
            ("MLP 128, mean + halves pooling", Pooling::MeanHalves),
        ]
        .map(|(name, pooling)| Lever {
            pooling,
            ..lever(name, Inputs::EMBEDDING, mlp(128, 0.6))
        }),
    )
    .chain([
        Lever {
            year: YearUse::Prior,
            ..lever(
                "MLP 128 + the year's prior (the shipped head before fine-tuning)",
                Inputs::EMBEDDING,
                mlp(128, 0.6),
            )
        },
        Lever {
            year: YearUse::DecadeInput,
            ..lever(
                "MLP 128 + decade as an input + the prior",
                Inputs::EMBEDDING,
                mlp(128, 0.6),
            )
        },
    ])
    .collect()
}

/// What a lever's head reads for `part`: one row per poster as is (and mirrored when
/// `all_views`), each once without the year and, for a [`YearUse::DecadeInput`] lever with
/// `with_year`, the training rows again with it (so the head learns to do without).
fn lever_rows(
    prepared: &Prepared,
    maps: Option<&MapPools>,
    lever: &Lever,
    part: Part,
    all_views: bool,
    year: YearRows,
) -> Result<Rows> {
    let cached = Inputs {
        pooled: lever.inputs.pooled && lever.pooling == Pooling::Mean,
        ..lever.inputs
    };
    let pooled = lever.inputs.pooled && lever.pooling != Pooling::Mean;
    let decades = lever.year == YearUse::DecadeInput;
    let maps = match (pooled, maps) {
        (true, None) => bail!("lever {} needs the feature maps", lever.name),
        (_, maps) => maps,
    };
    let base = cached.rows(prepared, part, all_views);
    let dim =
        base.dim + usize::from(pooled) * lever.pooling.dim() + usize::from(decades) * DECADE_SLOTS;
    let mut rows = Rows::new(dim);
    let views = if all_views { VIEWS } else { 1 };
    let mut row = Vec::with_capacity(dim);
    for (k, (i, labels)) in prepared.rows(part, None).into_iter().enumerate() {
        for view in 0..views {
            let passes: &[bool] = match (decades, year) {
                (false, _) | (true, YearRows::Without) => &[false],
                (true, YearRows::With) => &[true],
                (true, YearRows::Both) => &[false, true],
            };
            for &with_year in passes {
                row.clear();
                row.extend_from_slice(base.row(k * views + view));
                if let (true, Some(maps)) = (pooled, maps) {
                    maps.extend(&mut row, i, view, lever.pooling);
                }
                if decades {
                    let mut slots = [0f32; DECADE_SLOTS];
                    if with_year {
                        slots[decade_slot(prepared.dataset.posters[i].year)] = 1.0;
                    }
                    row.extend_from_slice(&slots);
                }
                rows.push(&row, labels);
            }
        }
    }
    Ok(rows)
}

/// What `lever`'s head reads, in words.
fn describe_inputs(lever: &Lever) -> String {
    let mut text = lever.inputs.describe();
    if lever.pooling != Pooling::Mean {
        text = text.replacen("1280-d embedding", lever.pooling.describe(), 1);
    }
    if lever.year == YearUse::DecadeInput {
        let _ = write!(text, " + decade one-hot ({DECADE_SLOTS})");
    }
    text
}

/// Which rows a year-reading lever gets.
#[derive(Debug, Clone, Copy)]
enum YearRows {
    Without,
    With,
    Both,
}

/// Runs `levers` and writes their results to `out`, in place of earlier results of the same
/// names (others already there are kept, so a few levers can be run again alone).
pub fn run(prepared: &Prepared, levers: &[Lever], out: &Path) -> Result<Vec<LeverResult>> {
    let mut results = load(out);
    let maps = if levers
        .iter()
        .any(|l| l.inputs.pooled && l.pooling != Pooling::Mean)
    {
        Some(MapPools::compute(prepared)?)
    } else {
        None
    };
    for lever in levers {
        eprintln!("lever: {} …", lever.name);
        let rows = |part, all_views, year| {
            lever_rows(prepared, maps.as_ref(), lever, part, all_views, year)
        };
        let train = rows(Part::Train, lever.mirrored, YearRows::Both)?;
        let valid = rows(Part::Validation, false, YearRows::Without)?;
        let (mut result, probe) = evaluate_rows(prepared, lever, &train, &valid)?;
        if lever.year != YearUse::Ignored {
            let (posters, vintage) = with_year(
                prepared,
                &probe,
                &rows(Part::Train, false, YearRows::With)?,
                &rows(Part::Validation, false, YearRows::With)?,
            );
            result.posters_macro_auc_with_year = Some(posters);
            result.vintage_macro_auc_with_year = Some(vintage);
        }
        eprintln!(
            "  1980–2015 macro ROC-AUC {:.4}, micro F1 {:.4}; pre-1980 {:.4}, {:.4}; {:.0} s",
            result.posters_macro_auc,
            result.posters_micro_f1,
            result.vintage_macro_auc,
            result.vintage_micro_f1,
            result.seconds
        );
        results = save(out, result)?;
    }
    Ok(results)
}

/// A year lever's validation macro ROC-AUC (1980–2015, pre-1980) given each poster's year:
/// the prior fitted on its head's scores for the training posters as they are (`train_once`),
/// then applied to the validation posters' scores.
fn with_year(
    prepared: &Prepared,
    probe: &probe::Probe,
    train_once: &Rows,
    valid: &Rows,
) -> (f64, f64) {
    let years = |part| -> Vec<onesheet::Year> {
        prepared
            .rows(part, None)
            .iter()
            .map(|(i, _)| prepared.dataset.posters[*i].year)
            .collect()
    };
    let (train_years, valid_years) = (years(Part::Train), years(Part::Validation));
    let (train_scores, valid_scores) = (probe.scores(train_once), probe.scores(valid));
    let valid_part = Scored {
        scores: &valid_scores,
        labels: &valid.labels,
        years: &valid_years,
    };
    let scores = match year_prior::fit(
        &Scored {
            scores: &train_scores,
            labels: &train_once.labels,
            years: &train_years,
        },
        &valid_part,
    ) {
        Some((prior, _)) => year_prior::applied(&prior, &valid_part),
        None => valid_scores.clone(),
    };
    let figures = validation_figures(prepared, &scores, &valid.labels);
    (figures.posters_macro_auc, figures.vintage_macro_auc)
}

/// Trains `lever`'s probe on `train` and measures it on `valid` (the validation posters in
/// [`Prepared::rows`] order, one row each).
fn evaluate_rows(
    prepared: &Prepared,
    lever: &Lever,
    train: &Rows,
    valid: &Rows,
) -> Result<(LeverResult, probe::Probe)> {
    let (probe, log) = probe::fit(train, valid, &lever.config)
        .with_context(|| format!("training lever {}", lever.name))?;
    let scores = probe.scores(valid);
    let result = measure_scores(
        prepared,
        lever,
        &scores,
        valid,
        log.seconds,
        log.best_epochs,
    );
    Ok((result, probe))
}

fn measure_scores(
    prepared: &Prepared,
    lever: &Lever,
    scores: &[Vec<f32>],
    valid: &Rows,
    seconds: f64,
    best_epochs: Vec<usize>,
) -> LeverResult {
    let mut result = validation_figures(prepared, scores, &valid.labels);
    result.name = lever.name.to_string();
    result.inputs = describe_inputs(lever);
    result.settings = format!(
        "{}{}",
        lever.config.summary(),
        if lever.mirrored {
            ""
        } else {
            ", no mirrored copies"
        }
    );
    result.seconds = seconds;
    result.best_epochs = best_epochs;
    result
}

/// The figures of `scores` for the validation posters (in [`Prepared::rows`] order) per
/// collection, thresholds tuned on them; the caller names the row.
pub fn validation_figures(
    prepared: &Prepared,
    scores: &[Vec<f32>],
    labels: &[Labels],
) -> LeverResult {
    let thresholds = tune_thresholds(scores, labels);
    let decisions = decisions_of(scores, &thresholds);
    let collections: Vec<Collection> = prepared
        .rows(Part::Validation, None)
        .iter()
        .map(|(i, _)| prepared.dataset.posters[*i].collection)
        .collect();
    let of = |collection: Collection| {
        let pick: Vec<usize> = (0..collections.len())
            .filter(|&i| collections[i] == collection)
            .collect();
        let s: Vec<Vec<f32>> = pick.iter().map(|&i| scores[i].clone()).collect();
        let d: Vec<Vec<bool>> = pick.iter().map(|&i| decisions[i].clone()).collect();
        let l: Vec<Labels> = pick.iter().map(|&i| labels[i]).collect();
        Summary::new(&s, &d, &l)
    };
    let (posters, vintage) = (of(Collection::Posters), of(Collection::Vintage));
    LeverResult {
        name: String::new(),
        inputs: String::new(),
        settings: String::new(),
        posters_macro_auc_with_year: None,
        vintage_macro_auc_with_year: None,
        posters_macro_auc: posters.macro_auc.unwrap_or(f64::NAN),
        posters_micro_f1: posters.micro_f1,
        vintage_macro_auc: vintage.macro_auc.unwrap_or(f64::NAN),
        vintage_micro_f1: vintage.micro_f1,
        seconds: 0.0,
        best_epochs: Vec::new(),
    }
}

/// Writes `result` into the results at `out`, in place of one of the same name.
pub fn save(out: &Path, result: LeverResult) -> Result<Vec<LeverResult>> {
    let mut results = load(out);
    match results.iter_mut().find(|r| r.name == result.name) {
        Some(slot) => *slot = result,
        None => results.push(result),
    }
    write::atomic(out, &serde_json::to_vec_pretty(&results)?)?;
    Ok(results)
}

/// The results at `out`; none when it is missing or unreadable (a new table starts).
fn load(out: &Path) -> Vec<LeverResult> {
    std::fs::read(out)
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .unwrap_or_default()
}
