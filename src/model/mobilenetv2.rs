use burn::config::Config;
use burn::module::Module;
use burn::tensor::{Device, Tensor};

use super::conv_relu6::ConvRelu6;
use super::inverted_residual::{InvertedResidual, InvertedResidualConfig};

/// Width of the pooled embedding the backbone produces.
pub const FEATURES: usize = 1280;

/// The bottleneck stages of MobileNetV2 width 1.0: (expansion, channels, repeats, first stride).
const STAGES: [(usize, usize, usize, usize); 7] = [
    (1, 16, 1, 1),
    (6, 24, 2, 2),
    (6, 32, 3, 2),
    (6, 64, 4, 2),
    (6, 96, 3, 1),
    (6, 160, 3, 2),
    (6, 320, 1, 1),
];

/// MobileNetV2 (width 1.0) as a feature extractor.
#[derive(Config, Debug)]
pub struct MobileNetV2Config {
    /// Channels of the input image.
    #[config(default = 3)]
    pub channels_in: usize,
}

/// MobileNetV2 up to the global average pool: any input height and width, 1280 features out.
#[derive(Module, Debug)]
pub struct MobileNetV2 {
    /// 3×3 stride-2 stem convolution.
    pub stem: ConvRelu6,
    /// The 17 inverted-residual blocks.
    pub blocks: Vec<InvertedResidual>,
    /// 1×1 convolution to the 1280-wide embedding.
    pub last: ConvRelu6,
}

impl MobileNetV2Config {
    /// Builds the backbone with freshly initialised weights.
    pub fn init(&self, device: &Device) -> MobileNetV2 {
        let mut channels = 32;
        let mut blocks = Vec::new();
        for (expand_ratio, channels_out, repeats, stride) in STAGES {
            for i in 0..repeats {
                let stride = if i == 0 { stride } else { 1 };
                blocks.push(
                    InvertedResidualConfig::new(channels, channels_out, stride, expand_ratio)
                        .init(device),
                );
                channels = channels_out;
            }
        }
        MobileNetV2 {
            stem: ConvRelu6::new([self.channels_in, 32], 3, 2, 1, device),
            blocks,
            last: ConvRelu6::new([channels, FEATURES], 1, 1, 1, device),
        }
    }
}

impl MobileNetV2 {
    /// The feature map before pooling: `[batch, 1280, ⌈h/32⌉, ⌈w/32⌉]`.
    pub fn feature_map(&self, input: Tensor<4>) -> Tensor<4> {
        let x = self
            .blocks
            .iter()
            .fold(self.stem.forward(input), |x, block| block.forward(x));
        self.last.forward(x)
    }

    /// The pooled embedding, `[batch, 1280]`.
    pub fn forward(&self, input: Tensor<4>) -> Tensor<2> {
        global_average_pool(self.feature_map(input))
    }
}

/// Mean over height and width: `[b, c, h, w]` → `[b, c]`.
pub fn global_average_pool(x: Tensor<4>) -> Tensor<2> {
    let [batch, channels, _, _] = x.dims();
    x.mean_dim(3).mean_dim(2).reshape([batch, channels])
}
