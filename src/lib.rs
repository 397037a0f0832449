//! onesheet tells a movie poster's genres from the image alone.
//!
//! This crate holds what every face of onesheet shares: the MobileNetV2 genre model
//! ([`model`], its convolutions fused with what follows them: [`fused`]), loading the
//! pretrained backbone (`pretrained`, feature `pretrained`: only training starts from it, so the
//! browser build leaves it out), turning image bytes into model input ([`preprocess`]), the
//! model bundle ([`bundle`]), inference on top of them ([`inference`]), what the release year
//! adds ([`year`]), why a genre ([`explain`]), the catalogue index and its search ([`index`]),
//! and the contracts every face keeps: one result and its serialisation ([`prediction`]) and
//! one backend vocabulary ([`backend`]). It compiles natively (for the trainer and CLI) and to
//! WebAssembly, where the `onesheet-wasm` crate (`wasm/`) wraps it as the browser API.

pub mod backend;
pub mod bundle;
mod checksum;
pub mod colour;
pub mod explain;
#[cfg(feature = "native")]
pub mod files;
pub mod fused;
pub mod genres;
pub mod index;
pub mod inference;
pub mod model;
pub mod prediction;
pub mod preprocess;
#[cfg(feature = "pretrained")]
pub mod pretrained;
#[cfg(feature = "native")]
pub mod progress;
pub mod year;

pub use backend::Backend;
pub use bundle::{Bundle, BundleError, Manifest};
pub use genres::{GENRES, Genre, NUM_GENRES};
pub use prediction::Prediction;
pub use preprocess::{DecodeLimits, InputSpec, PreprocessError};
pub use year::{Year, YearPrior};
