//! The 1×1 product in the browser: `W[m, k] · X[k, n]` register-tiled for SIMD128, with the
//! bias, the residual and ReLU6 applied in registers.
//!
//! Each step computes a tile of [`ROWS`] output channels × [`COLS`] pixels in four-lane
//! accumulators, one multiply-add per weight per four pixels, the weight broadcast
//! from a copy packed tile by tile (`[tile][k][ROWS]`, one load per broadcast) and the pixels
//! read straight from the NCHW input. gemm, which this replaces in the wasm build, copies both
//! operands into its own layout on every call and keeps twelve accumulators, more than V8
//! holds in registers beside the operands; here the input is never copied, the output is
//! written once, finished, and with the `relaxed-simd` feature each multiply-add is one FMA.
//!
//! Output channels go in blocks whose packed weights stay in the cache while every pixel tile
//! passes under them; within a block, the pixel tile (`k` rows of [`COLS`] values) is reused
//! by every channel tile.

#![allow(clippy::inline_always)] // as in `lanes`: measured

use crate::lanes::{self, Lanes};
use crate::pointwise::Epilogue;

// The tile: as many accumulators as V8 keeps in x86-64's sixteen vector registers with the
// operands beside them, measured in Chromium over MobileNetV2's 1×1 shapes (scratch benchmark,
// noted in bench/README.md): 4 × 8 with separate multiplies and adds, 3 × 12 with FMA.

/// Output channels per tile (weights broadcast; padded with zero rows to a multiple).
#[cfg(not(all(target_arch = "wasm32", feature = "relaxed-simd")))]
pub const ROWS: usize = 4;
/// Output channels per tile (weights broadcast; padded with zero rows to a multiple).
#[cfg(all(target_arch = "wasm32", feature = "relaxed-simd"))]
pub const ROWS: usize = 3;
/// Four-lane vectors per tile row.
#[cfg(not(all(target_arch = "wasm32", feature = "relaxed-simd")))]
const VECS: usize = 2;
/// Four-lane vectors per tile row.
#[cfg(all(target_arch = "wasm32", feature = "relaxed-simd"))]
const VECS: usize = 3;
/// Pixels per tile.
pub const COLS: usize = 4 * VECS;
/// Packed weights per block of output channels, in `f32`s (128 KiB).
const BLOCK: usize = 32 * 1024;

/// `weight` (`[m, k]` row-major) as tiles of [`ROWS`] channels: `[m / ROWS rounded up][k]`,
/// each entry the tile's `ROWS` weights for one input channel (zero past `m`).
pub fn pack(weight: &[f32], m: usize, k: usize) -> Vec<[f32; ROWS]> {
    assert_eq!(weight.len(), m * k, "tiled::pack: weight length");
    let mut packed = vec![[0.0; ROWS]; m.div_ceil(ROWS) * k];
    if k == 0 {
        return packed;
    }
    for (o, row) in weight.chunks_exact(k).enumerate() {
        let tile = &mut packed[o / ROWS * k..][..k];
        for (entry, &w) in tile.iter_mut().zip(row) {
            entry[o % ROWS] = w;
        }
    }
    packed
}

/// `out[m, n] = W · X + bias`, then the `epilogue`, for one image: `packed` from [`pack`], `x`
/// `[k, n]`, `bias` `[m]`, the epilogue's residual (if any) `[m, n]`.
///
/// # Panics
/// When a slice's length does not match `m`, `n` and `k`.
#[cfg_attr(
    all(target_arch = "wasm32", feature = "relaxed-simd"),
    target_feature(enable = "relaxed-simd")
)]
pub fn product(
    out: &mut [f32],
    packed: &[[f32; ROWS]],
    x: &[f32],
    bias: &[f32],
    epilogue: Epilogue<'_>,
    [m, n, k]: [usize; 3],
) {
    let tiles = m.div_ceil(ROWS);
    assert!(out.len() == m * n && x.len() == k * n && packed.len() == tiles * k);
    assert_eq!(bias.len(), m, "tiled::product: bias length");
    if let Epilogue::Residual(residual) = epilogue {
        assert_eq!(residual.len(), m * n, "tiled::product: residual length");
    }
    if n == 0 || m == 0 {
        return;
    }
    if k == 0 {
        // No input channels: the bias alone (the general path below needs a row per channel).
        for (o, row) in out.chunks_exact_mut(n).enumerate() {
            for (p, v) in row.iter_mut().enumerate() {
                let sum = bias[o] + residual(epilogue).map_or(0.0, |r| r[o * n + p]);
                *v = if matches!(epilogue, Epilogue::Relu6) {
                    sum.clamp(0.0, 6.0)
                } else {
                    sum
                };
            }
        }
        return;
    }
    let relu6 = matches!(epilogue, Epilogue::Relu6);
    let tiles_per_block = (BLOCK / (k * ROWS)).max(1);
    let full = n - n % COLS;
    // The last pixels, fewer than a tile, zero-padded to one.
    let mut panel = vec![0.0; if full < n { k * COLS } else { 0 }];
    for (row, x_row) in panel.chunks_exact_mut(COLS).zip(x.chunks_exact(n)) {
        row[..n - full].copy_from_slice(&x_row[full..]);
    }

    for first in (0..tiles).step_by(tiles_per_block) {
        let block = first..tiles.min(first + tiles_per_block);
        for p in (0..full).step_by(COLS) {
            for tile in block.clone() {
                let rows = x.chunks_exact(n).map(|row| cols(&row[p..]));
                let acc = accumulate(
                    &packed[tile * k..][..k],
                    rows,
                    start(tile, p, n, bias, epilogue),
                );
                store(out, tile, p, n, acc, relu6, COLS);
            }
        }
        if full < n {
            for tile in block {
                let rows = panel.chunks_exact(COLS).map(cols);
                let acc = accumulate(
                    &packed[tile * k..][..k],
                    rows,
                    start(tile, full, n, bias, epilogue),
                );
                store(out, tile, full, n, acc, relu6, n - full);
            }
        }
    }
}

