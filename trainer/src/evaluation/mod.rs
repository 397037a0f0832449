//! `onesheet evaluate`: the shipped bundle, run end to end on each collection's test posters,
//! next to the seed projects' baselines on the same posters ([`run`]); written as a Markdown
//! report ([`report`]) with plots ([`plots`]) from the figures [`metrics`] computes.

pub mod colours;
pub mod metrics;
pub mod plots;
pub mod report;
pub mod run;
pub mod validation;

pub use run::{Baseline, BaselineFigures, EvaluateConfig, evaluate};
