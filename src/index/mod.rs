//! A catalogue index: every poster's embedding, name and scores in one file, and the search
//! for posters like a given one.
//!
//! Like the bundle, an index is a safetensors file (readable by any safetensors tool) whose
//! header carries a format version, a JSON description and a SHA-256 checksum over both. Its
//! tensors: `vectors` (`I8`, `[posters, dims]`), each poster's embedding minus the catalogue's
//! mean, L2-normalised and quantised to 8 bits with its own scale (`scales`, `F32`,
//! `[posters]`); `norms` (`F32`, `[posters]`), the length of each centred embedding before
//! normalising, so a stored entry can be turned back into its embedding when the mean moves;
//! `centre` (`F32`, `[dims]`), that mean; and `scores` (`F16`, `[posters, genres]`). Centring
//! matters: every embedding comes out of a ReLU6 and a mean, so raw ones all point the same way
//! and every cosine is high. 8 bits keep each neighbour's cosine within about 0.01 at a quarter
//! of f32's size, and the search multiplies integers.
//!
//! The centre is always the mean of the posters the index holds: adding posters moves it and
//! re-centres the stored ones (from their dequantised values). Indexes written before `norms`
//! existed still load and search; their centre stays where it was written.
//!
//! An index belongs to the model whose embeddings it holds (its bundle checksum is in the
//! description); searching it with another model's embeddings would return noise, so callers
//! check [`Index::check_model`].

mod file;
mod url;

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::genres::NUM_GENRES;
use crate::prediction::Prediction;

pub use url::encode_name;

/// The index format this build reads and writes. `norms` came without a new version: older
/// builds ignore the extra tensor, and this one reads files without it.
pub const FORMAT_VERSION: u32 = 1;

/// Why an index could not be read, written or searched.
#[derive(Debug, Error)]
pub enum IndexError {
    /// Not a safetensors file, or cut short.
    #[error("not a onesheet index, or the file is truncated: {0}")]
    Format(String),
    /// A safetensors file without an index's metadata.
    #[error("this safetensors file is not a onesheet index (no `{key}`)", key = file::KEY_VERSION)]
    NotAnIndex,
    /// Written by another version of the format.
    #[error(
        "index format version {found} is not supported (this build reads version {FORMAT_VERSION})"
    )]
    UnsupportedVersion {
        /// The version in the file.
        found: String,
    },
    /// The content does not match the checksum written with it.
    #[error("the index is damaged: checksum mismatch (expected {expected}, found {found})")]
    Checksum {
        /// Checksum in the header.
        expected: String,
        /// Checksum of the content.
        found: String,
    },
    /// The description or the tensors do not fit together.
    #[error("the index is invalid: {0}")]
    Invalid(String),
    /// An embedding of the wrong width.
    #[error("an embedding has {found} values; this index holds {expected}")]
    Dimensions {
        /// The index's width.
        expected: usize,
        /// The embedding's.
        found: usize,
    },
    /// Made with another bundle than the one in use.
    #[error(
        "this catalogue index was made with another model; rebuild it with `onesheet index` \
         and the model in use"
    )]
    OtherModel,
    /// Its embeddings are not as wide as the model's.
    #[error(
        "the index holds embeddings of {index} values, but the model makes {model}: it was not \
         made with this model"
    )]
    Width {
        /// The index's width.
        index: usize,
        /// The model's.
        model: usize,
    },
}

/// What the index's header describes, besides its tensors.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Description {
    /// Checksum of the bundle whose embeddings these are.
    model: String,
    /// Where a poster's picture is, with `{file}` for its (URL-encoded) name, if anywhere.
    thumbnails: Option<String>,
    /// The bundle's decision thresholds, so an entry's genres read as they were decided.
    thresholds: Vec<f32>,
    /// Poster names, in row order.
    files: Vec<String>,
}

/// One poster in the index.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// Its name (a file name relative to the folder indexed).
    pub file: String,
    /// Its genre scores, in the model's genre order.
    pub scores: Vec<f32>,
}

/// A poster found near a query.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Neighbour {
    /// Its row in the index.
    pub position: usize,
    /// Cosine similarity to the query (centred embeddings), in [-1, 1].
    pub score: f32,
}

/// A similar poster, as every face lists it: `{"file", "score"}` (and `"thumbnail"`, its
/// picture's URL, where a browser face knows one).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Similar {
    /// Its name in the index.
    pub file: String,
    /// Cosine similarity to the query.
    pub score: f32,
    /// Its picture, where known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub thumbnail: Option<String>,
}

