//! How `onesheet train` makes a model: every setting but where the posters, the weights and
//! the working directory are. [`Recipe::default`] is the shipped model's recipe, so
//! `onesheet train` with no flags makes `models/onesheet.safetensors` again; each flag changes
//! one field, and the bundle records the command that makes it ([`Recipe::command`]).

use std::fmt::Write as _;

use onesheet::bundle::Precision;
use serde::{Deserialize, Serialize};

use crate::training::fit::StageConfig;
use crate::training::probe::ProbeConfig;

/// How far training goes; each stage starts from the one before.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Stage {
    /// Stage 2: the genre head on cached embeddings.
    Head,
    /// Stage 3: then the last block, last convolution and head on cached activations.
    Top,
    /// Stage 4: then the network from [`Recipe::full_from_block`] on, on augmented images.
    Full,
}

impl Stage {
    /// As `--stage` spells it.
    pub fn name(self) -> &'static str {
        match self {
            Self::Head => "head",
            Self::Top => "top",
            Self::Full => "full",
        }
    }
}

/// A training recipe.
#[derive(Debug, Clone, PartialEq)]
pub struct Recipe {
    /// Model input, width and height.
    pub size: (u32, u32),
    /// The last stage to run.
    pub stage: Stage,
    /// Most epochs of the head stage.
    pub head_epochs: usize,
    /// Width of the genre head's hidden layer (none: a linear head).
    pub head_hidden: Option<usize>,
    /// Dropout before each of the genre head's layers, in every stage.
    pub dropout: f64,
    /// Most epochs of the top-blocks stage (0 skips it: a fine-tuning stage then starts from
    /// the head).
    pub top_epochs: usize,
    /// Peak learning rate of the top-blocks stage (cosine-annealed).
    pub top_learning_rate: f64,
    /// Most epochs of the full fine-tuning stage.
    pub full_epochs: usize,
    /// The fine-tuning stage trains the blocks from this one on (0–16), the last convolution
    /// and the head; the stem and the blocks before it stay as pretrained. 0: the whole network.
    pub full_from_block: usize,
    /// Peak learning rate of the fine-tuning stage (cosine-annealed).
    pub full_learning_rate: f64,
    /// Images per step of the top-blocks and fine-tuning stages.
    pub batch_size: usize,
    /// AdamW's weight decay in the top-blocks and fine-tuning stages.
    pub weight_decay: f32,
    /// Epochs without a better validation loss before those stages stop.
    pub patience: usize,
    /// How the bundle stores its weights.
    pub precision: Precision,
}

impl Default for Recipe {
    /// The shipped model's: the whole 2:3 poster at 224×320, a 128-unit head with strong
    /// dropout on the frozen embedding (what `onesheet levers` found best), then blocks 13–16
    /// and the last convolution fine-tuned on augmented images for three epochs (about an
    /// hour on 2 cores; the levers and the report say why these blocks), weights in f16.
    fn default() -> Self {
        Self {
            size: (224, 320),
            stage: Stage::Full,
            head_epochs: 40,
            head_hidden: Some(128),
            dropout: 0.6,
            top_epochs: 0,
            top_learning_rate: 2e-4,
            full_epochs: 3,
            full_from_block: 13,
            full_learning_rate: 2e-4,
            batch_size: 32,
            weight_decay: 5e-2,
            patience: 2,
            precision: Precision::F16,
        }
    }
}

impl Recipe {
    /// The head stage's settings, seeded with `seed`.
    pub fn head(&self, seed: u64) -> ProbeConfig {
        ProbeConfig {
            hidden: self.head_hidden.into_iter().collect(),
            dropout: self.dropout,
            epochs: self.head_epochs,
            seed,
            ..ProbeConfig::default()
        }
    }

    /// The top-blocks stage's settings; `data` names what it trains on (a run is resumed only
    /// on the same).
    pub fn top(&self, data: String, seed: u64) -> StageConfig {
        self.fine_tuning(data, self.top_epochs, self.top_learning_rate, seed)
    }

    /// The full fine-tuning stage's settings.
    pub fn full(&self, data: String, seed: u64) -> StageConfig {
        self.fine_tuning(data, self.full_epochs, self.full_learning_rate, seed)
    }

    fn fine_tuning(
        &self,
        data: String,
        epochs: usize,
        learning_rate: f64,
        seed: u64,
    ) -> StageConfig {
        StageConfig::new()
            .with_data(data)
            .with_epochs(epochs)
            .with_batch_size(self.batch_size)
            .with_learning_rate(learning_rate)
            .with_weight_decay(self.weight_decay)
            .with_patience(self.patience)
            .with_dropout(self.dropout)
            .with_seed(seed)
    }

    /// The `onesheet train` command that makes this recipe: a flag for each setting that
    /// differs from the shipped one (settings without a flag are always the shipped ones).
    pub fn command(&self) -> String {
        let flags = |r: &Self| {
            [
                ("size", format!("{}x{}", r.size.0, r.size.1)),
                ("stage", r.stage.name().to_string()),
                ("head-epochs", r.head_epochs.to_string()),
                ("head-hidden", r.head_hidden.unwrap_or(0).to_string()),
                ("dropout", r.dropout.to_string()),
                ("top-epochs", r.top_epochs.to_string()),
                ("full-epochs", r.full_epochs.to_string()),
                ("full-from-block", r.full_from_block.to_string()),
                ("full-learning-rate", format!("{:e}", r.full_learning_rate)),
            ]
        };
        let mut command = String::from("onesheet train");
        for ((name, value), (_, shipped)) in flags(self).into_iter().zip(flags(&Self::default())) {
            if value != shipped {
                let _ = write!(command, " --{name} {value}");
            }
        }
        if self.precision == Precision::F32 {
            command.push_str(" --f32");
        }
        command
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::training::provenance::trained_blocks;

    /// The shipped bundle's provenance, as `onesheet train` wrote it.
    fn shipped_recipe_text() -> String {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../models/onesheet.safetensors"
        );
        let bytes = std::fs::read(path).expect("the shipped bundle");
        let manifest = onesheet::Bundle::read_manifest(&bytes).expect("its manifest");
        manifest.provenance.recipe
    }

    #[test]
    fn the_default_is_the_shipped_models_recipe() {
        let recipe = Recipe::default();
        let shipped = shipped_recipe_text();
        let (w, h) = recipe.size;
        let full = recipe.full(String::new(), 42);
        for expected in [
            format!("input {w}x{h}"),
            "head: genre head on cached embeddings".to_string(),
            recipe.head(42).summary(),
            format!(
                "full: fine-tuning on images with random mirror, crop (80–100% of each side), \
                 brightness and saturation (±10%), masked BCE with √(neg/pos) positive weights, {}, {}",
                trained_blocks(recipe.full_from_block),
                full.summary()
            ),
            "seed 42".to_string(),
        ] {
            assert!(
                shipped.contains(&expected),
                "the shipped bundle's recipe lacks {expected:?}:\n{shipped}"
            );
        }
        // No top-blocks stage in between: the shipped run went from the head to the images.
        assert!(!shipped.contains("; top:"), "{shipped}");
        assert_eq!(recipe.top_epochs, 0);
        assert_eq!(recipe.command(), "onesheet train");
    }

    #[test]
    fn the_command_names_each_setting_that_differs() {
        let recipe = Recipe {
            stage: Stage::Top,
            top_epochs: 4,
            size: (64, 96),
            precision: Precision::F32,
            ..Recipe::default()
        };
        assert_eq!(
            recipe.command(),
            "onesheet train --size 64x96 --stage top --top-epochs 4 --f32"
        );
    }
}
