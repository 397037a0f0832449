//! Multi-label classification metrics, written out so their edge cases are explicit and tested.
//!
//! Labels are `Option<bool>`: `None` means unknown (the vintage set's source vocabulary has no
//! History or TV Movie), and an unknown label counts neither as positive nor as negative.

use onesheet::GENRES;
use serde::{Deserialize, Serialize};

use crate::dataset::Labels;

/// The (score, label) pairs whose label is known, best score first, and how many are positive.
fn known_pairs(scores: &[f32], labels: &[Option<bool>]) -> (Vec<(f32, bool)>, usize) {
    let mut known: Vec<(f32, bool)> = scores
        .iter()
        .zip(labels)
        .filter_map(|(&s, &l)| l.map(|l| (s, l)))
        .collect();
    known.sort_by(|a, b| b.0.total_cmp(&a.0));
    let positives = known.iter().filter(|(_, l)| *l).count();
    (known, positives)
}

/// Runs of equal scores in a sorted list, as `(start, end, positives in the run)`: tied items
/// cross any threshold together, so every metric here steps run by run.
fn tie_runs(known: &[(f32, bool)]) -> impl Iterator<Item = (usize, usize, usize)> + '_ {
    let mut start = 0;
    std::iter::from_fn(move || {
        let &(score, _) = known.get(start)?;
        let end = start
            + known[start..]
                .iter()
                .take_while(|(s, _)| *s == score)
                .count();
        let positives = known[start..end].iter().filter(|(_, l)| *l).count();
        let run = (start, end, positives);
        start = end;
        Some(run)
    })
}

/// Area under the ROC curve for one genre: the probability that a random positive outscores a
/// random negative, ties counting half. `None` without both a positive and a negative.
pub fn roc_auc(scores: &[f32], labels: &[Option<bool>]) -> Option<f64> {
    let (mut known, positives) = known_pairs(scores, labels);
    let negatives = known.len() - positives;
    if positives == 0 || negatives == 0 {
        return None;
    }
    // Mann–Whitney U from average ascending ranks, so tied scores share their rank.
    known.reverse();
    let rank_sum: f64 = tie_runs(&known)
        .map(|(start, end, pos)| (start + 1 + end) as f64 / 2.0 * pos as f64)
        .sum();
    let p = positives as f64;
    Some((rank_sum - p * (p + 1.0) / 2.0) / (p * negatives as f64))
}

/// Mean [`roc_auc`] over the genres that have one: a cheap macro ROC-AUC for model selection.
pub fn macro_roc_auc(scores: &[Vec<f32>], labels: &[Labels]) -> Option<f64> {
    let aucs: Vec<f64> = (0..GENRES.len())
        .filter_map(|g| {
            let s: Vec<f32> = scores.iter().map(|r| r[g]).collect();
            let l: Vec<Option<bool>> = labels.iter().map(|l| l[g]).collect();
            roc_auc(&s, &l)
        })
        .collect();
    (!aucs.is_empty()).then(|| aucs.iter().sum::<f64>() / aucs.len() as f64)
}

/// Average precision for one genre (the area under the precision–recall curve as a step sum,
/// as scikit-learn computes it). `None` without a positive.
pub fn average_precision(scores: &[f32], labels: &[Option<bool>]) -> Option<f64> {
    let (known, positives) = known_pairs(scores, labels);
    if positives == 0 {
        return None;
    }
    let (mut tp, mut ap, mut last_recall) = (0usize, 0.0, 0.0);
    for (_, end, pos) in tie_runs(&known) {
        // The first `end` items are predicted, `tp` of them rightly.
        tp += pos;
        let recall = tp as f64 / positives as f64;
        ap += (recall - last_recall) * (tp as f64 / end as f64);
        last_recall = recall;
    }
    Some(ap)
}

/// True/false positives and negatives of one genre at a threshold (`score >= threshold`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// Predicted and true.
    pub tp: usize,
    /// Predicted, not true.
    pub fp: usize,
    /// Not predicted, true.
    pub fn_: usize,
    /// Neither.
    pub tn: usize,
}

impl Counts {
    /// Counts decisions against known labels.
    pub fn of(decisions: &[bool], labels: &[Option<bool>]) -> Self {
        let mut c = Self::default();
        for (&d, &l) in decisions.iter().zip(labels) {
            match (d, l) {
                (_, None) => {}
                (true, Some(true)) => c.tp += 1,
                (true, Some(false)) => c.fp += 1,
                (false, Some(true)) => c.fn_ += 1,
                (false, Some(false)) => c.tn += 1,
            }
        }
        c
    }