/// A poster to add: its name, embedding and genre scores.
pub type NewEntry<'a> = (String, &'a [f32], &'a [f32]);

/// The catalogue: embeddings, names, scores.
#[derive(Debug, Clone)]
pub struct Index {
    description: Description,
    scores: Vec<f32>,
    centre: Vec<f32>,
    vectors: Vec<i8>,
    scales: Vec<f32>,
    /// Each stored entry's length before normalising; `None` for a file written before they
    /// were kept, whose entries cannot be re-centred (so its centre stays put).
    norms: Option<Vec<f32>>,
    positions: HashMap<String, usize>,
}

impl Index {
    /// An empty index of `dims`-wide embeddings for the model with checksum `model`, deciding
    /// genres with `thresholds`. Its centre follows the posters added.
    pub fn new(model: String, dims: usize, thresholds: Vec<f32>) -> Self {
        Self {
            description: Description {
                model,
                thumbnails: None,
                thresholds,
                files: Vec::new(),
            },
            scores: Vec::new(),
            centre: vec![0.0; dims],
            vectors: Vec::new(),
            scales: Vec::new(),
            norms: Some(Vec::new()),
            positions: HashMap::new(),
        }
    }

    /// Checksum of the bundle whose embeddings the index holds.
    pub fn model(&self) -> &str {
        &self.description.model
    }

    /// Refuses an index that is not the model's own: another bundle's checksum, or embeddings
    /// of another width than the model's `dims` (which would fail every search).
    pub fn check_model(&self, model: &str, dims: usize) -> Result<(), IndexError> {
        if self.model() != model {
            return Err(IndexError::OtherModel);
        }
        if self.dims() != dims {
            return Err(IndexError::Width {
                index: self.dims(),
                model: dims,
            });
        }
        Ok(())
    }

    /// Width of the embeddings.
    pub fn dims(&self) -> usize {
        self.centre.len()
    }

    /// The mean embedding similarity is measured around.
    pub fn centre(&self) -> &[f32] {
        &self.centre
    }

    /// Whether the centre follows posters added (false for a file written before entries kept
    /// their norms).
    pub fn recentres(&self) -> bool {
        self.norms.is_some()
    }

    /// Posters in the index.
    pub fn len(&self) -> usize {
        self.description.files.len()
    }

    /// Whether it holds no poster.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Where pictures of the posters are: a URL with `{file}` for the poster's name.
    pub fn thumbnails(&self) -> Option<&str> {
        self.description.thumbnails.as_deref()
    }

    /// Sets where pictures of the posters are (`{file}` stands for the URL-encoded name).
    pub fn set_thumbnails(&mut self, pattern: Option<String>) {
        self.description.thumbnails = pattern;
    }

    /// Whether a poster of that name is indexed.
    pub fn contains(&self, file: &str) -> bool {
        self.positions.contains_key(file)
    }

    /// The poster at a row.
    pub fn entry(&self, position: usize) -> Option<Entry> {
        let file = self.description.files.get(position)?;
        let scores = self
            .scores
            .get(position * NUM_GENRES..(position + 1) * NUM_GENRES)?;
        Some(Entry {
            file: file.clone(),
            scores: scores.to_vec(),
        })
    }

    /// The poster at a row as a result lists it.
    pub fn similar(&self, position: usize, score: f32) -> Similar {
        Similar {
            file: self
                .description
                .files
                .get(position)
                .cloned()
                .unwrap_or_default(),
            score,
            thumbnail: None,
        }
    }

    /// An entry's decided genres, with the thresholds of the model that scored it.
    pub fn prediction(&self, entry: &Entry) -> Prediction {
        Prediction::decide(entry.scores.clone(), &self.description.thresholds)
    }

    /// Adds a poster (replacing one of the same name). Re-centres every entry: to add many,
    /// [`Index::extend`] does it once for all of them.
    pub fn insert(
        &mut self,
        file: String,
        embedding: &[f32],
        scores: &[f32],
    ) -> Result<(), IndexError> {
        self.extend([(file, embedding, scores)])
    }

