//! Validation figures per collection for a head's scores, as one row: what the levers measure
//! and what a fine-tuning run reports beside them.

use serde::{Deserialize, Serialize};

use crate::dataset::{Collection, Labels};
use crate::evaluation::metrics::Summary;
use crate::split::Part;
use crate::thresholds::{decisions_of, tune_thresholds};
use crate::training::Prepared;

/// A head's validation figures per collection (thresholds tuned on the same posters, so
/// optimistic, equally for every head): a row of the levers' table, which a fine-tuning run
/// joins too.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ValidationRow {
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

/// The figures of `scores` for the validation posters (in [`Prepared::rows`] order) per
/// collection, thresholds tuned on them; the caller names the row.
pub fn validation_figures(
    prepared: &Prepared,
    scores: &[Vec<f32>],
    labels: &[Labels],
) -> ValidationRow {
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
    ValidationRow {
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
