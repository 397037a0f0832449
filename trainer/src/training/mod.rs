//! Training: the posters and their cached features ([`prepare`]), the [`Recipe`], the stages
//! it runs ([`stages`]), the pipeline that runs them and writes the bundle ([`pipeline`]) with
//! its [`provenance`]; below them the stage models, loss, data loading and the burn-train loop.

pub mod fit;
pub mod head_inputs;
pub mod images;
pub mod labelled;
pub mod loader;
pub mod loss;
pub mod models;
pub mod pipeline;
pub mod prepare;
pub mod probe;
pub mod provenance;
pub mod recipe;
pub mod renderer;
pub mod stages;
pub mod year_prior;

pub use pipeline::{RunLog, TrainConfig, TrainOutcome, train};
pub use prepare::{Prepared, Sources, prepare};
pub use recipe::{Recipe, Stage};
pub use stages::scores_of;
