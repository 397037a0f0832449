//! The levers `onesheet levers` measures: today's recipe, each change alone on top of it, then
//! the changes on the best head found.

use crate::training::head_inputs::Inputs;
use crate::training::probe::{Loss, ProbeConfig};

use super::Pooling;

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

pub(super) fn decade_slot(year: onesheet::Year) -> usize {
    let (first, last) = (*DECADES.start(), *DECADES.end());
    usize::from((year.decade().clamp(first, last) - first) / 10)
}

pub(super) const DECADE_SLOTS: usize = (*DECADES.end() - *DECADES.start()) as usize / 10 + 1;

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
