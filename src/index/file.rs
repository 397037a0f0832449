//! An index as bytes: writing it, and reading it back with everything a search relies on
//! checked.
//!
//! The checksum is a plain SHA-256 without a key: it detects a damaged or truncated file, not
//! a forged one (anyone can write a file with a matching checksum). What protects a page
//! against a forged index is validation: every length, width and value a search reads is
//! checked here, and [`Index::check_model`] holds the index to the loaded model's width.

use std::collections::HashMap;

use half::f16;
use safetensors::tensor::TensorView;
use safetensors::{Dtype, SafeTensors};

use super::{Description, Index, IndexError};
use crate::checksum::Checksum;
use crate::genres::NUM_GENRES;

pub(super) const KEY_VERSION: &str = "onesheet.index_version";
const KEY_DESCRIPTION: &str = "onesheet.index";
const KEY_CHECKSUM: &str = "onesheet.checksum";

/// The widest embedding an index may hold: far above any model's (MobileNetV2's 1280), low
/// enough that a forged width cannot make one query allocate without bound.
const MAX_DIMS: usize = 1 << 16;

impl Index {
    /// Serialises the index.
    pub fn to_bytes(&self) -> Result<Vec<u8>, IndexError> {
        let description = serde_json::to_string(&self.description)
            .map_err(|e| IndexError::Invalid(e.to_string()))?;
        let n = self.len();
        let dims = self.dims();
        let scores: Vec<u8> = self
            .scores
            .iter()
            .flat_map(|&s| f16::from_f32(s).to_le_bytes())
            .collect();
        // In name order, as the checksum reads them.
        let mut tensors = vec![(
            "centre",
            view(Dtype::F32, vec![dims], bytemuck::cast_slice(&self.centre))?,
        )];
        if let Some(norms) = &self.norms {
            tensors.push((
                "norms",
                view(Dtype::F32, vec![n], bytemuck::cast_slice(norms))?,
            ));
        }
        tensors.extend([
            (
                "scales",
                view(Dtype::F32, vec![n], bytemuck::cast_slice(&self.scales))?,
            ),
            ("scores", view(Dtype::F16, vec![n, NUM_GENRES], &scores)?),
            (
                "vectors",
                view(
                    Dtype::I8,
                    vec![n, dims],
                    bytemuck::cast_slice(&self.vectors),
                )?,
            ),
        ]);
        let mut checksum = Checksum::new(&description);
        for (name, tensor) in &tensors {
            checksum.add(name, tensor.dtype(), tensor.shape(), tensor.data());
        }
        let metadata = HashMap::from([
            (KEY_VERSION.to_string(), super::FORMAT_VERSION.to_string()),
            (KEY_DESCRIPTION.to_string(), description),
            (KEY_CHECKSUM.to_string(), checksum.finish()),
        ]);
        safetensors::serialize(tensors, Some(metadata))
            .map_err(|e| IndexError::Format(e.to_string()))
    }

    /// Reads an index, verifies its checksum (damage) and validates everything a search reads
    /// (forgery: see the module's documentation). Callers then hold it to their model with
    /// [`Index::check_model`].
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, IndexError> {
        let (_, header) =
            SafeTensors::read_metadata(bytes).map_err(|e| IndexError::Format(e.to_string()))?;
        let mut meta = header.metadata().clone().ok_or(IndexError::NotAnIndex)?;
        let version = meta.remove(KEY_VERSION).ok_or(IndexError::NotAnIndex)?;
        if version != super::FORMAT_VERSION.to_string() {
            return Err(IndexError::UnsupportedVersion { found: version });
        }
        let description_json = meta
            .remove(KEY_DESCRIPTION)
            .ok_or_else(|| IndexError::Invalid("no description".into()))?;
        let expected = meta
            .remove(KEY_CHECKSUM)
            .ok_or_else(|| IndexError::Invalid("no checksum".into()))?;
        let tensors =
            SafeTensors::deserialize(bytes).map_err(|e| IndexError::Format(e.to_string()))?;
        let found = Checksum::of(&description_json, &tensors);
        if found != expected {
            return Err(IndexError::Checksum { expected, found });
        }
        let description: Description = serde_json::from_str(&description_json)
            .map_err(|e| IndexError::Invalid(e.to_string()))?;
        let tensor = |name: &str, dtype: Dtype| {
            let view = tensors
                .tensor(name)
                .map_err(|_| IndexError::Invalid(format!("no `{name}` tensor")))?;
            if view.dtype() == dtype {
                Ok(view)
            } else {
                Err(IndexError::Invalid(format!(
                    "`{name}` is {:?}, not {dtype:?}",
                    view.dtype()
                )))
            }
        };
        let centre: Vec<f32> = floats(tensor("centre", Dtype::F32)?.data());
        let vectors: Vec<i8> = tensor("vectors", Dtype::I8)?
            .data()
            .iter()
            .map(|&b| b.cast_signed())
            .collect();
        let scales = floats(tensor("scales", Dtype::F32)?.data());
        // Written since entries can be re-centred; older files have none.
        let norms = match tensors.tensor("norms") {
            Ok(_) => Some(floats(tensor("norms", Dtype::F32)?.data())),
            Err(_) => None,
        };
        let scores: Vec<f32> = tensor("scores", Dtype::F16)?
            .data()
            .chunks_exact(2)
            .map(|b| f16::from_le_bytes([b[0], b[1]]).to_f32())
            .collect();
        let index = Self {
            positions: positions(&description.files)?,
            description,
            scores,
            centre,
            vectors,
            scales,
            norms,
        };
        index.validate()?;
        Ok(index)
    }

