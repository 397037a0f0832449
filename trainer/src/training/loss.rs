//! Masked, positive-weighted binary cross-entropy for multi-label genres.

use burn::tensor::{Tensor, activation::log_sigmoid};

/// Mean binary cross-entropy over the known genre flags.
///
/// `targets` are 0/1, `mask` is 1 where the label is known (0 for a vintage film's History and
/// TV Movie, which its source cannot express), `pos_weight` (`[1, genres]`) scales each genre's
/// positive term so rare genres are not drowned by their negatives. Computed from logits with
/// log-sigmoid, which stays finite for large logits.
pub fn masked_bce(
    logits: Tensor<2>,
    targets: Tensor<2>,
    mask: Tensor<2>,
    pos_weight: Tensor<2>,
) -> Tensor<1> {
    let positive = targets.clone() * pos_weight * log_sigmoid(logits.clone());
    let negative = (targets.ones_like() - targets) * log_sigmoid(logits.neg());
    let per_flag = (positive + negative).neg() * mask.clone();
    per_flag.sum() / mask.sum().clamp_min(1.0)
}

#[cfg(test)]
mod tests {
    use burn::tensor::{Device, TensorData};

    use super::*;

    fn t(rows: Vec<Vec<f32>>) -> Tensor<2> {
        let shape = [rows.len(), rows[0].len()];
        let data: Vec<f32> = rows.into_iter().flatten().collect();
        Tensor::from_data(TensorData::new(data, shape), &Device::flex())
    }

    fn value(x: Tensor<1>) -> f32 {
        x.into_scalar()
    }

    #[test]
    fn by_hand_with_a_mask_and_a_weight() {
        // Flags: (logit 0, y 1, w 3) → 3·ln 2; (logit 0, y 0) → ln 2; a masked flag with a huge
        // loss must not count. Mean over the 2 known flags: 4·ln 2 / 2.
        let loss = masked_bce(
            t(vec![vec![0.0, 0.0, -50.0]]),
            t(vec![vec![1.0, 0.0, 1.0]]),
            t(vec![vec![1.0, 1.0, 0.0]]),
            t(vec![vec![3.0, 1.0, 1.0]]),
        );
        let expected = 2.0 * std::f32::consts::LN_2;
        assert!((value(loss) - expected).abs() < 1e-6);
    }

    #[test]
    fn finite_for_confident_mistakes() {
        let loss = masked_bce(
            t(vec![vec![200.0, -200.0]]),
            t(vec![vec![0.0, 1.0]]),
            t(vec![vec![1.0, 1.0]]),
            t(vec![vec![1.0, 1.0]]),
        );
        assert!((value(loss) - 200.0).abs() < 1e-3);
    }
}
