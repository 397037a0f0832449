//! A catalogue index: every poster's embedding, name and scores in one file, and the search
//! for posters like a given one.
//!
//! Like the bundle, an index is a safetensors file (readable by any safetensors tool) whose
//! header carries a format version, a JSON description and a SHA-256 checksum over both. Its
//! tensors: `vectors` (`I8`, `[posters, dims]`), each poster's embedding minus the catalogue's
//! mean, L2-normalised and quantised to 8 bits with its own scale (`scales`, `F32`,
//! `[posters]`); `centre` (`F32`, `[dims]`), that mean; and `scores` (`F16`,
//! `[posters, genres]`). Centring matters: every embedding comes out of a ReLU6 and a mean, so
//! raw ones all point the same way and every cosine is high. 8 bits keep each neighbour's cosine
//! within about 0.01 at a quarter of f32's size, and the search multiplies integers.
//!
//! An index belongs to the model whose embeddings it holds (its bundle checksum is in the
//! description); searching it with another model's embeddings would return noise, so callers
//! check [`Index::model`].

use std::collections::HashMap;

use half::f16;
use safetensors::tensor::TensorView;
use safetensors::{Dtype, SafeTensors};
use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::checksum::Checksum;
use crate::genres::NUM_GENRES;
use crate::prediction::Prediction;

/// The index format this build reads and writes.
pub const FORMAT_VERSION: u32 = 1;

const KEY_VERSION: &str = "onesheet.index_version";
const KEY_DESCRIPTION: &str = "onesheet.index";
const KEY_CHECKSUM: &str = "onesheet.checksum";

/// Why an index could not be read, written or searched.
#[derive(Debug, Error)]
pub enum IndexError {
    /// Not a safetensors file, or cut short.
    #[error("not a onesheet index, or the file is truncated: {0}")]
    Format(String),
    /// A safetensors file without an index's metadata.
    #[error("this safetensors file is not a onesheet index (no `{KEY_VERSION}`)")]
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

/// The catalogue: embeddings, names, scores.
#[derive(Debug, Clone)]
pub struct Index {
    description: Description,
    scores: Vec<f32>,
    centre: Vec<f32>,
    vectors: Vec<i8>,
    scales: Vec<f32>,
    positions: HashMap<String, usize>,
}

impl Index {
    /// An empty index for the model with checksum `model`, centred on `centre` (the mean
    /// embedding of the posters it is made for), deciding genres with `thresholds`.
    pub fn new(model: String, centre: Vec<f32>, thresholds: Vec<f32>) -> Self {
        Self {
            description: Description {
                model,
                thumbnails: None,
                thresholds,
                files: Vec::new(),
            },
            scores: Vec::new(),
            centre,
            vectors: Vec::new(),
            scales: Vec::new(),
            positions: HashMap::new(),
        }
    }

    /// Checksum of the bundle whose embeddings the index holds.
    pub fn model(&self) -> &str {
        &self.description.model
    }

