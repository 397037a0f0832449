//! The model's fused operations: a burn backend extension whose CPU side calls the
//! `onesheet-kernels` crate.
//!
//! [`MobileNetOps`] holds three operations, each a convolution fused with what follows it in
//! MobileNetV2 (its bias and ReLU6, its bias and a residual sum, or its bias alone). Every
//! backend runs them as the composition of burn's own operations (the trait's default bodies),
//! so autodiff differentiates them and WebGPU runs its own kernels; burn-flex, the CPU backend
//! natively and in the browser, runs the 3×3 (depthwise, and the stem's) and the 1×1 shapes
//! through `onesheet-kernels`' slice kernels instead. The model calls [`conv2d_relu6`],
//! [`conv2d_residual`] and [`conv2d_bias`] and stays one burn model on every backend;
//! `tests/fused.rs` holds the two paths to the same numbers.

#[cfg(feature = "flex")]
mod flex;

use burn::backend::tensor::FloatTensor;
use burn::backend::{Backend, Dispatch, backend_extension};
use burn::nn::PaddingConfig2d;
use burn::nn::conv::Conv2d;
use burn::tensor::Tensor;
use burn::tensor::ops::ConvOptions;

#[cfg(feature = "flex")]
use onesheet_kernels::{Conv3x3, Pointwise, conv3x3};

/// Convolutions fused with what follows them in MobileNetV2.
#[backend_extension(Flex, Cube: cfg(feature = "wgpu"), Autodiff: cfg(feature = "autodiff"))]
pub trait MobileNetOps: Backend {
    /// `relu6(conv2d(x, weight) + bias)`.
    fn conv2d_relu6(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        options: ConvOptions<2>,
    ) -> FloatTensor<Self> {
        composed_conv2d_relu6::<Self>(x, weight, bias, options)
    }

    /// `conv2d(x, weight) + bias + residual`.
    fn conv2d_residual(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        residual: FloatTensor<Self>,
        options: ConvOptions<2>,
    ) -> FloatTensor<Self> {
        composed_conv2d_residual::<Self>(x, weight, bias, residual, options)
    }

    /// `conv2d(x, weight) + bias`.
    fn conv2d_bias(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        options: ConvOptions<2>,
    ) -> FloatTensor<Self> {
        composed_conv2d_bias::<Self>(x, weight, bias, options)
    }
}

/// burn's own operations, in the order the model ran them before these kernels.
fn composed_conv2d_relu6<B: Backend>(
    x: FloatTensor<B>,
    weight: FloatTensor<B>,
    bias: FloatTensor<B>,
    options: ConvOptions<2>,
) -> FloatTensor<B> {
    let y = B::relu(B::conv2d(x, weight, Some(bias), options));
    B::float_clamp_max(y, 6.0f32.into())
}

fn composed_conv2d_residual<B: Backend>(
    x: FloatTensor<B>,
    weight: FloatTensor<B>,
    bias: FloatTensor<B>,
    residual: FloatTensor<B>,
    options: ConvOptions<2>,
) -> FloatTensor<B> {
    B::float_add(B::conv2d(x, weight, Some(bias), options), residual)
}

fn composed_conv2d_bias<B: Backend>(
    x: FloatTensor<B>,
    weight: FloatTensor<B>,
    bias: FloatTensor<B>,
    options: ConvOptions<2>,
) -> FloatTensor<B> {
    B::conv2d(x, weight, Some(bias), options)
}

#[cfg(feature = "wgpu")]
impl MobileNetOps for burn::backend::Cube {}

#[cfg(feature = "autodiff")]
impl<B, C> MobileNetOps for burn::backend::Autodiff<B, C>
where
    B: Backend + MobileNetOps,
    C: burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy,
{
}

/// `relu6(conv(x))` for a convolution with a bias (one without runs burn's path).
pub fn conv2d_relu6(x: Tensor<4>, conv: &Conv2d) -> Tensor<4> {
    let Some((weight, bias, options)) = fused_operands(conv, x.dims()) else {
        let y = burn::tensor::activation::relu(conv.forward(x));
        return y.clamp_max(6.0);
    };
    let x = x.into_dispatch();
    Tensor::from_dispatch(<Dispatch as MobileNetOps>::conv2d_relu6(
        x, weight, bias, options,
    ))
}

