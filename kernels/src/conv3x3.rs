//! 3×3 convolutions with their bias and ReLU6, on plain NCHW slices: MobileNetV2's depthwise
//! convolutions (one input channel per output channel) and its stem (three input channels,
//! dense).
//!
//! A channel's padded input is split into `stride²` phase planes (rows and columns by their
//! remainder modulo the stride), so that every one of the nine taps reads its plane at a fixed
//! offset from the output position. The nine taps then run as one long loop over the whole
//! output plane laid out at the phase planes' width (a few columns wider than the output),
//! which the compiler vectorises (SIMD128 in the browser); the extra columns are dropped as the
//! clamp writes each output row. burn-flex's own kernels for these shapes walk output rows one
//! kernel tap at a time: on MobileNetV2's small planes (rows of 5 to 20 values) most of their
//! time went to the loops' setup and remainders, and stride 2 ran scalar.

/// Kernel height and width.
pub const KERNEL: usize = 3;
const TAPS: usize = KERNEL * KERNEL;

/// What one call convolves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Conv3x3 {
    /// Images in the batch.
    pub batch: usize,
    /// Channels in.
    pub channels_in: usize,
    /// Channels out.
    pub channels_out: usize,
    /// Channel groups: `channels_in` (= `channels_out`) for a depthwise convolution, 1 for a
    /// dense one. Both channel counts are multiples of it.
    pub groups: usize,
    /// Input height and width.
    pub size: [usize; 2],
    /// Stride in both directions (1 or 2 in MobileNetV2; any stride ≥ 1 works).
    pub stride: usize,
    /// `(before, after)` zero padding for height, then width.
    pub padding: [(usize, usize); 2],
}

impl Conv3x3 {
    /// Output height and width, or `None` where the shape cannot be convolved (a padded input
    /// smaller than the kernel, a zero stride, channels that do not split into the groups).
    pub fn output_size(&self) -> Option<[usize; 2]> {
        let [h, w] = self.padded();
        let grouped = self.groups > 0
            && self.channels_in.is_multiple_of(self.groups)
            && self.channels_out.is_multiple_of(self.groups);
        if h < KERNEL || w < KERNEL || self.stride == 0 || !grouped {
            return None;
        }
        Some([
            (h - KERNEL) / self.stride + 1,
            (w - KERNEL) / self.stride + 1,
        ])
    }

    fn padded(&self) -> [usize; 2] {
        let [(top, bottom), (left, right)] = self.padding;
        [top + self.size[0] + bottom, left + self.size[1] + right]
    }
}

/// The phase planes of one padded channel, and where each tap reads in them.
struct Phases {
    stride: usize,
    top_left: [usize; 2],
    width: usize,
    plane_w: usize,
    plane_len: usize,
    tap_start: [usize; TAPS],
}

impl Phases {
    fn new(shape: &Conv3x3) -> Self {
        let [padded_h, padded_w] = shape.padded();
        let stride = shape.stride;
        // Every phase plane has this many rows and columns; the grid the taps run over has
        // their width, so a step of one output row is one plane row.
        let plane_w = padded_w.div_ceil(stride);
        let plane_len = padded_h.div_ceil(stride) * plane_w;
        let mut tap_start = [0usize; TAPS];
        for ky in 0..KERNEL {
            for kx in 0..KERNEL {
                let phase = (ky % stride) * stride + kx % stride;
                tap_start[ky * KERNEL + kx] =
                    phase * plane_len + (ky / stride) * plane_w + kx / stride;
            }
        }
        let [(top, _), (left, _)] = shape.padding;
        Self {
            stride,
            top_left: [top, left],
            width: shape.size[1],
            plane_w,
            plane_len,
            tap_start,
        }
    }

    /// Floats one channel's planes take.
    fn len(&self) -> usize {
        self.stride * self.stride * self.plane_len
    }

