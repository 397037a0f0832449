use burn::module::Module;
use burn::nn::Linear;
use burn::tensor::{Tensor, activation};

use super::genre_head::GenreHead;
use super::mobilenetv2::MobileNetV2;

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
