//! The convolutions MobileNetV2 spends its time in, each fused with what follows it, on plain
//! NCHW `f32` slices: 3×3 convolutions (depthwise, and the stem's dense one over three
//! channels) with their bias and ReLU6 ([`conv3x3`]), and 1×1 convolutions with their bias and
//! either ReLU6 or a residual sum ([`pointwise`]).
//!
//! No tensor library here: onesheet plugs these under burn as a backend extension for
//! burn-flex (`onesheet::kernels`), natively and in the browser (where they compile to
//! SIMD128), and holds them to burn's own operations in its tests.

pub mod conv3x3;
pub mod pointwise;

pub use conv3x3::{Conv3x3, conv3x3_relu6, relu6};
pub use pointwise::{Epilogue, Pointwise, pointwise};
