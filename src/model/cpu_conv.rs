//! Same-size convolutions on the CPU (odd square kernels, stride 1, padding `k / 2`: every
//! convolution GRL has), computed channels-last: each block of output rows gathers its `k x k`
//! neighbourhoods into one matrix and takes one product with the weights (`gemm`), starting from
//! the bias, the blocks in parallel.
//!
//! Burn's CPU backend converts each input from channels-first to channels-last with a scalar
//! loop on one thread, computes tiles into separate buffers and writes them back channels-first
//! with strided stores; the x4 tail of GRL-S ran at about 40 GFLOP/s there, a sixth of a forward
//! (`docs/performance.md`). Token maps are already channels-last, so [`conv2d_tokens`] reads
//! them as they are; [`conv2d`] takes and returns Burn's `[B, C, H, W]`, as views of
//! channels-last values, so that one convolution's output feeds the next without a copy.
//!
//! The plain-ops twin is Burn's `Conv2d::forward`; the tests compare the two.

use burn::nn::PaddingConfig2d;
use burn::nn::conv::Conv2d;
use burn::tensor::{Tensor, TensorData};

use super::cpu_gemm::matmul;
use super::cpu_parallel::build_chunks;
use super::cpu_values::{bias_or_zeros, with_values};
use super::kernels;
use crate::Size;

/// Output pixels per parallel task, in whole rows: a block's gathered neighbourhoods
/// (256 x 9 x 128 values for a GRL-S stage) stay in L2.
const PIXELS: usize = 256;

/// `conv` on a `[B, C, H, W]` map, on the fused kernel where [`kernels::fused_cpu`] allows and
/// the convolution keeps the size, else on Burn's op.
///
/// # Shapes
///
/// - x: `[B, C_in, H, W]`
/// - output: `[B, C_out, H, W]`
pub fn conv2d(conv: &Conv2d, x: Tensor<4>) -> Tensor<4> {
    let device = x.device();
    let Some(k) = fused_kernel_size(conv, &device) else { return conv.forward(x) };
    let [b, c_in, h, w] = x.dims();
    let channels_last = x.permute([0, 2, 3, 1]);
    let out = with_values(&channels_last, |values| conv_channels_last(conv, k, values, [b, h, w, c_in]));
    let c_out = conv.weight.dims()[0];
    Tensor::from_data(TensorData::new(out, [b, h, w, c_out]), &device).permute([0, 3, 1, 2])
}

/// `conv` on a token map, the tokens of an `H x W` map row-major.
///
/// # Shapes
///
/// - x: `[B, H * W, C_in]`
/// - output: `[B, H * W, C_out]`
pub fn conv2d_tokens(conv: &Conv2d, x: Tensor<3>, size: Size) -> Tensor<3> {
    let device = x.device();
    let [b, l, c_in] = x.dims();
    let c_out = conv.weight.dims()[0];
    let Some(k) = fused_kernel_size(conv, &device) else {
        let map = x.swap_dims(1, 2).reshape([b, c_in, size.height, size.width]);
        return conv.forward(map).reshape([b, c_out, l]).swap_dims(1, 2);
    };
    let out = with_values(&x, |values| conv_channels_last(conv, k, values, [b, size.height, size.width, c_in]));
    Tensor::from_data(TensorData::new(out, [b, l, c_out]), &device)
}

/// The kernel size `k` when the fused kernel computes `conv` on `device`: one group, stride 1,
/// dilation 1, an odd square kernel and `k / 2` padding on every side.
fn fused_kernel_size(conv: &Conv2d, device: &burn::tensor::Device) -> Option<usize> {
    let [kh, kw] = conv.kernel_size;
    let pad = kh / 2;
    let same = match conv.padding {
        PaddingConfig2d::Explicit(top, left, bottom, right) => [top, left, bottom, right] == [pad; 4],
        PaddingConfig2d::Same => true,
        PaddingConfig2d::Valid => kh == 1,
    };
    let plain = conv.groups == 1 && conv.stride == [1, 1] && conv.dilation == [1, 1];
    (kernels::fused_cpu(device) && plain && same && kh == kw && kh % 2 == 1).then_some(kh)
}

