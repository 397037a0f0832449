//! `onesheet levers`: what each change to the head's inputs and training does on the
//! validation posters, measured one at a time against today's recipe with in-memory probes
//! ([`crate::training::probe`]) on the feature cache. The results go to `work/levers.json`,
//! which the report's "what we tried" table reads.

use std::path::Path;

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

use crate::colour;
use crate::dataset::{Collection, Labels};
use crate::evaluation::metrics::Summary;
use crate::features::{STAGE_FEATURES, VIEWS};
use crate::split::Part;
use crate::thresholds::{decisions_of, tune_thresholds};
use crate::training::Prepared;
use crate::training::probe::{self, Loss, ProbeConfig, Rows};
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
    /// How it trains.
    pub config: ProbeConfig,
    /// Whether the training rows include each poster's mirror image.
    pub mirrored: bool,
}

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
}

/// Today's recipe, each lever alone on top of it, then the levers on the best head found.
pub fn standard() -> Vec<Lever> {
    let base = ProbeConfig::default();
    let lever = |name, inputs, config| Lever {
        name,
        inputs,
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
}

/// Runs `levers` and writes their results to `out`.
pub fn run(prepared: &Prepared, levers: &[Lever], out: &Path) -> Result<Vec<LeverResult>> {
    let mut results = Vec::new();
    for lever in levers {
        eprintln!("lever: {} …", lever.name);
        let train = lever.inputs.rows(prepared, Part::Train, lever.mirrored);
        let valid = lever.inputs.rows(prepared, Part::Validation, false);
        let (probe, log) = probe::fit(&train, &valid, &lever.config)
            .with_context(|| format!("training lever {}", lever.name))?;
        let scores = probe.scores(&valid);
        let result = measure(
            prepared,
            lever,
            &scores,
            &valid,
            log.seconds,
            log.best_epochs,
        );
        eprintln!(
            "  1980–2015 macro ROC-AUC {:.4}, micro F1 {:.4}; pre-1980 {:.4}, {:.4}; {:.0} s",
            result.posters_macro_auc,
            result.posters_micro_f1,
            result.vintage_macro_auc,
            result.vintage_micro_f1,
            result.seconds
        );
        results.push(result);
        write::atomic(out, &serde_json::to_vec_pretty(&results)?)?;
    }
    Ok(results)
}

fn measure(
    prepared: &Prepared,
    lever: &Lever,
    scores: &[Vec<f32>],
    valid: &Rows,
    seconds: f64,
    best_epochs: Vec<usize>,
) -> LeverResult {
    let thresholds = tune_thresholds(scores, &valid.labels);
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
        let l: Vec<Labels> = pick.iter().map(|&i| valid.labels[i]).collect();
        Summary::new(&s, &d, &l)
    };
    let (posters, vintage) = (of(Collection::Posters), of(Collection::Vintage));
    LeverResult {
        name: lever.name.to_string(),
        inputs: lever.inputs.describe(),
        settings: format!(
            "{}{}",
            lever.config.summary(),
            if lever.mirrored {
                ""
            } else {
                ", no mirrored copies"
            }
        ),
        posters_macro_auc: posters.macro_auc.unwrap_or(f64::NAN),
        posters_micro_f1: posters.micro_f1,
        vintage_macro_auc: vintage.macro_auc.unwrap_or(f64::NAN),
        vintage_micro_f1: vintage.micro_f1,
        seconds,
        best_epochs,
    }
}