/// `conv(x) + residual` for a convolution with a bias (one without runs burn's path).
pub fn conv2d_residual(x: Tensor<4>, conv: &Conv2d, residual: Tensor<4>) -> Tensor<4> {
    let Some((weight, bias, options)) = fused_operands(conv, x.dims()) else {
        return conv.forward(x) + residual;
    };
    let (x, residual) = (x.into_dispatch(), residual.into_dispatch());
    Tensor::from_dispatch(<Dispatch as MobileNetOps>::conv2d_residual(
        x, weight, bias, residual, options,
    ))
}

/// `conv(x)`, as `conv.forward(x)` (one without a bias runs burn's path): the 1×1 projections
/// of the blocks without a residual, which the CPU kernels finish with their bias.
pub fn conv2d_bias(x: Tensor<4>, conv: &Conv2d) -> Tensor<4> {
    let Some((weight, bias, options)) = fused_operands(conv, x.dims()) else {
        return conv.forward(x);
    };
    let x = x.into_dispatch();
    Tensor::from_dispatch(<Dispatch as MobileNetOps>::conv2d_bias(
        x, weight, bias, options,
    ))
}

/// `conv`'s weight and bias for a fused operation, and the options `conv.forward` would use on
/// an input of `dims`; `None` for a convolution without a bias (which runs burn's path).
fn fused_operands(
    conv: &Conv2d,
    dims: [usize; 4],
) -> Option<(FloatTensor<Dispatch>, FloatTensor<Dispatch>, ConvOptions<2>)> {
    let bias = conv.bias.as_ref()?.val().into_dispatch();
    Some((
        conv.weight.val().into_dispatch(),
        bias,
        conv_options(conv, dims),
    ))
}

/// The options `conv.forward` would use on an input of `dims`.
fn conv_options(conv: &Conv2d, [_, _, height, width]: [usize; 4]) -> ConvOptions<2> {
    let padding = match &conv.padding {
        PaddingConfig2d::Valid => [(0, 0), (0, 0)],
        PaddingConfig2d::Same => [
            same_padding(conv.kernel_size[0], conv.stride[0], height),
            same_padding(conv.kernel_size[1], conv.stride[1], width),
        ],
        PaddingConfig2d::Explicit(top, left, bottom, right) => [(*top, *bottom), (*left, *right)],
    };
    ConvOptions::new_with_padding(conv.stride, padding, conv.dilation, conv.groups)
}

/// TensorFlow's "SAME": the output is `⌈size / stride⌉`, the odd extra row or column of
/// padding goes after (burn's `PaddingConfig2d::Same` computes the same).
fn same_padding(kernel: usize, stride: usize, size: usize) -> (usize, usize) {
    let out = size.div_ceil(stride);
    let total = ((out.max(1) - 1) * stride + kernel).saturating_sub(size);
    (total / 2, total - total / 2)
}

/// The shapes the CPU kernels take; anything else runs burn's operations.
#[cfg(feature = "flex")]
enum Route {
    Conv3x3(Conv3x3),
    Pointwise(Pointwise),
}

/// Dense 3×3 convolutions go to the CPU kernel up to this many input channels per group (the
/// stem has 3): it runs nine taps per input channel over whole planes, which stops paying
/// against a matrix product as channels grow.
#[cfg(feature = "flex")]
const DENSE_3X3_CHANNELS: usize = 4;