type Tile = [[Lanes; VECS]; ROWS];

fn residual(epilogue: Epilogue<'_>) -> Option<&[f32]> {
    match epilogue {
        Epilogue::Residual(residual) => Some(residual),
        Epilogue::Relu6 | Epilogue::Bias => None,
    }
}

#[inline(always)]
fn cols(row: &[f32]) -> &[f32; COLS] {
    row.first_chunk().expect("a pixel tile inside the row")
}

#[inline(always)]
fn quarters(values: &[f32; COLS]) -> [&[f32; 4]; VECS] {
    let (vectors, []) = values.as_chunks::<4>() else {
        unreachable!("COLS is a multiple of four")
    };
    std::array::from_fn(|i| &vectors[i])
}

/// The accumulators' start: the bias, plus the residual where there is one.
#[inline(always)]
fn start(tile: usize, p: usize, n: usize, bias: &[f32], epilogue: Epilogue<'_>) -> Tile {
    std::array::from_fn(|r| {
        let o = tile * ROWS + r;
        let bias_lanes = lanes::splat(bias.get(o).copied().unwrap_or(0.0));
        match residual(epilogue) {
            Some(residual) if o < bias.len() => {
                let mut values = [0.0; COLS];
                let row = &residual[o * n + p..(o + 1) * n];
                let count = row.len().min(COLS);
                values[..count].copy_from_slice(&row[..count]);
                quarters(&values).map(|h| lanes::add(bias_lanes, lanes::load(h)))
            }
            _ => [bias_lanes; VECS],
        }
    })
}

/// The tile's product over every input channel, added to `acc`.
#[inline(always)]
fn accumulate<'a>(
    weights: &[[f32; ROWS]],
    rows: impl Iterator<Item = &'a [f32; COLS]>,
    mut acc: Tile,
) -> Tile {
    for (w, x) in weights.iter().zip(rows) {
        let x = quarters(x).map(lanes::load);
        for (acc, &w) in acc.iter_mut().zip(w) {
            let w = lanes::splat(w);
            for (acc, &x) in acc.iter_mut().zip(&x) {
                *acc = lanes::mul_add(w, x, *acc);
            }
        }
    }
    acc
}

/// Writes the tile's first `count` pixels of each real output channel, clamped if asked.
#[inline(always)]
fn store(out: &mut [f32], tile: usize, p: usize, n: usize, acc: Tile, relu6: bool, count: usize) {
    let (zero, six) = (lanes::splat(0.0), lanes::splat(6.0));
    let m = out.len() / n;
    for (r, acc) in acc.into_iter().enumerate() {
        let o = tile * ROWS + r;
        if o >= m {
            break;
        }
        let acc = if relu6 {
            acc.map(|a| lanes::clamp(a, zero, six))
        } else {
            acc
        };
        let row = &mut out[o * n + p..(o + 1) * n];
        if count == COLS {
            let (vectors, _) = row.as_chunks_mut::<4>();
            for (to, value) in vectors.iter_mut().zip(acc) {
                lanes::store(to, value);
            }
        } else {
            let mut values = [[0.0; 4]; VECS];
            for (to, value) in values.iter_mut().zip(acc) {
                lanes::store(to, value);
            }
            row[..count].copy_from_slice(&values.as_flattened()[..count]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_values::values;

    #[test]
    fn every_tile_edge_and_epilogue_matches_the_definition() {
        // Channel counts around the tile's rows (3 or 4), pixel counts around its columns (8 or
        // 12), a product long enough to need two blocks, and no input channels at all.
        for [m, n, k] in [
            [1, 1, 1],
            [6, 8, 3],
            [7, 9, 5],
            [16, 70, 32],
            [13, 15, 1],
            [40, 23, 960],
            [5, 4, 0],
        ] {
            let weight = values(m * k, 1, 1.0);
            let x = values(k * n, 2, 1.0);
            let bias = values(m, 3, 2.0);
            let residual = values(m * n, 4, 3.0);
            let packed = pack(&weight, m, k);
            for epilogue in [
                Epilogue::Relu6,
                Epilogue::Residual(&residual),
                Epilogue::Bias,
            ] {
                let relu6 = matches!(epilogue, Epilogue::Relu6);
                let residual = super::residual(epilogue);
                let mut out = vec![f32::NAN; m * n];
                product(&mut out, &packed, &x, &bias, epilogue, [m, n, k]);
                for o in 0..m {
                    for p in 0..n {
                        let mut sum = bias[o] + residual.map_or(0.0, |r| r[o * n + p]);
                        for i in 0..k {
                            sum += weight[o * k + i] * x[i * n + p];
                        }
                        let want = if relu6 { sum.clamp(0.0, 6.0) } else { sum };
                        let got = out[o * n + p];
                        assert!(
                            (got - want).abs() <= 1e-4 * (1.0 + want.abs()),
                            "[{m}, {n}, {k}] relu6 {relu6} at ({o}, {p}): {got} vs {want}"
                        );
                    }
                }
            }
        }
    }
}
