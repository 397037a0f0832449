//! The convolutions MobileNetV2 spends its time in, each fused with what follows it, on plain
//! NCHW `f32` slices: 3×3 convolutions (depthwise, and the stem's dense one over three
//! channels) with their bias and ReLU6 ([`mod@conv3x3`]), and 1×1 convolutions with their bias and
//! either ReLU6 or a residual sum ([`mod@pointwise`]).
//!
//! No tensor library here: onesheet plugs these under burn as a backend extension for
//! burn-flex (`onesheet::fused`), natively and in the browser (where they compile to
//! SIMD128), and holds them to burn's own operations in its tests.

pub mod conv3x3;
mod lanes;
pub mod pointwise;
pub mod tiled;

pub use conv3x3::{Conv3x3, conv3x3_relu6, relu6};
pub use pointwise::{Epilogue, Pointwise, pointwise};

/// Deterministic test inputs: `n` values spread over `[-scale, scale)` by a small LCG.
#[cfg(test)]
mod test_values {
    pub fn values(n: usize, seed: u32, scale: f32) -> Vec<f32> {
        let mut state = seed.wrapping_mul(2_654_435_761).wrapping_add(1);
        (0..n)
            .map(|_| {
                state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                ((state >> 8) as f32 / (1u32 << 24) as f32 * 2.0 - 1.0) * scale
            })
            .collect()
    }
}
