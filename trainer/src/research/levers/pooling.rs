//! Poolings of the backbone's last feature map other than the product's mean, for the levers
//! that measure them. The map is recomputed from each cached tap activation through the
//! frozen top of the pretrained network (about 90 s for every poster and view on 2 cores) and
//! pooled every way at once, so each lever only picks its columns.

use anyhow::{Result, anyhow};
use burn::tensor::{Device, Tensor, TensorData};
use onesheet::model::FEATURES;
use serde::{Deserialize, Serialize};

use crate::features::{TAP_BLOCK, VIEWS};
use crate::training::Prepared;
use onesheet::progress;

/// How a head's 1280-d part is pooled from the feature map.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Pooling {
    /// The mean over all places: the product's embedding (read from the cache).
    Mean,
    /// The largest value at any place.
    Max,
    /// The generalised mean with p = 3 (between mean and max).
    Gem,
    /// Mean and max side by side.
    MeanMax,
    /// Mean and generalised mean side by side.
    MeanGem,
    /// The whole map's mean, its top half's and its bottom half's (a poster's title and
    /// credits sit low, its image high).
    MeanHalves,
}

/// One way of pooling a channel: a column block of [`MapPools`].
#[derive(Debug, Clone, Copy)]
enum Pool {
    Mean,
    Max,
    Gem,
    TopHalf,
    BottomHalf,
}

const POOLS: usize = 5;

impl Pooling {
    fn pools(self) -> &'static [Pool] {
        match self {
            Self::Mean => &[Pool::Mean],
            Self::Max => &[Pool::Max],
            Self::Gem => &[Pool::Gem],
            Self::MeanMax => &[Pool::Mean, Pool::Max],
            Self::MeanGem => &[Pool::Mean, Pool::Gem],
            Self::MeanHalves => &[Pool::Mean, Pool::TopHalf, Pool::BottomHalf],
        }
    }

    /// Values per row.
    pub fn dim(self) -> usize {
        self.pools().len() * FEATURES
    }

    /// In words, for the report.
    pub fn describe(self) -> &'static str {
        match self {
            Self::Mean => "1280-d embedding",
            Self::Max => "1280-d max-pooled map",
            Self::Gem => "1280-d GeM-pooled map (p = 3)",
            Self::MeanMax => "mean- and max-pooled map (2560)",
            Self::MeanGem => "mean- and GeM-pooled map (2560)",
            Self::MeanHalves => "map pooled whole, top half and bottom half (3840)",
        }
    }
}

/// Every pooling of every poster's and view's last feature map.
pub struct MapPools {
    /// `[posters, VIEWS, POOLS, FEATURES]`.
    values: Vec<f32>,
}

impl MapPools {
    /// Runs the cached taps through the pretrained top and pools the maps.
    pub fn compute(prepared: &Prepared) -> Result<Self> {
        let features = &prepared.features;
        let device = Device::flex();
        let [channels, height, width] = features.tap_shape;
        let examples = features.ids.len() * VIEWS;
        let tap_len = features.tap_len();
        let mut values = vec![0f32; examples * POOLS * FEATURES];
        let bar = progress::bar(examples as u64, "feature maps from the cached activations");
        for (chunk, out) in features
            .tap
            .chunks(64 * tap_len)
            .zip(values.chunks_mut(64 * POOLS * FEATURES))
        {
            let n = chunk.len() / tap_len;
            let tap: Vec<f32> = chunk.iter().map(|v| v.to_f32()).collect();
            let tap =
                Tensor::<4>::from_data(TensorData::new(tap, [n, channels, height, width]), &device);
            let map = prepared.pretrained.backbone.from_tap(tap, TAP_BLOCK);
            let [_, c, h, w] = map.dims();
            let map = map
                .into_data()
                .try_into_vec::<f32>()
                .map_err(|e| anyhow!("reading a feature map: {e:?}"))?;
            for (plane_index, plane) in map.chunks(h * w).enumerate() {
                let (example, channel) = (plane_index / c, plane_index % c);
                let row = &mut out[example * POOLS * FEATURES..(example + 1) * POOLS * FEATURES];
                for (pool, value) in pool_plane(plane, w).into_iter().enumerate() {
                    row[pool * FEATURES + channel] = value;
                }
            }
            bar.inc(n as u64);
        }
        bar.finish_and_clear();
        Ok(Self { values })
    }

    /// Appends poster `row`'s view `view` pooled as `pooling` to `out`.
    pub fn extend(&self, out: &mut Vec<f32>, row: usize, view: usize, pooling: Pooling) {
        let at = (row * VIEWS + view) * POOLS * FEATURES;
        for &pool in pooling.pools() {
            let start = at + pool as usize * FEATURES;
            out.extend_from_slice(&self.values[start..start + FEATURES]);
        }
    }
}

/// One channel's `height × width` plane (row-major, `width` wide) pooled each way, in
/// [`Pool`] order. The map comes out of a ReLU6, so the generalised mean sees no negatives.
fn pool_plane(plane: &[f32], width: usize) -> [f32; POOLS] {
    let height = plane.len() / width.max(1);
    let mean_of = |rows: std::ops::Range<usize>| {
        let part = &plane[rows.start * width..rows.end * width];
        part.iter().sum::<f32>() / part.len().max(1) as f32
    };
    let gem =
        (plane.iter().map(|v| v.max(0.0).powi(3)).sum::<f32>() / plane.len().max(1) as f32).cbrt();
    let mut out = [0f32; POOLS];
    for (pool, value) in [
        (Pool::Mean, mean_of(0..height)),
        (Pool::Max, plane.iter().copied().fold(f32::MIN, f32::max)),
        (Pool::Gem, gem),
        (Pool::TopHalf, mean_of(0..height / 2)),
        (Pool::BottomHalf, mean_of(height / 2..height)),
    ] {
        out[pool as usize] = value;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plane_pools_each_way() {
        // 4 rows × 2: the top half 1s and 3s, the bottom half 0s and 4s.
        let plane = [1.0, 3.0, 1.0, 3.0, 0.0, 4.0, 0.0, 4.0];
        let [mean, max, gem, top, bottom] = pool_plane(&plane, 2);
        assert_eq!((mean, max, top, bottom), (2.0, 4.0, 2.0, 2.0));
        let expected = ((2.0 + 2.0 * 27.0 + 2.0 * 64.0) / 8.0f32).cbrt();
        assert!((gem - expected).abs() < 1e-5, "{gem} vs {expected}");
        assert!(mean < gem && gem < max);
        // An odd height: the middle row counts to the bottom half.
        let [_, _, _, top, bottom] = pool_plane(&[2.0, 4.0, 6.0], 1);
        assert_eq!((top, bottom), (2.0, 5.0));
    }

    #[test]
    fn each_pooling_takes_its_columns() {
        assert_eq!(Pooling::Mean.dim(), FEATURES);
        assert_eq!(Pooling::MeanMax.dim(), 2 * FEATURES);
        assert_eq!(Pooling::MeanHalves.dim(), 3 * FEATURES);
        let pools = MapPools {
            values: (0..VIEWS * POOLS * FEATURES).map(|v| v as f32).collect(),
        };
        let mut row = Vec::new();
        pools.extend(&mut row, 0, 1, Pooling::MeanGem);
        let view = POOLS * FEATURES;
        assert_eq!(row[0], view as f32);
        assert_eq!(row[FEATURES], (view + 2 * FEATURES) as f32);
        assert_eq!(row.len(), 2 * FEATURES);
    }
}
