//! Stage 1: the frozen backbone's outputs, computed once per poster and view and cached.
//!
//! For every poster and view (as is, mirrored) the cache keeps the pooled 1280-d embedding (what
//! the genre head reads), the pooled outputs of each stage's last block (the lower-level colour
//! and texture features the richer heads are measured with) and the activation entering the last
//! inverted-residual block (what top-block fine-tuning starts from); for each poster as is, a
//! small thumbnail (what the seeds' pixel-based systems and the colour tables read). It lives under a directory named by a key over the
//! weights' bytes and the preprocessing, so a change to either can never read stale features.
//! Work is written in chunks, each synced and renamed into place when complete, with a checksum
//! over its data: a killed run computes only the missing chunks, and a damaged one is computed
//! again.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use anyhow::{Context, Result, bail};
use burn::tensor::{Device, Tensor, TensorData};
use half::f16;
use onesheet::model::{FEATURES, MobileNetV2, ModelInput, batch, global_average_pool};
use onesheet::preprocess::{self, DecodeLimits, InputSpec};
use safetensors::{Dtype, SafeTensors, tensor::TensorView};
use sha2::{Digest, Sha256};

use crate::dataset::Poster;
use onesheet::files::write;
use onesheet::progress;

/// Views cached per poster: as is, and mirrored left to right.
pub const VIEWS: usize = 2;
/// The cache keeps the input of this block; blocks from here on can be fine-tuned from it.
pub const TAP_BLOCK: usize = 16;
/// Channels entering [`TAP_BLOCK`].
pub const TAP_CHANNELS: usize = 160;
/// The blocks whose pooled outputs are cached: the last block of each of MobileNetV2's stages.
pub const STAGE_ENDS: [usize; 7] = [0, 2, 5, 9, 12, 15, 16];
/// Channels out of each of [`STAGE_ENDS`].
pub const STAGE_CHANNELS: [usize; 7] = [16, 24, 32, 64, 96, 160, 320];
/// Width of one view's pooled stage outputs, all stages side by side.
pub const STAGE_FEATURES: usize = 712;
/// The thumbnail is the model input box-averaged by this factor in each direction.
pub const THUMB_FACTOR: usize = 4;
/// Posters per cache file.
const CHUNK: usize = 256;
/// Bumped when what a chunk holds changes.
const CACHE_VERSION: &str = "onesheet-features-v3";

/// What the cached numbers depend on.
pub struct CacheSpec {
    /// SHA-256 of the pretrained weights file.
    pub weights_digest: String,
    /// Preprocessing (input size, normalisation).
    pub input: InputSpec,
}

impl CacheSpec {
    /// Reads and hashes the weights file.
    pub fn new(weights: &Path, input: InputSpec) -> Result<Self> {
        let bytes =
            std::fs::read(weights).with_context(|| format!("reading {}", weights.display()))?;
        Ok(Self {
            weights_digest: format!("{:x}", Sha256::digest(&bytes)),
            input,
        })
    }

    /// The cache directory's name: changes whenever the features would.
    pub fn key(&self) -> Result<String> {
        let mut hasher = Sha256::new();
        hasher.update(CACHE_VERSION);
        hasher.update(&self.weights_digest);
        hasher.update(serde_json::to_vec(&self.input)?);
        hasher.update(format!("views={VIEWS} tap={TAP_BLOCK} resize=triangle"));
        Ok(format!("{:x}", hasher.finalize())[..16].to_string())
    }

    /// `[3, height, width]` of one cached thumbnail.
    pub fn thumb_shape(&self) -> [usize; 3] {
        [
            3,
            self.input.height as usize / THUMB_FACTOR,
            self.input.width as usize / THUMB_FACTOR,
        ]
    }

    /// `[channels, height, width]` of one cached tap activation.
    pub fn tap_shape(&self) -> [usize; 3] {
        let down = |n: u32| (n as usize).div_ceil(32);
        [
            TAP_CHANNELS,
            down(self.input.height),
            down(self.input.width),
        ]
    }
}

/// Cached outputs for a list of posters, in the list's order.
pub struct Features {
    /// Row `i` is the `i`-th poster.
    pub ids: Vec<String>,
    /// `[posters, VIEWS, FEATURES]` pooled embeddings.
    pub pooled: Vec<f32>,
    /// `[posters, VIEWS, tap_shape]` activations entering [`TAP_BLOCK`], in f16.
    pub tap: Vec<f16>,
    /// Shape of one tap activation.
    pub tap_shape: [usize; 3],
    /// `[posters, VIEWS, STAGE_FEATURES]` pooled outputs of the [`STAGE_ENDS`] blocks.
    pub stages: Vec<f32>,
    /// `[posters, thumb_shape]` RGB thumbnails of each poster as is, channel-major, 0–255.
    pub thumbs: Vec<u8>,
    /// Shape of one thumbnail.
    pub thumb_shape: [usize; 3],
}

