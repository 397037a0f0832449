//! Loading the ImageNet-pretrained MobileNetV2 (torchvision key layout) with `burn-store`.

use std::path::Path;

use burn::nn::LinearConfig;
use burn::store::{KeyRemapper, ModuleSnapshot, PyTorchToBurnAdapter, SafetensorsStore};
use burn::tensor::Device;
use safetensors::{Dtype, SafeTensors};
use thiserror::Error;

use crate::model::{FEATURES, ImageNetClassifier, MobileNetV2Config};

/// What the weights this module loads are, for a bundle's provenance.
pub const DESCRIPTION: &str =
    "MobileNetV2 1.0 ImageNet (TensorFlow QAT, dequantized, batch norm folded; torchvision layout)";

/// Classes of the pretrained ImageNet classifier (index 0 is "background").
pub const IMAGENET_CLASSES: usize = 1001;

/// Why pretrained weights could not be loaded.
#[derive(Debug, Error)]
pub enum WeightsError {
    /// The file could not be read.
    #[error("cannot read weights {path}: {source}")]
    Read {
        /// The path given.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// Not a valid safetensors file.
    #[error("not a valid safetensors file: {0}")]
    Format(String),
    /// A batch norm with real statistics: these weights are not the folded export expected.
    #[error(
        "batch norm `{0}` is not an identity: onesheet expects weights with batch norm folded \
         into the convolutions (see the weights' README)"
    )]
    UnfoldedBatchNorm(String),
    /// burn-store refused the tensors (shape mismatch, bad data).
    #[error("the weights do not fit MobileNetV2: {0}")]
    Apply(String),
    /// A tensor the model needs is not in the file.
    #[error("the weights lack {count} tensors the model needs, e.g. `{example}`")]
    Missing {
        /// How many are missing.
        count: usize,
        /// One of them.
        example: String,
    },
}

/// Reads pretrained weights from a file.
pub fn load_file(path: &Path, device: &Device) -> Result<ImageNetClassifier, WeightsError> {
    let bytes = std::fs::read(path).map_err(|source| WeightsError::Read {
        path: path.display().to_string(),
        source,
    })?;
    load_bytes(bytes, device)
}

/// Reads pretrained weights from safetensors bytes in torchvision's MobileNetV2 key layout.
pub fn load_bytes(bytes: Vec<u8>, device: &Device) -> Result<ImageNetClassifier, WeightsError> {
    check_batch_norms_folded(&bytes)?;
    let mut model = ImageNetClassifier {
        backbone: MobileNetV2Config::new().init(device),
        classifier: LinearConfig::new(FEATURES, IMAGENET_CLASSES).init(device),
    };
    let remapper = KeyRemapper::from_patterns(torchvision_key_map())
        .map_err(|e| WeightsError::Apply(format!("key map: {e}")))?;
    let mut store = SafetensorsStore::from_bytes(Some(bytes))
        .with_from_adapter(PyTorchToBurnAdapter)
        .remap(remapper)
        .allow_partial(true);
    let result = model
        .load_from(&mut store)
        .map_err(|e| WeightsError::Apply(e.to_string()))?;
    if let Some(error) = result.errors.first() {
        return Err(WeightsError::Apply(format!("{error:?}")));
    }
    if let Some((example, _)) = result.missing.first() {
        return Err(WeightsError::Missing {
            count: result.missing.len(),
            example: example.clone(),
        });
    }
    Ok(model)
}

/// torchvision key → this crate's module path.
///
/// Batch norms are folded, so each norm's `bias` becomes its convolution's bias and the norm's
/// other tensors (identity statistics, checked on load) are left unused.
fn torchvision_key_map() -> Vec<(String, String)> {
    let mut map = vec![
        (
            r"^features\.0\.0\.weight$".into(),
            "backbone.stem.conv.weight".into(),
        ),
        (
            r"^features\.0\.1\.bias$".into(),
            "backbone.stem.conv.bias".into(),
        ),
        (
            r"^features\.18\.0\.weight$".into(),
            "backbone.last.conv.weight".into(),
        ),
        (
            r"^features\.18\.1\.bias$".into(),
            "backbone.last.conv.bias".into(),
        ),
        (r"^classifier\.1\.".into(), "classifier.".into()),
    ];
    // features.1 has no expansion layer, so its sub-layers sit one index lower.
    for n in 1..=17 {
        let block = format!("backbone.blocks.{}", n - 1);
        let layers: &[&str] = if n == 1 {
            &["depthwise"]
        } else {
            &["expand", "depthwise"]
        };
        for (i, layer) in layers.iter().enumerate() {
            map.push((
                format!(r"^features\.{n}\.conv\.{i}\.0\.weight$"),
                format!("{block}.{layer}.conv.weight"),
            ));
            map.push((
                format!(r"^features\.{n}\.conv\.{i}\.1\.bias$"),
                format!("{block}.{layer}.conv.bias"),
            ));
        }
        let project = layers.len();
        map.push((
            format!(r"^features\.{n}\.conv\.{project}\.weight$"),
            format!("{block}.project.weight"),
        ));
        map.push((
            format!(r"^features\.{n}\.conv\.{}\.bias$", project + 1),
            format!("{block}.project.bias"),
        ));
    }
    map
}

/// Refuses weights whose batch norms carry real statistics: folding only their bias into the
/// convolution is exact only when scale is 1, mean 0 and `var + eps` is 1.
fn check_batch_norms_folded(bytes: &[u8]) -> Result<(), WeightsError> {
    const EPS: f32 = 1e-5;
    let tensors =
        SafeTensors::deserialize(bytes).map_err(|e| WeightsError::Format(e.to_string()))?;
    for name in tensors.names() {
        let Some(norm) = name.strip_suffix(".running_mean") else {
            continue;
        };
        let expected = [
            ("running_mean", 0.0),
            ("running_var", 1.0 - EPS),
            ("weight", 1.0),
        ];
        for (suffix, value) in expected {
            let key = format!("{norm}.{suffix}");
            let view = tensors
                .tensor(&key)
                .map_err(|_| WeightsError::UnfoldedBatchNorm(norm.to_string()))?;
            if view.dtype() != Dtype::F32 {
                return Err(WeightsError::Format(format!(
                    "`{key}` is {:?}, not F32",
                    view.dtype()
                )));
            }
            let off = bytemuck::pod_collect_to_vec::<u8, f32>(view.data())
                .into_iter()
                .any(|x| (x - value).abs() > 1e-6);
            if off {
                return Err(WeightsError::UnfoldedBatchNorm(norm.to_string()));
            }
        }
    }
    Ok(())
}
