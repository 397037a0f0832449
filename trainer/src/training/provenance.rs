//! What a trained bundle says of itself: the recipe in words, the command that makes it
//! again, and the validation figures.

use std::fmt::Write as _;

use onesheet::bundle::Provenance;
use onesheet::files::write;
use onesheet::pretrained;

use crate::evaluation::metrics::Summary;
use crate::split::FRACTIONS;
use crate::training::Prepared;
use crate::training::fit::StageLog;
use crate::training::recipe::Recipe;
use crate::training::year_prior::YearFit;

/// The provenance of a bundle trained by `recipe` on `prepared` with `seed`.
pub fn provenance(
    prepared: &Prepared,
    recipe: &Recipe,
    seed: u64,
    stages: &[StageLog],
    year: Option<&YearFit>,
    validation: &Summary,
    with_year: Option<&Summary>,
) -> Provenance {
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
        recipe: recipe_text(recipe.size, seed, stages, year),
        command: Some(recipe.command()),
        metrics: [
            (
                "validation_macro_roc_auc",
                validation.macro_auc.unwrap_or(f64::NAN),
            ),
            ("validation_micro_f1", validation.micro_f1),
            ("validation_macro_f1", validation.macro_f1),
        ]
        .into_iter()
        .chain(with_year.iter().flat_map(|with| {
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
    }
}

/// Which part of the backbone the fine-tuning stage trained, in words.
pub fn trained_blocks(from: usize) -> String {
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
fn recipe_text(size: (u32, u32), seed: u64, stages: &[StageLog], year: Option<&YearFit>) -> String {
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