impl Features {
    /// Values in one tap activation.
    pub fn tap_len(&self) -> usize {
        self.tap_shape.iter().product()
    }

    /// The pooled embedding of poster `row`, view `view`.
    pub fn pooled(&self, row: usize, view: usize) -> &[f32] {
        let at = (row * VIEWS + view) * FEATURES;
        &self.pooled[at..at + FEATURES]
    }

    /// The pooled stage outputs of poster `row`, view `view`.
    pub fn stages(&self, row: usize, view: usize) -> &[f32] {
        let at = (row * VIEWS + view) * STAGE_FEATURES;
        &self.stages[at..at + STAGE_FEATURES]
    }

    /// Values in one thumbnail.
    pub fn thumb_len(&self) -> usize {
        self.thumb_shape.iter().product()
    }

    /// The thumbnail of poster `row`.
    pub fn thumb(&self, row: usize) -> &[u8] {
        let len = self.thumb_len();
        &self.thumbs[row * len..(row + 1) * len]
    }

    /// `[3, height, width]` of [`Self::small_thumb`]: half the thumbnail's.
    pub fn small_thumb_shape(&self) -> [usize; 3] {
        let [c, h, w] = self.thumb_shape;
        [c, h / 2, w / 2]
    }

    /// The thumbnail of poster `row` box-averaged by 2 in each direction, 0–255, channel-major
    /// (what the seeds' pixel systems read: 28 × 40 at the usual input).
    pub fn small_thumb(&self, row: usize) -> Vec<f32> {
        let thumb = self.thumb(row);
        let [_, h, w] = self.thumb_shape;
        let [c, sh, sw] = self.small_thumb_shape();
        let mut out = Vec::with_capacity(c * sh * sw);
        for plane in thumb.chunks(h * w).take(c) {
            for y in 0..sh {
                for x in 0..sw {
                    let at = |dy: usize, dx: usize| f32::from(plane[(2 * y + dy) * w + 2 * x + dx]);
                    out.push((at(0, 0) + at(0, 1) + at(1, 0) + at(1, 1)) / 4.0);
                }
            }
        }
        out
    }

    /// The tap activation of poster `row`, view `view`.
    pub fn tap(&self, row: usize, view: usize) -> &[f16] {
        let len = self.tap_len();
        let at = (row * VIEWS + view) * len;
        &self.tap[at..at + len]
    }
}

/// Computes what is missing from the cache under `root` and returns all of it.
pub fn ensure(
    posters: &[Poster],
    root: &Path,
    spec: &CacheSpec,
    backbone: &MobileNetV2,
    device: &Device,
    batch_size: usize,
) -> Result<Features> {
    let dir = root.join(spec.key()?);
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let chunks: Vec<&[Poster]> = posters.chunks(CHUNK).collect();
    let tap_shape = spec.tap_shape();
    let thumb_shape = spec.thumb_shape();
    let lens = Lens {
        tap: tap_shape.iter().product(),
        thumb: thumb_shape.iter().product(),
    };
    // A chunk counts as cached only when it reads back whole and matches its checksum: a
    // damaged one (a full disk, a copy cut short) is computed again, not trusted.
    let mut loaded: Vec<Option<Chunk>> = (0..chunks.len())
        .map(|i| {
            let path = chunk_path(&dir, i);
            if !path.exists() {
                return None;
            }
            read_chunk(&path, chunks[i], &lens)
                .map_err(|error| {
                    eprintln!(
                        "warning: cached features {} are damaged ({error:#}); computing them again",
                        path.display()
                    );
                })
                .ok()
        })
        .collect();
    let cached = chunks
        .iter()
        .zip(&loaded)
        .filter(|(_, c)| c.is_some())
        .map(|(c, _)| c.len())
        .sum::<usize>();
    let bar = progress::bar(posters.len() as u64, "caching backbone features");
    bar.set_position(cached as u64);
    if cached < posters.len() {
        eprintln!(
            "caching features of {} posters in {} ({} already cached)",
            posters.len(),
            dir.display(),
            cached
        );
    }
    // One chunk per core at a time: flex keeps about one core busy on a batch of its own.
    let missing: Vec<usize> = (0..chunks.len()).filter(|&i| loaded[i].is_none()).collect();
    let next = AtomicUsize::new(0);
    let workers = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    std::thread::scope(|scope| -> Result<()> {
        let handles: Vec<_> = (0..workers.min(missing.len()))
            .map(|_| {
                scope.spawn(|| -> Result<()> {
                    while let Some(&i) = missing.get(next.fetch_add(1, Ordering::SeqCst)) {
                        let bytes =
                            compute_chunk(chunks[i], spec, backbone, device, batch_size, &bar)?;
                        write::atomic(&chunk_path(&dir, i), &bytes)?;
                    }
                    Ok(())
                })
            })
            .collect();
        for handle in handles {
            handle
                .join()
                .map_err(|_| anyhow::anyhow!("a caching thread panicked"))??;
        }
        Ok(())
    })?;
    let mut features = Features {
        ids: Vec::with_capacity(posters.len()),
        pooled: Vec::with_capacity(posters.len() * VIEWS * FEATURES),
        tap: Vec::with_capacity(posters.len() * VIEWS * lens.tap),
        tap_shape,
        stages: Vec::with_capacity(posters.len() * VIEWS * STAGE_FEATURES),
        thumbs: Vec::with_capacity(posters.len() * lens.thumb),
        thumb_shape,
    };
    for (i, chunk) in chunks.iter().enumerate() {
        let path = chunk_path(&dir, i);
        let read = match loaded[i].take() {
            Some(read) => read,
            None => read_chunk(&path, chunk, &lens)
                .with_context(|| format!("reading cached features {}", path.display()))?,
        };
        features.ids.extend(read.ids);
        features.pooled.extend(read.pooled);
        features.tap.extend(read.tap);
        features.stages.extend(read.stages);
        features.thumbs.extend(read.thumbs);
    }
    bar.finish_and_clear();
    Ok(features)
}

