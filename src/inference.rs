//! Inference shared by the CLI and the browser: preprocess, run, read back, decide.

use burn::tensor::{Device, Tensor, TensorData};
use thiserror::Error;

use crate::bundle::Bundle;
use crate::explain::GenreMaps;
use crate::model::{ModelInput, Outputs, batch};
use crate::prediction::Prediction;
use crate::preprocess::{self, DecodeLimits, PreprocessError};

/// Why inference failed.
#[derive(Debug, Error)]
pub enum InferenceError {
    /// The image could not be read.
    #[error(transparent)]
    Image(#[from] PreprocessError),
    /// The backend failed to run the model or read its output.
    #[error("the backend failed: {0}")]
    Backend(String),
}

/// Everything one model pass says about a poster.
#[derive(Debug, Clone, PartialEq)]
pub struct Analysis {
    /// Scores and decided genres.
    pub prediction: Prediction,
    /// The pooled embedding the head reads (what similar posters are found by).
    pub embedding: Vec<f32>,
    /// Where each genre's evidence lies.
    pub maps: GenreMaps,
}

/// A loaded bundle on a device, ready to classify posters.
#[derive(Debug)]
pub struct Classifier {
    /// The model and manifest.
    pub bundle: Bundle,
    /// Where the model runs.
    pub device: Device,
    /// What decoding may cost.
    pub limits: DecodeLimits,
}

impl Classifier {
    /// Wraps a bundle already loaded on `device`.
    pub fn new(bundle: Bundle, device: Device) -> Self {
        Self {
            bundle,
            device,
            limits: DecodeLimits::default(),
        }
    }

    /// Image bytes → model input at the bundle's input size.
    pub fn prepare(&self, bytes: &[u8]) -> Result<ModelInput, PreprocessError> {
        preprocess::prepare_bytes(bytes, &self.bundle.manifest.input, &self.limits)
    }

    /// Queues the model on a batch of inputs; read the `[n, genres]` scores with [`read_rows`].
    pub fn scores(&self, inputs: &[ModelInput]) -> Tensor<2> {
        self.bundle.model.scores(batch(inputs, &self.device))
    }

    /// Turns each input's row of model scores into its prediction, with its year when it has
    /// one ([`crate::bundle::Manifest::predict`]).
    pub fn decide(&self, inputs: &[ModelInput], rows: Vec<Vec<f32>>) -> Vec<Prediction> {
        rows.into_iter()
            .zip(inputs)
            .map(|(scores, input)| self.bundle.manifest.predict(scores, input.year))
            .collect()
    }

    /// Scores, embeddings and genre maps of a batch, from one pass (native: reads back
    /// synchronously).
    #[cfg(not(target_family = "wasm"))]
    pub fn analyse(&self, inputs: &[ModelInput]) -> Result<Vec<Analysis>, InferenceError> {
        let outputs = self.bundle.model.analyse(batch(inputs, &self.device));
        let [_, genres, height, width] = outputs.maps.dims();
        let scores = read_sync(outputs.scores)?;
        let embedding = read_sync(outputs.embedding)?;
        let maps = read_sync(outputs.maps)?;
        Ok(self.analyses(inputs, [genres, height, width], &scores, &embedding, &maps))
    }

    /// [`Classifier::analyse`], reading back asynchronously (browser-safe).
    pub async fn analyse_async(
        &self,
        inputs: &[ModelInput],
    ) -> Result<Vec<Analysis>, InferenceError> {
        let Outputs {
            scores,
            embedding,
            maps,
        } = self.bundle.model.analyse(batch(inputs, &self.device));
        let [_, genres, height, width] = maps.dims();
        let scores = read(scores).await?;
        let embedding = read(embedding).await?;
        let maps = read(maps).await?;
        Ok(self.analyses(inputs, [genres, height, width], &scores, &embedding, &maps))
    }

    fn analyses(
        &self,
        inputs: &[ModelInput],
        [genres, height, width]: [usize; 3],
        scores: &[f32],
        embedding: &[f32],
        maps: &[f32],
    ) -> Vec<Analysis> {
        let features = embedding.len() / inputs.len().max(1);
        let map_size = genres * height * width;
        (0..inputs.len())
            .map(|i| Analysis {
                prediction: self.bundle.manifest.predict(
                    scores[i * genres..(i + 1) * genres].to_vec(),
                    inputs[i].year,
                ),
                embedding: embedding[i * features..(i + 1) * features].to_vec(),
                maps: GenreMaps {
                    width,
                    height,
                    values: maps[i * map_size..(i + 1) * map_size].to_vec(),
                },
            })
            .collect()
    }

    /// Classifies a batch of prepared inputs (native: reads back synchronously).
    #[cfg(not(target_family = "wasm"))]
    pub fn classify(&self, inputs: &[ModelInput]) -> Result<Vec<Prediction>, InferenceError> {
        Ok(self.decide(inputs, read_rows_sync(self.scores(inputs))?))
    }

    /// Classifies a batch of prepared inputs, reading back asynchronously (browser-safe).
    pub async fn classify_async(
        &self,
        inputs: &[ModelInput],
    ) -> Result<Vec<Prediction>, InferenceError> {
        Ok(self.decide(inputs, read_rows(self.scores(inputs)).await?))
    }
}

/// Reads a `[n, k]` tensor back as `n` rows, asynchronously (the only way on WebGPU).
pub async fn read_rows(tensor: Tensor<2>) -> Result<Vec<Vec<f32>>, InferenceError> {
    let [_, k] = tensor.dims();
    Ok(rows_of(&read(tensor).await?, k))
}

/// Reads a `[n, k]` tensor back as `n` rows, blocking.
#[cfg(not(target_family = "wasm"))]
pub fn read_rows_sync(tensor: Tensor<2>) -> Result<Vec<Vec<f32>>, InferenceError> {
    let [_, k] = tensor.dims();
    Ok(rows_of(&read_sync(tensor)?, k))
}

/// A tensor's values, row-major, asynchronously.
async fn read<const D: usize>(tensor: Tensor<D>) -> Result<Vec<f32>, InferenceError> {
    values_of(
        tensor
            .into_data_async()
            .await
            .map_err(|e| InferenceError::Backend(format!("{e:?}")))?,
    )
}

/// A tensor's values, row-major, blocking.
#[cfg(not(target_family = "wasm"))]
fn read_sync<const D: usize>(tensor: Tensor<D>) -> Result<Vec<f32>, InferenceError> {
    values_of(
        tensor
            .try_into_data()
            .map_err(|e| InferenceError::Backend(format!("{e:?}")))?,
    )
}

fn values_of(data: TensorData) -> Result<Vec<f32>, InferenceError> {
    data.try_into_vec::<f32>()
        .map_err(|e| InferenceError::Backend(format!("{e:?}")))
}

fn rows_of(values: &[f32], k: usize) -> Vec<Vec<f32>> {
    values.chunks(k.max(1)).map(<[f32]>::to_vec).collect()
}
