//! The 1×1 convolutions of MobileNetV2's blocks (expansion, projection, the last layer), with
//! their bias, ReLU6 or residual sum folded into the matrix product.
//!
//! A 1×1 convolution over an NCHW image is the matrix product `W[out, in] · X[in, h·w]`.
//! burn-flex runs it as a product into a zeroed buffer, then adds the bias, then the model ran
//! ReLU and the clamp as two more passes (and a residual sum as another). Natively, here the
//! output starts as the bias (plus the residual), gemm's product accumulates into it, and
//! ReLU6 is one pass over a buffer the product has just written; in the browser, the
//! register-tiled product of [`crate::tiled`] does all of it in registers.

#[cfg(not(target_arch = "wasm32"))]
use crate::conv3x3::relu6;

/// What one call multiplies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pointwise {
    /// Images in the batch.
    pub batch: usize,
    /// Channels in.
    pub channels_in: usize,
    /// Channels out.
    pub channels_out: usize,
    /// Pixels per channel (height × width).
    pub pixels: usize,
}

/// What is added to the product, and what follows it.
#[derive(Debug, Clone, Copy)]
pub enum Epilogue<'a> {
    /// `relu6(W·X + bias)`.
    Relu6,
    /// `W·X + bias + residual`, the residual shaped as the output.
    Residual(&'a [f32]),
    /// `W·X + bias` (the blocks' projections without a residual).
    Bias,
}

/// `[batch, channels_out, pixels]` row-major, from `input` `[batch, channels_in, pixels]`,
/// `weight` `[channels_out, channels_in]` and `bias` `[channels_out]`.
///
/// # Panics
/// When a slice's length does not match `shape`: the caller checks the shapes it routes here.
pub fn pointwise(
    input: &[f32],
    weight: &[f32],
    bias: &[f32],
    shape: &Pointwise,
    epilogue: Epilogue<'_>,
) -> Vec<f32> {
    let Pointwise {
        batch,
        channels_in: k,
        channels_out: m,
        pixels: n,
    } = *shape;
    assert_eq!(input.len(), batch * k * n, "pointwise: input length");
    assert_eq!(weight.len(), m * k, "pointwise: weight length");
    assert_eq!(bias.len(), m, "pointwise: bias length");

    if let Epilogue::Residual(residual) = epilogue {
        assert_eq!(residual.len(), batch * m * n, "pointwise: residual length");
    }
    product(input, weight, bias, [batch, m, n, k], epilogue)
}

/// In the browser: the register-tiled product, finished in registers.
#[cfg(target_arch = "wasm32")]
fn product(
    input: &[f32],
    weight: &[f32],
    bias: &[f32],
    [batch, m, n, k]: [usize; 4],
    epilogue: Epilogue<'_>,
) -> Vec<f32> {
    use crate::tiled;

    let packed = tiled::pack(weight, m, k);
    let mut output = vec![0.0; batch * m * n];
    for (image, (x, out)) in input
        .chunks_exact(k * n)
        .zip(output.chunks_exact_mut(m * n))
        .enumerate()
    {
        // This image's rows of the residual.
        let epilogue = match epilogue {
            Epilogue::Residual(residual) => Epilogue::Residual(&residual[image * m * n..][..m * n]),
            other => other,
        };
        tiled::product(out, &packed, x, bias, epilogue, [m, n, k]);
    }
    output
}

/// Natively: gemm's product (FMA microkernels for the machine's widest vectors) into the
/// bias, or bias + residual, then ReLU6 in one pass.
#[cfg(not(target_arch = "wasm32"))]
fn product(
    input: &[f32],
    weight: &[f32],
    bias: &[f32],
    [batch, m, n, k]: [usize; 4],
    epilogue: Epilogue<'_>,
) -> Vec<f32> {
    let mut output = Vec::with_capacity(batch * m * n);
    match epilogue {
        Epilogue::Relu6 | Epilogue::Bias => {
            for _ in 0..batch {
                for &b in bias {
                    output.extend(std::iter::repeat_n(b, n));
                }
            }
        }
        Epilogue::Residual(residual) => {
            for (row, &b) in residual.chunks_exact(n).zip(bias.iter().cycle()) {
                output.extend(row.iter().map(|&r| r + b));
            }
        }
    }

    for (x, out) in input
        .chunks_exact(k * n)
        .zip(output.chunks_exact_mut(m * n))
    {
        multiply_accumulate(out, weight, x, [m, n, k]);
    }

    if let Epilogue::Relu6 = epilogue {
        for v in &mut output {
            *v = relu6(*v);
        }
    }
    output
}

