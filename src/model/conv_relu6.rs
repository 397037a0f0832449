use burn::module::Module;
use burn::nn::PaddingConfig2d;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::tensor::{Device, Tensor};

use crate::fused;

/// A convolution followed by ReLU6.
///
/// The pretrained weights had their batch norms folded into the convolutions (every batch-norm
/// slot holds identity statistics), so the bias lives on the convolution and there is no norm
/// layer to run or to keep frozen while fine-tuning.
#[derive(Module, Debug)]
pub struct ConvRelu6 {
    /// The convolution, with the folded batch-norm bias.
    pub conv: Conv2d,
}

impl ConvRelu6 {
    /// A `kernel`×`kernel` convolution. `groups == channels_in` makes it depthwise.
    ///
    /// Padding is TensorFlow's "SAME": for stride 2 the odd extra row and column go at the
    /// bottom and right, which is what the pretrained weights expect.
    pub fn new(
        [channels_in, channels_out]: [usize; 2],
        kernel: usize,
        stride: usize,
        groups: usize,
        device: &Device,
    ) -> Self {
        let conv = Conv2dConfig::new([channels_in, channels_out], [kernel, kernel])
            .with_stride([stride, stride])
            .with_groups(groups)
            .with_padding(PaddingConfig2d::Same)
            .init(device);
        Self { conv }
    }

    /// Applies the convolution and ReLU6, fused where the backend can ([`fused`]).
    pub fn forward(&self, input: Tensor<4>) -> Tensor<4> {
        fused::conv2d_relu6(input, &self.conv)
    }
}
