//! GELU in training: one autodiff operation on Burn's CPU backend whose forward and backward
//! are each one vectorised pass, `x Φ(x)` and `g (Φ(x) + x φ(x))`.
//!
//! Burn's autodiff GELU runs the CPU backend's scalar libm `erf` forward and again backward
//! (with libm's `exp`): 9% of a training step of the bundled denoiser (`docs/performance.md`).
//! Here `erf` is the rational approximation of [`super::cpu_gelu`] and `φ`'s exponential the
//! polynomial of [`super::cpu_softmax`], both branch-free so that the loops vectorise, over
//! chunks in parallel. The plain-ops twin is Burn's `gelu`; a test compares values and
//! gradients.

use burn::backend::Flex;
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, unary};
use burn::backend::flex::FlexTensor;
use burn::tensor::{Tensor, activation};

use super::autodiff_flex::{AutodiffTensor, contiguous, from_values, primitive, record, shape, tensor, values};
use super::cpu_gelu::{erf, gelu_in_place};
use super::cpu_parallel::build_chunks;
use super::cpu_simd::vectorised;
use super::cpu_softmax::exp;

/// Elements per parallel task.
const CHUNK: usize = 1 << 14;

/// GELU of `x` (the exact, erf form): the fused operation in training on the CPU, else Burn's.
///
/// # Shapes
///
/// - x: any; output: the same
pub fn gelu<const D: usize>(x: Tensor<D>) -> Tensor<D> {
    match primitive(&x) {
        Some(x) => tensor(fused(x)),
        None => activation::gelu(x),
    }
}

/// The autodiff operation; the input is kept for the backward.
fn fused(x: AutodiffTensor) -> AutodiffTensor {
    let input = contiguous(x.primitive());
    let xs = values(&input);
    let out = build_chunks(xs.len(), CHUNK, &[0.0], |task, piece| {
        piece.copy_from_slice(&xs[task * CHUNK..][..piece.len()]);
        gelu_in_place(piece);
    });
    let output = from_values(out, shape(&input));
    record(Gelu, [x.node()], input, output)
}

#[derive(Debug)]
struct Gelu;

impl Backward<Flex, 1> for Gelu {
    /// The input, contiguous.
    type State = FlexTensor;

    fn backward(self, ops: Ops<FlexTensor, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let input = ops.state;
        unary::<Flex, _>(ops.parents, ops.node, grads, |grad| {
            let grad = contiguous(&grad);
            let (xs, gs) = (values(&input), values(&grad));
            let out = build_chunks(xs.len(), CHUNK, &[0.0], |task, piece| {
                let at = task * CHUNK;
                derivative_times(piece, &xs[at..][..piece.len()], &gs[at..][..piece.len()]);
            });
            from_values(out, shape(&input))
        });
    }
}

vectorised!(
    /// `out = g (Φ(x) + x φ(x))`, on the widest vectors this CPU has.
    fn derivative_times(out: &mut [f32], x: &[f32], g: &[f32]) => derivative_times_lanes
);

/// [`derivative_times`], element by element (nothing folds across lanes).
#[inline(always)]
fn derivative_times_lanes<const LANES: usize>(out: &mut [f32], x: &[f32], g: &[f32]) {
    const FRAC_1_SQRT_2PI: f32 = 0.398_942_3;
    for ((o, &x), &g) in out.iter_mut().zip(x).zip(g) {
        let cdf = 0.5 * (1.0 + erf(x * std::f32::consts::FRAC_1_SQRT_2));
        let pdf = FRAC_1_SQRT_2PI * exp(-0.5 * x * x);
        *o = g * (cdf + x * pdf);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::{Device, Distribution, Tolerance};

    /// Values and gradients of the fused op against Burn's `gelu`, on a grid over erf's whole
    /// curve and on random values.
    #[test]
    fn fused_gelu_matches_burns_values_and_gradients() {
        let device = Device::flex().autodiff();
        device.seed(7);
        let grid: Vec<f32> = (-8_000..=8_000).map(|i| i as f32 / 1000.0).collect();
        let grid = Tensor::<1>::from_data(burn::tensor::TensorData::new(grid, [16_001]), &device).reshape([1, 16_001]);
        let random = Tensor::<2>::random([300, 70], Distribution::Normal(0.0, 3.0), &device);
        for x in [grid, random] {
            let x = x.require_grad();
            let weights = Tensor::<2>::random(x.dims(), Distribution::Normal(0.0, 1.0), &device);
            let check = |y: Tensor<2>| {
                let grads = (y.clone() * weights.clone()).sum().backward();
                (y.into_data(), x.grad(&grads).expect("the input's gradient").into_data())
            };
            let fused = check(tensor(fused(primitive(&x).expect("the fused op applies"))));
            let plain = check(activation::gelu(x.clone()));
            fused.0.assert_approx_eq::<f32>(&plain.0, Tolerance::rel_abs(1e-5, 2e-6));
            fused.1.assert_approx_eq::<f32>(&plain.1, Tolerance::rel_abs(1e-5, 2e-6));
        }
    }
}