#[cfg(feature = "flex")]
impl Route {
    /// `x` `[batch, channels, h, w]`, `weight` `[out, in / groups, kh, kw]`.
    fn of(x: [usize; 4], weight: [usize; 4], options: &ConvOptions<2>) -> Option<Self> {
        let [batch, channels, h, w] = x;
        let [out, per_group, kh, kw] = weight;
        if options.dilation != [1, 1]
            || options.groups == 0
            || per_group * options.groups != channels
        {
            return None;
        }
        if [kh, kw] == [1, 1] {
            let plain = options.stride == [1, 1]
                && options.padding == [(0, 0), (0, 0)]
                && options.groups == 1;
            return plain.then_some(Self::Pointwise(Pointwise {
                batch,
                channels_in: channels,
                channels_out: out,
                pixels: h * w,
            }));
        }
        let depthwise = options.groups == channels && out == channels;
        let routed = [kh, kw] == [conv3x3::KERNEL; 2]
            && options.stride[0] == options.stride[1]
            && (depthwise || per_group <= DENSE_3X3_CHANNELS);
        let shape = Conv3x3 {
            batch,
            channels_in: channels,
            channels_out: out,
            groups: options.groups,
            size: [h, w],
            stride: options.stride[0],
            padding: options.padding,
        };
        (routed && shape.output_size().is_some()).then_some(Self::Conv3x3(shape))
    }

    /// `[batch, channels, h, w]` out, for an input of `x` dims.
    fn output_dims(&self, [batch, _, h, w]: [usize; 4]) -> [usize; 4] {
        match self {
            Self::Conv3x3(shape) => {
                let [out_h, out_w] = shape.output_size().expect("routed shapes have an output");
                [batch, shape.channels_out, out_h, out_w]
            }
            Self::Pointwise(shape) => [batch, shape.channels_out, h, w],
        }
    }
}

#[cfg(all(test, feature = "flex"))]
mod tests {
    use super::*;

    fn options(stride: usize, padding: [(usize, usize); 2], groups: usize) -> ConvOptions<2> {
        ConvOptions::new_with_padding([stride; 2], padding, [1, 1], groups)
    }

    #[test]
    fn mobilenet_shapes_take_the_fused_kernels() {
        let same_s2 = [(0, 1), (0, 1)];
        let same_s1 = [(1, 1), (1, 1)];
        let depthwise = Route::of([1, 96, 112, 80], [96, 1, 3, 3], &options(2, same_s2, 96));
        assert!(matches!(depthwise, Some(Route::Conv3x3(d)) if d.output_size() == Some([56, 40])));
        let depthwise = Route::of([2, 960, 10, 7], [960, 1, 3, 3], &options(1, same_s1, 960));
        assert!(matches!(depthwise, Some(Route::Conv3x3(d)) if d.output_size() == Some([10, 7])));
        let pointwise = Route::of(
            [1, 320, 10, 7],
            [1280, 320, 1, 1],
            &options(1, [(0, 0); 2], 1),
        );
        let stem = Route::of([1, 3, 320, 224], [32, 3, 3, 3], &options(2, same_s2, 1));
        assert!(matches!(stem, Some(Route::Conv3x3(d)) if d.output_size() == Some([160, 112])));
        assert!(matches!(pointwise, Some(Route::Pointwise(p)) if p.pixels == 70));
    }

    #[test]
    fn other_shapes_run_burns_operations() {
        // A dense 3×3 convolution over many channels, a dilated depthwise one, a strided 1×1.
        let dense = Route::of(
            [1, 32, 56, 56],
            [32, 32, 3, 3],
            &options(1, [(1, 1), (1, 1)], 1),
        );
        assert!(dense.is_none());
        let mut dilated = options(1, [(2, 2), (2, 2)], 8);
        dilated.dilation = [2, 2];
        assert!(Route::of([1, 8, 9, 9], [8, 1, 3, 3], &dilated).is_none());
        assert!(Route::of([1, 8, 9, 9], [4, 8, 1, 1], &options(2, [(0, 0); 2], 1)).is_none());
    }

    #[test]
    fn same_padding_is_burns() {
        assert_eq!(same_padding(3, 2, 224), (0, 1));
        assert_eq!(same_padding(3, 2, 7), (1, 1));
        assert_eq!(same_padding(3, 1, 10), (1, 1));
        assert_eq!(same_padding(1, 1, 10), (0, 0));
    }
}
