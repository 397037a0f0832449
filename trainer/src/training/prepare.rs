//! Stage 1: the labelled posters, their split, and the backbone's outputs for each cached in
//! the working directory; shared by training, evaluation and the research.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result};
use onesheet::preprocess::InputSpec;
use onesheet::pretrained;

use crate::dataset::{self, Dataset, Labels};
use crate::features::{self, CacheSpec, Features};
use crate::split::{Part, Split};

/// Where the labelled data, the pretrained weights and the working directory are, and how
/// they are read: shared by training and evaluation.
#[derive(Debug, Clone)]
pub struct Sources {
    /// Root of the labelled posters (`posters/`, `vintage/`).
    pub data: PathBuf,
    /// Pretrained MobileNetV2 weights (torchvision-layout safetensors).
    pub weights: PathBuf,
    /// Working directory: split, feature cache, checkpoints, logs.
    pub work: PathBuf,
    /// Seed of the split, initialisation, shuffling, dropout and random baselines.
    pub seed: u64,
    /// Use only the first N posters of each collection (quick runs and tests).
    pub limit: Option<usize>,
    /// Images per backbone batch.
    pub batch: usize,
}

/// Everything stage 1 gives the later stages: data, split and cached features.
pub struct Prepared {
    /// The posters.
    pub dataset: Dataset,
    /// Their parts.
    pub split: Split,
    /// Cached backbone outputs, one row per poster in `dataset` order.
    pub features: Arc<Features>,
    /// Preprocessing the features were computed with.
    pub input: InputSpec,
    /// The pretrained network.
    pub pretrained: onesheet::model::ImageNetClassifier,
    /// Seconds spent caching.
    pub cache_seconds: f64,
    /// The feature cache's key (weights and preprocessing).
    pub cache_key: String,
    /// SHA-256 of the pretrained weights file.
    pub weights_digest: String,
}

impl Prepared {
    /// What a stage trained on these posters depends on: stage configs carry it, so a working
    /// directory never resumes or reuses a run made on other features or another split.
    pub fn fingerprint(&self) -> String {
        format!(
            "features {}, train {}, validation {}",
            self.cache_key,
            self.rows(Part::Train, None).len(),
            self.rows(Part::Validation, None).len()
        )
    }

    /// Rows (and labels) of `part`, optionally only one collection.
    pub fn rows(
        &self,
        part: Part,
        collection: Option<dataset::Collection>,
    ) -> Vec<(usize, Labels)> {
        self.dataset
            .posters
            .iter()
            .enumerate()
            .filter(|(_, p)| self.split.part(&p.id) == Some(part))
            .filter(|(_, p)| collection.is_none_or(|c| p.collection == c))
            .map(|(i, p)| (i, p.labels))
            .collect()
    }
}

/// Loads the data, makes or reads the split and fills the feature cache.
pub fn prepare(sources: &Sources, size: (u32, u32)) -> Result<Prepared> {
    let Sources {
        data,
        weights,
        work,
        seed,
        limit,
        batch,
    } = sources;
    let mut dataset = dataset::load(data)?;
    if let Some(limit) = *limit {
        let mut kept = std::collections::HashMap::new();
        dataset.posters.retain(|p| {
            let n = kept.entry(p.collection).or_insert(0usize);
            *n += 1;
            *n <= limit
        });
    }
    eprintln!(
        "{} posters ({} duplicate images dropped)",
        dataset.posters.len(),
        dataset.duplicates.len()
    );
    let split = Split::load_or_create(&dataset, &work.join("split.csv"), *seed)?;
    let device = burn::tensor::Device::flex();
    let pretrained = pretrained::load_file(weights, &device)
        .with_context(|| format!("loading weights {}", weights.display()))?;
    let input = InputSpec::mobilenet(size.0, size.1);
    let spec = CacheSpec::new(weights, input.clone())?;
    let started = Instant::now();
    let features = features::ensure(
        &dataset.posters,
        &work.join("cache"),
        &spec,
        &pretrained.backbone,
        &device,
        *batch,
    )?;
    Ok(Prepared {
        dataset,
        split,
        features: Arc::new(features),
        input,
        pretrained,
        cache_seconds: started.elapsed().as_secs_f64(),
        cache_key: spec.key()?,
        weights_digest: spec.weights_digest,
    })
}
