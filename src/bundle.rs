//! The model bundle: one file with the weights, genres, thresholds, input spec and provenance.
//!
//! A bundle is a standard safetensors file (any safetensors reader can inspect it) whose
//! header metadata holds a format version, a JSON manifest and a SHA-256 checksum over the
//! manifest and every tensor. It loads from bytes, because the browser fetches it.

use std::collections::BTreeMap;

use burn::store::{FloatCastAdapter, HalfPrecisionAdapter, ModuleSnapshot, SafetensorsStore};
use burn::tensor::{DType, Device};
use safetensors::SafeTensors;
use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::checksum::Checksum;
use crate::genres::{GENRES, NUM_GENRES};
use crate::model::{GenreClassifier, GenreHeadConfig, MobileNetV2Config};
use crate::prediction::Prediction;
use crate::preprocess::InputSpec;
use crate::year::{Year, YearPrior};

/// The bundle format this build reads and writes.
pub const FORMAT_VERSION: u32 = 1;
/// The architecture tag this build can run.
pub const ARCHITECTURE: &str = "mobilenet_v2_1.0";

/// The widest hidden layer a bundle's genre head may declare (what memory allows to allocate
/// before the weights are checked against it).
pub const MAX_HEAD_HIDDEN: usize = 4096;

const KEY_VERSION: &str = "onesheet.format_version";
const KEY_MANIFEST: &str = "onesheet.manifest";
const KEY_CHECKSUM: &str = "onesheet.checksum";

/// Why a bundle could not be read or written.
#[derive(Debug, Error)]
pub enum BundleError {
    /// Not a safetensors file at all, or cut short.
    #[error("not a onesheet model bundle, or the file is truncated: {0}")]
    Format(String),
    /// A safetensors file without onesheet's metadata.
    #[error("this safetensors file is not a onesheet model bundle (no `{KEY_VERSION}`)")]
    NotABundle,
    /// Written by another version of the format.
    #[error(
        "bundle format version {found} is not supported (this build reads version {FORMAT_VERSION})"
    )]
    UnsupportedVersion {
        /// The version in the file.
        found: String,
    },
    /// The manifest is not valid JSON of the expected shape.
    #[error("the bundle's manifest is invalid: {0}")]
    Manifest(String),
    /// The content does not match the checksum written with it.
    #[error("the bundle is damaged: checksum mismatch (expected {expected}, found {found})")]
    Checksum {
        /// Checksum in the header.
        expected: String,
        /// Checksum of the content.
        found: String,
    },
    /// The weights do not fit the model the manifest describes.
    #[error("the bundle's weights do not fit the model: {0}")]
    Weights(String),
}

/// One genre's entry in the manifest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GenreDecision {
    /// TMDb genre id.
    pub id: u32,
    /// TMDb genre name.
    pub name: String,
    /// Score at or above which the genre is predicted.
    pub threshold: f32,
}

/// Where the model came from and how good it is.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Provenance {
    /// False for a bundle whose genre head was never trained (for tests only).
    pub trained: bool,
    /// When the bundle was made (ISO 8601).
    pub created: String,
    /// The pretrained backbone it started from.
    pub backbone: String,
    /// What it was trained on.
    pub training_data: String,
    /// How it was trained.
    pub recipe: String,
    /// The command that trains it again: `onesheet train`, with a flag for each setting that
    /// differs from the shipped recipe (absent from bundles not made by `onesheet train`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<String>,
    /// Headline test metrics, by name.
    pub metrics: BTreeMap<String, f64>,
}

/// Everything about a bundle except its weights.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// Always [`ARCHITECTURE`] for now.
    pub architecture: String,
    /// Input geometry and normalisation.
    pub input: InputSpec,
    /// The genres in output order, with their decision thresholds.
    pub genres: Vec<GenreDecision>,
    /// Storage type of the convolution and linear weights (`F16` or `F32`).
    pub weights_dtype: String,
    /// Origin and metrics.
    pub provenance: Provenance,
    /// What the release year adds, when the bundle was trained with it (older bundles have
    /// none, and classify every poster from its image alone).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub year: Option<YearPrior>,
    /// Width of the genre head's hidden ReLU layer (absent: a linear head, as older bundles).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub head_hidden: Option<usize>,
}

