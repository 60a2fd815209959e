//! Pixel shuffle on the CPU, channels-last: what follows each convolution of the x2/x3/x4
//! tails, read from the convolution's channels-last output and written channels-last for the
//! next one ([`super::cpu_conv`]), one pass, rows in parallel.
//!
//! Burn's `PixelShuffle` on a channels-first map is a reshape, a permutation and a reshape, each
//! a copy of the largest maps of the forward (up to 64 x 512 x 512 values for GRL-S x4 on a
//! 128x128 input). The plain-ops twin is Burn's `PixelShuffle`; the tests compare the two.

use burn::nn::PixelShuffleConfig;
use burn::tensor::{Tensor, TensorData};

use super::cpu_parallel::build_chunks;
use super::cpu_values::with_values;
use super::kernels;

/// PyTorch's `pixel_shuffle(x, factor)`: channel `c * f² + i * f + j` of pixel `(y, x)` becomes
/// channel `c` of pixel `(y * f + i, x * f + j)`. On the fused kernel where
/// [`kernels::fused_cpu`] allows, else on Burn's op.
///
/// # Shapes
///
/// - x: `[B, C * f², H, W]`
/// - output: `[B, C, H * f, W * f]` (on the CPU, a view of channels-last values)
pub fn pixel_shuffle(x: Tensor<4>, factor: usize) -> Tensor<4> {
    let device = x.device();
    if !kernels::fused_cpu(&device) {
        return PixelShuffleConfig::new(factor).init().forward(x);
    }
    let [b, c_in, h, w] = x.dims();
    let f = factor;
    assert!(f > 0 && c_in.is_multiple_of(f * f), "{c_in} channels do not shuffle by {f}");
    let c = c_in / (f * f);
    let out = with_values(&x.permute([0, 2, 3, 1]), |values| shuffle_channels_last(values, [b, h, w, c], f));
    Tensor::from_data(TensorData::new(out, [b, h * f, w * f, c]), &device).permute([0, 3, 1, 2])
}

/// The shuffle on channels-last values `[B, H, W, C * f²]`: `[B, H * f, W * f, C]`.
fn shuffle_channels_last(x: &[f32], [b, h, w, c]: [usize; 4], f: usize) -> Vec<f32> {
    let row_len = w * f * c;
    if row_len == 0 {
        return Vec::new();
    }
    build_chunks(b * h * f * row_len, row_len, &[0.0], |out_row, out| {
        let (image, oy) = (out_row / (h * f), out_row % (h * f));
        let (y, i) = (oy / f, oy % f);
        let line = &x[(image * h + y) * w * c * f * f..][..w * c * f * f];
        for (ox, pixel) in out.chunks_exact_mut(c).enumerate() {
            let (px, j) = (ox / f, ox % f);
            let source = &line[px * c * f * f + i * f + j..];
            for (ch, value) in pixel.iter_mut().enumerate() {
                *value = source[ch * f * f];
            }
        }
    })
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;
    use crate::model::kernels::with_plain_ops;
    use burn::tensor::{Device, Distribution};

    #[test]
    fn fused_shuffle_matches_its_plain_ops_twin() {
        let device = Device::flex();
        for (f, dims) in [(2, [2, 12, 3, 5]), (3, [1, 18, 4, 2]), (1, [1, 3, 2, 2])] {
            let x = Tensor::<4>::random(dims, Distribution::Normal(0.0, 1.0), &device);
            let fused = pixel_shuffle(x.clone(), f);
            let plain = with_plain_ops(|| pixel_shuffle(x, f));
            assert_eq!(fused.dims(), plain.dims());
            fused.into_data().assert_eq(&plain.into_data(), true);
        }
    }
}
