use burn::config::Config;
use burn::module::Module;
use burn::nn::PaddingConfig2d;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::tensor::{Device, Tensor};

use super::conv_relu6::ConvRelu6;
use crate::fused;

/// One MobileNetV2 bottleneck: expand (1×1), depthwise (3×3), project (1×1, linear).
#[derive(Config, Debug)]
pub struct InvertedResidualConfig {
    /// Input channels.
    pub channels_in: usize,
    /// Output channels.
    pub channels_out: usize,
    /// Stride of the depthwise convolution (1 or 2).
    pub stride: usize,
    /// Expansion factor of the hidden width; 1 means no expansion layer.
    pub expand_ratio: usize,
}

/// A MobileNetV2 inverted-residual block.
#[derive(Module, Debug)]
pub struct InvertedResidual {
    /// 1×1 expansion, absent when the expansion ratio is 1.
    pub expand: Option<ConvRelu6>,
    /// 3×3 depthwise convolution.
    pub depthwise: ConvRelu6,
    /// 1×1 linear projection (no activation: the bottleneck must stay linear).
    pub project: Conv2d,
    /// Whether the input is added to the output (same shape in and out).
    pub residual: bool,
}

impl InvertedResidualConfig {
    /// Builds the block with freshly initialised weights.
    pub fn init(&self, device: &Device) -> InvertedResidual {
        let hidden = self.channels_in * self.expand_ratio;
        let expand = (self.expand_ratio != 1)
            .then(|| ConvRelu6::new([self.channels_in, hidden], 1, 1, 1, device));
        InvertedResidual {
            expand,
            depthwise: ConvRelu6::new([hidden, hidden], 3, self.stride, hidden, device),
            project: Conv2dConfig::new([hidden, self.channels_out], [1, 1])
                .with_padding(PaddingConfig2d::Valid)
                .init(device),
            residual: self.stride == 1 && self.channels_in == self.channels_out,
        }
    }
}

impl InvertedResidual {
    /// Runs the block.
    pub fn forward(&self, input: Tensor<4>) -> Tensor<4> {
        let x = match &self.expand {
            Some(expand) => expand.forward(input.clone()),
            None => input.clone(),
        };
        let x = self.depthwise.forward(x);
        if self.residual {
            fused::conv2d_residual(x, &self.project, input)
        } else {
            fused::conv2d_bias(x, &self.project)
        }
    }
}
