//! Fitting the bundle's [`YearPrior`]: for each decade and genre, the offset to the model's
//! logit that best explains the training posters' labels given the final model's scores.
//!
//! Each offset is a one-parameter logistic regression (the model's logit as a fixed offset),
//! solved by Newton's method with an L2 penalty that pulls sparse decades towards no change.
//! The penalty's strength is chosen by the validation posters' log loss, so a decade only moves
//! the scores as far as held-out posters agree; the thresholds used with a year are then tuned
//! on validation like the image model's own.

use onesheet::genres::NUM_GENRES;
use onesheet::{Year, YearPrior};
use serde::{Deserialize, Serialize};

use crate::dataset::Labels;
use crate::thresholds::tune_thresholds;

/// Penalty strengths tried (in units of posters' worth of evidence for "no change").
const PENALTIES: [f64; 10] = [0.1, 0.3, 1.0, 3.0, 10.0, 30.0, 100.0, 300.0, 1000.0, 3000.0];
/// Offsets are kept within this (far inside what a bundle may hold).
const LIMIT: f64 = 6.0;

/// Posters' model scores, labels and years: one part of the split.
pub struct Scored<'a> {
    /// Per poster, the image model's score per genre.
    pub scores: &'a [Vec<f32>],
    /// Per poster, its labels.
    pub labels: &'a [Labels],
    /// Per poster, its release year.
    pub years: &'a [Year],
}

/// How the prior was chosen, for the run log and the report.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct YearFit {
    /// The penalty chosen.
    pub penalty: f64,
    /// Validation log loss per known label, without the year.
    pub valid_loss_without: f64,
    /// Validation log loss per known label, with the prior.
    pub valid_loss_with: f64,
    /// Decades covered, first and last.
    pub decades: (u16, u16),
}

/// Fits the prior on `train`, choosing its penalty and tuning its thresholds on `valid`.
/// `None` when the training posters span a single decade (there is nothing to learn).
pub fn fit(train: &Scored<'_>, valid: &Scored<'_>) -> Option<(YearPrior, YearFit)> {
    let first = train.years.iter().map(|y| y.decade()).min()?;
    let last = train.years.iter().map(|y| y.decade()).max()?;
    if first == last {
        return None;
    }
    let without = log_loss(valid.scores, valid.labels);
    let (penalty, offsets, with) = PENALTIES
        .iter()
        .map(|&penalty| {
            let offsets = offsets(train, first, last, penalty);
            let prior = YearPrior {
                first_decade: first,
                offsets: offsets.clone(),
                thresholds: vec![0.5; NUM_GENRES],
            };
            let loss = log_loss(&applied(&prior, valid), valid.labels);
            (penalty, offsets, loss)
        })
        .min_by(|a, b| a.2.total_cmp(&b.2))?;
    let mut prior = YearPrior {
        first_decade: first,
        offsets,
        thresholds: Vec::new(),
    };
    prior.thresholds = tune_thresholds(&applied(&prior, valid), valid.labels);
    Some((
        prior,
        YearFit {
            penalty,
            valid_loss_without: without,
            valid_loss_with: with,
            decades: (first, last),
        },
    ))
}

/// Each poster's scores moved by its year, as every face moves them.
pub fn applied(prior: &YearPrior, part: &Scored<'_>) -> Vec<Vec<f32>> {
    part.scores
        .iter()
        .zip(part.years)
        .map(|(scores, &year)| prior.apply(scores, year))
        .collect()
}

/// Per decade from `first` to `last`, per genre: the penalised maximum-likelihood offset.
fn offsets(train: &Scored<'_>, first: u16, last: u16, penalty: f64) -> Vec<Vec<f32>> {
    let decades = usize::from((last - first) / 10) + 1;
    // Per decade and genre, the known (logit, label) pairs.
    let mut cells: Vec<Vec<Vec<(f64, bool)>>> = vec![vec![Vec::new(); NUM_GENRES]; decades];
    for ((scores, labels), year) in train.scores.iter().zip(train.labels).zip(train.years) {
        let d = usize::from((year.decade().clamp(first, last) - first) / 10);
        for (g, (&score, label)) in scores.iter().zip(labels).enumerate() {
            if let Some(label) = *label {
                cells[d][g].push((logit(score), label));
            }
        }
    }
    cells
        .iter()
        .map(|genres| {
            genres
                .iter()
                .map(|pairs| offset(pairs, penalty) as f32)
                .collect()
        })
        .collect()
}