    /// Adds posters (a name already indexed, or given twice, keeps the last embedding), then
    /// moves the centre to the mean of every poster held and re-centres the stored entries.
    /// Nothing changes when any of them is refused.
    pub fn extend<'a>(
        &mut self,
        entries: impl IntoIterator<Item = NewEntry<'a>>,
    ) -> Result<(), IndexError> {
        let entries: Vec<NewEntry<'a>> = entries.into_iter().collect();
        for (_, embedding, scores) in &entries {
            if embedding.len() != self.dims() {
                return Err(IndexError::Dimensions {
                    expected: self.dims(),
                    found: embedding.len(),
                });
            }
            if scores.len() != NUM_GENRES {
                return Err(IndexError::Invalid(format!(
                    "{} scores for {NUM_GENRES} genres",
                    scores.len()
                )));
            }
        }
        // Each poster's row once all are in: known names keep theirs, new ones follow.
        let mut rows: Vec<Option<&[f32]>> = vec![None; self.len()];
        for (file, embedding, scores) in &entries {
            let position = if let Some(&position) = self.positions.get(file) {
                position
            } else {
                let position = self.len();
                self.positions.insert(file.clone(), position);
                self.description.files.push(file.clone());
                self.scores.extend_from_slice(&[0.0; NUM_GENRES]);
                rows.push(None);
                position
            };
            rows[position] = Some(*embedding);
            self.scores[position * NUM_GENRES..(position + 1) * NUM_GENRES].copy_from_slice(scores);
        }
        self.requantise(&rows);
        Ok(())
    }

    /// Quantises `rows` (a new embedding, or `None` to keep the stored entry) around the mean
    /// of them all.
    fn requantise(&mut self, rows: &[Option<&[f32]>]) {
        let dims = self.dims();
        let stored = self.scales.len();
        let old_centre = self.centre.clone();
        // Every poster's embedding relative to the old centre: given, or dequantised.
        let offsets: Vec<Vec<f32>> = rows
            .iter()
            .enumerate()
            .map(|(position, row)| match row {
                Some(embedding) => embedding
                    .iter()
                    .zip(&old_centre)
                    .map(|(v, c)| v - c)
                    .collect(),
                None => self.dequantised(position),
            })
            .collect();
        if self.norms.is_some() {
            // The old centre is the mean of the entries stored: their offsets from it sum to
            // zero, so the new mean needs only what changed (the given embeddings, less the
            // entries they replace). Summing dequantised entries instead would add up their
            // rounding errors.
            let mut sum = vec![0.0f64; dims];
            for (position, row) in rows.iter().enumerate() {
                if row.is_none() {
                    continue;
                }
                for (s, &v) in sum.iter_mut().zip(&offsets[position]) {
                    *s += f64::from(v);
                }
                if position < stored {
                    for (s, v) in sum.iter_mut().zip(self.dequantised(position)) {
                        *s -= f64::from(v);
                    }
                }
            }
            let n = offsets.len().max(1) as f64;
            for (c, s) in self.centre.iter_mut().zip(sum) {
                *c += (s / n) as f32;
            }
        }
        let shift: Vec<f32> = old_centre
            .iter()
            .zip(&self.centre)
            .map(|(old, new)| old - new)
            .collect();
        let moved = shift.iter().any(|s| s.abs() > 0.0);
        self.vectors.resize(rows.len() * dims, 0);
        self.scales.resize(rows.len(), 0.0);
        let mut norms = self.norms.take();
        if let Some(norms) = norms.as_mut() {
            norms.resize(rows.len(), 0.0);
        }
        for (position, offset) in offsets.into_iter().enumerate() {
            let kept = rows[position].is_none() && position < stored;
            if kept && !moved {
                continue;
            }
            let centred: Vec<f32> = offset.iter().zip(&shift).map(|(v, s)| v + s).collect();
            // A stored entry keeps its step where it still fits, so a small move of the centre
            // rounds each value back to where it was instead of adding a new rounding error.
            let step = if kept {
                self.scales[position] * norms.as_ref().map_or(0.0, |n| n[position])
            } else {
                0.0
            };
            let quantised = Quantised::new(&centred, step);
            self.vectors[position * dims..(position + 1) * dims].copy_from_slice(&quantised.values);
            self.scales[position] = quantised.scale;
            if let Some(norms) = norms.as_mut() {
                norms[position] = quantised.norm;
            }
        }
        self.norms = norms;
    }

    /// A stored entry as its embedding minus the centre (zeros where that is unknown).
    fn dequantised(&self, position: usize) -> Vec<f32> {
        let dims = self.dims();
        let norm = self
            .norms
            .as_ref()
            .and_then(|n| n.get(position))
            .copied()
            .unwrap_or(0.0);
        let scale = self.scales.get(position).copied().unwrap_or(0.0) * norm;
        self.vectors
            .get(position * dims..(position + 1) * dims)
            .map_or_else(
                || vec![0.0; dims],
                |row| row.iter().map(|&v| f32::from(v) * scale).collect(),
            )
    }

    /// The `k` posters most like `embedding`, best first.
    pub fn search(&self, embedding: &[f32], k: usize) -> Result<Vec<Neighbour>, IndexError> {
        if embedding.len() != self.dims() {
            return Err(IndexError::Dimensions {
                expected: self.dims(),
                found: embedding.len(),
            });
        }
        let centred: Vec<f32> = embedding
            .iter()
            .zip(&self.centre)
            .map(|(v, c)| v - c)
            .collect();
        let query = Quantised::new(&centred, 0.0);
        Ok(self.nearest(&query.values, query.scale, k, None))
    }

    /// The `k` posters most like the one at `position`, itself left out.
    pub fn neighbours_of(&self, position: usize, k: usize) -> Vec<Neighbour> {
        let dims = self.dims();
        match (
            self.vectors.get(position * dims..(position + 1) * dims),
            self.scales.get(position),
        ) {
            (Some(query), Some(&scale)) => self.nearest(query, scale, k, Some(position)),
            _ => Vec::new(),
        }
    }

    fn nearest(&self, query: &[i8], scale: f32, k: usize, skip: Option<usize>) -> Vec<Neighbour> {
        let dims = self.dims().max(1);
        let mut found: Vec<Neighbour> = self
            .vectors
            .chunks_exact(dims)
            .zip(&self.scales)
            .enumerate()
            .filter(|&(position, _)| Some(position) != skip)
            .map(|(position, (row, &row_scale))| Neighbour {
                position,
                // Rounding can carry a copy's cosine a hair past 1.
                score: (dot(query, row) as f32 * scale * row_scale).clamp(-1.0, 1.0),
            })
            .collect();
        let by_score = |a: &Neighbour, b: &Neighbour| b.score.total_cmp(&a.score);
        if k < found.len() {
            found.select_nth_unstable_by(k, by_score);
            found.truncate(k);
        }
        found.sort_by(by_score);
        found
    }
}

