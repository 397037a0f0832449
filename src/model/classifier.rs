use burn::module::Module;
use burn::nn::Linear;
use burn::tensor::{Tensor, activation};

use super::genre_head::GenreHead;
use super::mobilenetv2::{MobileNetV2, global_average_pool};

/// The genre model: MobileNetV2 backbone and genre head.
#[derive(Module, Debug)]
pub struct GenreClassifier {
    /// Image → 1280-d embedding.
    pub backbone: MobileNetV2,
    /// Embedding → genre logits.
    pub head: GenreHead,
}

impl GenreClassifier {
    /// Genre logits, `[batch, genres]`.
    pub fn forward(&self, input: Tensor<4>) -> Tensor<2> {
        self.head.forward(self.backbone.forward(input))
    }

    /// Independent per-genre probabilities (multi-label, so a sigmoid per genre).
    pub fn scores(&self, input: Tensor<4>) -> Tensor<2> {
        activation::sigmoid(self.forward(input))
    }

    /// The 1280-d embedding the head reads.
    pub fn embed(&self, input: Tensor<4>) -> Tensor<2> {
        self.backbone.forward(input)
    }

    /// Scores, embedding and genre maps from one pass over the backbone: what a face needs to
    /// show a result, find similar posters and explain each genre, for the price of the scores.
    pub fn analyse(&self, input: Tensor<4>) -> Outputs {
        let feature_map = self.backbone.feature_map(input);
        let embedding = global_average_pool(feature_map.clone());
        Outputs {
            scores: activation::sigmoid(self.head.forward(embedding.clone())),
            maps: self.head.contributions(feature_map),
            embedding,
        }
    }
}

/// What [`GenreClassifier::analyse`] computes for a batch.
#[derive(Debug, Clone)]
pub struct Outputs {
    /// Per-genre probabilities, `[batch, genres]`.
    pub scores: Tensor<2>,
    /// The pooled embedding the head reads, `[batch, 1280]`.
    pub embedding: Tensor<2>,
    /// Each genre's contribution to its logit at each place of the feature map,
    /// `[batch, genres, h, w]` (see [`super::GenreHead::contributions`]).
    pub maps: Tensor<4>,
}

/// The pretrained network as published: backbone and its 1001-class ImageNet classifier.
///
/// Used to check the backbone against reference outputs and as the source of the genre
/// model's initial backbone.
#[derive(Module, Debug)]
pub struct ImageNetClassifier {
    /// Image → 1280-d embedding.
    pub backbone: MobileNetV2,
    /// Embedding → 1001 ImageNet logits (index 0 is "background").
    pub classifier: Linear,
}

impl ImageNetClassifier {
    /// ImageNet logits, `[batch, 1001]`.
    pub fn forward(&self, input: Tensor<4>) -> Tensor<2> {
        self.classifier.forward(self.backbone.forward(input))
    }
}