impl Manifest {
    /// A manifest for the 19 TMDb genres, every threshold at `threshold`.
    pub fn new(input: InputSpec, threshold: f32, provenance: Provenance) -> Self {
        Self {
            architecture: ARCHITECTURE.to_string(),
            input,
            genres: GENRES
                .iter()
                .map(|g| GenreDecision {
                    id: g.id,
                    name: g.name.to_string(),
                    threshold,
                })
                .collect(),
            weights_dtype: String::new(),
            provenance,
            year: None,
            head_hidden: None,
        }
    }

    /// The one rule every face applies to a poster's model scores: with a year (and a bundle
    /// that knows years) the scores move by the year's decade and its thresholds decide;
    /// otherwise the bundle's own thresholds decide the image model's scores.
    pub fn predict(&self, scores: Vec<f32>, year: Option<Year>) -> Prediction {
        match (self.year.as_ref(), year) {
            (Some(prior), Some(year)) => {
                Prediction::decide(prior.apply(&scores, year), &prior.thresholds)
            }
            _ => Prediction::decide(scores, &self.thresholds()),
        }
    }

    /// The thresholds, in output order.
    pub fn thresholds(&self) -> Vec<f32> {
        self.genres.iter().map(|g| g.threshold).collect()
    }

    /// Checks every field a model run reads, so a bundle whose checksum is right can still not
    /// crash its user: the architecture; the input size and normalisation (see
    /// [`InputSpec::check`]: each side 32 to 2048 pixels, at most 4:1, a mean within 0–255, a
    /// positive std); the 19 TMDb genres, in order; and thresholds within [0, 1]. The message
    /// names the field.
    ///
    /// [`Bundle::from_bytes`] and [`Bundle::read_manifest`] call it before the checksum or the
    /// weights are looked at, and [`Bundle::to_bytes`] before anything is written.
    pub fn validate(&self) -> Result<(), BundleError> {
        let invalid = |message: String| Err(BundleError::Manifest(message));
        if self.architecture != ARCHITECTURE {
            return invalid(format!(
                "unknown architecture `{}` (this build runs `{ARCHITECTURE}`)",
                self.architecture
            ));
        }
        self.input
            .check()
            .map_err(|e| BundleError::Manifest(e.to_string()))?;
        if self.genres.len() != NUM_GENRES {
            return invalid(format!(
                "the manifest lists {} genres; the model has the {NUM_GENRES} TMDb genres",
                self.genres.len()
            ));
        }
        for (i, (genre, expected)) in self.genres.iter().zip(GENRES).enumerate() {
            if genre.id != expected.id || genre.name != expected.name {
                return invalid(format!(
                    "genre {i} is `{}` (id {}); the model's is `{}` (id {})",
                    genre.name, genre.id, expected.name, expected.id
                ));
            }
            // Written so that NaN fails.
            if !(0.0..=1.0).contains(&genre.threshold) {
                return invalid(format!(
                    "the threshold for {} is {}; it must be within [0, 1]",
                    genre.name, genre.threshold
                ));
            }
        }
        if let Some(prior) = &self.year {
            prior.validate().map_err(BundleError::Manifest)?;
        }
        if let Some(width) = self.head_hidden
            && !(1..=MAX_HEAD_HIDDEN).contains(&width)
        {
            return invalid(format!(
                "the genre head's hidden layer has {width} units; it must have 1 to \
                 {MAX_HEAD_HIDDEN}"
            ));
        }
        Ok(())
    }
}

/// How the weights are stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Precision {
    /// Half precision: half the size; see the README for the measured effect on scores.
    F16,
    /// Full precision.
    F32,
}

/// A model and its manifest.
#[derive(Debug)]
pub struct Bundle {
    /// Genres, thresholds, input spec, provenance.
    pub manifest: Manifest,
    /// The network.
    pub model: GenreClassifier,
}

impl Bundle {
    /// Serialises the bundle.
    pub fn to_bytes(&self, precision: Precision) -> Result<Vec<u8>, BundleError> {
        let mut manifest = self.manifest.clone();
        manifest.weights_dtype = format!("{precision:?}");
        // The head's shape is the model's, never a field to keep in step by hand.
        manifest.head_hidden = self.model.head.hidden.as_ref().map(|h| h.weight.dims()[1]);
        manifest.validate()?;
        let manifest_json =
            serde_json::to_string(&manifest).map_err(|e| BundleError::Manifest(e.to_string()))?;

        // The checksum covers the tensors, so write once to learn them, then again with it.
        let unsigned = self.write(precision, &manifest_json, None)?;
        let checksum = Checksum::of(&manifest_json, &tensors_of(&unsigned)?);
        self.write(precision, &manifest_json, Some(&checksum))
    }

