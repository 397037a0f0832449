//! `onesheet tune`: seed 004's random search of the head's hyper-parameters, each draw scored
//! by k-fold cross-validation on the training posters alone (validation and test posters are
//! never seen). The trials and the winner go to `work/tune.json`; `onesheet evaluate` trains
//! the winner and reports it beside the other seed systems.

use std::path::Path;

use anyhow::{Context, Result, bail};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{RngExt, SeedableRng};
use serde::{Deserialize, Serialize};

use crate::evaluation::metrics::macro_roc_auc;
use crate::split::Part;
use crate::training::Prepared;
use crate::training::head_inputs::Inputs;
use crate::training::probe::{self, Loss, ProbeConfig, Rows};
use onesheet::{files::write, progress};

/// One draw and its cross-validated score.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Trial {
    /// The settings drawn.
    pub config: ProbeConfig,
    /// Macro ROC-AUC on each held-out fold.
    pub fold_aucs: Vec<f64>,
    /// Their mean.
    pub mean_auc: f64,
    /// Wall time of the k fits.
    pub seconds: f64,
}

/// What `onesheet tune` leaves in `work/tune.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Search {
    /// Folds per trial.
    pub folds: usize,
    /// Every trial, in the order drawn.
    pub trials: Vec<Trial>,
    /// Index of the best trial.
    pub best: usize,
}

impl Search {
    /// The winning settings.
    pub fn best_config(&self) -> Option<&ProbeConfig> {
        self.trials.get(self.best).map(|t| &t.config)
    }

    /// Reads a search written by [`run`].
    pub fn load(path: &Path) -> Result<Self> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))
    }
}

/// A random draw of the head's settings.
pub fn draw(rng: &mut StdRng, seed: u64) -> ProbeConfig {
    let log_uniform = |rng: &mut StdRng, low: f64, high: f64| {
        (low.ln() + rng.random::<f64>() * (high.ln() - low.ln())).exp()
    };
    let losses = [
        Loss::WeightedBce,
        Loss::Bce,
        Loss::Asymmetric {
            gamma_neg: 4.0,
            clip: 0.05,
        },
    ];
    ProbeConfig {
        learning_rate: log_uniform(rng, 1e-4, 3e-3),
        weight_decay: log_uniform(rng, 1e-4, 3e-1) as f32,
        dropout: (rng.random::<f64>() * 7.0).round() / 10.0,
        batch_size: [32, 64, 128][rng.random_range(0..3)],
        loss: losses[rng.random_range(0..losses.len())],
        label_smoothing: [0.0, 0.05, 0.1][rng.random_range(0..3)],
        mixup: [0.0, 0.5][rng.random_range(0..2)],
        seed,
        ..ProbeConfig::default()
    }
}

/// Runs `trials` draws with `folds`-fold cross-validation and writes the search to `out`.
pub fn run(
    prepared: &Prepared,
    trials: usize,
    folds: usize,
    seed: u64,
    out: &Path,
) -> Result<Search> {
    if folds < 2 {
        bail!("cross-validation needs at least 2 folds");
    }
    let posters = Inputs::EMBEDDING.rows(prepared, Part::Train, false);
    let mirrored = Inputs::EMBEDDING.rows(prepared, Part::Train, true);
    if posters.len() < folds {
        bail!(
            "{} training posters cannot make {folds} folds",
            posters.len()
        );
    }
    let mut order: Vec<usize> = (0..posters.len()).collect();
    let mut rng = StdRng::seed_from_u64(seed);
    order.shuffle(&mut rng);
    let fold_of: Vec<usize> = {
        let mut f = vec![0; posters.len()];
        for (k, &i) in order.iter().enumerate() {
            f[i] = k % folds;
        }
        f
    };
    let bar = progress::bar((trials * folds) as u64, "random search");
    let mut search = Search {
        folds,
        trials: Vec::new(),
        best: 0,
    };
    for _ in 0..trials {
        let config = draw(&mut rng, seed);
        let started = std::time::Instant::now();
        let mut fold_aucs = Vec::with_capacity(folds);
        for fold in 0..folds {
            // Training rows: both views of the other folds' posters; held out: each as is.
            let train_rows: Vec<usize> = (0..posters.len())
                .filter(|&i| fold_of[i] != fold)
                .flat_map(|i| [2 * i, 2 * i + 1])
                .collect();
            let held: Vec<usize> = (0..posters.len()).filter(|&i| fold_of[i] == fold).collect();
            let (train, held): (Rows, Rows) = (mirrored.select(&train_rows), posters.select(&held));
            let (fitted, _) = probe::fit(&train, &held, &config)?;
            fold_aucs.push(macro_roc_auc(&fitted.scores(&held), &held.labels).unwrap_or(0.0));
            bar.inc(1);
        }
        let mean_auc = fold_aucs.iter().sum::<f64>() / folds as f64;
        eprintln!(
            "trial {}: CV macro ROC-AUC {mean_auc:.4} — {}",
            search.trials.len() + 1,
            config.summary()
        );
        search.trials.push(Trial {
            config,
            fold_aucs,
            mean_auc,
            seconds: started.elapsed().as_secs_f64(),
        });
        search.best = search
            .trials
            .iter()
            .enumerate()
            .max_by(|a, b| a.1.mean_auc.total_cmp(&b.1.mean_auc))
            .map_or(0, |(i, _)| i);
        write::atomic(out, &serde_json::to_vec_pretty(&search)?)?;
    }
    bar.finish_and_clear();
    Ok(search)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_stay_in_their_ranges_and_differ() {
        let mut rng = StdRng::seed_from_u64(1);
        let draws: Vec<ProbeConfig> = (0..50).map(|_| draw(&mut rng, 42)).collect();
        for d in &draws {
            assert!((1e-4..=3e-3).contains(&d.learning_rate));
            assert!((1e-4..=3e-1).contains(&f64::from(d.weight_decay)));
            assert!((0.0..=0.7).contains(&d.dropout));
            assert!([32, 64, 128].contains(&d.batch_size));
        }
        assert!(draws.windows(2).any(|w| w[0] != w[1]));
    }
}