fn chunk_path(dir: &Path, index: usize) -> PathBuf {
    dir.join(format!("chunk-{index:05}.safetensors"))
}

/// Runs the backbone on one chunk of posters, both views: a safetensors file's bytes.
fn compute_chunk(
    posters: &[Poster],
    spec: &CacheSpec,
    backbone: &MobileNetV2,
    device: &Device,
    batch_size: usize,
    bar: &indicatif::ProgressBar,
) -> Result<Vec<u8>> {
    let limits = DecodeLimits::default();
    let mut pooled = Vec::new();
    let mut stages = Vec::new();
    let mut tap = Vec::new();
    let mut thumbs = Vec::new();
    for group in posters.chunks(batch_size.max(1)) {
        let inputs = group
            .iter()
            .map(|p| {
                let bytes = std::fs::read(&p.image)
                    .with_context(|| format!("reading {}", p.image.display()))?;
                preprocess::prepare_bytes(&bytes, &spec.input, &limits)
                    .with_context(|| format!("preparing {}", p.image.display()))
            })
            .collect::<Result<Vec<ModelInput>>>()?;
        for input in &inputs {
            thumbs.extend(thumbnail(input));
        }
        let x = batch(&inputs, device);
        // Views interleaved per poster: [p0 as is, p0 mirrored, p1 as is, …].
        let n = inputs.len();
        let [_, c, h, w] = x.dims();
        let both =
            Tensor::stack::<5>(vec![x.clone(), x.flip([3])], 1).reshape([n * VIEWS, c, h, w]);
        let pass = backbone_pass(backbone, both);
        tap.extend(
            read_f32(pass.tap.into_data())?
                .into_iter()
                .map(f16::from_f32),
        );
        pooled.extend(read_f32(pass.pooled.into_data())?);
        stages.extend(read_f32(pass.stages.into_data())?);
        bar.inc(n as u64);
    }
    let ids: Vec<&str> = posters.iter().map(|p| p.id.as_str()).collect();
    let [tc, th, tw] = spec.tap_shape();
    let pooled_bytes: &[u8] = bytemuck::cast_slice(&pooled);
    let stages_bytes: &[u8] = bytemuck::cast_slice(&stages);
    let tap_bytes: &[u8] = bytemuck::cast_slice(&tap);
    let tensors = [
        (
            "pooled",
            TensorView::new(
                Dtype::F32,
                vec![posters.len(), VIEWS, FEATURES],
                pooled_bytes,
            )?,
        ),
        (
            "stages",
            TensorView::new(
                Dtype::F32,
                vec![posters.len(), VIEWS, STAGE_FEATURES],
                stages_bytes,
            )?,
        ),
        (
            "tap",
            TensorView::new(
                Dtype::F16,
                vec![posters.len(), VIEWS, tc, th, tw],
                tap_bytes,
            )?,
        ),
        (
            "thumbs",
            TensorView::new(
                Dtype::U8,
                [vec![posters.len()], spec.thumb_shape().to_vec()].concat(),
                &thumbs,
            )?,
        ),
    ];
    let metadata = HashMap::from([
        ("ids".to_string(), serde_json::to_string(&ids)?),
        (
            "sha256".to_string(),
            data_digest(&[pooled_bytes, stages_bytes, tap_bytes, &thumbs]),
        ),
    ]);
    Ok(safetensors::serialize(tensors, Some(metadata))?)
}