    /// tp / (tp + fp); 0 when nothing was predicted.
    pub fn precision(&self) -> f64 {
        ratio(self.tp, self.tp + self.fp)
    }

    /// tp / (tp + fn); 0 when nothing is true.
    pub fn recall(&self) -> f64 {
        ratio(self.tp, self.tp + self.fn_)
    }

    /// Harmonic mean of precision and recall: 2tp / (2tp + fp + fn); 0 when all are 0.
    pub fn f1(&self) -> f64 {
        ratio(2 * self.tp, 2 * self.tp + self.fp + self.fn_)
    }

    /// Known positives.
    pub fn support(&self) -> usize {
        self.tp + self.fn_
    }
}

/// Another genre's counts added (for micro averages).
impl std::ops::Add for Counts {
    type Output = Self;

    fn add(self, o: Self) -> Self {
        Self {
            tp: self.tp + o.tp,
            fp: self.fp + o.fp,
            fn_: self.fn_ + o.fn_,
            tn: self.tn + o.tn,
        }
    }
}

fn ratio(a: usize, b: usize) -> f64 {
    if b == 0 { 0.0 } else { a as f64 / b as f64 }
}

/// The threshold that maximises one genre's F1, and that F1.
///
/// Candidates are midpoints between consecutive distinct scores (and just above the top
/// score's neighbour), so the chosen threshold does not sit exactly on a validation score.
/// Ties in F1 go to the higher threshold (fewer false positives on unseen posters).
pub fn best_f1_threshold(scores: &[f32], labels: &[Option<bool>]) -> (f32, f64) {
    let (known, positives) = known_pairs(scores, labels);
    if positives == 0 {
        // Nothing to find: never predict it from the threshold alone.
        return (1.0, 0.0);
    }
    let (mut tp, mut best_threshold, mut best_f1) = (0usize, 1.0f32, 0.0f64);
    for (start, end, pos) in tie_runs(&known) {
        tp += pos;
        // `end` items are predicted, `tp` of them rightly: F1 = 2tp / (predicted + positives).
        let f1 = ratio(2 * tp, end + positives);
        // Everything scoring >= this run's score is predicted: place the threshold halfway
        // down to the next distinct score.
        let threshold = match known.get(end) {
            Some(next) => f32::midpoint(known[start].0, next.0),
            None => known[start].0,
        };
        if f1 > best_f1 {
            (best_threshold, best_f1) = (threshold, f1);
        }
    }
    (best_threshold, best_f1)
}

/// Points of a curve, in order.
pub type Curve = Vec<(f64, f64)>;

/// The ROC curve of one genre as (false-positive rate, true-positive rate) points from (0, 0)
/// to (1, 1), and its precision–recall curve as (recall, precision) points; both empty
/// without a positive and a negative.
pub fn curves(scores: &[f32], labels: &[Option<bool>]) -> (Curve, Curve) {
    let (known, positives) = known_pairs(scores, labels);
    let negatives = known.len() - positives;
    if positives == 0 || negatives == 0 {
        return (Vec::new(), Vec::new());
    }
    let (mut roc, mut pr) = (vec![(0.0, 0.0)], Vec::new());
    let mut tp = 0;
    for (_, end, pos) in tie_runs(&known) {
        tp += pos;
        let fp = end - tp;
        roc.push((ratio(fp, negatives), ratio(tp, positives)));
        pr.push((ratio(tp, positives), ratio(tp, end)));
    }
    (roc, pr)
}

/// What a threshold is tuned for (seed 003 compared all three).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Objective {
    /// F1 (the shipped decisions).
    F1,
    /// Accuracy: the share of right flags, negatives included.
    Accuracy,
    /// Precision among thresholds that still find at least this share of the positives.
    Precision {
        /// The least recall allowed.
        min_recall: f64,
    },
}

impl Objective {
    /// In words, for the report.
    pub fn describe(self) -> String {
        match self {
            Self::F1 => "F1".into(),
            Self::Accuracy => "accuracy".into(),
            Self::Precision { min_recall } => {
                format!("precision (recall ≥ {min_recall})")
            }
        }
    }
}