/// A centred embedding in 8 bits: `values × scale` is it normalised to unit length, `norm` its
/// length before.
struct Quantised {
    values: Vec<i8>,
    scale: f32,
    norm: f32,
}

impl Quantised {
    /// Quantises `centred` with `step` per unit where it fits (the largest value within 127.5
    /// steps, and not so far inside that precision is wasted), else with the finest step that
    /// fits.
    fn new(centred: &[f32], step: f32) -> Self {
        let norm = centred.iter().map(|v| v * v).sum::<f32>().sqrt();
        let largest = centred.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        if !(norm.is_finite() && norm > 0.0 && largest > 0.0) {
            // The catalogue's mean itself, or garbage: no direction, so like nothing.
            return Self {
                values: vec![0; centred.len()],
                scale: 0.0,
                norm: 0.0,
            };
        }
        let fits = step.is_finite() && (step * 120.0..=step * 127.5).contains(&largest);
        let step = if fits { step } else { largest / 127.0 };
        let values = centred
            .iter()
            .map(|v| (v / step).round().clamp(-127.0, 127.0) as i8)
            .collect();
        Self {
            values,
            scale: step / norm,
            norm,
        }
    }
}

/// The mean of some embeddings (empty for none).
pub fn mean<'a>(embeddings: impl IntoIterator<Item = &'a [f32]>) -> Vec<f32> {
    let mut sum: Vec<f64> = Vec::new();
    let mut n = 0usize;
    for embedding in embeddings {
        sum.resize(sum.len().max(embedding.len()), 0.0);
        for (s, &v) in sum.iter_mut().zip(embedding) {
            *s += f64::from(v);
        }
        n += 1;
    }
    sum.into_iter()
        .map(|s| (s / n.max(1) as f64) as f32)
        .collect()
}

/// Integer dot product: 8-bit products summed in 32 bits (no overflow below 2^17 dimensions),
/// written so the compiler vectorises it (SIMD128 in the browser).
fn dot(a: &[i8], b: &[i8]) -> i32 {
    a.iter()
        .zip(b)
        .map(|(&x, &y)| i32::from(x) * i32::from(y))
        .sum()
}

#[cfg(test)]
mod tests;
