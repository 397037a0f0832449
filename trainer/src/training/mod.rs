//! Stages 2 and 3 of training (stage 1 is the feature cache in [`crate::features`]): models,
//! loss, data loading and the burn-train loop.

pub mod examples;
pub mod fit;
pub mod images;
pub mod loader;
pub mod loss;
pub mod models;
pub mod renderer;
