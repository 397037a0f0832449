//! onesheet's training pipeline: labelled posters in, a model bundle and its report out. The
//! `onesheet` binary (the `onesheet-cli` crate) parses `train`, `evaluate`, `levers` and `tune`
//! and calls in here, so tests and benchmarks run the same code the command line does.
//!
//! The modules read as the pipeline: labelled posters ([`dataset`]) → train/validation/test
//! parts ([`split`]) → cached backbone outputs ([`features`]) → trained stages ([`training`],
//! as a [`Recipe`] says) → per-genre decision thresholds ([`thresholds`]) → the report
//! ([`evaluation`]). [`research`] holds what chose the recipe: the levers, the head's tuning,
//! the seed documents' systems and the small CNN they compared against.

pub mod dataset;
pub mod evaluation;
pub mod features;
pub mod research;
pub mod split;
pub mod thresholds;
pub mod training;
