//! The exact (erf) GELU on the CPU, vectorised: `x * (1 + erf(x / √2)) / 2` in one pass.
//!
//! Burn's CPU backend computes GELU with libm's scalar `erf` (which calls `exp`): 10-13% of a
//! GRL forward (`docs/performance.md`). Here erf is a rational function on [-4, 4] (the minimax
//! approximation Eigen and XLA use for f32: about 2e-7 from erf in f32 arithmetic; beyond ±4,
//! erf is ±1 in f32), so GELU is within 2e-6 of libm's everywhere. Branch-free so that the loop
//! vectorises, compiled for AVX-512 or AVX2 + FMA where the CPU has them, and run over chunks in parallel
//! natively. The plain-ops twin is Burn's `gelu`; a test compares them.

use burn::tensor::{Tensor, TensorData};

use super::cpu_parallel::for_each_chunk;
use super::cpu_simd::vectorised;
use super::kernels;

/// Elements per parallel task: large enough to amortise the scheduling.
const CHUNK: usize = 1 << 14;

/// GELU of `x`, on the fused kernel where [`kernels::fused_cpu`] allows, else Burn's op.
///
/// # Shapes
///
/// - x: any; output: the same
pub fn gelu<const D: usize>(x: Tensor<D>) -> Tensor<D> {
    let device = x.device();
    if !kernels::fused_cpu(&device) {
        return gelu_unfused(x);
    }
    let shape = x.shape();
    let mut values = x.into_data().convert::<f32>().try_into_vec::<f32>().expect("converted to f32");
    for_each_chunk(&mut values, CHUNK, |_, piece| gelu_in_place(piece));
    Tensor::from_data(TensorData::new(values, shape), &device)
}

/// GELU off the fused inference kernel: in training on the CPU the fused autodiff operation
/// ([`super::autodiff_gelu`]), else Burn's op.
pub fn gelu_unfused<const D: usize>(x: Tensor<D>) -> Tensor<D> {
    #[cfg(not(target_arch = "wasm32"))]
    return super::autodiff_gelu::gelu(x);
    #[cfg(target_arch = "wasm32")]
    burn::tensor::activation::gelu(x)
}

vectorised!(
    /// GELU of every value in place, on the widest vectors this CPU has.
    pub(super) fn gelu_in_place(values: &mut [f32]) => gelu_lanes
);

/// [`gelu_in_place`], value by value (nothing folds across lanes).
#[inline(always)]
fn gelu_lanes<const LANES: usize>(values: &mut [f32]) {
    for x in values.iter_mut() {
        *x = 0.5 * *x * (1.0 + erf(*x * std::f32::consts::FRAC_1_SQRT_2));
    }
}

/// `erf(x)` within about 1e-7: `x P(x²) / Q(x²)` on [-4, 4], the input clamped there.
#[inline(always)]
pub(super) fn erf(x: f32) -> f32 {
    let x = x.clamp(-4.0, 4.0);
    let x2 = x * x;
    let p = -2.726_142_3e-10;
    let p = p * x2 + 2.770_681_4e-8;
    let p = p * x2 - 2.101_024e-6;
    let p = p * x2 - 5.692_506_4e-5;
    let p = p * x2 - 7.349_906_3e-4;
    let p = p * x2 - 2.954_6e-3;
    let p = p * x2 - 1.609_603_3e-2;
    let q = -1.456_607_2e-5;
    let q = q * x2 - 2.133_740_6e-4;
    let q = q * x2 - 1.682_827e-3;
    let q = q * x2 - 7.373_329e-3;
    let q = q * x2 - 1.426_473_9e-2;
    x * p / q
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;
    use burn::tensor::activation;
    use burn::tensor::{Device, Distribution, Tolerance};

    #[test]
    fn matches_burns_gelu_on_a_grid() {
        // Every 1/1000 from -8 to 8: erf's whole curve and the clamp at ±4 / √2. For x near
        // -4 √2, 1 + erf(x / √2) cancels: f32 rounding of about 2e-7 in erf becomes up to 1.2e-6
        // in x (1 + erf) / 2 (measured), where the exact value is below 1e-7.
        let device = Device::flex();
        let values: Vec<f32> = (-8_000..=8_000).map(|i| i as f32 / 1000.0).collect();
        let x = Tensor::<1>::from_data(TensorData::new(values, [16_001]), &device);
        let (fused, plain) = (gelu(x.clone()), activation::gelu(x));
        fused.into_data().assert_approx_eq::<f32>(&plain.into_data(), Tolerance::rel_abs(1e-5, 2e-6));
    }

    #[test]
    fn fused_matches_burns_gelu() {
        let device = Device::flex();
        let x = Tensor::<3>::random([2, 300, 70], Distribution::Normal(0.0, 3.0), &device);
        let fused = gelu(x.clone());
        let plain = activation::gelu(x);
        fused.into_data().assert_approx_eq::<f32>(&plain.into_data(), Tolerance::rel_abs(1e-5, 2e-6));
    }
}