/// What one backbone pass leaves in the cache.
pub struct Pass {
    /// The activation entering [`TAP_BLOCK`].
    pub tap: Tensor<4>,
    /// The pooled embedding, `[batch, FEATURES]`.
    pub pooled: Tensor<2>,
    /// The [`STAGE_ENDS`] blocks' pooled outputs side by side, `[batch, STAGE_FEATURES]`.
    pub stages: Tensor<2>,
}

/// Runs the backbone block by block, keeping what the cache holds.
pub fn backbone_pass(backbone: &MobileNetV2, input: Tensor<4>) -> Pass {
    let mut x = backbone.stem.forward(input);
    let mut stages = Vec::with_capacity(STAGE_ENDS.len());
    let mut tap = None;
    for (i, block) in backbone.blocks.iter().enumerate() {
        if i == TAP_BLOCK {
            tap = Some(x.clone());
        }
        x = block.forward(x);
        if STAGE_ENDS.contains(&i) {
            stages.push(global_average_pool(x.clone()));
        }
    }
    let tap = tap.unwrap_or_else(|| x.clone());
    Pass {
        pooled: global_average_pool(backbone.last.forward(x)),
        stages: Tensor::cat(stages, 1),
        tap,
    }
}

/// The model input box-averaged by [`THUMB_FACTOR`], back in 0–255: `[3, h/4, w/4]`.
fn thumbnail(input: &ModelInput) -> Vec<u8> {
    let (w, h) = (input.width / THUMB_FACTOR, input.height / THUMB_FACTOR);
    let mut out = Vec::with_capacity(3 * w * h);
    let area = (THUMB_FACTOR * THUMB_FACTOR) as f32;
    for plane in input.data.chunks(input.width * input.height) {
        for y in 0..h {
            for x in 0..w {
                let sum: f32 = (0..THUMB_FACTOR)
                    .flat_map(|dy| {
                        let row = (y * THUMB_FACTOR + dy) * input.width + x * THUMB_FACTOR;
                        plane[row..row + THUMB_FACTOR].iter().copied()
                    })
                    .sum();
                // The input is x/127.5 − 1; undo it.
                out.push(((sum / area + 1.0) * 127.5).round().clamp(0.0, 255.0) as u8);
            }
        }
    }
    out
}

fn read_f32(data: TensorData) -> Result<Vec<f32>> {
    data.try_into_vec::<f32>()
        .map_err(|e| anyhow::anyhow!("reading back the backbone's output: {e:?}"))
}

/// SHA-256 over a chunk's tensor data: safetensors notices a file cut short, not a changed byte.
fn data_digest(parts: &[&[u8]]) -> String {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update(part);
    }
    format!("{:x}", hasher.finalize())
}

/// Values per poster in each of a chunk's tensors that depend on the input size.
struct Lens {
    tap: usize,
    thumb: usize,
}

/// One cache file's contents.
struct Chunk {
    ids: Vec<String>,
    pooled: Vec<f32>,
    stages: Vec<f32>,
    tap: Vec<f16>,
    thumbs: Vec<u8>,
}

fn read_chunk(path: &Path, posters: &[Poster], lens: &Lens) -> Result<Chunk> {
    let bytes = std::fs::read(path)?;
    let (_, metadata) = SafeTensors::read_metadata(&bytes)?;
    let metadata = metadata.metadata().clone().unwrap_or_default();
    let ids: Vec<String> = metadata
        .get("ids")
        .map(|ids| serde_json::from_str(ids))
        .transpose()?
        .unwrap_or_default();
    if ids.len() != posters.len() || ids.iter().zip(posters).any(|(a, p)| *a != p.id) {
        bail!("it holds other posters than expected");
    }
    let tensors = SafeTensors::deserialize(&bytes)?;
    let pooled = tensors.tensor("pooled")?;
    let stages = tensors.tensor("stages")?;
    let tap = tensors.tensor("tap")?;
    let thumbs = tensors.tensor("thumbs")?;
    let n = posters.len();
    if pooled.data().len() != n * VIEWS * FEATURES * 4
        || stages.data().len() != n * VIEWS * STAGE_FEATURES * 4
        || tap.data().len() != n * VIEWS * lens.tap * 2
        || thumbs.data().len() != n * lens.thumb
    {
        bail!("its tensors have unexpected sizes");
    }
    let digest = data_digest(&[pooled.data(), stages.data(), tap.data(), thumbs.data()]);
    if metadata.get("sha256") != Some(&digest) {
        bail!("its data does not match its checksum");
    }
    Ok(Chunk {
        ids,
        pooled: bytemuck::pod_collect_to_vec(pooled.data()),
        stages: bytemuck::pod_collect_to_vec(stages.data()),
        tap: bytemuck::pod_collect_to_vec(tap.data()),
        thumbs: thumbs.data().to_vec(),
    })
}
