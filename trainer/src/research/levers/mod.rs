//! `onesheet levers`: what each change to the head's inputs and training does on the
//! validation posters, measured one at a time against today's recipe with in-memory probes
//! ([`crate::training::probe`]) on the feature cache. The results go to `work/levers.json`
//! ([`table`]), which the report's "what we tried" table reads. [`standard`] lists the levers,
//! [`measure`] trains and measures each.

mod measure;
mod pooling;
mod standard;
mod table;

pub use measure::run;
pub use pooling::{MapPools, Pooling};
pub use standard::{Lever, YearUse, standard};
pub use table::save;

/// A row of the levers' table.
pub use crate::evaluation::validation::ValidationRow as LeverResult;
