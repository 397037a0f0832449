//! Runs one training stage with burn-train: AdamW with weight decay, a cosine learning-rate
//! schedule, loss on the validation split for early stopping and for picking the epoch kept,
//! checkpoints every epoch so a killed run resumes where it stopped.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result, anyhow, bail};
use burn::config::Config;
use burn::data::dataloader::DataLoader;
use burn::optim::lr_scheduler::LrSchedulerRecord;
use burn::optim::lr_scheduler::cosine::CosineAnnealingLrSchedulerConfig;
use burn::optim::{AdamWConfig, OptimizerRecord};
use burn::store::ModuleRecord;
use burn::tensor::Device;
use burn::train::checkpoint::KeepLastNCheckpoints;
use burn::train::metric::LossMetric;
use burn::train::metric::store::{Aggregate, Direction, Split};
use burn::train::{
    InferenceStep, Interrupter, Learner, LearnerModel, MetricEarlyStoppingStrategy,
    MultiLabelClassificationOutput, StoppingCondition, SupervisedTraining, TrainStep,
};

use sha2::{Digest, Sha256};

use super::labelled::Batch;
use super::loader::{EpochLoader, Source};
use super::renderer::BarRenderer;

/// Hyper-parameters of one stage; saved beside its checkpoints.
#[derive(Config, Debug)]
pub struct StageConfig {
    /// What it trains on (features key, split sizes): a run on other data is never resumed.
    #[config(default = "String::new()")]
    pub data: String,
    /// Most epochs to run.
    #[config(default = 30)]
    pub epochs: usize,
    /// Examples per step.
    #[config(default = 64)]
    pub batch_size: usize,
    /// Peak learning rate (cosine-annealed to 1% of it).
    #[config(default = 1e-3)]
    pub learning_rate: f64,
    /// AdamW decoupled weight decay.
    #[config(default = 1e-2)]
    pub weight_decay: f32,
    /// Epochs without a better validation loss before stopping.
    #[config(default = 4)]
    pub patience: usize,
    /// Dropout before the genre head's linear layer.
    #[config(default = 0.3)]
    pub dropout: f64,
    /// Seeds initialisation, shuffling and dropout.
    #[config(default = 42)]
    pub seed: u64,
}

impl StageConfig {
    /// The settings in a phrase, for the recipe and the report.
    pub fn summary(&self) -> String {
        format!(
            "AdamW lr {:e} (cosine), weight decay {:e}, dropout {}, batch {}, at most {} epochs, \
             early stop after {} without a better validation loss",
            self.learning_rate,
            self.weight_decay,
            self.dropout,
            self.batch_size,
            self.epochs,
            self.patience
        )
    }
}

/// A stage's outcome.
pub struct Fitted<M> {
    /// The model at the epoch with the lowest validation loss.
    pub model: M,
    /// What the run was.
    pub log: StageLog,
}

/// A finished stage, as the run log and the report show it: all read back from its directory.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct StageLog {
    /// The stage (its directory's name under the working directory).
    pub name: String,
    /// [`StageConfig::summary`].
    pub settings: String,
    /// Mean training and validation loss per epoch.
    pub curves: Vec<EpochLoss>,
    /// The epoch kept: the lowest validation loss.
    pub best_epoch: usize,
    /// Wall time from the first epoch's start to the stage's end (pauses between a kill and
    /// the resume included).
    pub seconds: Option<f64>,
}

/// One epoch's mean losses.
#[derive(Debug, Clone, Copy, serde::Serialize, serde::Deserialize)]
pub struct EpochLoss {
    /// 1-based epoch.
    pub epoch: usize,
    /// Mean training loss.
    pub train: f64,
    /// Mean validation loss.
    pub valid: f64,
}

