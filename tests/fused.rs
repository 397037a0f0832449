//! The fused convolutions (`onesheet::fused`) against burn's own operations, shape by shape,
//! on every backend the model runs on: burn-flex (where the fused CPU kernels run), wgpu on
//! lavapipe, and autodiff over flex (where gradients must flow through them as through burn's).

mod common;

use burn::nn::PaddingConfig2d;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::tensor::{Device, Distribution, Tensor, activation};
use onesheet::fused::{conv2d_bias, conv2d_relu6, conv2d_residual};

/// Every convolution shape MobileNetV2 has, plus odd sizes, batches and paddings.
fn shapes() -> Vec<(Conv2dConfig, [usize; 4])> {
    let depthwise = |c: usize, stride: usize| {
        Conv2dConfig::new([c, c], [3, 3])
            .with_stride([stride, stride])
            .with_groups(c)
            .with_padding(PaddingConfig2d::Same)
    };
    let pointwise = |i: usize, o: usize| Conv2dConfig::new([i, o], [1, 1]);
    vec![
        (depthwise(32, 1), [1, 32, 112, 80]),
        (depthwise(96, 2), [1, 96, 112, 80]),
        (depthwise(144, 2), [2, 144, 15, 11]),
        (depthwise(960, 1), [1, 960, 10, 7]),
        (depthwise(8, 2), [3, 8, 1, 1]),
        (
            depthwise(6, 1).with_padding(PaddingConfig2d::Explicit(2, 0, 1, 2)),
            [2, 6, 9, 5],
        ),
        (pointwise(16, 96), [1, 16, 112, 80]),
        (pointwise(320, 1280), [2, 320, 10, 7]),
        (pointwise(7, 5), [3, 7, 3, 1]),
        // Not one of the fused kernels' shapes (the stem): burn's own path behind the same call.
        (
            Conv2dConfig::new([3, 32], [3, 3])
                .with_stride([2, 2])
                .with_padding(PaddingConfig2d::Same),
            [1, 3, 33, 24],
        ),
    ]
}

fn layer(config: &Conv2dConfig, device: &Device) -> Conv2d {
    let conv = config.init(device);
    // Weights large enough that ReLU6 clamps at both ends.
    let weight = conv.weight.val().mul_scalar(4.0).detach();
    Conv2d {
        weight: burn::module::Param::from_tensor(weight),
        bias: conv
            .bias
            .map(|b| burn::module::Param::from_tensor(b.val().add_scalar(0.5).detach())),
        ..conv
    }
}

fn max_abs_difference(a: Tensor<4>, b: Tensor<4>) -> f32 {
    assert_eq!(a.dims(), b.dims());
    (a - b).abs().max().into_scalar()
}

fn check_forward(device: &Device, name: &str) {
    for (config, dims) in shapes() {
        device.seed(7);
        let conv = layer(&config, device);
        let x = Tensor::<4>::random(dims, Distribution::Uniform(-2.0, 2.0), device);
        let plain = conv.forward(x.clone());

        let expected = activation::relu(plain.clone()).clamp_max(6.0);
        let fused = conv2d_relu6(x.clone(), &conv);
        let clamped: i64 = fused.clone().equal_elem(6.0).int().sum().into_scalar();
        let error = max_abs_difference(fused, expected);
        assert!(error <= 1e-4, "{name} relu6 {dims:?}: {error}");
        let outputs: usize = plain.dims().iter().product();
        assert!(
            clamped > 0 || outputs < 100,
            "{name} {dims:?}: no output reached 6"
        );

        let error = max_abs_difference(conv2d_bias(x.clone(), &conv), plain.clone());
        assert!(error <= 1e-4, "{name} bias {dims:?}: {error}");

        let residual = Tensor::<4>::random(plain.dims(), Distribution::Normal(0.0, 1.0), device);
        let expected = plain + residual.clone();
        let error = max_abs_difference(conv2d_residual(x, &conv, residual), expected);
        assert!(error <= 1e-4, "{name} residual {dims:?}: {error}");
    }
}

#[test]
fn fused_convolutions_match_burn_on_flex() {
    check_forward(&Device::flex(), "flex");
}

#[test]
fn fused_convolutions_match_burn_on_wgpu() {
    check_forward(&common::wgpu_device(), "wgpu");
}

/// Fine-tuning runs the same calls on an autodiff device: the gradients of the input and of
/// the weights and bias must be burn's. (`autodiff` is on in the workspace's test run: the
/// trainer asks for it.)
#[cfg(feature = "autodiff")]
#[test]
fn gradients_flow_through_the_fused_convolutions() {
    let device = Device::flex().autodiff();
    for (config, dims) in shapes().into_iter().step_by(3) {
        device.seed(11);
        let conv = layer(&config, &device);
        let x = Tensor::<4>::random(dims, Distribution::Uniform(-2.0, 2.0), &device).require_grad();
        let out_dims = conv.forward(x.clone()).dims();
        let residual = Tensor::<4>::random(out_dims, Distribution::Normal(0.0, 1.0), &device);
        // A weighting so every output's gradient differs.
        let weights = Tensor::<4>::random(out_dims, Distribution::Normal(0.0, 1.0), &device);

        let fused = (conv2d_relu6(x.clone(), &conv)
            + conv2d_residual(x.clone(), &conv, residual.clone())
            + conv2d_bias(x.clone(), &conv) * 0.5)
            * weights.clone();
        let plain = (activation::relu(conv.forward(x.clone())).clamp_max(6.0)
            + conv.forward(x.clone())
            + residual
            + conv.forward(x.clone()) * 0.5)
            * weights;
        let fused_grads = fused.sum().backward();
        let plain_grads = plain.sum().backward();

        let pairs = [
            (x.grad(&fused_grads), x.grad(&plain_grads), "input"),
            (
                conv.weight.val().grad(&fused_grads),
                conv.weight.val().grad(&plain_grads),
                "weight",
            ),
        ];
        for (fused, plain, what) in pairs {
            let (fused, plain) = (fused.expect("a gradient"), plain.expect("a gradient"));
            let error = max_abs_difference(fused, plain);
            assert!(error <= 1e-3, "{dims:?} {what} gradient: {error}");
        }
        let bias = conv.bias.as_ref().expect("a bias").val();
        let (fused, plain) = (bias.grad(&fused_grads), bias.grad(&plain_grads));
        let error: f32 = (fused.expect("a gradient") - plain.expect("a gradient"))
            .abs()
            .max()
            .into_scalar();
        assert!(error <= 1e-3, "{dims:?} bias gradient: {error}");
    }
}