/// The convolution on channels-last values `x` (`[B, H, W, C_in]`): `[B, H, W, C_out]`.
fn conv_channels_last(conv: &Conv2d, k: usize, x: &[f32], [b, h, w, c_in]: [usize; 4]) -> Vec<f32> {
    assert_eq!(x.len(), b * h * w * c_in, "a {b}x{h}x{w} map of {c_in} channels");
    let c_out = conv.weight.dims()[0];
    if x.is_empty() || c_out == 0 {
        return vec![0.0; b * h * w * c_out];
    }
    let rhs = weights_by_tap(conv, k);
    let bias = bias_or_zeros(&conv.bias, c_out);
    let rows = (PIXELS / w).max(1);
    let depth = k * k * c_in;
    // Few outputs per pixel (an RGB output layer): gathering the neighbourhoods would write
    // more than the products compute, so each tap's product reads the input rows in place.
    let by_tap = 2 * c_out < c_in;
    build_chunks(b * h * w * c_out, rows * w * c_out, &bias, |block, out| {
        let first_row = block * rows;
        let pixels = out.len() / c_out;
        if by_tap {
            for (i, out) in out.chunks_exact_mut(w * c_out).enumerate() {
                accumulate_taps(out, x, &rhs, [h, w, c_in, c_out], k, first_row + i);
            }
            return;
        }
        let mut cols = Vec::with_capacity(pixels * depth);
        for row in first_row..first_row + pixels / w {
            gather_row(&mut cols, x, [h, w, c_in], k, row);
        }
        matmul(out, &cols, &rhs, [pixels, c_out, depth], [depth, 1], [c_out, 1], true);
    })
}

/// Adds every tap's contribution to output row `row` (`out`, `[W, C_out]`): for tap `(ky, kx)`,
/// the input line `y + ky - k / 2` shifted by `kx - k / 2` pixels times the tap's weights
/// `[C_in, C_out]`, over the pixels where the shifted line lies inside the map.
fn accumulate_taps(out: &mut [f32], x: &[f32], rhs: &[f32], [h, w, c_in, c_out]: [usize; 4], k: usize, row: usize) {
    let (image, y) = (row / h, row % h);
    let pad = k / 2;
    for ky in 0..k {
        let Some(sy) = (y + ky).checked_sub(pad).filter(|&sy| sy < h) else { continue };
        let line = &x[(image * h + sy) * w * c_in..][..w * c_in];
        for kx in 0..k {
            // Output pixels px with px + kx - pad in 0..w.
            let (first, end) = (pad.saturating_sub(kx), (w + pad).saturating_sub(kx).min(w));
            if first >= end {
                continue;
            }
            let taps = &rhs[(ky * k + kx) * c_in * c_out..][..c_in * c_out];
            let lhs = &line[(first + kx - pad) * c_in..];
            matmul(&mut out[first * c_out..end * c_out], lhs, taps, [end - first, c_out, c_in], [c_in, 1], [c_out, 1], true);
        }
    }
}

/// The weights `[C_out, C_in, k, k]` as the product's right side `[k * k * C_in, C_out]`: row
/// `(ky * k + kx) * C_in + ci` holds tap `(ky, kx)` of input channel `ci` for every output.
fn weights_by_tap(conv: &Conv2d, k: usize) -> Vec<f32> {
    let [c_out, c_in, _, _] = conv.weight.dims();
    let mut rhs = vec![0.0; k * k * c_in * c_out];
    with_values(&conv.weight.val(), |weight| {
        for (co, filter) in weight.chunks_exact(c_in * k * k).enumerate() {
            for (ci, taps) in filter.chunks_exact(k * k).enumerate() {
                for (tap, &value) in taps.iter().enumerate() {
                    rhs[(tap * c_in + ci) * c_out + co] = value;
                }
            }
        }
    });
    rhs
}

