//! Inference shared by the CLI and the browser: preprocess, run, read back, decide.

use burn::tensor::{Device, Tensor, TensorData};
use thiserror::Error;

use crate::bundle::Bundle;
use crate::model::{ModelInput, batch};
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

    /// Turns rows of scores into predictions with the bundle's thresholds.
    pub fn decide(&self, rows: Vec<Vec<f32>>) -> Vec<Prediction> {
        let thresholds = self.bundle.manifest.thresholds();
        rows.into_iter()
            .map(|s| Prediction::decide(s, &thresholds))
            .collect()
    }

    /// Classifies a batch of prepared inputs (native: reads back synchronously).
    #[cfg(not(target_family = "wasm"))]
    pub fn classify(&self, inputs: &[ModelInput]) -> Result<Vec<Prediction>, InferenceError> {
        Ok(self.decide(read_rows_sync(self.scores(inputs))?))
    }

    /// Classifies a batch of prepared inputs, reading back asynchronously (browser-safe).
    pub async fn classify_async(
        &self,
        inputs: &[ModelInput],
    ) -> Result<Vec<Prediction>, InferenceError> {
        Ok(self.decide(read_rows(self.scores(inputs)).await?))
    }
}

/// Reads a `[n, k]` tensor back as `n` rows, asynchronously (the only way on WebGPU).
pub async fn read_rows(tensor: Tensor<2>) -> Result<Vec<Vec<f32>>, InferenceError> {
    let [_, k] = tensor.dims();
    let data = tensor
        .into_data_async()
        .await
        .map_err(|e| InferenceError::Backend(format!("{e:?}")))?;
    rows_of(data, k)
}

/// Reads a `[n, k]` tensor back as `n` rows, blocking.
#[cfg(not(target_family = "wasm"))]
pub fn read_rows_sync(tensor: Tensor<2>) -> Result<Vec<Vec<f32>>, InferenceError> {
    let [_, k] = tensor.dims();
    let data = tensor
        .try_into_data()
        .map_err(|e| InferenceError::Backend(format!("{e:?}")))?;
    rows_of(data, k)
}

fn rows_of(data: TensorData, k: usize) -> Result<Vec<Vec<f32>>, InferenceError> {
    let values = data
        .try_into_vec::<f32>()
        .map_err(|e| InferenceError::Backend(format!("{e:?}")))?;
    Ok(values.chunks(k).map(<[f32]>::to_vec).collect())
}