/// Trains `model` in a directory under `dir` named for its configuration (resuming from its
/// checkpoints) and returns the best epoch's model.
/// `stop_after` ends the run after that epoch's checkpoint, as a crash would (for tests).
#[allow(clippy::too_many_arguments)]
pub fn fit<M, const D: usize>(
    model: M,
    dir: &Path,
    train: &Arc<dyn Source<D>>,
    valid: &Arc<dyn Source<D>>,
    config: &StageConfig,
    device: &Device,
    stop_after: Option<usize>,
) -> Result<Fitted<M>>
where
    M: LearnerModel
        + TrainStep<Input = Batch<D>, Output = MultiLabelClassificationOutput>
        + InferenceStep<Input = Batch<D>, Output = MultiLabelClassificationOutput>,
{
    // One directory per configuration (data included): other settings start their own run
    // beside this one instead of resuming it, and no run is lost.
    let dir = &run_dir(dir, config);
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let config_path = dir.join("config.json");
    config
        .save(&config_path)
        .map_err(|e| anyhow!("writing {}: {e}", config_path.display()))?;

    let resume = latest_checkpoint(dir)?;
    let finished = dir.join("finished");
    if !finished.exists() {
        let steps_per_epoch = train.len().div_ceil(config.batch_size);
        let scheduler = CosineAnnealingLrSchedulerConfig::new(
            config.learning_rate,
            config.epochs * steps_per_epoch,
        )
        .with_min_lr(config.learning_rate / 100.0)
        .init()
        .map_err(|e| anyhow!("learning-rate schedule: {e}"))?;
        let optimizer = AdamWConfig::new()
            .with_weight_decay(config.weight_decay)
            .init();
        let first_epoch = resume.map_or(1, |e| e + 1);
        let interrupter = Interrupter::new();
        let mut train_loader = EpochLoader::<D>::new(
            train.clone(),
            config.batch_size,
            Some(config.seed),
            first_epoch,
            device.clone(),
        );
        if let Some(epoch) = stop_after {
            train_loader = train_loader.stopping_after(epoch, interrupter.clone());
        }
        let train_loader: Arc<dyn DataLoader<Batch<D>>> = Arc::new(train_loader);
        let valid_loader: Arc<dyn DataLoader<Batch<D>>> = Arc::new(EpochLoader::<D>::new(
            valid.clone(),
            config.batch_size * 4,
            None,
            first_epoch,
            device.clone(),
        ));
        let mut training = SupervisedTraining::new(dir, train_loader, valid_loader)
            .metrics((LossMetric::new(),))
            .with_default_checkpointers()
            // Every epoch's checkpoint stays: the best one is picked from the logs afterwards,
            // also after a resume, when burn's own best-metric strategy starts blind.
            .with_checkpointing_strategy(KeepLastNCheckpoints::new(usize::MAX))
            .with_interrupter(interrupter)
            .early_stopping(MetricEarlyStoppingStrategy::new(
                &LossMetric::new(),
                Aggregate::Mean,
                Direction::Lowest,
                Split::Valid,
                StoppingCondition::NoImprovementSince {
                    n_epochs: config.patience,
                },
            ))
            .num_epochs(config.epochs)
            .renderer(Box::new(BarRenderer::new(&stage_name(dir))));
        if let Some(epoch) = resume {
            eprintln!("resuming {} after epoch {epoch}", dir.display());
            training = training.checkpoint(epoch);
        }
        let result = training.launch(Learner::new(model.clone(), optimizer, scheduler));
        if let Some(error) = result.error {
            bail!("training failed: {error}");
        }
        if result.interrupted.is_some() {
            bail!("training was interrupted; run again to resume");
        }
        std::fs::write(&finished, b"")?;
    }
    let curves = epoch_losses(dir)?;
    let best_epoch = curves
        .iter()
        .min_by(|a, b| a.valid.total_cmp(&b.valid))
        .map(|e| e.epoch)
        .context("training logged no validation loss")?;
    let path = dir
        .join("checkpoint")
        .join(format!("model-{best_epoch}.bpk"));
    let record = ModuleRecord::load(path.clone())
        .map_err(|e| anyhow!("loading checkpoint {}: {e:?}", path.display()))?;
    Ok(Fitted {
        model: model.load_record(record),
        log: StageLog {
            name: stage_name(dir),
            settings: config.summary(),
            seconds: stage_seconds(dir),
            curves,
            best_epoch,
        },
    })
}

/// The directory of a stage run with `config` under `stage_dir`: named by a digest of every
/// setting, so a run with any other setting (dropout, data, seed…) never resumes this one.
pub fn run_dir(stage_dir: &Path, config: &StageConfig) -> PathBuf {
    let digest = format!("{:x}", Sha256::digest(config.to_string()));
    stage_dir.join(&digest[..12])
}

