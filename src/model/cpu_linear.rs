//! Linear layers on the CPU: `y = x W + b`, optionally followed by the exact GELU, each block
//! of rows written once into a fresh buffer, the blocks in parallel.
//!
//! Burn's CPU backend runs a linear as a matrix product into a zeroed buffer that it then copies
//! to realign it (`FlexTensor::empty`), and adds the bias in a second pass; all of it but the
//! product runs on one thread, and at two threads that left a core idle for a fifth of a GRL-S
//! forward (`docs/performance.md`). Here each block of rows starts as the bias, takes the product
//! in place (`gemm`, accumulating) and its GELU while in cache. The plain-ops twin is Burn's
//! `Linear::forward` (and `gelu`); the tests compare the two.

use burn::nn::Linear;
use burn::tensor::{Tensor, TensorData};

use super::cpu_gelu::gelu_in_place;
use super::cpu_gemm::matmul;
use super::cpu_parallel::build_chunks;
use super::cpu_values::{bias_or_zeros, with_values};
use super::kernels;

/// Rows per parallel task: a block of a GRL-S projection's output (128 x 384) stays in L2.
const ROWS: usize = 128;

/// What follows the affine map.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Activation {
    /// Nothing: `x W + b`.
    Identity,
    /// The exact (erf) GELU of `x W + b`.
    Gelu,
    /// `max(x W + b, 0)`.
    Relu,
}

/// `activation(layer(x))`, on the fused kernel where [`kernels::fused_cpu`] allows, else on
/// Burn's ops.
///
/// # Shapes
///
/// - x: `[..., d_in]`
/// - output: `[..., d_out]`
pub fn linear<const D: usize>(layer: &Linear, x: Tensor<D>, activation: Activation) -> Tensor<D> {
    let device = x.device();
    if !kernels::fused_cpu(&device) {
        let y = linear_unfused(layer, x);
        return match activation {
            Activation::Identity => y,
            Activation::Gelu => super::cpu_gelu::gelu_unfused(y),
            Activation::Relu => burn::tensor::activation::relu(y),
        };
    }
    let mut dims = x.dims();
    let out = with_values(&x, |values| linear_slice(layer, values, activation));
    dims[D - 1] = layer.weight.dims()[1];
    Tensor::from_data(TensorData::new(out, dims), &device)
}

/// The layer on Burn's ops, its product in training on the CPU as the fused autodiff operation
/// ([`super::autodiff_matmul`]) over all rows at once.
fn linear_unfused<const D: usize>(layer: &Linear, x: Tensor<D>) -> Tensor<D> {
    #[cfg(not(target_arch = "wasm32"))]
    if kernels::fused_cpu_training(&x.device()) {
        let mut dims = x.dims();
        let [d_in, d_out] = layer.weight.dims();
        let rows = dims[..D - 1].iter().product();
        let y = super::autodiff_matmul::matmul(x.reshape([1, rows, d_in]), layer.weight.val().unsqueeze::<3>(), false);
        let y = match &layer.bias {
            Some(bias) => y + bias.val().unsqueeze::<3>(),
            None => y,
        };
        dims[D - 1] = d_out;
        return y.reshape(dims);
    }
    layer.forward(x)
}

/// [`linear`]'s kernel on row-major values: `x` holds rows of `d_in` values, the output as many
/// rows of `d_out`.
pub fn linear_slice(layer: &Linear, x: &[f32], activation: Activation) -> Vec<f32> {
    let [d_in, d_out] = layer.weight.dims();
    assert!(d_in > 0 && x.len().is_multiple_of(d_in), "{} values are not rows of {d_in}", x.len());
    let rows = x.len() / d_in;
    if d_out == 0 {
        return Vec::new();
    }
    let bias = bias_or_zeros(&layer.bias, d_out);
    with_values(&layer.weight.val(), |weight| {
        build_chunks(rows * d_out, ROWS * d_out, &bias, |block, out| {
            let m = out.len() / d_out;
            let lhs = &x[block * ROWS * d_in..][..m * d_in];
            matmul(out, lhs, weight, [m, d_out, d_in], [d_in, 1], [d_out, 1], true);
            match activation {
                Activation::Identity => {}
                Activation::Gelu => gelu_in_place(out),
                Activation::Relu => out.iter_mut().for_each(|y| *y = y.max(0.0)),
            }
        })
    })
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;
    use crate::model::kernels::with_plain_ops;
    use burn::nn::LinearConfig;
    use burn::tensor::{Device, Distribution, Tolerance};

    /// Every combination of bias and activation, on more rows than one block and a row count
    /// that is not a multiple of it, against Burn's ops; a strided input too.
    #[test]
    fn fused_linear_matches_its_plain_ops_twin() {
        let device = Device::flex();
        let x = Tensor::<3>::random([2, 3 * ROWS / 2 + 7, 24], Distribution::Normal(0.0, 1.0), &device);
        for bias in [true, false] {
            let layer = LinearConfig::new(24, 40).with_bias(bias).init(&device);
            for activation in [Activation::Identity, Activation::Gelu, Activation::Relu] {
                for input in [x.clone(), x.clone().swap_dims(0, 1).swap_dims(0, 1).flip([0])] {
                    let fused = linear(&layer, input.clone(), activation);
                    let plain = with_plain_ops(|| linear(&layer, input, activation));
                    assert_eq!(fused.dims(), [2, 3 * ROWS / 2 + 7, 40]);
                    fused.into_data().assert_approx_eq::<f32>(&plain.into_data(), Tolerance::rel_abs(1e-5, 1e-5));
                }
            }
        }
    }

    #[test]
    fn no_rows_give_no_rows() {
        let device = Device::flex();
        let layer = LinearConfig::new(8, 4).init(&device);
        assert_eq!(linear(&layer, Tensor::<2>::zeros([0, 8], &device), Activation::Gelu).dims(), [0, 4]);
    }
}
