//! [`MobileNetOps`] on burn-flex: the shapes [`Route`] knows go to the slice kernels, the rest
//! to burn's operations.

use burn::backend::flex::FlexTensor;
use burn::backend::tensor::FloatTensor;
use burn::backend::{Flex, TensorMetadata};
use burn::tensor::ops::ConvOptions;
use burn::tensor::{DType, TensorData};

use super::{
    MobileNetOps, Route, composed_conv2d_bias, composed_conv2d_relu6, composed_conv2d_residual,
};
use onesheet_kernels::{Epilogue, Pointwise, conv3x3_relu6, pointwise};

impl MobileNetOps for Flex {
    fn conv2d_relu6(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        options: ConvOptions<2>,
    ) -> FloatTensor<Self> {
        let Some((route, out_dims)) = route(&x, &weight, &bias, &options) else {
            return composed_conv2d_relu6::<Self>(x, weight, bias, options);
        };
        let shape = match route {
            Route::Pointwise(shape) => {
                return pointwise_tensor([&x, &weight, &bias], &shape, Epilogue::Relu6, out_dims);
            }
            Route::Conv3x3(shape) => shape,
        };
        let [x, weight, bias] = [&x, &weight, &bias].map(contiguous);
        let out = conv3x3_relu6(values(&x), values(&weight), values(&bias), &shape);
        tensor(out, out_dims)
    }

    fn conv2d_residual(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        residual: FloatTensor<Self>,
        options: ConvOptions<2>,
    ) -> FloatTensor<Self> {
        let routed = match route(&x, &weight, &bias, &options) {
            Some((Route::Pointwise(shape), out_dims))
                if residual.dtype() == DType::F32 && residual.shape().as_slice() == out_dims =>
            {
                Some((shape, out_dims))
            }
            _ => None,
        };
        let Some((shape, out_dims)) = routed else {
            return composed_conv2d_residual::<Self>(x, weight, bias, residual, options);
        };
        let residual = contiguous(&residual);
        let epilogue = Epilogue::Residual(values(&residual));
        pointwise_tensor([&x, &weight, &bias], &shape, epilogue, out_dims)
    }

    fn conv2d_bias(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        options: ConvOptions<2>,
    ) -> FloatTensor<Self> {
        let Some((Route::Pointwise(shape), out_dims)) = route(&x, &weight, &bias, &options) else {
            return composed_conv2d_bias::<Self>(x, weight, bias, options);
        };
        pointwise_tensor([&x, &weight, &bias], &shape, Epilogue::Bias, out_dims)
    }
}

/// Where `x * weight + bias` can go (f32 tensors of the shapes [`Route`] takes), and the
/// output's dims.
fn route(
    x: &FlexTensor,
    weight: &FlexTensor,
    bias: &FlexTensor,
    options: &ConvOptions<2>,
) -> Option<(Route, [usize; 4])> {
    if [x.dtype(), weight.dtype(), bias.dtype()] != [DType::F32; 3] {
        return None;
    }
    let x_dims: [usize; 4] = x.shape().as_slice().try_into().ok()?;
    let w_dims: [usize; 4] = weight.shape().as_slice().try_into().ok()?;
    if bias.shape().num_elements() != w_dims[0] {
        return None;
    }
    let route = Route::of(x_dims, w_dims, options)?;
    let out_dims = route.output_dims(x_dims);
    Some((route, out_dims))
}

/// The 1×1 kernel on `[x, weight, bias]`, as a tensor of `out_dims`.
fn pointwise_tensor(
    operands: [&FlexTensor; 3],
    shape: &Pointwise,
    epilogue: Epilogue<'_>,
    out_dims: [usize; 4],
) -> FlexTensor {
    let [x, weight, bias] = operands.map(contiguous);
    let out = pointwise(values(&x), values(&weight), values(&bias), shape, epilogue);
    tensor(out, out_dims)
}

/// `x` itself where its values already lie in order, else a contiguous copy.
fn contiguous(x: &FlexTensor) -> FlexTensor {
    if x.as_slice::<f32>().is_some() {
        x.clone()
    } else {
        x.to_contiguous()
    }
}

fn values(x: &FlexTensor) -> &[f32] {
    x.as_slice::<f32>().expect("made contiguous above")
}

fn tensor(values: Vec<f32>, dims: [usize; 4]) -> FlexTensor {
    FlexTensor::from_data(TensorData::new(values, dims))
}