    /// Refuses what would break a search or a listing later: lengths that do not fit
    /// together, a width of nothing (or absurdly many values), values that are not finite.
    fn validate(&self) -> Result<(), IndexError> {
        let (n, dims) = (self.len(), self.dims());
        if !(1..=MAX_DIMS).contains(&dims) {
            return Err(IndexError::Invalid(format!(
                "embeddings of {dims} values (at most {MAX_DIMS}, at least 1)"
            )));
        }
        // A forged count must not overflow into a match (wasm32's usize is 32 bits).
        let cells = |width: usize| {
            n.checked_mul(width)
                .ok_or_else(|| IndexError::Invalid(format!("{n} posters of {width} values")))
        };
        let lengths = [
            ("vectors", self.vectors.len(), cells(dims)?),
            ("scales", self.scales.len(), n),
            ("scores", self.scores.len(), cells(NUM_GENRES)?),
            ("thresholds", self.description.thresholds.len(), NUM_GENRES),
        ];
        let norms = self.norms.as_ref().map(|norms| ("norms", norms.len(), n));
        for (name, found, wanted) in lengths.into_iter().chain(norms) {
            if found != wanted {
                return Err(IndexError::Invalid(format!(
                    "{n} posters of {dims} values, but `{name}` holds {found} values, not \
                     {wanted}"
                )));
            }
        }
        let all_finite = |name: &str, values: &[f32], non_negative: bool| {
            if values
                .iter()
                .all(|v| v.is_finite() && (!non_negative || *v >= 0.0))
            {
                Ok(())
            } else {
                Err(IndexError::Invalid(format!(
                    "`{name}` holds a value that is not a finite{} number",
                    if non_negative { ", non-negative" } else { "" }
                )))
            }
        };
        all_finite("centre", &self.centre, false)?;
        all_finite("scales", &self.scales, true)?;
        all_finite("scores", &self.scores, false)?;
        all_finite("thresholds", &self.description.thresholds, false)?;
        if let Some(norms) = &self.norms {
            all_finite("norms", norms, true)?;
        }
        Ok(())
    }
}

/// Each name's row; a name twice is refused (one of them could never be found).
fn positions(files: &[String]) -> Result<HashMap<String, usize>, IndexError> {
    let positions: HashMap<String, usize> = files
        .iter()
        .enumerate()
        .map(|(i, f)| (f.clone(), i))
        .collect();
    if positions.len() == files.len() {
        Ok(positions)
    } else {
        Err(IndexError::Invalid("a poster name appears twice".into()))
    }
}

fn view(dtype: Dtype, shape: Vec<usize>, data: &[u8]) -> Result<TensorView<'_>, IndexError> {
    TensorView::new(dtype, shape, data).map_err(|e| IndexError::Invalid(e.to_string()))
}

/// Little-endian f32s from bytes (safetensors data need not be aligned for a cast).
fn floats(bytes: &[u8]) -> Vec<f32> {
    bytes
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect()
}