    /// Writes the zero-padded `channel` into `planes` (of [`Self::len`], zeroed once when
    /// allocated): plane `(ry, rx)` holds the padded rows `ry, ry + stride, …` and columns
    /// `rx, rx + stride, …`. Every call writes the same positions (the shape decides them), so
    /// the padding, never written, stays zero from one channel to the next.
    fn split(&self, channel: &[f32], planes: &mut [f32]) {
        let Self {
            stride,
            top_left: [top, left],
            plane_w,
            plane_len,
            ..
        } = *self;
        for (y, row) in channel.chunks_exact(self.width).enumerate() {
            let py = y + top;
            let row_start = (py % stride) * stride * plane_len + (py / stride) * plane_w;
            if stride == 1 {
                planes[row_start + left..][..row.len()].copy_from_slice(row);
                continue;
            }
            for rx in 0..stride {
                // The first input column whose padded column falls in phase `rx`; the phase's
                // columns then follow every `stride`.
                let x0 = (rx + stride - left % stride) % stride;
                if x0 >= row.len() {
                    continue;
                }
                let start = row_start + rx * plane_len + (x0 + left) / stride;
                let src = &row[x0..];
                let dst = &mut planes[start..][..src.len().div_ceil(stride)];
                match stride {
                    2 => every_nth::<2>(src, dst),
                    _ => {
                        for (d, &v) in dst.iter_mut().zip(src.iter().step_by(stride)) {
                            *d = v;
                        }
                    }
                }
            }
        }
    }

    /// `grid[i] = start + Σ taps[t] · planes[tap_start[t] + i]`, where `start` is `bias` for
    /// the first input channel (no separate pass to fill the grid with it) and `grid[i]` after.
    fn accumulate(&self, planes: &[f32], taps: &[f32; TAPS], grid: &mut [f32], bias: Option<f32>) {
        let n = grid.len();
        // Slices of exactly `n`: the loop below then carries no bounds checks and vectorises.
        let s = self.tap_start.map(|start| &planes[start..start + n]);
        let [w0, w1, w2, w3, w4, w5, w6, w7, w8] = *taps;
        for (i, out) in grid.iter_mut().enumerate() {
            let start = bias.unwrap_or(*out);
            let mut acc = start + w0 * s[0][i];
            acc += w1 * s[1][i];
            acc += w2 * s[2][i];
            acc += w3 * s[3][i];
            acc += w4 * s[4][i];
            acc += w5 * s[5][i];
            acc += w6 * s[6][i];
            acc += w7 * s[7][i];
            acc += w8 * s[8][i];
            *out = acc;
        }
    }
}

/// `dst[i] = src[i · N]`, with `N` known to the compiler (which then gathers with shuffles
/// rather than one value at a time).
fn every_nth<const N: usize>(src: &[f32], dst: &mut [f32]) {
    for (d, chunk) in dst.iter_mut().zip(src.chunks(N)) {
        *d = chunk[0];
    }
}

/// `relu6(conv3x3(input, weight) + bias)`, `[batch, channels_out, out_h, out_w]` row-major.
///
/// `input` is `[batch, channels_in, h, w]`, `weight` `[channels_out, channels_in / groups, 3,
/// 3]`, `bias` `[channels_out]`, all row-major.
///
/// # Panics
/// When a slice's length does not match `shape` or [`Conv3x3::output_size`] is `None`: the
/// caller checks the shapes it routes here.
pub fn conv3x3_relu6(input: &[f32], weight: &[f32], bias: &[f32], shape: &Conv3x3) -> Vec<f32> {
    let Conv3x3 {
        batch,
        channels_in,
        channels_out,
        groups,
        size: [h, w],
        ..
    } = *shape;
    let [out_h, out_w] = shape
        .output_size()
        .expect("conv3x3: a shape it cannot convolve");
    let (in_per_group, out_per_group) = (channels_in / groups, channels_out / groups);
    assert_eq!(
        input.len(),
        batch * channels_in * h * w,
        "conv3x3: input length"
    );
    assert_eq!(
        weight.len(),
        channels_out * in_per_group * TAPS,
        "conv3x3: weight length"
    );
    assert_eq!(bias.len(), channels_out, "conv3x3: bias length");

    let phases = Phases::new(shape);
    let mut planes = vec![0.0f32; in_per_group * phases.len()];
    let mut grid = vec![0.0f32; (out_h - 1) * phases.plane_w + out_w];
    let mut output = Vec::with_capacity(batch * channels_out * out_h * out_w);
    // Each group's input channels, in batch order then group order, as the output's are.
    for (index, group_in) in input.chunks_exact(in_per_group * h * w).enumerate() {
        let group = index % groups;
        for (channel, planes) in group_in
            .chunks_exact(h * w)
            .zip(planes.chunks_exact_mut(phases.len()))
        {
            phases.split(channel, planes);
        }
        for out_channel in group * out_per_group..(group + 1) * out_per_group {
            let filters = &weight[out_channel * in_per_group * TAPS..][..in_per_group * TAPS];
            for (index, (taps, planes)) in filters
                .chunks_exact(TAPS)
                .zip(planes.chunks_exact(phases.len()))
                .enumerate()
            {
                let taps: &[f32; TAPS] = taps.try_into().expect("nine taps per filter");
                let bias = (index == 0).then_some(bias[out_channel]);
                phases.accumulate(planes, taps, &mut grid, bias);
            }
            for row in grid.chunks(phases.plane_w).take(out_h) {
                output.extend(row[..out_w].iter().map(|&v| relu6(v)));
            }
        }
    }
    output
}

