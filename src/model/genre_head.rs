use burn::config::Config;
use burn::module::Module;
use burn::nn::{Dropout, DropoutConfig, Linear, LinearConfig};
use burn::tensor::activation::relu;
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
    /// Width of its hidden ReLU layer; none for a linear head.
    #[config(default = "None")]
    pub hidden: Option<usize>,
    /// Dropout before each layer while training (inactive at inference).
    #[config(default = 0.2)]
    pub dropout: f64,
}

/// Dropout and a linear layer (after a hidden ReLU layer, when it has one): one logit per
/// genre.
#[derive(Module, Debug)]
pub struct GenreHead {
    /// Regularises training; a no-op without an autodiff device.
    pub dropout: Dropout,
    /// Embedding → hidden units, for a head with a hidden layer.
    pub hidden: Option<Linear>,
    /// Embedding (or hidden units) → genre logits.
    pub linear: Linear,
}

impl GenreHeadConfig {
    /// Builds the head with freshly initialised (untrained) weights.
    pub fn init(&self, device: &Device) -> GenreHead {
        let hidden = self
            .hidden
            .map(|width| LinearConfig::new(self.features, width).init(device));
        GenreHead {
            dropout: DropoutConfig::new(self.dropout).init(),
            linear: LinearConfig::new(self.hidden.unwrap_or(self.features), self.genres)
                .init(device),
            hidden,
        }
    }
}

impl GenreHead {
    /// Genre logits, `[batch, genres]`.
    pub fn forward(&self, embedding: Tensor<2>) -> Tensor<2> {
        let x = self.dropout.forward(embedding);
        match &self.hidden {
            Some(hidden) => self
                .linear
                .forward(self.dropout.forward(relu(hidden.forward(x)))),
            None => self.linear.forward(x),
        }
    }

    /// Each genre's evidence at each place of the feature map, `[batch, genres, h, w]`: the
    /// head's weights applied to every position before pooling. Because pooling is a mean and
    /// the head is linear, a genre's logit is exactly its map's mean plus a bias, so the map
    /// is an exact account of the score, not an approximation of it (a class activation map).
    /// A head with a hidden ReLU layer is linear too once the poster has set which hidden
    /// units are on, so its map applies the weights through those units: still exact, with
    /// a bias of the poster's own (the hidden biases that passed, through the last layer).
    pub fn contributions(&self, feature_map: Tensor<4>) -> Tensor<4> {
        let [batch, channels, height, width] = feature_map.dims();
        let places = feature_map.reshape([batch, channels, height * width]);
        let apply = |weight: Tensor<2>, x: Tensor<3>| {
            // weight: [in, out] → [batch, out, in], times x [batch, in, places].
            let [d_in, d_out] = weight.dims();
            weight
                .transpose()
                .unsqueeze::<3>()
                .expand([batch, d_out, d_in])
                .matmul(x)
        };
        let places = match &self.hidden {
            Some(hidden) => {
                let pooled = places.clone().mean_dim(2).reshape([batch, channels]);
                let on = hidden.forward(pooled).greater_elem(0.0).float();
                let [_, units] = on.dims();
                apply(hidden.weight.val(), places) * on.reshape([batch, units, 1])
            }
            None => places,
        };
        let genres = self.linear.weight.dims()[1];
        apply(self.linear.weight.val(), places).reshape([batch, genres, height, width])
    }
}

#[cfg(test)]
mod tests {
    use burn::tensor::{Distribution, Tensor};

    use super::*;

    /// The logit minus the map's mean: what the map leaves to a bias.
    fn rest(head: &GenreHead, feature_map: Tensor<4>) -> Tensor<2> {
        let [batch, channels, _, _] = feature_map.dims();
        let pooled = feature_map
            .clone()
            .mean_dim(3)
            .mean_dim(2)
            .reshape([batch, channels]);
        let maps = head.contributions(feature_map);
        let [_, genres, _, _] = maps.dims();
        head.forward(pooled) - maps.mean_dim(3).mean_dim(2).reshape([batch, genres])
    }

    fn assert_close(a: Tensor<2>, b: Tensor<2>) {
        let gap = (a - b).abs().max().into_scalar::<f32>();
        assert!(gap < 1e-4, "differs by {gap}");
    }

    #[test]
    fn a_linear_heads_map_accounts_for_its_logit_up_to_the_bias() {
        let device = Device::flex();
        let head = GenreHeadConfig::new().with_features(8).init(&device);
        let map = Tensor::<4>::random([3, 8, 2, 5], Distribution::Normal(0.0, 1.0), &device);
        let bias = head.linear.bias.as_ref().expect("a bias").val();
        assert_close(rest(&head, map), bias.unsqueeze::<2>().repeat_dim(0, 3));
    }

    #[test]
    fn a_hidden_layer_heads_map_is_exact_with_the_posters_own_bias() {
        let device = Device::flex();
        let head = GenreHeadConfig::new()
            .with_features(8)
            .with_hidden(Some(16))
            .init(&device);
        let map = Tensor::<4>::random([3, 8, 2, 5], Distribution::Normal(0.0, 1.0), &device);
        let pooled = map.clone().mean_dim(3).mean_dim(2).reshape([3, 8]);
        let hidden = head.hidden.as_ref().expect("a hidden layer");
        // The bias that passes: the hidden biases of the units this poster turns on.
        let on = hidden.forward(pooled).greater_elem(0.0).float();
        let b1 = hidden.bias.as_ref().expect("a bias").val().unsqueeze::<2>();
        let expected = head.linear.forward(on * b1);
        assert_close(rest(&head, map), expected);
    }
}