/// From burn's first epoch directory to the `finished` marker, by their modification times.
fn stage_seconds(dir: &Path) -> Option<f64> {
    let modified = |p: PathBuf| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    let start = modified(dir.join("train").join("epoch-1"))?;
    let end = modified(dir.join("finished"))?;
    Some(end.duration_since(start).ok()?.as_secs_f64())
}

fn stage_name(dir: &Path) -> String {
    dir.parent()
        .and_then(Path::file_name)
        .map_or_else(|| "training".into(), |n| n.to_string_lossy().into_owned())
}

/// The last epoch whose model, optimizer and scheduler checkpoints all read back whole. burn
/// writes them in place, one after the other: a kill can leave the newest epoch with a
/// truncated file or without its optimizer, and resuming from it would fail or go astray, so
/// such an epoch is skipped (and trained again).
fn latest_checkpoint(dir: &Path) -> Result<Option<usize>> {
    let checkpoints = dir.join("checkpoint");
    if !checkpoints.exists() {
        return Ok(None);
    }
    let mut epochs = Vec::new();
    for entry in std::fs::read_dir(&checkpoints)? {
        let name = entry?.file_name();
        let epoch = name
            .to_str()
            .and_then(|n| n.strip_prefix("model-"))
            .and_then(|n| n.strip_suffix(".bpk"))
            .and_then(|n| n.parse::<usize>().ok());
        epochs.extend(epoch);
    }
    epochs.sort_unstable();
    for &epoch in epochs.iter().rev() {
        let file = |name: &str| checkpoints.join(format!("{name}-{epoch}.bpk"));
        let complete = ModuleRecord::load(file("model"))
            .map(drop)
            .and_then(|()| OptimizerRecord::load(file("optim")).map(drop))
            .and_then(|()| LrSchedulerRecord::load(file("scheduler")).map(drop));
        match complete {
            Ok(()) => return Ok(Some(epoch)),
            Err(error) => eprintln!(
                "warning: the checkpoint of epoch {epoch} in {} is incomplete ({error:?}); \
                 resuming from an earlier one",
                checkpoints.display()
            ),
        }
    }
    Ok(None)
}

/// Mean loss per epoch from burn-train's metric logs (`{train,valid}/epoch-N/Loss.log`: a
/// `value,batch` line per step, then `value,final` with the epoch's aggregate).
pub fn epoch_losses(dir: &Path) -> Result<Vec<EpochLoss>> {
    let mut curves = Vec::new();
    for epoch in 1.. {
        let log = |split: &str| -> PathBuf {
            dir.join(split)
                .join(format!("epoch-{epoch}"))
                .join("Loss.log")
        };
        let (train, valid) = (log("train"), log("valid"));
        if !valid.exists() {
            break;
        }
        curves.push(EpochLoss {
            epoch,
            train: mean_of_log(&train)?,
            valid: mean_of_log(&valid)?,
        });
    }
    Ok(curves)
}

fn mean_of_log(path: &Path) -> Result<f64> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let last = |line: &str| {
        line.strip_suffix(",final")
            .and_then(|v| v.trim().parse().ok())
    };
    if let Some(aggregate) = text.lines().rev().find_map(last) {
        return Ok(aggregate);
    }
    let values: Vec<f64> = text
        .lines()
        .filter_map(|line| line.split(',').next()?.trim().parse().ok())
        .collect();
    if values.is_empty() {
        bail!("{} holds no values", path.display());
    }
    Ok(values.iter().sum::<f64>() / values.len() as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_setting_names_its_own_run() {
        let base = StageConfig::new();
        let dir = Path::new("work/head");
        let variants = [
            base.clone().with_dropout(0.5),
            base.clone().with_learning_rate(1e-4),
            base.clone().with_weight_decay(0.5),
            base.clone().with_batch_size(8),
            base.clone().with_epochs(3),
            base.clone().with_patience(1),
            base.clone().with_seed(7),
            base.clone().with_data("other features".into()),
        ];
        for variant in &variants {
            assert_ne!(run_dir(dir, &base), run_dir(dir, variant), "{variant}");
        }
        assert_eq!(run_dir(dir, &base), run_dir(dir, &StageConfig::new()));
    }
}
