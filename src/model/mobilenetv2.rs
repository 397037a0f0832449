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
        self.from_tap(self.to_tap(input, 0), 0)
    }

    /// The pooled embedding, `[batch, 1280]`.
    pub fn forward(&self, input: Tensor<4>) -> Tensor<2> {
        global_average_pool(self.feature_map(input))
    }

    /// The activation entering block `tap` (`tap` = 0: the stem's output). Everything from
    /// there on can be run, or fine-tuned, from a cached copy of it.
    pub fn to_tap(&self, input: Tensor<4>, tap: usize) -> Tensor<4> {
        run_blocks(&self.blocks[..tap], self.stem.forward(input))
    }

    /// The feature map from the activation entering block `tap` (what [`Self::to_tap`] gave).
    pub fn from_tap(&self, activation: Tensor<4>, tap: usize) -> Tensor<4> {
        self.last
            .forward(run_blocks(&self.blocks[tap..], activation))
    }

    /// The blocks from `tap` on and the last convolution, as a module of their own (what
    /// fine-tuning from cached activations trains).
    pub fn top(&self, tap: usize) -> BackboneTop {
        BackboneTop {
            blocks: self.blocks[tap..].to_vec(),
            last: self.last.clone(),
        }
    }

    /// This backbone with its blocks from `tap` on and its last convolution taken from `top`.
    pub fn with_top(mut self, tap: usize, top: BackboneTop) -> Self {
        self.blocks.truncate(tap);
        self.blocks.extend(top.blocks);
        self.last = top.last;
        self
    }
}

/// The top of a [`MobileNetV2`] from some block on: its input is the activation entering that
/// block, its output the same feature map the whole backbone gives.
#[derive(Module, Debug)]
pub struct BackboneTop {
    /// The blocks from the tap on.
    pub blocks: Vec<InvertedResidual>,
    /// 1×1 convolution to the 1280-wide embedding.
    pub last: ConvRelu6,
}

impl BackboneTop {
    /// The feature map, `[batch, 1280, h, w]`.
    pub fn feature_map(&self, activation: Tensor<4>) -> Tensor<4> {
        self.last.forward(run_blocks(&self.blocks, activation))
    }

    /// The pooled embedding, `[batch, 1280]`.
    pub fn forward(&self, activation: Tensor<4>) -> Tensor<2> {
        global_average_pool(self.feature_map(activation))
    }
}

fn run_blocks(blocks: &[InvertedResidual], x: Tensor<4>) -> Tensor<4> {
    blocks.iter().fold(x, |x, block| block.forward(x))
}

/// Mean over height and width: `[b, c, h, w]` → `[b, c]`.
pub fn global_average_pool(x: Tensor<4>) -> Tensor<2> {
    let [batch, channels, _, _] = x.dims();
    x.mean_dim(3).mean_dim(2).reshape([batch, channels])
}
