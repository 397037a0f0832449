//! What a genre head reads from the feature cache: the product's head reads the pooled
//! embedding alone; the levers also try the stages' pooled outputs and colour statistics.

use onesheet::colour;

use crate::features::{STAGE_FEATURES, VIEWS};
use crate::split::Part;
use crate::training::Prepared;
use crate::training::probe::Rows;
use serde::{Deserialize, Serialize};

/// Which cached features a head reads, side by side.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Inputs {
    /// The 1280-d pooled embedding.
    pub pooled: bool,
    /// The pooled outputs of each stage's last block.
    pub stages: bool,
    /// Colour and layout statistics of the thumbnail.
    pub colour: bool,
}

impl Inputs {
    /// The product's head: the embedding alone.
    pub const EMBEDDING: Self = Self {
        pooled: true,
        stages: false,
        colour: false,
    };

    /// Values per row.
    pub fn dim(self) -> usize {
        usize::from(self.pooled) * onesheet::model::FEATURES
            + usize::from(self.stages) * STAGE_FEATURES
            + usize::from(self.colour) * colour::STATS
    }

    /// In words, for the report.
    pub fn describe(self) -> String {
        let mut parts = Vec::new();
        if self.pooled {
            parts.push("1280-d embedding");
        }
        if self.stages {
            parts.push("pooled outputs of the 7 stages (712)");
        }
        if self.colour {
            parts.push("colour and layout statistics (34)");
        }
        parts.join(" + ")
    }

    /// The rows of `part` (each poster as is, and mirrored too when `all_views`).
    pub fn rows(self, prepared: &Prepared, part: Part, all_views: bool) -> Rows {
        let features = &prepared.features;
        let mut rows = Rows::new(self.dim());
        let mut row = Vec::with_capacity(self.dim());
        for (i, labels) in prepared.rows(part, None) {
            for view in 0..if all_views { VIEWS } else { 1 } {
                row.clear();
                if self.pooled {
                    row.extend_from_slice(features.pooled(i, view));
                }
                if self.stages {
                    row.extend_from_slice(features.stages(i, view));
                }
                if self.colour {
                    row.extend(colour::stats(
                        features.thumb(i),
                        features.thumb_shape,
                        view == 1,
                    ));
                }
                rows.push(&row, labels);
            }
        }
        rows
    }
}
