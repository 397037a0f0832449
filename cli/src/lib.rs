//! The product's command-line tools as a library: every tool that runs a model bundle on
//! posters. The `onesheet` binary (`main.rs`, `commands/`) only parses arguments and calls in
//! here, so tests call the same code the command line does.
//!
//! Every tool reads posters and runs a bundle through [`posters`], loaded from a [`ModelSource`]
//! (the shipped model built into the binary, or a file). Then [`classify`] (genres, as
//! [`output`] writes them, with release years from [`year_input`]), [`indexing`] and
//! [`similar`] (posters like this one), [`why_maps`] (where in a poster a genre was seen),
//! [`gallery`] (the catalogue as a site), [`embed`] and [`export`] (bundles for tests and
//! benchmarks).

pub mod model_source;
pub mod output;
pub mod posters;
pub mod year_input;

pub mod classify;
pub mod embed;
pub mod export;
pub mod gallery;
pub mod indexing;
pub mod similar;
pub mod why_maps;

pub use model_source::ModelSource;
