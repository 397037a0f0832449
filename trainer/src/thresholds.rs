//! Per-genre decisions: the thresholds tuned on validation scores, and the one rule that
//! turns scores into genres ([`Prediction::decide`], shared with every face).

use onesheet::GENRES;
use onesheet::prediction::Prediction;

use crate::dataset::Labels;
use crate::evaluation::metrics::best_f1_threshold;

/// Each genre's F1-best threshold for `scores` (a row per poster, a column per genre).
pub fn tune_thresholds(scores: &[Vec<f32>], labels: &[Labels]) -> Vec<f32> {
    (0..GENRES.len())
        .map(|g| {
            let s: Vec<f32> = scores.iter().map(|r| r[g]).collect();
            let l: Vec<Option<bool>> = labels.iter().map(|l| l[g]).collect();
            best_f1_threshold(&s, &l).0
        })
        .collect()
}

/// Per-genre decisions for rows of scores, by the rule every face applies.
pub fn decisions_of(scores: &[Vec<f32>], thresholds: &[f32]) -> Vec<Vec<bool>> {
    scores
        .iter()
        .map(|s| Prediction::decide(s.clone(), thresholds).decisions())
        .collect()
}