/// `dst[m, n] += lhs[m, k] · rhs[k, n]`, all row-major and contiguous.
#[cfg(not(target_arch = "wasm32"))]
#[allow(unsafe_code)]
fn multiply_accumulate(dst: &mut [f32], lhs: &[f32], rhs: &[f32], [m, n, k]: [usize; 3]) {
    assert!(dst.len() == m * n && lhs.len() == m * k && rhs.len() == k * n);
    // SAFETY: the three slices are exactly `m × n`, `m × k` and `k × n` row-major (checked just
    // above), which is what these strides describe; `dst` is borrowed mutably, so it aliases
    // neither operand. gemm is the crate burn-flex's own 1×1 convolution calls the same way.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            1,
            n as isize,
            true,
            lhs.as_ptr(),
            1,
            k as isize,
            rhs.as_ptr(),
            1,
            n as isize,
            1.0,
            1.0,
            false,
            false,
            false,
            gemm::Parallelism::None,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conv3x3::relu6;
    use crate::test_values::values;

    fn naive(input: &[f32], weight: &[f32], bias: &[f32], shape: &Pointwise) -> Vec<f32> {
        let mut out = Vec::new();
        for b in 0..shape.batch {
            for o in 0..shape.channels_out {
                for p in 0..shape.pixels {
                    let mut acc = bias[o];
                    for i in 0..shape.channels_in {
                        acc += weight[o * shape.channels_in + i]
                            * input[(b * shape.channels_in + i) * shape.pixels + p];
                    }
                    out.push(acc);
                }
            }
        }
        out
    }

    #[test]
    fn relu6_and_residual_epilogues_match_the_definition() {
        for shape in [
            Pointwise {
                batch: 1,
                channels_in: 3,
                channels_out: 5,
                pixels: 7,
            },
            Pointwise {
                batch: 3,
                channels_in: 24,
                channels_out: 144,
                pixels: 35,
            },
            Pointwise {
                batch: 2,
                channels_in: 160,
                channels_out: 17,
                pixels: 1,
            },
        ] {
            let input = values(shape.batch * shape.channels_in * shape.pixels, 1, 1.0);
            let weight: Vec<f32> = values(shape.channels_out * shape.channels_in, 2, 1.0)
                .iter()
                .map(|w| w * 8.0)
                .collect();
            let bias = values(shape.channels_out, 3, 1.0);
            let residual = values(shape.batch * shape.channels_out * shape.pixels, 4, 1.0);
            let plain = naive(&input, &weight, &bias, &shape);

            let clamped = pointwise(&input, &weight, &bias, &shape, Epilogue::Relu6);
            let linear = pointwise(&input, &weight, &bias, &shape, Epilogue::Bias);
            let summed = pointwise(
                &input,
                &weight,
                &bias,
                &shape,
                Epilogue::Residual(&residual),
            );
            for (i, &v) in plain.iter().enumerate() {
                assert!(
                    (clamped[i] - relu6(v)).abs() <= 1e-4,
                    "{shape:?} relu6 at {i}"
                );
                assert!(
                    (summed[i] - (v + residual[i])).abs() <= 1e-4,
                    "{shape:?} residual at {i}"
                );
                assert!((linear[i] - v).abs() <= 1e-4, "{shape:?} bias at {i}");
            }
            assert!(clamped.contains(&0.0), "{shape:?}: nothing clamped at 0");
        }
    }
}