/// The threshold that maximises `objective` for one genre (candidates as in
/// [`best_f1_threshold`]; ties go to the higher threshold).
pub fn best_threshold(scores: &[f32], labels: &[Option<bool>], objective: Objective) -> f32 {
    if objective == Objective::F1 {
        return best_f1_threshold(scores, labels).0;
    }
    let (known, positives) = known_pairs(scores, labels);
    let negatives = known.len() - positives;
    if positives == 0 {
        return 1.0;
    }
    // Predicting nothing is a candidate too (the best accuracy for a rare genre).
    let nothing = match objective {
        Objective::Accuracy => ratio(negatives, known.len()),
        _ => -1.0,
    };
    let (mut tp, mut best_threshold, mut best) = (0usize, 1.0f32, nothing);
    for (start, end, pos) in tie_runs(&known) {
        tp += pos;
        let value = match objective {
            Objective::Accuracy => ratio(tp + negatives - (end - tp), known.len()),
            Objective::Precision { min_recall } => {
                if ratio(tp, positives) >= min_recall {
                    ratio(tp, end)
                } else {
                    -1.0
                }
            }
            Objective::F1 => ratio(2 * tp, end + positives),
        };
        let threshold = match known.get(end) {
            Some(next) => f32::midpoint(known[start].0, next.0),
            None => known[start].0,
        };
        if value > best {
            (best_threshold, best) = (threshold, value);
        }
    }
    best_threshold
}

/// One genre's figures on a set of posters.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GenreFigures {
    /// Genre name.
    pub genre: String,
    /// Decision counts.
    pub precision: f64,
    /// Share of true posters found.
    pub recall: f64,
    /// F1 of the decisions.
    pub f1: f64,
    /// ROC-AUC of the scores; `None` without both classes.
    pub auc: Option<f64>,
    /// Average precision of the scores; `None` without positives.
    pub average_precision: Option<f64>,
    /// Known positives.
    pub support: usize,
}

/// Every figure the report gives for one set of posters.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Summary {
    /// Posters.
    pub posters: usize,
    /// Per genre, in [`GENRES`] order.
    pub genres: Vec<GenreFigures>,
    /// Mean F1 over genres with positives.
    pub macro_f1: f64,
    /// F1 of all decisions pooled.
    pub micro_f1: f64,
    /// F1 averaged with support as weight.
    pub weighted_f1: f64,
    /// Mean ROC-AUC over genres where it is defined.
    pub macro_auc: Option<f64>,
    /// ROC-AUC of all (score, label) pairs pooled.
    pub micro_auc: Option<f64>,
    /// Mean average precision over genres with positives.
    pub mean_average_precision: Option<f64>,
    /// Mean over posters of |predicted ∩ true| / |predicted ∪ true|.
    pub jaccard: f64,
    /// Share of posters whose every known genre flag is right.
    pub subset_accuracy: f64,
    /// Share of known genre flags that are wrong.
    pub hamming_loss: f64,
}

impl Summary {
    /// Figures for `scores` and `decisions` (one row per poster, a column per genre).
    pub fn new(scores: &[Vec<f32>], decisions: &[Vec<bool>], labels: &[Labels]) -> Self {
        let column = |g: usize| -> (Vec<f32>, Vec<bool>, Vec<Option<bool>>) {
            (
                scores.iter().map(|s| s[g]).collect(),
                decisions.iter().map(|d| d[g]).collect(),
                labels.iter().map(|l| l[g]).collect(),
            )
        };
        let mut total = Counts::default();
        let mut genres = Vec::with_capacity(GENRES.len());
        for (g, genre) in GENRES.iter().enumerate() {
            let (s, d, l) = column(g);
            let counts = Counts::of(&d, &l);
            total = total + counts;
            genres.push(GenreFigures {
                genre: genre.name.to_string(),
                precision: counts.precision(),
                recall: counts.recall(),
                f1: counts.f1(),
                auc: roc_auc(&s, &l),
                average_precision: average_precision(&s, &l),
                support: counts.support(),
            });
        }
        let with_support: Vec<&GenreFigures> = genres.iter().filter(|g| g.support > 0).collect();
        let support: usize = with_support.iter().map(|g| g.support).sum();
        let all_scores: Vec<f32> = scores.iter().flatten().copied().collect();
        let all_labels: Vec<Option<bool>> = labels.iter().flatten().copied().collect();

        let (mut jaccard, mut exact, mut wrong, mut known) = (0.0, 0usize, 0usize, 0usize);
        for (d, l) in decisions.iter().zip(labels) {
            let (mut both, mut either, mut errors) = (0usize, 0usize, 0usize);
            for (&d, &l) in d.iter().zip(l) {
                let Some(l) = l else { continue };
                known += 1;
                both += usize::from(d && l);
                either += usize::from(d || l);
                errors += usize::from(d != l);
            }
            // Nothing predicted and nothing true is a perfect match.
            jaccard += if either == 0 {
                1.0
            } else {
                both as f64 / either as f64
            };
            exact += usize::from(errors == 0);
            wrong += errors;
        }
        let posters = scores.len();
        Self {
            posters,
            macro_f1: mean(with_support.iter().map(|g| g.f1)).unwrap_or(0.0),
            micro_f1: total.f1(),
            weighted_f1: ratio_f(
                with_support.iter().map(|g| g.f1 * g.support as f64).sum(),
                support as f64,
            ),
            macro_auc: mean(genres.iter().filter_map(|g| g.auc)),
            micro_auc: roc_auc(&all_scores, &all_labels),
            mean_average_precision: mean(genres.iter().filter_map(|g| g.average_precision)),
            jaccard: ratio_f(jaccard, posters as f64),
            subset_accuracy: ratio(exact, posters),
            hamming_loss: ratio(wrong, known),
            genres,
        }
    }
}

