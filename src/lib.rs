//! onesheet tells a movie poster's genres from the image alone.
//!
//! This crate holds what every face of onesheet shares: the MobileNetV2 genre model
//! ([`model`]), loading the pretrained backbone ([`pretrained`]), turning image bytes into model
//! input ([`preprocess`]), the model bundle ([`bundle`]) and inference on top of them
//! ([`inference`]). It compiles natively (for the trainer and CLI) and to WebAssembly, where
//! [`wasm`] is the browser API.

pub mod bundle;
pub mod genres;
pub mod inference;
pub mod model;
pub mod preprocess;
pub mod pretrained;
#[cfg(target_family = "wasm")]
pub mod wasm;

pub use bundle::{Bundle, BundleError, Manifest};
pub use genres::{GENRES, Genre, NUM_GENRES};
pub use preprocess::{DecodeLimits, InputSpec, PreprocessError};
