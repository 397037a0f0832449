//! Training after stage 1 (the feature cache in [`crate::features`]): the pipeline that runs
//! the stages and writes the bundle ([`pipeline`]), the stage models, loss, data loading and
//! the burn-train loop.

pub mod examples;
pub mod fit;
pub mod images;
pub mod loader;
pub mod loss;
pub mod models;
pub mod pipeline;
pub mod probe;
pub mod renderer;
pub mod small_cnn;
pub mod year_prior;

pub use pipeline::{Prepared, RunLog, Sources, Stage, TrainConfig, prepare, scores_of, train};