    fn write(
        &self,
        precision: Precision,
        manifest_json: &str,
        checksum: Option<&str>,
    ) -> Result<Vec<u8>, BundleError> {
        let mut store = SafetensorsStore::from_bytes(None)
            .metadata(KEY_VERSION, FORMAT_VERSION.to_string())
            .metadata(KEY_MANIFEST, manifest_json);
        if let Some(checksum) = checksum {
            store = store.metadata(KEY_CHECKSUM, checksum);
        }
        if precision == Precision::F16 {
            store = store.with_to_adapter(HalfPrecisionAdapter::new());
        }
        self.model
            .save_into(&mut store)
            .map_err(|e| BundleError::Weights(e.to_string()))?;
        store
            .get_bytes()
            .map_err(|e| BundleError::Weights(e.to_string()))
    }

    /// The checksum a bundle's header claims (what [`Bundle::from_bytes`] verifies): the
    /// model's identity, which a catalogue index records.
    pub fn read_checksum(bytes: &[u8]) -> Result<String, BundleError> {
        Ok(Header::read(bytes)?.checksum)
    }

    /// Reads only the manifest, checking format and version but not the weights.
    pub fn read_manifest(bytes: &[u8]) -> Result<Manifest, BundleError> {
        Ok(Header::read(bytes)?.manifest)
    }

    /// Reads and verifies a bundle, loading its weights onto `device`.
    pub fn from_bytes(bytes: &[u8], device: &Device) -> Result<Self, BundleError> {
        let header = Header::read(bytes)?;
        let found = Checksum::of(&header.manifest_json, &tensors_of(bytes)?);
        if found != header.checksum {
            return Err(BundleError::Checksum {
                expected: header.checksum,
                found,
            });
        }

        let mut model = GenreClassifier {
            backbone: MobileNetV2Config::new().init(device),
            head: GenreHeadConfig::new()
                .with_hidden(header.manifest.head_hidden)
                .init(device),
        };
        // The model computes in f32 whatever the bundle stores.
        let mut store = SafetensorsStore::from_bytes(Some(bytes.to_vec()))
            .with_from_adapter(FloatCastAdapter::to(DType::F32));
        let result = model
            .load_from(&mut store)
            .map_err(|e| BundleError::Weights(e.to_string()))?;
        if let Some(error) = result.errors.first() {
            return Err(BundleError::Weights(format!("{error:?}")));
        }
        if let Some(unused) = result.unused.first() {
            return Err(BundleError::Weights(format!(
                "unexpected tensor `{unused}`"
            )));
        }
        Ok(Self {
            manifest: header.manifest,
            model,
        })
    }
}

/// What a bundle's safetensors header carries for onesheet.
struct Header {
    manifest: Manifest,
    manifest_json: String,
    checksum: String,
}

impl Header {
    /// Parses and checks the metadata: a onesheet bundle, of this format version, with a valid
    /// manifest and a checksum.
    fn read(bytes: &[u8]) -> Result<Self, BundleError> {
        let (_, metadata) =
            SafeTensors::read_metadata(bytes).map_err(|e| BundleError::Format(e.to_string()))?;
        let mut meta = metadata.metadata().clone().ok_or(BundleError::NotABundle)?;
        let version = meta.remove(KEY_VERSION).ok_or(BundleError::NotABundle)?;
        if version != FORMAT_VERSION.to_string() {
            return Err(BundleError::UnsupportedVersion { found: version });
        }
        let manifest_json = meta
            .remove(KEY_MANIFEST)
            .ok_or_else(|| BundleError::Manifest("missing".into()))?;
        let manifest: Manifest = serde_json::from_str(&manifest_json)
            .map_err(|e| BundleError::Manifest(e.to_string()))?;
        manifest.validate()?;
        let checksum = meta
            .remove(KEY_CHECKSUM)
            .ok_or_else(|| BundleError::Manifest("no checksum".into()))?;
        Ok(Self {
            manifest,
            manifest_json,
            checksum,
        })
    }
}

fn tensors_of(bytes: &[u8]) -> Result<SafeTensors<'_>, BundleError> {
    SafeTensors::deserialize(bytes).map_err(|e| BundleError::Format(e.to_string()))
}