/// `min(max(v, 0), 6)`. (`clamp` is two comparisons: it vectorises to min/max instructions,
/// where `f32::max` and `f32::min` must keep their NaN rules and do not.)
#[inline]
pub fn relu6(v: f32) -> f32 {
    v.clamp(0.0, 6.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_values::values;

    /// The definition, term by term, with the padding checked at each tap.
    fn naive(input: &[f32], weight: &[f32], bias: &[f32], shape: &Conv3x3) -> Vec<f32> {
        let [h, w] = shape.size;
        let [out_h, out_w] = shape.output_size().expect("a valid shape");
        let [(top, _), (left, _)] = shape.padding;
        let in_per_group = shape.channels_in / shape.groups;
        let out_per_group = shape.channels_out / shape.groups;
        let mut out = Vec::new();
        for b in 0..shape.batch {
            for co in 0..shape.channels_out {
                let group = co / out_per_group;
                for oy in 0..out_h {
                    for ox in 0..out_w {
                        let mut acc = bias[co];
                        for i in 0..in_per_group {
                            let ci = group * in_per_group + i;
                            for ky in 0..3 {
                                for kx in 0..3 {
                                    let y = (oy * shape.stride + ky) as isize - top as isize;
                                    let x = (ox * shape.stride + kx) as isize - left as isize;
                                    if y < 0 || x < 0 || y >= h as isize || x >= w as isize {
                                        continue;
                                    }
                                    let v = input[((b * shape.channels_in + ci) * h + y as usize)
                                        * w
                                        + x as usize];
                                    acc += weight[(co * in_per_group + i) * 9 + ky * 3 + kx] * v;
                                }
                            }
                        }
                        out.push(relu6(acc));
                    }
                }
            }
        }
        out
    }

    #[test]
    fn matches_the_definition_for_every_stride_padding_grouping_and_odd_size() {
        let mut checked = 0;
        let groupings = [(3, 3, 3), (3, 6, 1), (4, 6, 2), (1, 1, 1)];
        for stride in [1, 2, 3] {
            for (h, w) in [(1, 1), (2, 3), (5, 7), (8, 8), (10, 7), (13, 4)] {
                for padding in [
                    [(1, 1), (1, 1)],
                    [(0, 1), (0, 1)],
                    [(0, 0), (0, 0)],
                    [(2, 0), (1, 2)],
                ] {
                    for (channels_in, channels_out, groups) in groupings {
                        let shape = Conv3x3 {
                            batch: 2,
                            channels_in,
                            channels_out,
                            groups,
                            size: [h, w],
                            stride,
                            padding,
                        };
                        if shape.output_size().is_none() {
                            continue;
                        }
                        let input = values(2 * channels_in * h * w, 1, 4.0);
                        let weight = values(channels_out * channels_in / groups * 9, 2, 4.0);
                        let bias = values(channels_out, 3, 4.0);
                        let fast = conv3x3_relu6(&input, &weight, &bias, &shape);
                        let slow = naive(&input, &weight, &bias, &shape);
                        assert_eq!(fast.len(), slow.len(), "{shape:?}");
                        for (a, b) in fast.iter().zip(&slow) {
                            assert!((a - b).abs() <= 1e-4, "{shape:?}: {a} vs {b}");
                        }
                        checked += 1;
                    }
                }
            }
        }
        assert!(checked > 150, "{checked}");
    }

    #[test]
    fn shapes_that_do_not_split_into_groups_are_refused() {
        let shape = Conv3x3 {
            batch: 1,
            channels_in: 4,
            channels_out: 6,
            groups: 4,
            size: [5, 5],
            stride: 1,
            padding: [(1, 1), (1, 1)],
        };
        assert_eq!(shape.output_size(), None);
        let shape = Conv3x3 {
            channels_out: 4,
            groups: 4,
            size: [1, 1],
            stride: 2,
            padding: [(0, 0), (0, 0)],
            ..shape
        };
        assert_eq!(shape.output_size(), None);
    }

    #[test]
    fn clamps_to_zero_and_six() {
        assert_eq!(relu6(-1.0), 0.0);
        assert_eq!(relu6(7.5), 6.0);
        assert_eq!(relu6(2.5), 2.5);
    }
}