/// Appends the `k x k` neighbourhoods of every pixel of global row `row` (image `row / H`) to
/// `cols`, one `k * k * C_in` row per pixel, zeros outside the map.
fn gather_row(cols: &mut Vec<f32>, x: &[f32], [h, w, c_in]: [usize; 3], k: usize, row: usize) {
    let (image, y) = (row / h, row % h);
    let pad = k / 2;
    for px in 0..w {
        for ky in 0..k {
            let Some(sy) = (y + ky).checked_sub(pad).filter(|&sy| sy < h) else {
                cols.resize(cols.len() + k * c_in, 0.0);
                continue;
            };
            let line = &x[(image * h + sy) * w * c_in..][..w * c_in];
            if px >= pad && px + pad < w {
                // Interior: the k taps of this line are k neighbouring pixels.
                cols.extend_from_slice(&line[(px - pad) * c_in..(px + pad + 1) * c_in]);
                continue;
            }
            for kx in 0..k {
                match (px + kx).checked_sub(pad).filter(|&sx| sx < w) {
                    Some(sx) => cols.extend_from_slice(&line[sx * c_in..(sx + 1) * c_in]),
                    None => cols.resize(cols.len() + c_in, 0.0),
                }
            }
        }
    }
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;
    use crate::model::kernels::with_plain_ops;
    use burn::nn::conv::Conv2dConfig;
    use burn::tensor::{Device, Distribution, Tolerance};

    /// Kernel sizes 1, 3 and 5, with and without bias, on maps narrower than the kernel's reach
    /// and wider than one block, gathered and tap by tap (8 -> 3 channels), against Burn's op;
    /// channels-first and token inputs.
    #[test]
    fn fused_convolution_matches_its_plain_ops_twin() {
        let device = Device::flex();
        for (k, bias, [h, w], [c_in, c_out]) in
            [(3, true, [7, 9], [4, 6]), (1, true, [5, 4], [4, 6]), (5, false, [3, 6], [4, 6]), (3, true, [3, 300], [4, 6]), (3, true, [6, 5], [8, 3])]
        {
            let conv = Conv2dConfig::new([c_in, c_out], [k, k])
                .with_padding(PaddingConfig2d::Explicit(k / 2, k / 2, k / 2, k / 2))
                .with_bias(bias)
                .init(&device);
            let x = Tensor::<4>::random([2, c_in, h, w], Distribution::Normal(0.0, 1.0), &device);
            let fused = conv2d(&conv, x.clone());
            let plain = with_plain_ops(|| conv2d(&conv, x.clone()));
            assert_eq!(fused.dims(), [2, c_out, h, w]);
            fused.into_data().assert_approx_eq::<f32>(&plain.into_data(), Tolerance::rel_abs(1e-5, 1e-5));

            let tokens = x.reshape([2, c_in, h * w]).swap_dims(1, 2);
            let size = Size { height: h, width: w };
            let fused = conv2d_tokens(&conv, tokens.clone(), size);
            let plain = with_plain_ops(|| conv2d_tokens(&conv, tokens, size));
            fused.into_data().assert_approx_eq::<f32>(&plain.into_data(), Tolerance::rel_abs(1e-5, 1e-5));
        }
    }

    /// Strided convolutions are not the kernel's: they go to Burn's op, with its output size.
    #[test]
    fn other_convolutions_take_burns_op() {
        let device = Device::flex();
        let conv = Conv2dConfig::new([2, 3], [3, 3]).with_stride([2, 2]).init(&device);
        assert_eq!(fused_kernel_size(&conv, &device), None);
        let x = Tensor::<4>::random([1, 2, 8, 8], Distribution::Normal(0.0, 1.0), &device);
        assert_eq!(conv2d(&conv, x).dims(), [1, 3, 3, 3]);
    }
}