fn mean(values: impl Iterator<Item = f64>) -> Option<f64> {
    let (sum, n) = values.fold((0.0, 0usize), |(s, n), v| (s + v, n + 1));
    (n > 0).then(|| sum / n as f64)
}

fn ratio_f(a: f64, b: f64) -> f64 {
    if b == 0.0 { 0.0 } else { a / b }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn known(labels: &[bool]) -> Vec<Option<bool>> {
        labels.iter().map(|&l| Some(l)).collect()
    }

    #[test]
    fn thresholds_for_accuracy_and_for_precision() {
        // One positive among nine: flagging it costs a false positive above it, so the most
        // accurate rule flags nothing; precision with recall ≥ 0.5 must reach down to it.
        let scores = [0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1];
        let labels = known(&[false, true, false, false, false, false, false, false, false]);
        assert_eq!(best_threshold(&scores, &labels, Objective::Accuracy), 1.0);
        let t = best_threshold(&scores, &labels, Objective::Precision { min_recall: 0.5 });
        assert!(t > 0.7 && t < 0.8, "{t}");
        // Three positives on top, a negative, a fourth positive: precision 1 with half the
        // positives at the second (ties keep the higher threshold); accuracy peaks at the third.
        let labels = known(&[true, true, true, false, true, false, false, false, false]);
        let t = best_threshold(&scores, &labels, Objective::Precision { min_recall: 0.5 });
        assert!(t > 0.7 && t < 0.8, "{t}");
        let t = best_threshold(&scores, &labels, Objective::Accuracy);
        assert!(t > 0.6 && t < 0.7, "{t}");
    }

    #[test]
    fn auc_perfect_inverted_and_tied() {
        let labels = known(&[false, false, true, true]);
        assert_eq!(roc_auc(&[0.1, 0.2, 0.8, 0.9], &labels), Some(1.0));
        assert_eq!(roc_auc(&[0.9, 0.8, 0.2, 0.1], &labels), Some(0.0));
        assert_eq!(roc_auc(&[0.5, 0.5, 0.5, 0.5], &labels), Some(0.5));
    }

    #[test]
    fn auc_by_hand() {
        // Pairs (pos, neg): (0.35 vs 0.1 ✓, vs 0.4 ✗), (0.8 vs 0.1 ✓, vs 0.4 ✓) → 3/4.
        let labels = known(&[false, false, true, true]);
        assert_eq!(roc_auc(&[0.1, 0.4, 0.35, 0.8], &labels), Some(0.75));
        // A positive tied with a negative counts half: 0.4 vs 0.4 (½), 0.4 vs 0.1 (1),
        // 0.9 vs both (2) → 3.5/4.
        let labels = known(&[false, false, true, true]);
        assert_eq!(roc_auc(&[0.4, 0.1, 0.4, 0.9], &labels), Some(0.875));
    }

    #[test]
    fn auc_ignores_unknown_labels_and_needs_both_classes() {
        let labels = vec![Some(false), None, Some(true)];
        assert_eq!(roc_auc(&[0.1, 0.99, 0.5], &labels), Some(1.0));
        assert_eq!(roc_auc(&[0.1, 0.2], &known(&[true, true])), None);
    }

    #[test]
    fn average_precision_by_hand() {
        // Ranked: 0.9 (+), 0.8 (−), 0.7 (+). AP = 1·½ + ⅔·½ = 5/6.
        let ap = average_precision(&[0.9, 0.8, 0.7], &known(&[true, false, true])).expect("ap");
        assert!((ap - 5.0 / 6.0).abs() < 1e-12, "{ap}");
        assert_eq!(average_precision(&[0.1], &known(&[false])), None);
    }

    #[test]
    fn counts_precision_recall_f1() {
        let c = Counts::of(
            &[true, true, false, false, true],
            &[Some(true), Some(false), Some(true), Some(false), None],
        );
        assert_eq!(
            c,
            Counts {
                tp: 1,
                fp: 1,
                fn_: 1,
                tn: 1
            }
        );
        assert_eq!((c.precision(), c.recall(), c.f1()), (0.5, 0.5, 0.5));
        assert_eq!(Counts::default().f1(), 0.0);
    }

    #[test]
    fn best_threshold_by_hand() {
        // Scores 0.9+, 0.8−, 0.6+, 0.2−: cutting below 0.6 gives tp 2, fp 1 → F1 = 4/5,
        // better than below 0.9 (F1 = 2/3); the threshold sits between 0.6 and 0.2.
        let (t, f1) = best_f1_threshold(&[0.9, 0.8, 0.6, 0.2], &known(&[true, false, true, false]));
        assert!((f1 - 0.8).abs() < 1e-12, "{f1}");
        assert!((t - 0.4).abs() < 1e-6, "{t}");
        let (t, f1) = best_f1_threshold(&[0.3, 0.2], &known(&[false, false]));
        assert_eq!((t, f1), (1.0, 0.0));
    }

    #[test]
    fn summary_by_hand() {
        use onesheet::NUM_GENRES;
        // Two posters, genres 0 and 1 only (the rest known negative, never predicted).
        // Poster A: true {0}, predicted {0, 1}. Poster B: true {1}, genre 0 unknown,
        // predicted {1}.
        let mut la = [Some(false); NUM_GENRES];
        la[0] = Some(true);
        let mut lb = [Some(false); NUM_GENRES];
        lb[0] = None;
        lb[1] = Some(true);
        let mut da = vec![false; NUM_GENRES];
        da[0] = true;
        da[1] = true;
        let mut db = vec![false; NUM_GENRES];
        db[1] = true;
        let mut sa = vec![0.0; NUM_GENRES];
        sa[0] = 0.9;
        sa[1] = 0.6;
        let mut sb = vec![0.0; NUM_GENRES];
        sb[0] = 0.95;
        sb[1] = 0.7;
        let s = Summary::new(&[sa, sb], &[da, db], &[la, lb]);
        // Genre 0: tp 1 (B is unknown) → P = R = F1 = 1. Genre 1: tp 1, fp 1 → P ½, R 1, F1 ⅔.
        assert_eq!(s.genres[0].f1, 1.0);
        assert!((s.genres[1].f1 - 2.0 / 3.0).abs() < 1e-12);
        assert!((s.macro_f1 - f64::midpoint(1.0, 2.0 / 3.0)).abs() < 1e-12);
        // Pooled: tp 2, fp 1, fn 0 → 4/5.
        assert!((s.micro_f1 - 0.8).abs() < 1e-12);
        // Both genres have support 1: weighted = macro.
        assert!((s.weighted_f1 - s.macro_f1).abs() < 1e-12);
        // Jaccard: A ½ ({0} vs {0,1}), B 1 → ¾. Subset accuracy: B only → ½.
        assert!((s.jaccard - 0.75).abs() < 1e-12);
        assert_eq!(s.subset_accuracy, 0.5);
        // Known flags: 19 + 18 = 37, one wrong.
        assert!((s.hamming_loss - 1.0 / 37.0).abs() < 1e-12);
        // Genre 1 AUC: positive B (0.7) over negative A (0.6) → 1; genre 0 has no negative.
        assert_eq!(s.genres[1].auc, Some(1.0));
        assert_eq!(s.genres[0].auc, None);
        // Genres 2… have no positives, so only genre 1 has an AUC.
        assert_eq!(s.macro_auc, Some(1.0));
    }
}