    /// Width of the embeddings.
    pub fn dims(&self) -> usize {
        self.centre.len()
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

    /// Adds a poster (replacing one of the same name).
    pub fn insert(
        &mut self,
        file: String,
        embedding: &[f32],
        scores: &[f32],
    ) -> Result<(), IndexError> {
        let (vector, scale) = self.quantise(embedding)?;
        if scores.len() != NUM_GENRES {
            return Err(IndexError::Invalid(format!(
                "{} scores for {NUM_GENRES} genres",
                scores.len()
            )));
        }
        let dims = self.dims();
        if let Some(&position) = self.positions.get(&file) {
            self.vectors[position * dims..(position + 1) * dims].copy_from_slice(&vector);
            self.scales[position] = scale;
            self.scores[position * NUM_GENRES..(position + 1) * NUM_GENRES].copy_from_slice(scores);
        } else {
            self.positions.insert(file.clone(), self.len());
            self.description.files.push(file);
            self.vectors.extend_from_slice(&vector);
            self.scales.push(scale);
            self.scores.extend_from_slice(scores);
        }
        Ok(())
    }

    /// The `k` posters most like `embedding`, best first.
    pub fn search(&self, embedding: &[f32], k: usize) -> Result<Vec<Neighbour>, IndexError> {
        let (query, scale) = self.quantise(embedding)?;
        Ok(self.nearest(&query, scale, k, None))
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

    /// Centres, normalises and quantises an embedding: 8-bit values and the scale that turns
    /// them back into a unit vector.
    fn quantise(&self, embedding: &[f32]) -> Result<(Vec<i8>, f32), IndexError> {
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
        let norm = centred.iter().map(|v| v * v).sum::<f32>().sqrt();
        let largest = centred.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        if !(norm.is_finite() && norm > 0.0 && largest > 0.0) {
            // The catalogue's mean itself, or garbage: no direction, so like nothing.
            return Ok((vec![0; embedding.len()], 0.0));
        }
        let step = largest / 127.0;
        let vector = centred
            .iter()
            .map(|v| (v / step).round().clamp(-127.0, 127.0) as i8)
            .collect();
        Ok((vector, step / norm))
    }

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
        let tensors = vec![
            (
                "centre",
                view(Dtype::F32, vec![dims], bytemuck::cast_slice(&self.centre))?,
            ),
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
        ];
        let mut checksum = Checksum::new(&description);
        for (name, tensor) in &tensors {
            checksum.add(name, tensor.dtype(), tensor.shape(), tensor.data());
        }
        let metadata = HashMap::from([
            (KEY_VERSION.to_string(), FORMAT_VERSION.to_string()),
            (KEY_DESCRIPTION.to_string(), description),
            (KEY_CHECKSUM.to_string(), checksum.finish()),
        ]);
        safetensors::serialize(tensors, Some(metadata))
            .map_err(|e| IndexError::Format(e.to_string()))
    }

    /// Reads and verifies an index.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, IndexError> {
        let (_, header) =
            SafeTensors::read_metadata(bytes).map_err(|e| IndexError::Format(e.to_string()))?;
        let mut meta = header.metadata().clone().ok_or(IndexError::NotAnIndex)?;
        let version = meta.remove(KEY_VERSION).ok_or(IndexError::NotAnIndex)?;
        if version != FORMAT_VERSION.to_string() {
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
        let n = description.files.len();
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
        let dims = centre.len();
        let vectors: Vec<i8> = tensor("vectors", Dtype::I8)?
            .data()
            .iter()
            .map(|&b| b.cast_signed())
            .collect();
        let scales = floats(tensor("scales", Dtype::F32)?.data());
        let scores: Vec<f32> = tensor("scores", Dtype::F16)?
            .data()
            .chunks_exact(2)
            .map(|b| f16::from_le_bytes([b[0], b[1]]).to_f32())
            .collect();
        if dims == 0
            || vectors.len() != n * dims
            || scales.len() != n
            || scores.len() != n * NUM_GENRES
            || description.thresholds.len() != NUM_GENRES
        {
            return Err(IndexError::Invalid(format!(
                "{n} posters, but tensors of {} vectors ({dims} wide), {} scales, {} scores \
                 and {} thresholds",
                vectors.len(),
                scales.len(),
                scores.len(),
                description.thresholds.len()
            )));
        }
        let positions = description
            .files
            .iter()
            .enumerate()
            .map(|(i, f)| (f.clone(), i))
            .collect::<HashMap<_, _>>();
        if positions.len() != n {
            return Err(IndexError::Invalid("a poster name appears twice".into()));
        }
        Ok(Self {
            description,
            scores,
            centre,
            vectors,
            scales,
            positions,
        })
    }
}

fn view(dtype: Dtype, shape: Vec<usize>, data: &[u8]) -> Result<TensorView<'_>, IndexError> {
    TensorView::new(dtype, shape, data).map_err(|e| IndexError::Invalid(e.to_string()))
}

/// The mean of some embeddings: the centre an index measures similarity around (empty for
/// none).
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

/// Little-endian f32s from bytes (safetensors data need not be aligned for a cast).
fn floats(bytes: &[u8]) -> Vec<f32> {
    bytes
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
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
mod tests {
    use super::*;

    fn unit(dims: usize, hot: &[(usize, f32)]) -> Vec<f32> {
        let mut v = vec![0.0; dims];
        for &(i, x) in hot {
            v[i] = x;
        }
        v
    }

    fn sample() -> Index {
        let mut index = Index::new("model".into(), vec![0.0; 8], vec![0.5; NUM_GENRES]);
        let mut scores = vec![0.1; NUM_GENRES];
        scores[3] = 0.9;
        index
            .insert("a.jpg".into(), &unit(8, &[(0, 1.0)]), &scores)
            .expect("a");
        index
            .insert("b.jpg".into(), &unit(8, &[(0, 0.9), (1, 0.3)]), &scores)
            .expect("b");
        index
            .insert("c.jpg".into(), &unit(8, &[(5, 1.0)]), &scores)
            .expect("c");
        index
    }

    #[test]
    fn finds_the_nearest_best_first_with_cosine_scores() {
        let index = sample();
        let found = index.search(&unit(8, &[(0, 2.0)]), 2).expect("search");
        assert_eq!(found.iter().map(|n| n.position).collect::<Vec<_>>(), [0, 1]);
        assert!((found[0].score - 1.0).abs() < 0.01, "{found:?}");
        let cosine = 0.9 / (0.9f32 * 0.9 + 0.3 * 0.3).sqrt();
        assert!((found[1].score - cosine).abs() < 0.01, "{found:?}");
        assert_eq!(index.neighbours_of(0, 5)[0].position, 1);
        assert_eq!(index.neighbours_of(0, 5).len(), 2);
    }

    #[test]
    fn round_trips_and_refuses_damage() {
        let mut index = sample();
        index.set_thumbnails(Some("/posters/{file}".into()));
        let bytes = index.to_bytes().expect("write");
        let back = Index::from_bytes(&bytes).expect("read");
        assert_eq!(back.len(), 3);
        assert_eq!(back.thumbnails(), Some("/posters/{file}"));
        assert_eq!(back.entry(2).map(|e| e.file), Some("c.jpg".to_string()));
        let entry = back.entry(0).expect("entry");
        assert_eq!(back.prediction(&entry).genres, vec![3]);
        assert_eq!(
            back.search(&unit(8, &[(5, 1.0)]), 1).expect("search")[0].position,
            2
        );

        let mut damaged = bytes.clone();
        let last = damaged.len() - 1;
        damaged[last] ^= 1;
        assert!(matches!(
            Index::from_bytes(&damaged),
            Err(IndexError::Checksum { .. })
        ));
        assert!(Index::from_bytes(&bytes[..bytes.len() / 2]).is_err());
        assert!(matches!(
            Index::from_bytes(b"not an index"),
            Err(IndexError::Format(_))
        ));
    }

    #[test]
    fn inserting_a_known_name_replaces_it() {
        let mut index = sample();
        index
            .insert("a.jpg".into(), &unit(8, &[(5, 1.0)]), &[0.2; NUM_GENRES])
            .expect("replace");
        assert_eq!(index.len(), 3);
        assert_eq!(index.neighbours_of(2, 1)[0].position, 0);
        assert!(matches!(
            index.search(&[1.0; 3], 1),
            Err(IndexError::Dimensions {
                expected: 8,
                found: 3
            })
        ));
    }

    #[test]
    fn the_mean_is_taken_per_value() {
        let (a, b) = ([1.0, 2.0], [3.0, 6.0]);
        assert_eq!(mean([a.as_slice(), b.as_slice()]), vec![2.0, 4.0]);
        assert!(mean(std::iter::empty::<&[f32]>()).is_empty());
    }

    #[test]
    fn the_centre_is_taken_out() {
        // Two posters close to the catalogue's mean differ only in their small offsets.
        let centre = unit(4, &[(0, 1.0)]);
        let mut index = Index::new("m".into(), centre, vec![0.5; NUM_GENRES]);
        index
            .insert(
                "x".into(),
                &unit(4, &[(0, 1.0), (1, 0.1)]),
                &[0.0; NUM_GENRES],
            )
            .expect("x");
        index
            .insert(
                "y".into(),
                &unit(4, &[(0, 1.0), (2, 0.1)]),
                &[0.0; NUM_GENRES],
            )
            .expect("y");
        let found = index
            .search(&unit(4, &[(0, 1.0), (2, 0.05)]), 2)
            .expect("search");
        assert_eq!(found[0].position, 1);
        assert!(found[1].score.abs() < 0.01, "{found:?}");
    }
}
