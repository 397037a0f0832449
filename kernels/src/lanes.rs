//! Four `f32` lanes: SIMD128's `v128` in a wasm build with `simd128`, a plain array elsewhere
//! (where the tiled product runs only in tests: natively the 1×1 product is gemm's).
//!
//! With this crate's `relaxed-simd` feature as well, [`mul_add`] is one fused multiply-add
//! (`f32x4.relaxed_madd`, an FMA instruction on x86-64 and ARM64), which halves the arithmetic
//! of the 1×1 product; without it, a multiply then an add. The two round differently in the
//! last bit, well inside the tolerance onesheet holds its builds to.
//!
//! Everything here is `#[inline(always)]`, as are the tile's steps in `tiled`: with plain
//! `#[inline]` the product ran 10% slower in Chromium (calls V8 does not fold away).

#![allow(clippy::inline_always)]

#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
mod imp {
    #[cfg(not(feature = "relaxed-simd"))]
    use core::arch::wasm32::f32x4_mul;
    use core::arch::wasm32::{
        f32x4_add, f32x4_max, f32x4_min, f32x4_splat, v128, v128_load, v128_store,
    };

    pub type Lanes = v128;

    #[inline(always)]
    pub fn splat(value: f32) -> Lanes {
        f32x4_splat(value)
    }

    #[inline(always)]
    #[allow(unsafe_code)]
    pub fn load(from: &[f32; 4]) -> Lanes {
        // SAFETY: `from` is a valid reference to 16 bytes; `v128.load` has no alignment
        // requirement.
        unsafe { v128_load(from.as_ptr().cast()) }
    }

    #[inline(always)]
    #[allow(unsafe_code)]
    pub fn store(to: &mut [f32; 4], value: Lanes) {
        // SAFETY: `to` is a valid, exclusive reference to 16 bytes; `v128.store` has no
        // alignment requirement.
        unsafe { v128_store(to.as_mut_ptr().cast(), value) }
    }

    #[inline(always)]
    pub fn add(a: Lanes, b: Lanes) -> Lanes {
        f32x4_add(a, b)
    }

    // Safe to call anywhere on wasm: an engine without relaxed SIMD refuses the whole module
    // before running any of it (www/lib/worker.js then loads the plain build). Inlined into
    // `tiled::product`, which enables the feature for its body, it is one instruction.
    #[inline(always)]
    #[cfg(feature = "relaxed-simd")]
    pub fn mul_add(a: Lanes, b: Lanes, c: Lanes) -> Lanes {
        core::arch::wasm32::f32x4_relaxed_madd(a, b, c)
    }

    #[inline(always)]
    #[cfg(not(feature = "relaxed-simd"))]
    pub fn mul_add(a: Lanes, b: Lanes, c: Lanes) -> Lanes {
        f32x4_add(f32x4_mul(a, b), c)
    }

    #[inline(always)]
    pub fn clamp(value: Lanes, low: Lanes, high: Lanes) -> Lanes {
        f32x4_min(f32x4_max(value, low), high)
    }
}

#[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
mod imp {
    pub type Lanes = [f32; 4];

    #[inline(always)]
    pub fn splat(value: f32) -> Lanes {
        [value; 4]
    }

    #[inline(always)]
    pub fn load(from: &[f32; 4]) -> Lanes {
        *from
    }

    #[inline(always)]
    pub fn store(to: &mut [f32; 4], value: Lanes) {
        *to = value;
    }

    #[inline(always)]
    pub fn add(a: Lanes, b: Lanes) -> Lanes {
        std::array::from_fn(|i| a[i] + b[i])
    }

    #[inline(always)]
    pub fn mul_add(a: Lanes, b: Lanes, c: Lanes) -> Lanes {
        std::array::from_fn(|i| a[i] * b[i] + c[i])
    }

    #[inline(always)]
    pub fn clamp(value: Lanes, low: Lanes, high: Lanes) -> Lanes {
        std::array::from_fn(|i| value[i].max(low[i]).min(high[i]))
    }
}

pub use imp::{Lanes, add, clamp, load, mul_add, splat, store};
