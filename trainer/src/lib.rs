//! onesheet's native side as a library: the training pipeline, its evaluation, and the tools
//! that run a trained bundle. The `onesheet` binary (`main.rs`, `cli/`) only parses arguments
//! and calls in here, so tests and benchmarks call the same code the command line does.
//!
//! The modules read as the pipeline: labelled posters ([`dataset`]) → train/validation/test
//! parts ([`split`]) → cached backbone outputs ([`features`]) → trained stages ([`training`])
//! → per-genre decision thresholds ([`thresholds`]) → the report ([`evaluation`]). Then the
//! tools on a bundle, all running posters through [`posters`]: [`classify`], [`index`] and
//! [`similar`] (posters like this one), [`explain`] (why a genre), [`gallery`] (the catalogue
//! as a site), [`embed`] and [`export`]. `onesheet serve` is the `onesheet-server` crate's.

pub mod paths;
pub mod progress;
pub mod write;

pub mod colour;
pub mod dataset;
pub mod evaluation;
pub mod features;
pub mod levers;
pub mod split;
pub mod thresholds;
pub mod training;
pub mod tune;

pub mod input_file;
pub mod posters;

pub mod classify;
pub mod embed;
pub mod explain;
pub mod export;
pub mod gallery;
pub mod index;
pub mod similar;
pub mod years;