/// Minimises Σ log-loss(σ(zᵢ + b), yᵢ) + penalty·b²/2 over b (convex: Newton converges).
fn offset(pairs: &[(f64, bool)], penalty: f64) -> f64 {
    let mut b = 0.0f64;
    for _ in 0..50 {
        let (mut gradient, mut curvature) = (penalty * b, penalty);
        for &(z, y) in pairs {
            let p = sigmoid(z + b);
            gradient += p - f64::from(u8::from(y));
            curvature += p * (1.0 - p);
        }
        let step = gradient / curvature;
        b = (b - step).clamp(-LIMIT, LIMIT);
        if step.abs() < 1e-9 {
            break;
        }
    }
    b
}

/// Mean binary log loss over the known labels.
pub fn log_loss(scores: &[Vec<f32>], labels: &[Labels]) -> f64 {
    let (mut total, mut count) = (0.0, 0usize);
    for (row, labels) in scores.iter().zip(labels) {
        for (&score, label) in row.iter().zip(labels) {
            if let Some(label) = *label {
                let p = f64::from(score).clamp(1e-7, 1.0 - 1e-7);
                total -= if label { p.ln() } else { (1.0 - p).ln() };
                count += 1;
            }
        }
    }
    total / count.max(1) as f64
}

fn logit(score: f32) -> f64 {
    let p = f64::from(score).clamp(1e-7, 1.0 - 1e-7);
    (p / (1.0 - p)).ln()
}

fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn year(y: i64) -> Year {
        Year::new(y).unwrap_or_else(|e| panic!("{e}"))
    }

    /// Posters whose image model scores every genre 0.2, while genre 0 is positive in 60% of
    /// 1950s posters and 10% of 1990s ones, and genre 1 in 20% of both.
    fn part(n: usize) -> (Vec<Vec<f32>>, Vec<Labels>, Vec<Year>) {
        let mut scores = Vec::new();
        let mut labels = Vec::new();
        let mut years = Vec::new();
        for i in 0..n {
            let fifties = i % 2 == 0;
            let mut l: Labels = [Some(false); NUM_GENRES];
            let k = i / 2 % 10;
            l[0] = Some(if fifties { k < 6 } else { k < 1 });
            l[1] = Some(k < 2);
            l[2] = None;
            scores.push(vec![0.2; NUM_GENRES]);
            labels.push(l);
            years.push(year(if fifties { 1955 } else { 1995 }));
        }
        (scores, labels, years)
    }

    #[test]
    fn offsets_recover_each_decades_rate_and_help_held_out_posters() {
        let (scores, labels, years) = part(2000);
        let train = Scored {
            scores: &scores,
            labels: &labels,
            years: &years,
        };
        let (prior, fit) = fit(&train, &train).unwrap_or_else(|| panic!("no prior fitted"));
        assert_eq!(prior.first_decade, 1950);
        assert_eq!(prior.offsets.len(), 5);
        assert!(fit.valid_loss_with < fit.valid_loss_without);
        let fifties = prior.apply(&scores[0], year(1958));
        let nineties = prior.apply(&scores[1], year(1991));
        assert!((fifties[0] - 0.6).abs() < 0.02, "{}", fifties[0]);
        assert!((nineties[0] - 0.1).abs() < 0.02, "{}", nineties[0]);
        // Genre 1's rate is what the model already says: it barely moves.
        assert!((fifties[1] - 0.2).abs() < 0.01, "{}", fifties[1]);
        // No poster from the 1960s–80s: no evidence, no change.
        assert!(prior.offsets[2].iter().all(|o| *o == 0.0));
        assert!(prior.validate().is_ok());
    }

    #[test]
    fn one_decade_has_nothing_to_learn() {
        let (scores, labels, _) = part(10);
        let years = vec![year(1984); 10];
        let part = Scored {
            scores: &scores,
            labels: &labels,
            years: &years,
        };
        assert!(fit(&part, &part).is_none());
    }

    #[test]
    fn a_strong_penalty_keeps_offsets_near_zero() {
        let pairs: Vec<(f64, bool)> = (0..10).map(|i| (0.0, i < 9)).collect();
        assert!(offset(&pairs, 0.0) > 2.0);
        assert!(offset(&pairs, 1e6).abs() < 1e-4);
    }
}
