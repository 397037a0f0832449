use burn::config::Config;
use burn::module::Module;
use burn::nn::{Dropout, DropoutConfig, Linear, LinearConfig};
use burn::tensor::{Device, Tensor};

use super::mobilenetv2::FEATURES;
use crate::genres::NUM_GENRES;

/// The multi-label genre head on the pooled embedding.
#[derive(Config, Debug)]
pub struct GenreHeadConfig {
    /// Width of the embedding it reads.
    #[config(default = "FEATURES")]
    pub features: usize,
    /// Genres it scores.
    #[config(default = "NUM_GENRES")]
    pub genres: usize,
    /// Dropout on the embedding while training (inactive at inference).
    #[config(default = 0.2)]
    pub dropout: f64,
}

/// Dropout then a linear layer: one logit per genre.
#[derive(Module, Debug)]
pub struct GenreHead {
    /// Regularises training; a no-op without an autodiff device.
    pub dropout: Dropout,
    /// Embedding → genre logits.
    pub linear: Linear,
}

impl GenreHeadConfig {
    /// Builds the head with freshly initialised (untrained) weights.
    pub fn init(&self, device: &Device) -> GenreHead {
        GenreHead {
            dropout: DropoutConfig::new(self.dropout).init(),
            linear: LinearConfig::new(self.features, self.genres).init(device),
        }
    }
}

impl GenreHead {
    /// Genre logits, `[batch, genres]`.
    pub fn forward(&self, embedding: Tensor<2>) -> Tensor<2> {
        self.linear.forward(self.dropout.forward(embedding))
    }

    /// Each genre's evidence at each place of the feature map, `[batch, genres, h, w]`: the
    /// head's weights applied to every position before pooling. Because pooling is a mean and
    /// the head is linear, a genre's logit is exactly its map's mean plus its bias, so the map
    /// is an exact account of the score, not an approximation of it (a class activation map).
    pub fn contributions(&self, feature_map: Tensor<4>) -> Tensor<4> {
        let [batch, channels, height, width] = feature_map.dims();
        let genres = self.linear.weight.dims()[1];
        // weight: [channels, genres] → [batch, genres, channels]
        let weight = self
            .linear
            .weight
            .val()
            .transpose()
            .unsqueeze::<3>()
            .expand([batch, genres, channels]);
        weight
            .matmul(feature_map.reshape([batch, channels, height * width]))
            .reshape([batch, genres, height, width])
    }
}
